//! The companion renderer: pure functions from a spine of the fabric
//! description to the text of every file the switch needs, and from a
//! leaf's plan to its built-in Day-1 config.
//!
//! Nothing here touches the filesystem or the network; the caller decides
//! where the text goes (stdout, a bundle directory, a golden file).

mod boot;
mod domain;
mod eos;
mod leaf;
mod leaf_file;
mod template;

use std::fmt;
use std::str::FromStr;

use ztps_config::Spine;

pub use boot::{boot_config, boot_extensions};
pub use domain::domain_xml;
pub use eos::{DOMAIN_XML_FILE, StartupForm, startup_config};
pub use leaf::leaf_config;
pub use leaf_file::{UplinkMismatch, uplink_mismatches};
pub use template::{TemplateError, render_template};

/// Everything that can go wrong while rendering.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write XML: {0}")]
    Xml(#[source] std::io::Error),
    #[error(transparent)]
    Config(#[from] ztps_config::Error),
    #[error("unknown artifact {0:?}; one of: {names}", names = Artifact::NAMES.join(", "))]
    UnknownArtifact(String),
}

/// The files a spine needs, by the name the CLI uses for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Artifact {
    /// libvirt domain of the ZTPServer VM (`flash:/ztps.xml`).
    DomainXml,
    /// EOS startup-config for a fresh spine.
    StartupConfig,
    /// The lines to merge into an existing spine's config.
    StartupConfigSnippet,
    /// `boot-config`: which EOS image to boot.
    BootConfig,
    /// `boot-extensions`: which extensions EOS installs at boot.
    BootExtensions,
    /// The agent's own `ztps-agent.toml`.
    AgentConfig,
}

impl Artifact {
    pub const ALL: [Artifact; 6] = [
        Artifact::DomainXml,
        Artifact::StartupConfig,
        Artifact::StartupConfigSnippet,
        Artifact::BootConfig,
        Artifact::BootExtensions,
        Artifact::AgentConfig,
    ];

    pub const NAMES: [&'static str; 6] = [
        "domain-xml",
        "startup-config",
        "startup-config-snippet",
        "boot-config",
        "boot-extensions",
        "agent-config",
    ];

    pub fn name(self) -> &'static str {
        match self {
            Artifact::DomainXml => "domain-xml",
            Artifact::StartupConfig => "startup-config",
            Artifact::StartupConfigSnippet => "startup-config-snippet",
            Artifact::BootConfig => "boot-config",
            Artifact::BootExtensions => "boot-extensions",
            Artifact::AgentConfig => "agent-config",
        }
    }

    /// Whether the spine needs this file: a spine that does not host the
    /// ZTPServer has no VM and no agent, only its configs.
    pub fn applies_to(self, spine: &Spine) -> bool {
        spine.is_host()
            || matches!(
                self,
                Artifact::StartupConfig | Artifact::StartupConfigSnippet | Artifact::BootConfig
            )
    }

    /// The file name the artifact has on the switch's flash.
    pub fn file_name(self) -> &'static str {
        match self {
            Artifact::DomainXml => DOMAIN_XML_FILE,
            Artifact::StartupConfig => "startup-config",
            Artifact::StartupConfigSnippet => "startup-config.snippet",
            Artifact::BootConfig => "boot-config",
            Artifact::BootExtensions => "boot-extensions",
            Artifact::AgentConfig => "ztps-agent.toml",
        }
    }
}

impl fmt::Display for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Artifact {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Artifact::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| Error::UnknownArtifact(s.to_string()))
    }
}

/// Renders one artifact for a spine.
pub fn render(artifact: Artifact, spine: &Spine) -> Result<String, Error> {
    if !artifact.applies_to(spine) {
        return Err(ztps_config::Error::NotHost {
            name: spine.name.clone(),
        }
        .into());
    }
    match artifact {
        Artifact::DomainXml => domain_xml(spine),
        Artifact::StartupConfig => Ok(startup_config(spine, StartupForm::Full)),
        Artifact::StartupConfigSnippet => Ok(startup_config(spine, StartupForm::Snippet)),
        Artifact::BootConfig => Ok(boot_config(spine)),
        Artifact::BootExtensions => Ok(boot_extensions(spine)),
        Artifact::AgentConfig => agent_config(spine),
    }
}

/// The agent config derived from the spine, as TOML, with a header that
/// says where it came from.
pub fn agent_config(spine: &Spine) -> Result<String, Error> {
    let body = spine.agent_config().to_toml()?;
    Ok(format!(
        "# ztps-agent config for {}, derived from the fabric description.\n# Re-render it instead of editing: `ztps-agent render agent-config --fabric ...`.\n\n{body}",
        spine.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_names_round_trip() {
        for (artifact, name) in Artifact::ALL.into_iter().zip(Artifact::NAMES) {
            assert_eq!(artifact.name(), name);
            assert_eq!(name.parse::<Artifact>().ok(), Some(artifact));
        }
        let err = "zip"
            .parse::<Artifact>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("domain-xml, startup-config"), "{err}");
    }
}
