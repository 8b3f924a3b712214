//! The version this build reports everywhere: `--version`, `/status`, the
//! SWIX it packs and the bundle's README.
//!
//! The bytes live in one marked string so that a test can make a "newer
//! build" by patching a copy of the binary (the upgrade test): a bare
//! `0.1.0` may be merged by the linker into other string data, a marked one
//! cannot be mistaken.

const MARK: &str = "ztps-agent-version=";
static MARKED: &str = concat!("ztps-agent-version=", env!("CARGO_PKG_VERSION"), ";");

pub fn version() -> &'static str {
    MARKED
        .strip_prefix(MARK)
        .and_then(|v| v.strip_suffix(';'))
        .unwrap_or(env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_marked_version_is_the_package_version() {
        assert_eq!(super::version(), env!("CARGO_PKG_VERSION"));
    }
}
