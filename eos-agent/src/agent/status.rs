//! The status endpoint on the loopback: `/status` (JSON), `/leases` (JSON)
//! and `/metrics` (Prometheus text). No authentication, hence loopback only
//! (the config check refuses anything else).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use ztps_dhcp::leases::{Lease, LeaseState};
use ztps_events::Record;
use ztps_net::iftable::InterfaceTable;

use super::dhcp::{Served, served_interfaces};
use super::state::{BridgeStatus, EapiStatus, ForwardingStatus, Shared, VmStatus};
use super::timeline::{LeafView, LogCounts};

/// How many recent events `/status` shows.
const RECENT_EVENTS: usize = 50;
/// A local client sends its request head in microseconds; one that has
/// not within this time is holding a connection open, and loses it. The
/// same timer closes a kept-alive connection that sends nothing more.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// No connection lives longer than this, however it trickles.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// File descriptors never spent on status connections: the lease journal
/// and its compaction, a reload's config file, netlink, eAPI, the webhook,
/// syslog and the runtime's own all need theirs.
const FD_RESERVE: u64 = 128;
/// Connections served at once, at most (and fewer under a low RLIMIT_NOFILE).
const MAX_CONNECTIONS: u64 = 256;
/// The floor of the cap, whatever the limit says.
const MIN_CONNECTIONS: u64 = 4;

/// One lease as `/leases` and `/status` show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LeaseView {
    pub ip: String,
    pub mac: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// `bound`, `offered` or `probation`.
    pub state: &'static str,
    /// Unix seconds.
    pub expires: u64,
}

impl From<&Lease> for LeaseView {
    fn from(lease: &Lease) -> Self {
        LeaseView {
            ip: lease.ip.to_string(),
            mac: lease.hwaddr.to_string(),
            serial: lease.serial.clone(),
            state: match lease.state {
                LeaseState::Bound => "bound",
                LeaseState::Offered => "offered",
                LeaseState::Probation => "probation",
                LeaseState::Released => "released",
            },
            expires: lease.expires,
        }
    }
}

/// The DHCP part of `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct DhcpStatus {
    pub running: bool,
    pub served_interfaces: Vec<Served>,
    pub leases: Vec<LeaseView>,
    pub offers_sent: u64,
    pub acks_sent: u64,
}

/// The webhook's delivery health; its origin only (the path is a secret).
#[derive(Debug, Clone, Serialize)]
pub struct WebhookView {
    pub origin: String,
    pub delivered: u64,
    /// Records given up after every retry.
    pub failed: u64,
    /// Attempts that failed, retried or not.
    pub attempt_failures: u64,
    /// Records dropped because the queue was full.
    pub dropped: u64,
    pub queued: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<jiff::Timestamp>,
}

