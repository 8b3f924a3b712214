//! HTTP POST of each record's JSON to a URL, from a task of its own: a
//! bounded queue (oldest dropped, and counted, when full), retries with
//! exponential backoff, and never a wait for the caller.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Uri;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::Sink;
use crate::{EventsError, Record};

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
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 256,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(5),
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
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<VecDeque<String>>,
    wake: Notify,
    delivered: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

#[derive(Debug)]
pub struct WebhookSink {
    url: String,
    capacity: usize,
    shared: Arc<Shared>,
    worker: JoinHandle<()>,
}

impl WebhookSink {
    /// Starts the delivery task on the current tokio runtime.
    /// Only `http://` URLs are accepted.
    pub fn spawn(url: &str, config: WebhookConfig) -> Result<Self, EventsError> {
        let target = Target::parse(url)?;
        let shared = Arc::new(Shared::default());
        let worker = tokio::spawn(run(target, config.clone(), shared.clone()));
        Ok(Self {
            url: url.to_string(),
            capacity: config.queue_capacity.max(1),
            shared,
            worker,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn stats(&self) -> WebhookStats {
        WebhookStats {
            delivered: self.shared.delivered.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
            queued: lock(&self.shared.queue).len() as u64,
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
        let body = record.to_json()?;
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug)]
struct Target {
    url: String,
    host: String,
    port: u16,
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, EventsError> {
        let bad = |reason: &str| EventsError::WebhookUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https is not supported; point it at an http:// relay on a trusted network",
                ));
            }
            _ => return Err(bad("expected an http:// URL")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        Ok(Self {
            url: url.to_string(),
            host: host.to_string(),
            port: authority.port_u16().unwrap_or(80),
            authority: authority.to_string(),
            path: uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
        })
    }
}

async fn run(target: Target, config: WebhookConfig, shared: Arc<Shared>) {
    let mut failing = false;
    loop {
        let next = lock(&shared.queue).pop_front();
        let Some(body) = next else {
            shared.wake.notified().await;
            continue;
        };
        let mut backoff = config.initial_backoff;
        let mut attempt = 1;
        loop {
            match tokio::time::timeout(config.request_timeout, post(&target, body.clone())).await {
                Ok(Ok(())) => {
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                    if failing {
                        tracing::info!(url = %target.url, "webhook delivers again");
                        failing = false;
                    }
                    break;
                }
                outcome => {
                    let reason = match outcome {
                        Ok(Err(reason)) => reason,
                        _ => format!("no answer within {:?}", config.request_timeout),
                    };
                    if !failing {
                        // Logged on the change to failing, not on every attempt.
                        tracing::warn!(url = %target.url, %reason, "webhook delivery failing; retrying with backoff");
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

async fn post(target: &Target, body: String) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let connection = tokio::spawn(connection);
    let request = http::Request::post(target.path.as_str())
        .header(http::header::HOST, target.authority.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "ztps-agent")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("building the request: {e}"))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("sending: {e}"))?;
        let status = response.status();
        // Read the body so the exchange completes cleanly.
        let _ = response.into_body().collect().await;
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
        for bad in [
            "ftp://x/",
            "https://x/",
            "not a url",
            "http://u:p@x/",
            "/relative",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
