//! What goes into the RPM header, validated before anything is built.

use crate::SwixError;

/// Where the agent lands on the switch when the extension is installed.
pub const DEFAULT_INSTALL_PATH: &str = "/usr/bin/ztps-agent";

/// Payload compression of the RPM.
///
/// There is deliberately no zstd variant: the rpm on EOS predates zstd
/// payloads and refuses them, so it must not be expressible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadCompression {
    /// Read by every rpm ever shipped; the default.
    #[default]
    Gzip,
    /// Smaller; rpm has read it since 4.6.
    Xz,
}

impl PayloadCompression {
    /// The name rpm reports as `%{PAYLOADCOMPRESSOR}`.
    pub fn rpm_name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Xz => "xz",
        }
    }

    pub(crate) fn to_rpm(self) -> rpm::CompressionWithLevel {
        match self {
            Self::Gzip => rpm::CompressionWithLevel::Gzip(9),
            // Level 6 decompresses with little memory, which a switch has to spare.
            Self::Xz => rpm::CompressionWithLevel::Xz(6),
        }
    }
}

/// CPU architecture recorded in the RPM header.
///
/// The payload is always the same static x86_64 binary, which every EOS
/// kernel of the last decade runs. What differs is the userland: EOS images
/// with a 32-bit (i686) userland have an rpm that refuses x86_64 packages
/// ("intended for a different architecture"), while an x86_64 rpm accepts
/// i686 ones. So i686 installs everywhere; x86_64 is for 64-bit images only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arch {
    #[default]
    X86_64,
    I686,
}

impl Arch {
    pub fn rpm_name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::I686 => "i686",
        }
    }

    /// The architecture for an EOS image file name: Arista names the images
    /// with a 64-bit userland `EOS64.swi` / `EOS64-4.xx.swi`; every other
    /// image may have a 32-bit userland, for which only i686 installs.
    pub fn for_eos_image(image: &str) -> Arch {
        let file = image.rsplit(['/', ':']).next().unwrap_or(image);
        if file.to_ascii_uppercase().starts_with("EOS64") {
            Arch::X86_64
        } else {
            Arch::I686
        }
    }
}

impl std::str::FromStr for Arch {
    type Err = SwixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "x86_64" => Ok(Arch::X86_64),
            "i686" => Ok(Arch::I686),
            _ => Err(invalid("arch", s, "must be x86_64 or i686")),
        }
    }
}

/// Build time stamped into the RPM header and onto every file and zip entry.
/// Fixing it makes the output a pure function of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildTime(u32);

impl BuildTime {
    /// Seconds since 1970-01-01 UTC.
    pub fn from_unix(seconds: u32) -> Self {
        Self(seconds)
    }

    /// `SOURCE_DATE_EPOCH` when set (reproducible builds), otherwise now.
    pub fn from_env_or_now() -> Result<Self, SwixError> {
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(value) => Self::parse_source_date_epoch(&value),
            Err(_) => Ok(Self::now()),
        }
    }

    pub fn parse_source_date_epoch(value: &str) -> Result<Self, SwixError> {
        value
            .trim()
            .parse::<u32>()
            .map(Self)
            .map_err(|_| SwixError::SourceDateEpoch {
                value: value.to_string(),
            })
    }

    pub fn now() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self(u32::try_from(secs).unwrap_or(u32::MAX))
    }

    pub fn as_unix(self) -> u32 {
        self.0
    }
}

/// The package to build: RPM header fields plus how to compress and stamp it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSpec {
    pub name: String,
    pub version: String,
    pub release: String,
    pub arch: Arch,
    pub license: String,
    pub summary: String,
    pub description: String,
    /// Absolute path of the binary once installed.
    pub install_path: String,
    pub compression: PayloadCompression,
    pub build_time: BuildTime,
}

impl PackageSpec {
    /// A spec for the agent with the usual header text; version and
    /// build time are the caller's (normally the crate version and
    /// `BuildTime::from_env_or_now()`).
    pub fn agent(version: &str, build_time: BuildTime) -> Self {
        Self {
            name: "ztps-agent".into(),
            version: version.into(),
            release: "1".into(),
            arch: Arch::X86_64,
            license: "Apache-2.0".into(),
            summary: "ZTPServer companion agent for EOS spines".into(),
            description: "Keeps the ZTPServer VM of a Layer-3 leaf/spine fabric reachable: \
                          bridge, forwarding, DHCP for point-to-point leaf links, VM health and \
                          provisioning events."
                .into(),
            install_path: DEFAULT_INSTALL_PATH.into(),
            compression: PayloadCompression::Gzip,
            build_time,
        }
    }

