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

    /// A short description for errors, logs, events and the status page:
    /// `unix:PATH` or `scheme://host:port`. Never the password, and never a
    /// URL's userinfo, path or query, which may carry secrets too.
    pub fn endpoint(&self) -> String {
        match self {
            Self::UnixSocket { path } => format!("unix:{}", path.display()),
            Self::HttpLocalhost { port } => format!("http://127.0.0.1:{port}"),
            Self::Https { url, .. } => url_origin(url),
        }
    }
}

pub use ztps_types::url_origin;

/// Refuses a secret-bearing file that group or others can read or write,
/// or that belongs to someone other than root or this process. Checked on
/// the open handle, so the file checked is the file read.
pub fn check_private_file(path: &Path, file: &std::fs::File) -> Result<(), EapiError> {
    let meta = file.metadata().map_err(|source| EapiError::Io {
        path: path.to_path_buf(),
        source,
    })?;
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
            "{} belongs to uid {}, neither root nor this process (uid {me}); run `chown root {}`",
            path.display(),
            meta.uid(),
            path.display()
        )));
    }
    Ok(())
}

/// Opens `path`, checks it is private, and reads it (bounded: a
/// credentials file is a line or two).
fn read_private(path: &Path) -> Result<String, EapiError> {
    use std::io::Read as _;
    const MAX_CREDENTIALS_BYTES: u64 = 64 << 10;
    let io = |source| EapiError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    check_private_file(path, &file)?;
    let mut text = String::new();
    file.take(MAX_CREDENTIALS_BYTES)
        .read_to_string(&mut text)
        .map_err(io)?;
    Ok(text)
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
        let text = read_private(path)?;
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

    /// Reads `username:password` from the first line of a file, with the
    /// same checks as [`Credentials::from_file`]; the password is the rest
    /// of the line and may itself hold colons.
    pub fn from_line_file(path: &Path) -> Result<Self, EapiError> {
        let text = read_private(path)?;
        let line = text.lines().next().unwrap_or_default();
        match line.split_once(':') {
            Some((user, password)) if !user.is_empty() => Self::new(user, password).validated(),
            _ => Err(EapiError::Credentials(format!(
                "{}: the first line must be username:password",
                path.display()
            ))),
        }
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
    fn line_file_is_checked_like_the_toml_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), 0o600, "admin:s3:cret\n");
        let creds = Credentials::from_line_file(&path).unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.password.expose()),
            ("admin", "s3:cret")
        );
        for mode in [0o640, 0o604, 0o644] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = Credentials::from_line_file(&path).unwrap_err().to_string();
            assert!(
                err.contains("chmod 600") && err.contains(&*path.to_string_lossy()),
                "{err}"
            );
            assert!(!err.contains("s3:cret"), "{err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "no colon here\n").unwrap();
        let err = Credentials::from_line_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("username:password") && !err.contains("no colon"),
            "{err}"
        );
    }

    #[test]
    fn origins_keep_only_scheme_host_and_port() {
        for (url, origin) in [
            (
                "https://admin:pw@sw1:8443/command-api?token=t",
                "https://sw1:8443",
            ),
            ("https://sw1", "https://sw1:443"),
            (
                "http://hooks.example/services/T000/B000/XXXX",
                "http://hooks.example:80",
            ),
            ("https://[::1]:9/x", "https://[::1]:9"),
            ("not a url", "<unparseable URL>"),
            ("/relative/secret", "<unparseable URL>"),
        ] {
            assert_eq!(url_origin(url), origin, "{url}");
        }
        let t = Transport::https(
            "https://u:pw@sw1/command-api?k=v",
            Credentials::new("a", "b"),
        );
        assert_eq!(t.endpoint(), "https://sw1:443");
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
