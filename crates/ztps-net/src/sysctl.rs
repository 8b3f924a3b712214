//! Kernel parameters under `/proc/sys`: read first, write only on change,
//! then read back, so that the agent logs only real changes and notices a
//! value that does not stick.
//!
//! `/proc/sys/net` belongs to the network namespace of the thread that opens
//! the file, so a thread inside a namespace sees and changes that namespace's
//! values.

use std::io;
use std::path::{Path, PathBuf};

use tracing::{debug, info};

use crate::NetError;

/// The two keys that must be 1 for the spine to route between its leaves and
/// the ZTPServer. Writing either also sets the other in current kernels; each
/// is still read (and written only if needed) on its own.
pub const IPV4_FORWARDING: [&str; 2] = ["net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding"];

/// A sysctl tree rooted at a directory: `/proc/sys` on a real host, a temp
/// directory in unit tests.
#[derive(Debug, Clone)]
pub struct Sysctl {
    root: PathBuf,
}

/// One parameter [`Sysctl::ensure`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlChange {
    pub key: String,
    pub from: String,
    pub to: String,
}

impl Default for Sysctl {
    fn default() -> Self {
        Sysctl::system()
    }
}

impl Sysctl {
    /// The real `/proc/sys` (of the calling thread's network namespace).
    pub fn system() -> Self {
        Sysctl::at("/proc/sys")
    }

    /// A tree rooted elsewhere.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Sysctl { root: root.into() }
    }

    /// The file behind a dotted key: `net.ipv4.ip_forward` ->
    /// `<root>/net/ipv4/ip_forward`.
    pub fn path_of(&self, key: &str) -> PathBuf {
        key.split('.')
            .fold(self.root.clone(), |path, part| path.join(part))
    }

    /// The current value, trimmed.
    pub fn read(&self, key: &str) -> Result<String, NetError> {
        let path = self.path_of(key);
        read_trimmed(&path)
    }

    /// Makes `key` read `value`. Returns the change, or `None` when it
    /// already did (nothing is written then).
    pub fn ensure(&self, key: &str, value: &str) -> Result<Option<SysctlChange>, NetError> {
        let path = self.path_of(key);
        let before = read_trimmed(&path)?;
        if before == value {
            debug!(key, value, "sysctl already set");
            return Ok(None);
        }
        std::fs::write(&path, format!("{value}\n")).map_err(|source| NetError::SysctlWrite {
            hint: write_hint(&source),
            path: path.clone(),
            source,
        })?;
        let after = read_trimmed(&path)?;
        if after != value {
            return Err(NetError::SysctlNotApplied {
                path,
                wanted: value.to_string(),
                found: after,
            });
        }
        info!(key, from = %before, to = value, "sysctl changed");
        Ok(Some(SysctlChange {
            key: key.to_string(),
            from: before,
            to: after,
        }))
    }

    /// Ensures both IPv4 forwarding keys are 1; returns what changed (empty
    /// when forwarding was already on).
    pub fn ensure_ipv4_forwarding(&self) -> Result<Vec<SysctlChange>, NetError> {
        let mut changes = Vec::new();
        for key in IPV4_FORWARDING {
            changes.extend(self.ensure(key, "1")?);
        }
        Ok(changes)
    }
}

/// [`Sysctl::ensure_ipv4_forwarding`] on the real `/proc/sys`.
pub fn ensure_ipv4_forwarding() -> Result<Vec<SysctlChange>, NetError> {
    Sysctl::system().ensure_ipv4_forwarding()
}

fn read_trimmed(path: &Path) -> Result<String, NetError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| NetError::SysctlRead {
            path: path.to_path_buf(),
            source,
        })
}

fn write_hint(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::PermissionDenied => "; the agent needs root",
        io::ErrorKind::ReadOnlyFilesystem => {
            "; /proc/sys is read-only here (an unprivileged container?)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake /proc/sys in a fresh temp directory.
    struct FakeTree {
        dir: PathBuf,
    }

    impl FakeTree {
        fn new(ip_forward: &str, all_forwarding: &str) -> Self {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("ztps-sysctl-{}-{n}", std::process::id()));
            std::fs::create_dir_all(dir.join("net/ipv4/conf/all")).unwrap();
            std::fs::write(dir.join("net/ipv4/ip_forward"), ip_forward).unwrap();
            std::fs::write(dir.join("net/ipv4/conf/all/forwarding"), all_forwarding).unwrap();
            FakeTree { dir }
        }
        fn sysctl(&self) -> Sysctl {
            Sysctl::at(&self.dir)
        }
        fn file(&self, rel: &str) -> String {
            std::fs::read_to_string(self.dir.join(rel)).unwrap()
        }
    }

    impl Drop for FakeTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn keys_map_to_paths_under_the_root() {
        let s = Sysctl::at("/r");
        assert_eq!(
            s.path_of("net.ipv4.conf.all.forwarding"),
            Path::new("/r/net/ipv4/conf/all/forwarding")
        );
    }

    #[test]
    fn both_keys_flip_and_are_reported() {
        let t = FakeTree::new("0\n", "0\n");
        let changes = t.sysctl().ensure_ipv4_forwarding().unwrap();
        assert_eq!(
            changes,
            vec![
                SysctlChange {
                    key: "net.ipv4.ip_forward".into(),
                    from: "0".into(),
                    to: "1".into()
                },
                SysctlChange {
                    key: "net.ipv4.conf.all.forwarding".into(),
                    from: "0".into(),
                    to: "1".into()
                },
            ]
        );
        assert_eq!(t.file("net/ipv4/ip_forward"), "1\n");
        assert_eq!(t.file("net/ipv4/conf/all/forwarding"), "1\n");
        assert!(t.sysctl().ensure_ipv4_forwarding().unwrap().is_empty());
    }

    #[test]
    fn a_key_already_set_is_not_written() {
        // No trailing newline: a write would leave "1\n" behind.
        let t = FakeTree::new("1", "0\n");
        let changes = t.sysctl().ensure_ipv4_forwarding().unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].key, "net.ipv4.conf.all.forwarding");
        assert_eq!(t.file("net/ipv4/ip_forward"), "1");
    }

    #[test]
    fn a_missing_key_is_a_read_error_naming_the_file() {
        let t = FakeTree::new("0", "0");
        std::fs::remove_file(t.dir.join("net/ipv4/conf/all/forwarding")).unwrap();
        let err = t.sysctl().ensure_ipv4_forwarding().unwrap_err();
        assert!(matches!(err, NetError::SysctlRead { .. }), "{err}");
        assert!(err.to_string().contains("conf/all/forwarding"), "{err}");
    }

    #[test]
    fn a_value_that_does_not_stick_is_an_error() {
        let t = FakeTree::new("0", "1");
        // /dev/null accepts the write and reads back empty, like a
        // parameter something else keeps resetting.
        let p = t.dir.join("net/ipv4/ip_forward");
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink("/dev/null", &p).unwrap();
        let err = t.sysctl().ensure_ipv4_forwarding().unwrap_err();
        assert!(
            matches!(&err, NetError::SysctlNotApplied { found, .. } if found.is_empty()),
            "{err}"
        );
    }

    #[test]
    fn write_hints_name_the_cause() {
        assert!(write_hint(&io::Error::from(io::ErrorKind::PermissionDenied)).contains("root"));
        assert!(
            write_hint(&io::Error::from(io::ErrorKind::ReadOnlyFilesystem)).contains("read-only")
        );
    }
}
