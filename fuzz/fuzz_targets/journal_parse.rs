//! The lease journal parser: what recovery reads after a crash, a power
//! cut or a flipped bit on flash. It must never panic, its damaged regions
//! lie inside the input and do not overlap, and a clean journal written
//! from what it kept parses back to the same records.
//! Run: `cargo +nightly fuzz run journal_parse` in this directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ztps_dhcp::journal::parse;

fuzz_target!(|data: &[u8]| {
    let loaded = parse(data);
    assert!(loaded.end <= data.len());
    let mut previous_end = 0;
    for d in &loaded.damaged {
        assert!(d.at >= previous_end && d.at + d.len <= data.len());
        previous_end = d.at + d.len;
    }
    if loaded.version <= 2 {
        let rewritten: Vec<u8> = loaded.records.iter().flat_map(|r| r.encode()).collect();
        let again = parse(&rewritten);
        assert!(again.damaged.is_empty());
        assert_eq!(again.records.len(), loaded.records.len());
    }
});
