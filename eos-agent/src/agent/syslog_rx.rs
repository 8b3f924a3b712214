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
