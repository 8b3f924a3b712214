//! Is the ZTPServer serving? An HTTP/1.1 `GET` of its `/bootstrap` URL,
//! healthy only on 200 with a bootstrap script whose `SERVER = "..."` line
//! points at the expected origin, each attempt bounded by a timeout.
//!
//! The `SERVER` check exists because an appliance whose seed was missing or
//! broken still answers `/bootstrap` with 200, but with ZTPServer's default
//! `server_url`: every switch then fetches its next step from a name or
//! address it cannot reach. That is not "healthy", and not "down" either (a
//! restart cannot fix a seed), so it is a state of its own.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{Request, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tracing::debug;

use crate::VmError;

/// The result of one health probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Unhealthy(HealthFailure),
    /// Answering 200, but the bootstrap it serves sends switches somewhere
    /// else: the appliance's seed is wrong or absent.
    WrongServer(WrongServer),
}

/// What the served bootstrap script says versus what the agent expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongServer {
    /// The `SERVER = "..."` value, `None` when the body has no such line
    /// (not ZTPServer's bootstrap at all).
    pub served: Option<String>,
    /// The origin (`http://host:port`) switches are told to use.
    pub expected: String,
}

impl WrongServer {
    /// What an operator should do about it, for logs and events.
    pub fn fix(&self) -> String {
        format!(
            "the appliance's seed is missing, broken or names another server_url; \
             check `cloud-init status --long` or GET /ztps-health.json on the appliance, \
             then write the seed again with `ztps-agent render seed` (server_url {}) and \
             restart the VM",
            self.expected
        )
    }
}

impl fmt::Display for WrongServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.served {
            Some(served) => write!(
                f,
                "answering, but its bootstrap sends switches to {served:?}, not {:?}",
                self.expected
            ),
            None => write!(
                f,
                "answering, but not with a ZTPServer bootstrap (no SERVER line; expected {:?})",
                self.expected
            ),
        }
    }
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        matches!(self, Health::Healthy)
    }
}

/// Why a probe did not count as healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthFailure {
    /// The server answered, but not 200.
    Status(u16),
    /// No complete answer within the per-request timeout.
    Timeout(Duration),
    /// TCP connect failed (refused, unreachable).
    Connect(String),
    /// The connection broke or the reply was not HTTP.
    Protocol(String),
}

impl fmt::Display for HealthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthFailure::Status(code) => write!(f, "HTTP {code}"),
            HealthFailure::Timeout(t) => write!(f, "no answer within {t:?}"),
            HealthFailure::Connect(e) => write!(f, "cannot connect: {e}"),
            HealthFailure::Protocol(e) => write!(f, "HTTP exchange failed: {e}"),
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Healthy => f.write_str("healthy"),
            Health::Unhealthy(why) => write!(f, "unhealthy ({why})"),
            Health::WrongServer(wrong) => write!(f, "wrong server_url ({wrong})"),
        }
    }
}

/// Probes the ZTPServer.
pub trait HealthProbe: Send + Sync {
    fn check(&self) -> impl Future<Output = Health> + Send;
}

/// `GET <url>` over plain HTTP/1.1 (the ZTPServer serves http on the
/// bridge's subnet).
#[derive(Debug, Clone)]
pub struct HttpHealthCheck {
    url: String,
    uri: Uri,
    connect_to: String,
    timeout: Duration,
    /// The origin the served `SERVER` line must name.
    expected_server: Origin,
}

