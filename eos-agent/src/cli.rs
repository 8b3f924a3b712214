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
        `run`, `render` and `bundle` apply the same rules: what check accepts, they accept. \
        Files must be regular files of at most 4 MiB.\n\n\
        Exit status: 0 when valid, 1 when any problem was found.")]
    Check(CheckArgs),
    /// Render one file for a spine to stdout.
    #[command(after_help = "Examples:\n  \
        ztps-agent render domain-xml --fabric examples/fabric.toml > ztps.xml\n  \
        ztps-agent render startup-config --fabric site.toml --fabric dc1.toml --spine dc1-spine1\n  \
        ztps-agent render agent-config --fabric examples/fabric.toml > ztps-agent.toml\n  \
        ztps-agent render seed --fabric examples/fabric.toml --out ztps-seed.img\n  \
        ztps-agent render ztpserver --fabric examples/fabric.toml --out ztpserver-data/\n\n\
        `seed` and `ztpserver` write files and need --out (a disk image, a directory); \
        the other kinds print to stdout, or write FILE with --out.")]
    Render(RenderArgs),
    /// Write the whole flash bundle of a spine into a directory.
    #[command(after_help = "Examples:\n  \
        ztps-agent bundle --fabric examples/fabric.toml --out /tmp/spine1-flash\n  \
        ztps-agent bundle --fabric site.toml --fabric dc1.toml --spine dc1-spine1 --out flash/ --force\n\n\
        DIR receives startup-config, ztps.xml, boot-config, boot-extensions, ztps-agent.toml, \
        .extensions/<swix_file> (this binary as a SWIX), ztps-agent (this binary, when \
        agent.install = \"flash\"), ztps-seed.img (the appliance's NoCloud seed) and \
        MANIFEST.sha256 (check with `sha256sum -c MANIFEST.sha256` inside DIR). Copy DIR's \
        contents to /mnt/flash/. ztps-agent.toml may hold a webhook token, so it is written \
        with mode 0600 (here and by `render agent-config --out`).\n\n\
        A non-empty DIR is refused unless --force; the bundle is built beside DIR and renamed \
        into place, so DIR holds either the old contents or the whole new bundle.")]
    Bundle(BundleArgs),
    /// Package this binary as an RPM inside a SWIX (EOS extension).
    #[command(after_help = "Examples:\n  \
        ztps-agent swix --out ztps-agent.swix\n  \
        SOURCE_DATE_EPOCH=1717171717 ztps-agent swix --out ztps-agent.swix --version 1.2.0\n\n\
        The RPM installs the running binary as /usr/bin/ztps-agent. Copy the SWIX to \
        /mnt/flash/.extensions/ and list it in boot-extensions (or `extension NAME`).")]
    Swix(SwixArgs),
    /// Run the agent: the daemon EOS starts as `daemon ztps`.
    #[command(after_help = "Examples:\n  \
        ztps-agent run --config /mnt/flash/ztps-agent.toml\n\n\
        Brings up the bridge, IPv4 forwarding, the DHCP server, the eAPI watch, the VM \
        supervisor, events and the status endpoint, then serves until SIGTERM or SIGINT. \
        SIGHUP reloads the config (an invalid one is rejected and the running one kept). \
        Arguments EOS's ProcMgr appends (--sysdbfd=6, --agenttitle=...) are ignored. \
        Logs go to stderr and syslog (tag ZTPS, facility local0), filtered by RUST_LOG \
        (default info).")]
    Run(RunArgs),
    /// Print the running agent's /status as a table.
    #[command(after_help = "Examples:\n  \
        ztps-agent status\n  \
        ztps-agent status --url http://127.0.0.1:8087 --json")]
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The agent config.
    #[arg(long, value_name = "FILE", default_value = ztps_config::DEFAULT_AGENT_CONFIG_PATH)]
    pub config: PathBuf,
    /// Log to stderr only, not to syslog (/dev/log).
    #[arg(long)]
    pub no_syslog: bool,
    /// Whatever EOS's ProcMgr appends (--sysdbfd=6, --agenttitle=...): ignored.
    #[arg(hide = true, num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub procmgr_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The agent's status endpoint.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8087")]
    pub url: String,
    /// Print the raw JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// Fabric files, merged in the order given (later keys win).
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    pub fabric: Vec<PathBuf>,
    /// The spine to bundle for; required when the fabric has several.
    #[arg(long, value_name = "NAME")]
    pub spine: Option<String>,
    /// The directory to write; created when missing.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace the contents of a non-empty DIR.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SwixArgs {
    /// The SWIX file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The RPM's version; the binary's own version by default.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// The RPM's architecture. The binary inside is the same static x86_64
    /// agent; i686 installs on every EOS userland (32-bit images refuse
    /// x86_64 RPMs), x86_64 only on 64-bit images (EOS64*.swi). `auto` is
    /// i686, which is always safe.
    #[arg(long, value_enum, default_value_t = RpmArch::Auto)]
    pub arch: RpmArch,
}

/// `--arch` of `ztps-agent swix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RpmArch {
    Auto,
    #[value(name = "x86_64")]
    X86_64,
    #[value(name = "i686")]
    I686,
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
    /// Where to write: required for `seed` (a disk image file) and
    /// `ztpserver` (a directory); other kinds write this file instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
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
    /// The appliance's NoCloud seed disk (vfat, label cidata); needs --out FILE.
    Seed,
    /// ZTPServer's neighbordb, node definitions and leaf configs; needs --out DIR.
    Ztpserver,
    /// ZTPServer's bootstrap/bootstrap.conf: the leaves' bootstrap logs go to
    /// the agent (with the control-plane ACL line a spine needs for them).
    BootstrapConf,
}

impl Kind {
    /// The text artifact of this kind; `None` for the kinds that write files.
    pub fn artifact(self) -> Option<Artifact> {
        match self {
            Kind::DomainXml => Some(Artifact::DomainXml),
            Kind::StartupConfig => Some(Artifact::StartupConfig),
            Kind::StartupConfigSnippet => Some(Artifact::StartupConfigSnippet),
            Kind::BootConfig => Some(Artifact::BootConfig),
            Kind::BootExtensions => Some(Artifact::BootExtensions),
            Kind::AgentConfig => Some(Artifact::AgentConfig),
            Kind::Seed | Kind::Ztpserver | Kind::BootstrapConf => None,
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
        let mut text_kinds = 0;
        for kind in Kind::value_variants() {
            let Some(artifact) = kind.artifact() else {
                continue;
            };
            text_kinds += 1;
            let name = kind.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(name.as_deref(), Some(artifact.name()));
        }
        assert_eq!(text_kinds, Artifact::ALL.len());
    }
}
