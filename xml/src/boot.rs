//! The two one-line boot files EOS reads from flash.

use ztps_config::{AgentInstall, Spine};

/// `boot-config`: the image EOS boots.
pub fn boot_config(spine: &Spine) -> String {
    format!("SWI=flash:{}\n", spine.eos_image)
}

/// `boot-extensions`: the extensions EOS installs at every boot. Empty when
/// the agent runs from flash, since it then needs no extension at all.
pub fn boot_extensions(spine: &Spine) -> String {
    match spine.agent.install {
        AgentInstall::Swix => format!("{}\n", spine.agent.swix_file),
        AgentInstall::Flash => String::new(),
    }
}