/// Bound on the body read: ZTPServer's bootstrap is ~40 KB; anything far
/// larger is not it, and the probe must not buffer an EOS image by mistake.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// `scheme://host:port` with the host lower-cased and the port explicit, so
/// `http://ZTPS` and `http://ztps:80/` compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn of(uri: &Uri) -> Option<Origin> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let host = uri.host().filter(|h| !h.is_empty())?.to_ascii_lowercase();
        let port = uri.port_u16().or(match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        })?;
        Some(Origin { scheme, host, port })
    }

    fn parse(url: &str) -> Option<Origin> {
        Origin::of(&url.trim().parse::<Uri>().ok()?)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// The value of the first `SERVER = "..."` (or `'...'`) assignment at the
/// start of a line, as ZTPServer writes it into the bootstrap script.
pub fn served_server(body: &str) -> Option<&str> {
    body.lines().find_map(|line| {
        let rest = line.strip_prefix("SERVER")?.trim_start();
        let value = rest.strip_prefix('=')?.trim();
        let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let inner = &value[1..];
        inner.find(quote).map(|end| &inner[..end])
    })
}

impl HttpHealthCheck {
    /// `url` such as `http://10.0.0.2:8080/bootstrap`; `timeout` bounds each
    /// request from connect to the status line.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, VmError> {
        let invalid = |reason: &str| VmError::InvalidHealthUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| invalid(&e.to_string()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(invalid(&format!(
                    "scheme {other:?} is not supported, only http"
                )));
            }
            None => return Err(invalid("no scheme; write http://HOST:PORT/bootstrap")),
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("no host"))?;
        let connect_to = format!("{host}:{}", uri.port_u16().unwrap_or(80));
        let expected_server = Origin::of(&uri).ok_or_else(|| invalid("no host"))?;
        Ok(HttpHealthCheck {
            url: url.to_string(),
            uri,
            connect_to,
            timeout,
            expected_server,
        })
    }

    /// The served bootstrap must name `url`'s origin (by default the probed
    /// URL's own). The agent passes `dhcp.bootstrap_url`: that is what the
    /// switches are told, whatever address the probe itself uses.
    pub fn expect_server(mut self, url: &str) -> Result<Self, VmError> {
        self.expected_server = Origin::parse(url).ok_or_else(|| VmError::InvalidHealthUrl {
            url: url.to_string(),
            reason: "not an absolute http URL with a host; the expected server_url \
                     comes from dhcp.bootstrap_url"
                .to_string(),
        })?;
        Ok(self)
    }

    /// The origin the served `SERVER` line must name.
    pub fn expected_server(&self) -> String {
        self.expected_server.to_string()
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Probes every `interval` until a 200 or until `within` has passed.
    /// Returns the number of probes it took.
    pub async fn wait_until_healthy(
        &self,
        interval: Duration,
        within: Duration,
    ) -> Result<u32, VmError> {
        let start = tokio::time::Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let failure = match self.check().await {
                Health::Healthy => return Ok(attempts),
                Health::Unhealthy(why) => why.to_string(),
                Health::WrongServer(wrong) => format!("{wrong}; {}", wrong.fix()),
            };
            if start.elapsed() + interval > within {
                return Err(VmError::NeverHealthy {
                    url: self.url.clone(),
                    waited: start.elapsed(),
                    last: failure,
                });
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// The status and, on 200, the body (bounded), read in full.
    async fn fetch(&self) -> Result<(StatusCode, Option<Bytes>), HealthFailure> {
        let stream = TcpStream::connect(&self.connect_to)
            .await
            .map_err(|e| HealthFailure::Connect(e.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| HealthFailure::Protocol(e.to_string()))?;
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let authority = self
            .uri
            .authority()
            .map_or(self.connect_to.as_str(), |a| a.as_str());
        let request = Request::get(path)
            .header(header::HOST, authority)
            .header(header::USER_AGENT, "ztps-agent")
            .body(Empty::<Bytes>::new())
            .map_err(|e| HealthFailure::Protocol(e.to_string()))?;
        // The connection must be driven while the request and its body are
        // in flight; it is dropped (and closed) once the body is in.
        let exchange = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| HealthFailure::Protocol(e.to_string()))?;
            let status = response.status();
            if status != StatusCode::OK {
                return Ok((status, None));
            }
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| HealthFailure::Protocol(format!("reading the body: {e}")))?
                .to_bytes();
            Ok((status, Some(body)))
        };
        tokio::pin!(exchange);
        tokio::select! {
            result = &mut exchange => result,
            end = connection => match end {
                // A server that answers and closes (`Connection: close`,
                // busybox httpd) ends the connection in the same poll that
                // reads its reply: the reply and its body are there to be
                // taken.
                Ok(()) => exchange.await.map_err(|e| match e {
                    HealthFailure::Protocol(_) => HealthFailure::Protocol(
                        "connection closed before a reply".to_string(),
                    ),
                    other => other,
                }),
                Err(e) => Err(HealthFailure::Protocol(e.to_string())),
            },
        }
    }

    /// A 200 body is healthy only when its `SERVER` names the expected
    /// origin.
    fn judge_body(&self, body: &[u8]) -> Health {
        let text = String::from_utf8_lossy(body);
        let served = served_server(&text);
        if served.and_then(Origin::parse).as_ref() == Some(&self.expected_server) {
            return Health::Healthy;
        }
        Health::WrongServer(WrongServer {
            served: served.map(str::to_string),
            expected: self.expected_server.to_string(),
        })
    }
}

