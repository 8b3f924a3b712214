//! Is the ZTPServer serving? An HTTP/1.1 `GET` of its `/bootstrap` URL,
//! healthy only on 200, each attempt bounded by a timeout.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use http_body_util::Empty;
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
        Ok(HttpHealthCheck {
            url: url.to_string(),
            uri,
            connect_to,
            timeout,
        })
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
                Health::Unhealthy(why) => why,
            };
            if start.elapsed() + interval > within {
                return Err(VmError::NeverHealthy {
                    url: self.url.clone(),
                    waited: start.elapsed(),
                    last: failure.to_string(),
                });
            }
            tokio::time::sleep(interval).await;
        }
    }

    async fn status(&self) -> Result<StatusCode, HealthFailure> {
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
        // The connection must be driven while the request is in flight; it is
        // dropped (and closed) as soon as the status line is in.
        let response = sender.send_request(request);
        tokio::pin!(response);
        let status = |r: Result<hyper::Response<_>, hyper::Error>| {
            r.map(|r| r.status())
                .map_err(|e| HealthFailure::Protocol(e.to_string()))
        };
        tokio::select! {
            response = &mut response => status(response),
            end = connection => match end {
                // A server that answers and closes (`Connection: close`,
                // busybox httpd) ends the connection in the same poll that
                // reads its reply: the reply is there to be taken.
                Ok(()) => status(response.await).map_err(|_| {
                    HealthFailure::Protocol("connection closed before a reply".to_string())
                }),
                Err(e) => Err(HealthFailure::Protocol(e.to_string())),
            },
        }
    }
}

impl HealthProbe for HttpHealthCheck {
    async fn check(&self) -> Health {
        let result = match tokio::time::timeout(self.timeout, self.status()).await {
            Ok(Ok(StatusCode::OK)) => Health::Healthy,
            Ok(Ok(status)) => Health::Unhealthy(HealthFailure::Status(status.as_u16())),
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
