//! Counters, shared between the server and whoever reports on it.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Live counters; every field only ever grows.
        #[derive(Debug, Default)]
        pub struct Metrics {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// A point-in-time copy of [`Metrics`].
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct MetricsSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Metrics {
            pub fn snapshot(&self) -> MetricsSnapshot {
                MetricsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        impl MetricsSnapshot {
            /// `(name, value)` pairs, for Prometheus-style exposition.
            pub fn pairs(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name),)*]
            }
        }
    };
}

counters! {
    received_discover,
    received_request,
    received_decline,
    received_release,
    received_inform,
    sent_offer,
    sent_ack,
    sent_nak,
    /// Well-formed requests from clients outside the configured classes.
    ignored_non_class,
    /// Requests on interfaces or subnets this server does not serve.
    ignored_not_served,
    malformed,
    rate_limited,
    pool_exhausted,
    /// Offers withdrawn to keep an interface under its cap of outstanding
    /// offers.
    offers_evicted,
    send_errors,
    receive_errors,
    journal_bytes_written,
    journal_fsyncs,
    journal_compactions,
    journal_errors,
    /// Records skipped at load because they were torn or corrupt.
    journal_corrupt_records,
    events_dropped,
}

impl Metrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Increments and returns the value before.
    pub(crate) fn fetch_inc(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
