//! The bootstrap syslog parser, on arbitrary datagrams: no panic, and what
//! it keeps is bounded and has no control character (it reaches logs, the
//! status page and the webhook).
//! Run: `cargo +nightly fuzz run bootstrap_log` in this directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ztps_events::bootlog::{MAX_MESSAGE_CHARS, parse};

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = parse(data) {
        assert!(line.severity <= 7);
        assert!(line.message.chars().count() <= MAX_MESSAGE_CHARS);
        assert!(!line.message.chars().any(char::is_control));
        if let Some(serial) = &line.serial {
            assert!(!serial.is_empty() && serial.len() <= 64);
            assert!(!serial.contains(' '));
        }
        let _ = line.milestone();
    }
});
