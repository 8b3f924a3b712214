//! The command line, declared with clap's derive API. Each subcommand's
//! arguments live here; what it does lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ztps_render::Artifact;

#[derive(Debug, Parser)]
#[command(
    name = "ztps-agent",
    version,
    about = "Zero-touch provisioning of an Arista L3 fabric from its first spine",
    long_about = "Zero-touch provisioning of an Arista L3 fabric from its first spine.\n\n\
        Describe the fabric in TOML, check it, and render every file the spine needs \
        (domain XML, startup-config, boot files, the agent's own config)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate an agent config or fabric files; print every problem.
    #[command(after_help = "Examples:\n  \
        ztps-agent check --config /mnt/flash/ztps-agent.toml\n  \
        ztps-agent check --fabric site.toml --fabric spine1.toml\n\n\
        Exit status: 0 when valid, 1 when any problem was found.")]
    Check(CheckArgs),
    /// Render one file for a spine to stdout.
    #[command(after_help = "Examples:\n  \
        ztps-agent render domain-xml --fabric examples/fabric.toml > ztps.xml\n  \
        ztps-agent render startup-config --fabric site.toml --fabric dc1.toml --spine dc1-spine1\n  \
        ztps-agent render agent-config --fabric examples/fabric.toml > ztps-agent.toml")]
    Render(RenderArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("input").required(true).multiple(true))]
pub struct CheckArgs {
    /// An agent config (ztps-agent.toml) to validate.
    #[arg(long, value_name = "FILE", group = "input")]
    pub config: Option<PathBuf>,
    /// Fabric files to validate, merged in the order given.
    #[arg(long, value_name = "FILE", num_args = 1.., group = "input")]
    pub fabric: Vec<PathBuf>,
    /// Also require this spine to exist in the fabric.
    #[arg(long, value_name = "NAME", requires = "fabric")]
    pub spine: Option<String>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// What to render.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Fabric files, merged in the order given (later keys win).
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    pub fabric: Vec<PathBuf>,
    /// The spine to render for; required when the fabric has several.
    #[arg(long, value_name = "NAME")]
    pub spine: Option<String>,
}

/// The artifacts `render` writes, named as on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// libvirt domain of the ZTPServer VM (flash:/ztps.xml).
    DomainXml,
    /// Full EOS startup-config for a fresh spine.
    StartupConfig,
    /// The EOS sections to merge into an existing config.
    StartupConfigSnippet,
    /// boot-config: SWI=flash:<image>.
    BootConfig,
    /// boot-extensions: the agent's SWIX, when installed as one.
    BootExtensions,
    /// The agent's ztps-agent.toml, derived from the fabric.
    AgentConfig,
}

impl From<Kind> for Artifact {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::DomainXml => Artifact::DomainXml,
            Kind::StartupConfig => Artifact::StartupConfig,
            Kind::StartupConfigSnippet => Artifact::StartupConfigSnippet,
            Kind::BootConfig => Artifact::BootConfig,
            Kind::BootExtensions => Artifact::BootExtensions,
            Kind::AgentConfig => Artifact::AgentConfig,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_artifact_has_a_kind_with_the_same_name() {
        for kind in Kind::value_variants() {
            let name = kind.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(name.as_deref(), Some(Artifact::from(*kind).name()));
        }
        assert_eq!(Kind::value_variants().len(), Artifact::ALL.len());
    }
}