/// The whole `/status` document.
#[derive(Debug, Clone, Serialize)]
pub struct StatusDoc {
    pub version: &'static str,
    pub config: String,
    pub uptime_secs: u64,
    pub bridge: BridgeStatus,
    pub forwarding: ForwardingStatus,
    pub dhcp: DhcpStatus,
    pub eapi: EapiStatus,
    pub vm: VmStatus,
    /// Every planned leaf's timeline.
    pub leaves: Vec<LeafView>,
    /// The leaves' bootstrap logs received.
    pub bootstrap_logs: LogCounts,
    /// Delivery health of the webhook, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookView>,
    pub events: Vec<Record>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn leases(shared: &Shared) -> Vec<LeaseView> {
    let now = now_secs();
    shared
        .dhcp()
        .map(|d| {
            d.handle
                .leases()
                .iter()
                .filter(|l| l.is_live(now))
                .map(LeaseView::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The `/status` document as of now.
pub fn status(shared: &Shared, table: &InterfaceTable) -> StatusDoc {
    let sections = shared.sections();
    let dhcp = match shared.dhcp() {
        Some(view) => {
            let counters = view.handle.metrics();
            DhcpStatus {
                running: true,
                served_interfaces: served_interfaces(&view.config, &table.snapshot()),
                leases: leases(shared),
                offers_sent: counters.sent_offer,
                acks_sent: counters.sent_ack,
            }
        }
        None => DhcpStatus {
            running: false,
            served_interfaces: Vec::new(),
            leases: Vec::new(),
            offers_sent: 0,
            acks_sent: 0,
        },
    };
    StatusDoc {
        version: crate::version::version(),
        config: shared.config_path.clone(),
        uptime_secs: shared.started.elapsed().as_secs(),
        bridge: sections.bridge,
        forwarding: sections.forwarding,
        dhcp,
        eapi: sections.eapi,
        vm: sections.vm,
        leaves: shared.timeline.leaves(),
        bootstrap_logs: shared.timeline.log_counts(),
        webhook: shared.webhook.as_ref().map(|w| {
            let s = w.stats();
            WebhookView {
                origin: w.origin().to_string(),
                delivered: s.delivered,
                failed: s.failed,
                attempt_failures: s.attempt_failures,
                dropped: s.dropped,
                queued: s.queued,
                last_success: (s.last_success_unix > 0)
                    .then(|| jiff::Timestamp::from_second(s.last_success_unix as i64).ok())
                    .flatten(),
            }
        }),
        events: shared.hub.recent(RECENT_EVENTS),
    }
}

/// What the endpoint serves from.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub shared: Shared,
    pub table: InterfaceTable,
    pub registry: Arc<Registry>,
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn json(value: &impl Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_string_pretty(value) {
        Ok(text) => respond(StatusCode::OK, "application/json", text + "\n"),
        Err(e) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("{e}\n"),
        ),
    }
}

impl Endpoint {
    fn route(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET {
            return respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "only GET\n".into(),
            );
        }
        match request.uri().path() {
            "/status" => json(&status(&self.shared, &self.table)),
            "/leases" => json(&leases(&self.shared)),
            "/metrics" => match super::metrics::encode(&self.registry) {
                Ok(text) => respond(StatusCode::OK, super::metrics::CONTENT_TYPE, text),
                Err(e) => respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    format!("{e}\n"),
                ),
            },
            _ => respond(
                StatusCode::NOT_FOUND,
                "text/plain",
                "not found; try /status, /leases or /metrics\n".into(),
            ),
        }
    }

    /// Serves connections on `listener` until `cancel` fires. At most
    /// [`connection_cap`] connections are open at once, the cap following
    /// RLIMIT_NOFILE as it is now; beyond that new ones wait in the
    /// kernel's backlog, costing no file descriptor.
    pub async fn serve(self, listener: TcpListener, cancel: CancellationToken) {
        let mut cap = connection_cap(soft_nofile());
        info!(max_connections = cap, "status endpoint limits");
        let mut connections = JoinSet::new();
        let mut accept_failing = false;
        let mut pause = Duration::from_millis(50);
        loop {
            // Reap finished connections so the set stays as small as the cap.
            while connections.try_join_next().is_some() {}
            let now = connection_cap(soft_nofile());
            if now != cap {
                info!(
                    max_connections = now,
                    "status endpoint follows the new descriptor limit"
                );
                cap = now;
            }
            if connections.len() >= cap {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    _ = connections.join_next() => continue,
                }
            }
            let accepted = tokio::select! {
                () = cancel.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => {
                    if accept_failing {
                        info!("status endpoint accepts connections again");
                        accept_failing = false;
                        pause = Duration::from_millis(50);
                    }
                    accepted
                }
                Err(e) => {
                    // Out of file descriptors and the like: said once per
                    // episode, then waited out with a growing pause.
                    if !accept_failing {
                        warn!(error = %e, "status endpoint cannot accept; pausing");
                        accept_failing = true;
                    }
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            let endpoint = self.clone();
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let response = endpoint.route(&request);
                    async move { Ok::<_, Infallible>(response) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Some(HEADER_TIMEOUT))
                    .max_buf_size(16 << 10)
                    .serve_connection(TokioIo::new(stream), service);
                match tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        debug!(%peer, error = %e, "status connection ended with an error")
                    }
                    Err(_) => debug!(%peer, "status connection outlived its lifetime; closed"),
                }
            });
        }
        connections.shutdown().await;
    }
}