impl HealthProbe for HttpHealthCheck {
    async fn check(&self) -> Health {
        let result = match tokio::time::timeout(self.timeout, self.fetch()).await {
            Ok(Ok((_, Some(body)))) => self.judge_body(&body),
            Ok(Ok((status, _))) => Health::Unhealthy(HealthFailure::Status(status.as_u16())),
            Ok(Err(failure)) => Health::Unhealthy(failure),
            Err(_) => Health::Unhealthy(HealthFailure::Timeout(self.timeout)),
        };
        debug!(url = %self.url, %result, "health probe");
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Duration {
        Duration::from_secs(1)
    }

    #[test]
    fn the_server_line_is_read_as_ztpserver_writes_it() {
        assert_eq!(
            served_server("#!/usr/bin/env python\nSERVER = \"http://10.0.0.2:8080\"\nX = 1\n"),
            Some("http://10.0.0.2:8080")
        );
        assert_eq!(
            served_server("SERVER='http://a:1'  # set by ztpserver"),
            Some("http://a:1")
        );
        // Only an assignment at the start of a line counts.
        assert_eq!(served_server("  SERVER = \"x\"\nSERVERS = \"y\""), None);
        assert_eq!(served_server("COMMAND_API_SERVER = \"localhost\""), None);
        assert_eq!(served_server("SERVER = \"unterminated"), None);
        assert_eq!(
            served_server("SERVER = \"$SERVER\"\nSERVER = \"later\""),
            Some("$SERVER")
        );
    }

    #[test]
    fn origins_compare_without_path_case_or_default_port() {
        let probe = HttpHealthCheck::new("http://10.0.0.2/bootstrap", t()).unwrap();
        let body = |server: &str| format!("SERVER = \"{server}\"\n");
        for same in [
            "http://10.0.0.2",
            "http://10.0.0.2:80/",
            "HTTP://10.0.0.2:80",
        ] {
            assert_eq!(
                probe.judge_body(body(same).as_bytes()),
                Health::Healthy,
                "{same}"
            );
        }
        for other in [
            "http://ztpserver:8080",
            "http://10.0.0.2:8080",
            "https://10.0.0.2",
            "http://10.0.0.3",
            "$SERVER",
            "",
        ] {
            assert_eq!(
                probe.judge_body(body(other).as_bytes()),
                Health::WrongServer(WrongServer {
                    served: Some(other.to_string()),
                    expected: "http://10.0.0.2:80".into(),
                }),
                "{other}"
            );
        }
        let elsewhere = probe
            .clone()
            .expect_server("http://ZTPS.lab:8080/bootstrap")
            .unwrap();
        assert_eq!(elsewhere.expected_server(), "http://ztps.lab:8080");
        assert_eq!(
            elsewhere.judge_body(b"SERVER = 'http://ztps.lab:8080'"),
            Health::Healthy
        );
        assert!(probe.clone().expect_server("ztps.lab:8080").is_err());
    }

    #[test]
    fn urls_are_checked_up_front() {
        let ok = HttpHealthCheck::new("http://10.0.0.2:8080/bootstrap", t()).unwrap();
        assert_eq!(ok.connect_to, "10.0.0.2:8080");
        assert_eq!(
            HttpHealthCheck::new("http://ztps/bootstrap", t())
                .unwrap()
                .connect_to,
            "ztps:80"
        );
        assert_eq!(
            HttpHealthCheck::new("http://[::1]:81/b", t())
                .unwrap()
                .connect_to,
            "[::1]:81"
        );
        for bad in [
            "https://10.0.0.2/bootstrap",
            "10.0.0.2:8080/bootstrap",
            "/bootstrap",
            "http://",
            "not a url",
        ] {
            let err = HttpHealthCheck::new(bad, t()).unwrap_err();
            assert!(
                matches!(err, VmError::InvalidHealthUrl { .. }),
                "{bad}: {err}"
            );
        }
    }
}
