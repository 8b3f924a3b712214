//! The option 60 parser and the class match, on arbitrary bytes: no
//! panic, and the fields it keeps are printable and hold no separator.
//! Run: `cargo +nightly fuzz run vendor_class` in this directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ztps_dhcp::class::{is_member, parse_vendor_class};

fuzz_target!(|data: &[u8]| {
    let info = parse_vendor_class(data);
    for field in [&info.model, &info.hw_revision, &info.serial]
        .into_iter()
        .flatten()
    {
        assert!(!field.contains(';'));
        assert!(field.chars().all(|c| c.is_ascii_graphic() || c == ' '));
    }
    let prefixes = vec!["Arista".to_string()];
    assert_eq!(
        is_member(Some(data), &prefixes),
        data.starts_with(b"Arista")
    );
    assert!(is_member(Some(data), &[String::new()]));
});