/// The soft RLIMIT_NOFILE, or a conservative guess when unreadable.
fn soft_nofile() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft)
}

/// Connections the endpoint may hold under a descriptor limit of `nofile`:
/// what is left after the reserve, halved (a connection in a pinch holds a
/// socket and the kernel may lag in freeing it), within the bounds.
pub fn connection_cap(nofile: u64) -> usize {
    let spare = nofile.saturating_sub(FD_RESERVE) / 2;
    usize::try_from(spare.clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)).unwrap_or(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn serves_status_leases_and_metrics() {
        let hub = ztps_events::Hub::spawn(
            Default::default(),
            vec![],
            Arc::new(ztps_events::SystemClock),
        );
        let shared = Shared::new(
            hub.handle(),
            Default::default(),
            "/mnt/flash/ztps-agent.toml".into(),
        );
        shared.update(|s| s.bridge.state = "ok".into());
        shared.metrics.vm_restarts.inc();
        shared.hub.emit(ztps_events::Event::LinkUp {
            interface: "et1".into(),
        });
        let endpoint = Endpoint {
            registry: Arc::new(super::super::metrics::registry(&shared)),
            shared,
            table: InterfaceTable::new(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(endpoint.serve(listener, cancel.clone()));

        let status = get(addr, "/status").await;
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let body = status.split("\r\n\r\n").nth(1).unwrap();
        let doc: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(doc["bridge"]["state"], "ok");
        assert_eq!(doc["dhcp"]["running"], false);
        assert_eq!(doc["config"], "/mnt/flash/ztps-agent.toml");
        assert_eq!(doc["events"][0]["kind"], "link_up");

        let metrics = get(addr, "/metrics").await;
        assert!(metrics.contains("ztps_vm_restarts_total 1"), "{metrics}");
        assert!(metrics.contains("ztps_events_dropped_total 0"), "{metrics}");
        assert!(get(addr, "/leases").await.ends_with("[]\n"));
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        cancel.cancel();
        task.await.unwrap();
    }

    #[test]
    fn the_connection_cap_leaves_descriptors_in_reserve() {
        assert_eq!(connection_cap(256), 64);
        assert_eq!(connection_cap(1024), 256);
        assert_eq!(connection_cap(1 << 20), 256);
        assert_eq!(connection_cap(100), 4);
        for nofile in [160u64, 256, 512, 1024, 4096] {
            let cap = connection_cap(nofile) as u64;
            assert!(nofile - cap >= FD_RESERVE, "{nofile}: {cap}");
        }
    }

    #[tokio::test]
    async fn silent_connections_are_closed_and_status_still_answers() {
        let hub = ztps_events::Hub::spawn(
            Default::default(),
            vec![],
            Arc::new(ztps_events::SystemClock),
        );
        let shared = Shared::new(hub.handle(), Default::default(), "c".into());
        let endpoint = Endpoint {
            registry: Arc::new(super::super::metrics::registry(&shared)),
            shared,
            table: InterfaceTable::new(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(endpoint.serve(listener, cancel.clone()));
        // More half-open requests than the endpoint will ever hold at once.
        let cap = connection_cap(soft_nofile());
        let mut held = Vec::new();
        for _ in 0..cap + 16 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            held.push(s);
        }
        let answer = tokio::time::timeout(Duration::from_secs(120), get(addr, "/status"))
            .await
            .expect("status answered despite the half-open connections");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // The held ones were cut by the header timeout: each reads EOF.
        let mut closed = 0;
        for mut s in held.drain(..cap) {
            let mut buf = Vec::new();
            if let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut buf)).await
            {
                closed += 1;
            }
        }
        assert_eq!(closed, cap);
        cancel.cancel();
        task.await.unwrap();
    }
}
