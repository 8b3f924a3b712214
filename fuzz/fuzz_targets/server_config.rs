//! The `[dhcp]` table as TOML, through the one conversion into the
//! server's runtime config, then into the handler's pools: arbitrary text
//! never panics, and a config that converts can be served from.
//! Run: `cargo +nightly fuzz run server_config` in this directory.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use ztps_dhcp::ServerConfig;
use ztps_dhcp::handler::State;
use ztps_dhcp::metrics::Metrics;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = ServerConfig::from_toml(text) {
        assert!(config.lease_time >= 60);
        for s in &config.subnets {
            for r in &s.ranges {
                assert!(
                    r.start <= r.end && s.network.contains(&r.start) && s.network.contains(&r.end)
                );
            }
        }
        let _ = State::new(Arc::new(config), Arc::new(Metrics::default()));
    }
});
