//! Where eAPI is, and how to authenticate to it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::EapiError;

/// EOS's unix socket for `management api http-commands` / `protocol unix-socket`.
pub const DEFAULT_UNIX_SOCKET: &str = "/var/run/command-api.sock";
/// EOS's port for `protocol http localhost`.
pub const DEFAULT_HTTP_LOCAL_PORT: u16 = 8080;
/// Environment variables read by [`Credentials::from_env`].
pub const USERNAME_ENV: &str = "ZTPS_EAPI_USERNAME";
pub const PASSWORD_ENV: &str = "ZTPS_EAPI_PASSWORD";

/// A password: never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How to reach eAPI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// HTTP over the unix socket (`protocol unix-socket`); no credentials.
    UnixSocket { path: PathBuf },
    /// HTTP to 127.0.0.1 (`protocol http localhost`); no credentials.
    HttpLocalhost { port: u16 },
    /// HTTPS with basic auth, to the switch itself or another one.
    Https {
        /// `https://host[:port]`; `/command-api` is appended when no path is given.
        url: String,
        username: String,
        password: Secret,
        /// Trust this CA (PEM) instead of the system's roots.
        ca: Option<PathBuf>,
        /// Accept any certificate (a switch's self-signed one). Explicit on purpose.
        insecure_skip_verify: bool,
    },
}

impl Default for Transport {
    fn default() -> Self {
        Self::UnixSocket {
            path: PathBuf::from(DEFAULT_UNIX_SOCKET),
        }
    }
}

impl Transport {
    pub fn unix_socket(path: impl Into<PathBuf>) -> Self {
        Self::UnixSocket { path: path.into() }
    }

    pub fn http_localhost(port: u16) -> Self {
        Self::HttpLocalhost { port }
    }

    /// HTTPS with verified TLS against the system roots, using `credentials`.
    pub fn https(url: impl Into<String>, credentials: Credentials) -> Self {
        Self::Https {
            url: url.into(),
            username: credentials.username,
            password: credentials.password,
            ca: None,
            insecure_skip_verify: false,
        }
    }

    /// A short description for errors and logs (never the password).
    pub fn endpoint(&self) -> String {
        match self {
            Self::UnixSocket { path } => format!("unix:{}", path.display()),
            Self::HttpLocalhost { port } => format!("http://127.0.0.1:{port}/command-api"),
            Self::Https { url, .. } => https_url(url),
        }
    }
}

/// `https://host` -> `https://host/command-api`; a URL with a path is kept.
pub(crate) fn https_url(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    let after_scheme = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    if after_scheme.contains('/') {
        trimmed.to_string()
    } else {
        format!("{trimmed}/command-api")
    }
}

/// eAPI username and password.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: Secret::new(password),
        }
    }

    /// Reads a TOML file with `username = "..."` and `password = "..."`.
    /// The file must not be readable by group or others, and must belong to
    /// root or to the user running this process: a password others can read
    /// is a password others know.
    pub fn from_file(path: &Path) -> Result<Self, EapiError> {
        let io = |source| EapiError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(EapiError::Credentials(format!(
                "{} has mode {mode:03o}: group or others can read or change it; run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
        let me = nix_euid();
        if meta.uid() != 0 && meta.uid() != me {
            return Err(EapiError::Credentials(format!(
                "{} belongs to uid {}, neither root nor this process (uid {me})",
                path.display(),
                meta.uid()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        // The toml error may quote the offending line: keep it out of the message.
        let creds: Credentials = toml::from_str(&text).map_err(|e| {
            EapiError::Credentials(format!(
                "{}: expected `username = \"...\"` and `password = \"...\"` ({})",
                path.display(),
                e.message()
            ))
        })?;
        creds.validated()
    }

    /// Reads `ZTPS_EAPI_USERNAME` and `ZTPS_EAPI_PASSWORD`.
    pub fn from_env() -> Result<Self, EapiError> {
        let get = |name: &str| {
            std::env::var(name).map_err(|_| {
                EapiError::Credentials(format!("environment variable {name} is not set"))
            })
        };
        Self::new(get(USERNAME_ENV)?, get(PASSWORD_ENV)?).validated()
    }

    fn validated(self) -> Result<Self, EapiError> {
        if self.username.is_empty() || self.username.contains(':') {
            return Err(EapiError::Credentials(
                "the username must be non-empty and contain no ':'".into(),
            ));
        }
        Ok(self)
    }
}

fn nix_euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, mode: u32, text: &str) -> PathBuf {
        let path = dir.join("creds.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn private_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            0o600,
            "username = \"admin\"\npassword = \"s3cret\"\n",
        );
        let creds = Credentials::from_file(&path).unwrap();
        assert_eq!(creds.username, "admin");
        assert_eq!(creds.password.expose(), "s3cret");
    }

    #[test]
    fn group_or_world_readable_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o640, 0o604, 0o666] {
            let path = write(
                dir.path(),
                mode,
                "username = \"admin\"\npassword = \"s3cret\"\n",
            );
            let err = Credentials::from_file(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{mode:o}: {err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn bad_file_does_not_leak_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            0o600,
            "username = \"admin\"\npassword = s3cret\n",
        );
        let err = Credentials::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("expected"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn debug_redacts_the_password() {
        let t = Transport::https("https://sw1", Credentials::new("admin", "s3cret"));
        let shown = format!("{t:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn https_url_gets_the_eapi_path() {
        assert_eq!(https_url("https://sw1"), "https://sw1/command-api");
        assert_eq!(
            https_url("https://sw1:8443/"),
            "https://sw1:8443/command-api"
        );
        assert_eq!(https_url("https://sw1/other"), "https://sw1/other");
    }
}
