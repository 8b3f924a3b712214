//! The fabric loader on arbitrary text, split into up to three files at
//! `\x00` bytes so that merging and `[defaults]` are reached. It must never
//! panic, and a fabric it accepts must render every artifact for every spine
//! (`check` is the one gate), with no control character but line feeds in
//! any of them, and derive an agent config that loads back as itself.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run load_fabric` in this directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ztps_render::{Artifact, render};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let files: Vec<(String, String)> = text
        .splitn(3, '\0')
        .enumerate()
        .map(|(i, part)| (format!("f{i}.toml"), part.to_string()))
        .collect();
    let Ok(fabric) = ztps_config::parse_fabric(&files) else {
        return;
    };
    for name in fabric.spines.keys() {
        let spine = fabric.spine(Some(name)).expect("a listed spine");
        for artifact in Artifact::ALL {
            let text = render(artifact, spine).expect("an accepted fabric renders");
            assert!(
                !text.chars().any(|c| c.is_control() && c != '\n'),
                "{artifact}: {text:?}"
            );
        }
        let agent = spine.agent_config();
        let written = agent.to_toml().expect("the derived config serializes");
        let again = ztps_config::parse_agent_config("derived.toml", &written)
            .expect("the derived agent config loads");
        assert_eq!(again, agent);
    }
});
