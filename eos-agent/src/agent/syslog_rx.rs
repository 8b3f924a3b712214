//! The receiver of the leaves' bootstrap logs: UDP on the address the
//! leaves reach at Day-0 (the bridge address, port 514), and only there.
//!
//! Memory is bounded against a hostile sender: the kernel's socket buffer
//! is the only queue, one datagram buffer is reused, and a token bucket
//! caps the datagrams taken per second (the rest are read, counted and
//! dropped, so a flood costs a read each, not a parse and a lock).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tracing::{debug, error, info};
use ztps_events::bootlog::{self, MAX_DATAGRAM};

use super::timeline::Timeline;

/// A token bucket: `rate` datagrams a second, bursts up to `rate`.
#[derive(Debug)]
pub struct RateLimit {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    pub fn new(rate_per_sec: u32, now: Instant) -> Self {
        let rate = f64::from(rate_per_sec.max(1));
        RateLimit {
            rate,
            tokens: rate,
            last: now,
        }
    }

    /// Whether one more datagram may be taken at `now`.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Binds `listen` (retrying while the address is not there yet: the bridge
/// step may still be adding it) and feeds the timeline until cancelled.
pub async fn run(listen: SocketAddr, rate_per_sec: u32, timeline: Timeline) {
    let socket = bind(listen).await;
    info!(%listen, "receiving the leaves' bootstrap logs");
    serve(socket, rate_per_sec, timeline).await;
}

async fn bind(listen: SocketAddr) -> UdpSocket {
    let mut logged = false;
    loop {
        match UdpSocket::bind(listen).await {
            Ok(socket) => return socket,
            Err(e) => {
                if !logged {
                    error!(%listen, error = %e, "cannot receive bootstrap logs yet; retrying");
                    logged = true;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// Serves an already bound socket (tests bind their own).
pub async fn serve(socket: UdpSocket, rate_per_sec: u32, timeline: Timeline) {
    // One byte more than a line may be, so an oversized datagram is seen
    // as such rather than cut to a valid-looking line.
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut limit = RateLimit::new(rate_per_sec, Instant::now());
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(e) => {
                // ICMP errors and the like surface here on Linux; nothing
                // to do but go on.
                debug!(error = %e, "bootstrap log receive failed");
                continue;
            }
        };
        if !limit.take(Instant::now()) {
            timeline.count_dropped(1);
            continue;
        }
        let IpAddr::V4(source) = from.ip() else {
            timeline.count_refused();
            continue;
        };
        match bootlog::parse(&buf[..n]) {
            Ok(line) => {
                info!(
                    target: "ztps::bootstrap",
                    %source,
                    serial = line.serial.as_deref().unwrap_or("-"),
                    "bootstrap: {}",
                    line.message
                );
                timeline.bootstrap_line(source, &line);
            }
            Err(e) => {
                debug!(%from, error = %e, "not a bootstrap log line");
                timeline.count_refused();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ztps_events::{Event, Stage};

    /// Over a real socket: a bootstrap line moves its leaf, anything else
    /// is refused and counted, and a burst past the rate is dropped.
    #[tokio::test]
    async fn datagrams_reach_the_timeline_through_a_real_socket() {
        let mut config = ztps_config::AgentConfig::new(
            "172.16.130.254/24".parse().unwrap(),
            "http://172.16.130.10:8080/bootstrap",
        );
        config.leaves.push(ztps_config::LeafLink {
            interface: "Ethernet1".into(),
            leaf: "leaf1".into(),
            leaf_interface: Some("Ethernet49".into()),
            subnet: "10.1.1.0/31".parse().unwrap(),
            serial: None,
            system_mac: None,
            speed: None,
        });
        let timeline = Timeline::new(&config);
        // The leaf's lease is the loopback here: the sender's source.
        timeline.observe(&Event::LeaseAcked {
            interface: "et1".into(),
            mac: "00:1c:73:00:00:01".parse().unwrap(),
            ip: std::net::Ipv4Addr::LOCALHOST,
            serial: None,
        });
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = socket.local_addr().unwrap();
        let rate = 20;
        let task = tokio::spawn(serve(socket, rate, timeline.clone()));
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sender
            .send_to(b"<14>ZTPS - INFO: LAB1: Collecting node information\0", to)
            .await
            .unwrap();
        sender.send_to(b"<14>not the bootstrap", to).await.unwrap();
        let wait = async {
            loop {
                let counts = timeline.log_counts();
                if counts.accepted == 1 && counts.refused == 1 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("the datagrams were not counted");
        let leaf = &timeline.leaves()[0];
        assert_eq!(leaf.stage, Stage::BootstrapRunning);
        assert_eq!(leaf.serial.as_deref(), Some("LAB1"));
        // A burst far past the rate: most of it is dropped unparsed.
        for _ in 0..100 {
            let _ = sender.send_to(b"<14>ZTPS - INFO: LAB1: x", to).await;
        }
        let flood = async {
            loop {
                let c = timeline.log_counts();
                if c.dropped > 0 {
                    return c;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        // 100 datagrams against a bucket of 20: without the limit nothing
        // would ever be dropped.
        let counts = tokio::time::timeout(Duration::from_secs(10), flood)
            .await
            .expect("a burst five times the rate dropped nothing");
        assert!(counts.accepted < 101, "{counts:?}");
        task.abort();
    }

    #[test]
    fn the_bucket_allows_its_rate_and_refills() {
        let start = Instant::now();
        let mut limit = RateLimit::new(10, start);
        let taken = (0..100).filter(|_| limit.take(start)).count();
        assert_eq!(taken, 10);
        assert!(!limit.take(start));
        assert!(limit.take(start + Duration::from_millis(150)));
        // A long quiet spell refills to the burst, not beyond.
        let later = start + Duration::from_secs(3600);
        let taken = (0..100).filter(|_| limit.take(later)).count();
        assert_eq!(taken, 10);
    }
}
