//! HTTP(S) POST of each record's JSON to a URL, from a task of its own: a
//! bounded queue (oldest dropped, and counted, when full), retries with
//! exponential backoff, and never a wait for the caller.
//!
//! The URL's path and query are treated as a secret (Slack and Teams put
//! their token there): logs, errors and stats show only `scheme://host:port`.
//! Reply bodies are never needed, so at most [`MAX_REPLY_BODY`] bytes of one
//! are read before the connection is dropped.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Uri;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use super::Sink;
use crate::{EventsError, Record};

/// Bytes of a reply body read at most; the rest is never received.
pub const MAX_REPLY_BODY: usize = 4 << 10;

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Records waiting to be sent; beyond this the oldest is dropped.
    pub queue_capacity: usize,
    /// Tries per record before it is given up.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Connect + request + response, per attempt.
    pub request_timeout: Duration,
    /// For https: a PEM file of CA certificates trusted besides the
    /// system's roots (a private CA in front of an internal receiver).
    pub extra_ca_file: Option<PathBuf>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 256,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(5),
            extra_ca_file: None,
        }
    }
}

/// Counters for the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookStats {
    pub delivered: u64,
    /// Dropped because the queue was full.
    pub dropped: u64,
    /// Given up after `max_attempts`.
    pub failed: u64,
    pub queued: u64,
    /// Reply body bytes read, over every attempt (each capped at
    /// [`MAX_REPLY_BODY`]).
    pub reply_bytes_read: u64,
    /// Attempts that failed (a 500, a refused connection, a timeout),
    /// retried or not.
    pub attempt_failures: u64,
    /// Unix seconds of the last delivery; 0 before the first.
    pub last_success_unix: u64,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<VecDeque<String>>,
    wake: Notify,
    delivered: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    reply_bytes_read: AtomicU64,
    attempt_failures: AtomicU64,
    last_success_unix: AtomicU64,
}

#[derive(Debug)]
pub struct WebhookSink {
    /// `scheme://host:port` only.
    origin: String,
    capacity: usize,
    shared: Arc<Shared>,
    worker: JoinHandle<()>,
}

impl WebhookSink {
    /// Starts the delivery task on the current tokio runtime. `http://`
    /// and `https://` URLs are accepted; https certificates are checked
    /// against the system's roots (and `extra_ca_file`).
    pub fn spawn(url: &str, config: WebhookConfig) -> Result<Self, EventsError> {
        let target = Target::parse(url)?;
        let origin = target.origin.clone();
        let shared = Arc::new(Shared::default());
        let worker = tokio::spawn(run(target, config.clone(), shared.clone()));
        Ok(Self {
            origin,
            capacity: config.queue_capacity.max(1),
            shared,
            worker,
        })
    }

    /// `scheme://host:port` of the webhook: what may be logged of it.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn stats(&self) -> WebhookStats {
        self.health().stats()
    }

    /// A handle on the delivery counters that outlives handing the sink to
    /// the hub (for `/status` and `/metrics`).
    pub fn health(&self) -> WebhookHealth {
        WebhookHealth {
            origin: self.origin.clone(),
            shared: self.shared.clone(),
        }
    }
}

/// The webhook's delivery health, readable from anywhere.
#[derive(Debug, Clone)]
pub struct WebhookHealth {
    origin: String,
    shared: Arc<Shared>,
}

