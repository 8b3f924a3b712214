//! Whatever the input, loading returns a value or diagnostics; it never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use proptest::prelude::*;

fn example() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fabric.toml"),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn toml_like_noise_never_panics(text in "[\\[\\]a-z0-9=\"./:, \n{}_é-]{0,300}") {
        let _ = ztps_config::parse_agent_config("noise.toml", &text);
        let _ = ztps_config::parse_fabric(&[("noise.toml".into(), text)]);
    }

    #[test]
    fn damaged_examples_never_panic_and_are_located(start in 0usize..3000, len in 1usize..40, junk in "[a-z0-9=\"/\\[\\]. \n]{0,8}") {
        let text = example();
        let start = start.min(text.len());
        let end = (start + len).min(text.len());
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            return Ok(());
        }
        let damaged = format!("{}{junk}{}", &text[..start], &text[end..]);
        let result = ztps_config::parse_fabric(&[("d.toml".into(), damaged.clone())]);
        if let Some(diagnostics) = result.as_ref().err().and_then(|e| e.diagnostics()) {
            prop_assert!(!diagnostics.is_empty());
            let lines = damaged.lines().count().max(1);
            for d in diagnostics.iter() {
                let location = d.location.as_ref().unwrap();
                prop_assert_eq!(&location.file, "d.toml");
                prop_assert!(location.line >= 1 && location.line <= lines + 1, "{}", d);
            }
        }
    }
}