    /// `NAME-VERSION-RELEASE.ARCH.rpm`, the file name inside the SWIX.
    pub fn rpm_file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name,
            self.version,
            self.release,
            self.arch.rpm_name()
        )
    }

    /// Checks every field against what rpm accepts, so a bad spec fails
    /// here with the field's name rather than deep inside rpm on the switch.
    pub fn validate(&self) -> Result<(), SwixError> {
        check_token("name", &self.name, |c| {
            c.is_ascii_alphanumeric() || "._+-".contains(c)
        })?;
        // rpm splits NEVRA on '-', so version and release must not hold one.
        check_token("version", &self.version, is_evr_char)?;
        check_token("release", &self.release, is_evr_char)?;
        check_text("license", &self.license, false)?;
        check_text("summary", &self.summary, false)?;
        check_text("description", &self.description, true)?;
        let path = &self.install_path;
        if !path.starts_with('/') || path.ends_with('/') || path.contains("//") {
            return Err(invalid(
                "install_path",
                path,
                "must be an absolute file path",
            ));
        }
        if path.split('/').any(|part| part == "." || part == "..") {
            return Err(invalid("install_path", path, "must not contain . or .."));
        }
        check_text("install_path", path, false)
    }
}

fn is_evr_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._+~^".contains(c)
}

fn invalid(field: &'static str, value: &str, reason: &'static str) -> SwixError {
    SwixError::InvalidSpec {
        field,
        value: value.to_string(),
        reason,
    }
}

fn check_token(
    field: &'static str,
    value: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), SwixError> {
    if value.is_empty() {
        return Err(invalid(field, value, "must not be empty"));
    }
    if !value.chars().all(allowed) {
        return Err(invalid(
            field,
            value,
            "holds a character rpm does not allow here",
        ));
    }
    Ok(())
}

fn check_text(field: &'static str, value: &str, multiline: bool) -> Result<(), SwixError> {
    if value.trim().is_empty() {
        return Err(invalid(field, value, "must not be empty"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(multiline && c == '\n'))
    {
        return Err(invalid(field, value, "must not hold control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PackageSpec {
        PackageSpec::agent("0.1.0", BuildTime::from_unix(1_700_000_000))
    }

    #[test]
    fn agent_spec_is_valid_and_names_its_rpm() {
        let s = spec();
        s.validate().unwrap();
        assert_eq!(s.rpm_file_name(), "ztps-agent-0.1.0-1.x86_64.rpm");
    }

    #[test]
    fn bad_fields_are_named() {
        type Mutation = fn(&mut PackageSpec);
        let cases: [(&str, Mutation); 7] = [
            ("version", |s| s.version = "1.0-2".into()),
            ("release", |s| s.release = String::new()),
            ("name", |s| s.name = "ztps agent".into()),
            ("summary", |s| s.summary = "two\nlines".into()),
            ("license", |s| s.license = " ".into()),
            ("install_path", |s| s.install_path = "usr/bin/x".into()),
            ("install_path", |s| s.install_path = "/usr/../etc/x".into()),
        ];
        for (field, mutate) in cases {
            let mut s = spec();
            mutate(&mut s);
            match s.validate() {
                Err(SwixError::InvalidSpec { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected InvalidSpec, got {other:?}"),
            }
        }
    }

    #[test]
    fn arch_follows_the_image_userland() {
        assert_eq!(Arch::for_eos_image("flash:EOS64-4.29.2F.swi"), Arch::X86_64);
        assert_eq!(Arch::for_eos_image("/mnt/flash/EOS64.swi"), Arch::X86_64);
        assert_eq!(Arch::for_eos_image("flash:EOS-4.29.2F.swi"), Arch::I686);
        assert_eq!(Arch::for_eos_image("EOS.swi"), Arch::I686);
        assert_eq!("i686".parse::<Arch>().unwrap(), Arch::I686);
        assert!("amd64".parse::<Arch>().is_err());
        let mut s = spec();
        s.arch = Arch::I686;
        assert_eq!(s.rpm_file_name(), "ztps-agent-0.1.0-1.i686.rpm");
    }

    #[test]
    fn source_date_epoch_parses_or_fails_clearly() {
        assert_eq!(
            BuildTime::parse_source_date_epoch("1700000000")
                .unwrap()
                .as_unix(),
            1_700_000_000
        );
        for bad in ["", "-1", "soon", "99999999999"] {
            let err = BuildTime::parse_source_date_epoch(bad).unwrap_err();
            assert!(err.to_string().contains("SOURCE_DATE_EPOCH"), "{err}");
        }
    }
}