impl WebhookHealth {
    /// `scheme://host:port`: what may be shown of the URL.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn stats(&self) -> WebhookStats {
        let s = &self.shared;
        WebhookStats {
            delivered: s.delivered.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            queued: lock(&s.queue).len() as u64,
            reply_bytes_read: s.reply_bytes_read.load(Ordering::Relaxed),
            attempt_failures: s.attempt_failures.load(Ordering::Relaxed),
            last_success_unix: s.last_success_unix.load(Ordering::Relaxed),
        }
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        // Best effort by design: what is still queued at shutdown is lost.
        self.worker.abort();
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn deliver(&mut self, record: &Record) -> Result<(), EventsError> {
        let body = slack_body(record)?;
        {
            let mut queue = lock(&self.shared.queue);
            if queue.len() >= self.capacity {
                queue.pop_front();
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
            queue.push_back(body);
        }
        self.shared.wake.notify_one();
        Ok(())
    }
}

/// A body Slack (and Teams' Slack-compatible hooks) can show: `text`, the
/// line a person reads, beside the record's structured fields.
pub fn slack_body(record: &Record) -> Result<String, EventsError> {
    let mut value = serde_json::to_value(record)?;
    if let serde_json::Value::Object(map) = &mut value {
        map.insert(
            "text".into(),
            serde_json::Value::String(format!("ZTPS: {}", record.message)),
        );
    }
    Ok(serde_json::to_string(&value)?)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub use ztps_types::url_origin;

#[derive(Debug)]
struct Target {
    origin: String,
    https: bool,
    host: String,
    port: u16,
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, EventsError> {
        let origin = url_origin(url);
        let bad = |reason: &str| EventsError::WebhookUrl {
            origin: origin.clone(),
            reason: reason.to_string(),
        };
        // The parser's message may quote the URL: keep it out.
        let uri: Uri = url
            .trim()
            .parse()
            .map_err(|_| bad("not a valid absolute URL"))?;
        let (https, default_port) = match uri.scheme_str() {
            Some("http") => (false, 80),
            Some("https") => (true, 443),
            _ => return Err(bad("expected an http:// or https:// URL")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "credentials in the URL are not supported; put the token in the path (webhook_url_file)",
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        Ok(Self {
            origin: origin.clone(),
            https,
            host: host.to_string(),
            port: authority.port_u16().unwrap_or(default_port),
            authority: authority.to_string(),
            path: uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
        })
    }
}

/// The TLS client: the system's roots plus the configured extra CA. Reads
/// files, so it runs on the blocking pool, once.
fn tls_connector(extra_ca: Option<PathBuf>) -> Result<TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "skipping a system root certificate");
    }
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    let mut extra = 0;
    if let Some(path) = &extra_ca {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("bad PEM in {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("bad CA certificate in {}: {e}", path.display()))?;
            extra += 1;
        }
    }
    if added + extra == 0 {
        return Err("no trusted root certificates (system store empty, no CA file)".into());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn run(target: Target, config: WebhookConfig, shared: Arc<Shared>) {
    let mut failing = false;
    let mut tls: Option<Result<TlsConnector, String>> = None;
    loop {
        let next = lock(&shared.queue).pop_front();
        let Some(body) = next else {
            shared.wake.notified().await;
            continue;
        };
        if target.https && tls.is_none() {
            let ca = config.extra_ca_file.clone();
            tls = Some(
                tokio::task::spawn_blocking(move || tls_connector(ca))
                    .await
                    .unwrap_or_else(|e| Err(format!("loading root certificates: {e}"))),
            );
        }
        let connector = match &tls {
            Some(Ok(c)) => Some(c),
            Some(Err(reason)) => {
                if !failing {
                    tracing::warn!(webhook = %target.origin, %reason, "webhook cannot use TLS; records are dropped");
                    failing = true;
                }
                shared.failed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            None => None,
        };
        let mut backoff = config.initial_backoff;
        let mut attempt = 1;
        loop {
            let attempt_result = tokio::time::timeout(
                config.request_timeout,
                post(&target, connector, body.clone(), &shared),
            )
            .await;
            match attempt_result {
                Ok(Ok(())) => {
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    shared.last_success_unix.store(now, Ordering::Relaxed);
                    if failing {
                        tracing::info!(webhook = %target.origin, "webhook delivers again");
                        failing = false;
                    }
                    break;
                }
                outcome => {
                    shared.attempt_failures.fetch_add(1, Ordering::Relaxed);
                    let reason = match outcome {
                        Ok(Err(reason)) => reason,
                        _ => format!("no answer within {:?}", config.request_timeout),
                    };
                    if !failing {
                        // Logged on the change to failing, not on every attempt.
                        tracing::warn!(webhook = %target.origin, %reason, "webhook delivery failing; retrying with backoff");
                        failing = true;
                    }
                    if attempt >= config.max_attempts {
                        shared.failed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(config.max_backoff);
                }
            }
        }
    }
}

async fn post(
    target: &Target,
    tls: Option<&TlsConnector>,
    body: String,
    shared: &Shared,
) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    match tls {
        None => exchange(stream, target, body, shared).await,
        Some(connector) => {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|_| "the host is not a valid TLS server name".to_string())?;
            let stream = connector
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS: {}", ztps_types::error_chain(&e)))?;
            exchange(stream, target, body, shared).await
        }
    }
}

async fn exchange<S>(
    stream: S,
    target: &Target,
    body: String,
    shared: &Shared,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let connection = tokio::spawn(connection);
    let request = http::Request::post(target.path.as_str())
        .header(http::header::HOST, target.authority.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "ztps-agent")
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| "building the request failed".to_string());
    let result = async {
        let response = sender
            .send_request(request?)
            .await
            .map_err(|e| format!("sending: {e}"))?;
        let status = response.status();
        // The body says nothing we need: read a little so that a short
        // reply completes cleanly, never more, then drop the connection.
        let mut body = response.into_body();
        let mut read = 0usize;
        while read < MAX_REPLY_BODY {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        read = read.saturating_add(data.len());
                    }
                }
                Some(Err(_)) | None => break,
            }
        }
        shared
            .reply_bytes_read
            .fetch_add(read as u64, Ordering::Relaxed);
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("server answered {status}"))
        }
    }
    .await;
    connection.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        let t = Target::parse("http://127.0.0.1:8080/hook?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8080, "/hook?x=1")
        );
        let t = Target::parse("http://[::1]/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
        let t = Target::parse("https://hooks.example/services/T0/B0/secret").unwrap();
        assert!(t.https);
        assert_eq!(
            (t.port, t.origin.as_str()),
            (443, "https://hooks.example:443")
        );
        for bad in ["ftp://x/", "not a url", "http://u:p@x/", "/relative"] {
            let err = Target::parse(bad).unwrap_err().to_string();
            assert!(!err.contains("u:p") && !err.contains("relative"), "{err}");
        }
    }
}
