//! The agent config loader on arbitrary text: parse, merge, deserialize with
//! error recovery and placeholders, every check. It must return a config or
//! located diagnostics, never panic, and a config it accepts must write out
//! and load back as itself.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run load_agent` in this directory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ztps_config::parse_agent_config("fuzz.toml", text) {
        Ok(config) => {
            let written = config.to_toml().expect("an accepted config serializes");
            let again = ztps_config::parse_agent_config("written.toml", &written)
                .expect("what the agent writes, it loads");
            assert_eq!(again, config);
        }
        Err(error) => {
            if let Some(diagnostics) = error.diagnostics() {
                assert!(!diagnostics.is_empty());
                assert!(diagnostics.len() <= 400);
            }
        }
    }
});
