//! Token buckets per client and per interface, with a bounded number of
//! tracked clients so that a flood of made-up MACs cannot grow memory.

use std::collections::HashMap;

use crate::config::RateLimit;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ms: u64,
}

impl Bucket {
    fn take(&mut self, now_ms: u64, rate: u32, burst: u32) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(f64::from(burst));
        self.last_ms = now_ms;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The limiter state; owned by the request handler.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimit,
    clients: HashMap<Vec<u8>, Bucket>,
    interfaces: HashMap<u32, Bucket>,
}

impl RateLimiter {
    pub fn new(config: RateLimit) -> Self {
        RateLimiter {
            config,
            clients: HashMap::new(),
            interfaces: HashMap::new(),
        }
    }

    /// Whether a datagram that arrived on `ifindex` may be looked at:
    /// checked before parsing, so a flood costs its parse only up to the
    /// budget. Each interface has its own budget, so a flood on one leaf
    /// port does not starve provisioning on the others.
    pub fn allow_interface(&mut self, ifindex: u32, now_ms: u64) -> bool {
        let rate = self.config.per_interface;
        if rate == 0 {
            return true;
        }
        self.interfaces
            .entry(ifindex)
            .or_insert(Bucket {
                tokens: f64::from(rate),
                last_ms: now_ms,
            })
            .take(now_ms, rate, rate)
    }

    /// Whether a packet from `client` may be handled now.
    pub fn allow_client(&mut self, client: &[u8], now_ms: u64) -> bool {
        let c = &self.config;
        if c.per_client == 0 {
            return true;
        }
        let (rate, burst) = (c.per_client, c.per_client_burst.max(1));
        if !self.clients.contains_key(client) && self.clients.len() >= c.tracked_clients {
            // Forget clients whose buckets have refilled: they are idle, and
            // a fresh bucket for them later is identical.
            let refill_ms = u64::from(burst) * 1000 / u64::from(rate) + 1;
            self.clients
                .retain(|_, b| now_ms.saturating_sub(b.last_ms) < refill_ms);
            if self.clients.len() >= c.tracked_clients {
                return false;
            }
        }
        self.clients
            .entry(client.to_vec())
            .or_insert(Bucket {
                tokens: f64::from(burst),
                last_ms: now_ms,
            })
            .take(now_ms, rate, burst)
    }

    /// How many clients are tracked (for tests of the memory bound).
    pub fn tracked_clients(&self) -> usize {
        self.clients.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_client: u32, burst: u32, per_interface: u32, tracked: usize) -> RateLimit {
        RateLimit {
            per_client,
            per_client_burst: burst,
            per_interface,
            tracked_clients: tracked,
        }
    }

    #[test]
    fn per_client_burst_then_refill() {
        let mut rl = RateLimiter::new(limits(2, 3, 0, 10));
        assert!((0..3).all(|_| rl.allow_client(b"a", 0)));
        assert!(!rl.allow_client(b"a", 0));
        assert!(rl.allow_client(b"b", 0), "another client is not affected");
        assert!(
            rl.allow_client(b"a", 500),
            "one token after half a second at 2/s"
        );
        assert!(!rl.allow_client(b"a", 500));
    }

    #[test]
    fn per_interface_limit() {
        let mut rl = RateLimiter::new(limits(0, 0, 5, 10));
        let allowed = (0..20).filter(|_| rl.allow_interface(7, 0)).count();
        assert_eq!(allowed, 5);
        assert!(
            rl.allow_interface(8, 0),
            "another interface has its own bucket"
        );
    }

    #[test]
    fn flood_of_distinct_clients_stays_bounded() {
        let mut rl = RateLimiter::new(limits(1, 1, 0, 100));
        for i in 0..10_000u32 {
            rl.allow_client(&i.to_be_bytes(), 0);
        }
        assert!(rl.tracked_clients() <= 100);
        // Once they have gone idle, new clients are admitted again.
        assert!(rl.allow_client(b"late", 5_000));
    }
}
