//! The command line, declared with clap's derive API. Each subcommand's
//! arguments live here; what it does lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ztps_render::Artifact;

#[derive(Debug, Parser)]
#[command(
    name = "ztps-agent",
    version = crate::version::version(),
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
        the other kinds print to stdout, or write FILE with --out. An existing --out is refused unless --force.")]
    Render(RenderArgs),
    /// Write the whole flash bundle of a spine into a directory.
    #[command(after_help = "Examples:\n  \
        ztps-agent bundle --fabric examples/fabric.toml --current-flash spine1-flash-copy/ --dry-run\n  \
        ztps-agent bundle --fabric examples/fabric.toml --current-flash spine1-flash-copy/ --out /tmp/spine1-flash\n  \
        ztps-agent bundle --fabric examples/fabric.toml --new-switch --vm-disk out/vm-image/ztps.vmdk --out /tmp/spine1-flash\n\n\
        By default the bundle is for a switch already in service: it never carries a \
        startup-config or boot-config, only startup-config.snippet (the lines ztps-eos adds, \
        with the EOS commands that apply them). --new-switch carries a full startup-config \
        and boot-config instead. With agent.install = \"swix\" the bundle carries \
        .extensions/<swix_file> and either boot-extensions (the switch's own, from \
        --current-flash, with the agent's line added) or boot-extensions.add (the line to \
        append); it never carries an empty boot-extensions. With agent.install = \"flash\" it \
        carries the ztps-agent binary and no SWIX. Always: ztps.xml, ztps-agent.toml (mode \
        0600: it may hold a webhook token), ztps-seed.img (the appliance's NoCloud seed), \
        the VM disk when --vm-disk is given, README.txt (the steps for this spine) and \
        MANIFEST.sha256 (check with `sha256sum -c MANIFEST.sha256` inside DIR).\n\n\
        --dry-run writes nothing: it prints every file with its size and sha256 and, with \
        --current-flash, a unified diff against the file of the same name there.\n\n\
        A non-empty DIR is refused unless --force; the bundle is built beside DIR and renamed \
        into place, so DIR holds either the old contents or the whole new bundle.")]
    Bundle(BundleArgs),
    /// Package this binary as an RPM inside a SWIX (EOS extension).
    #[command(after_help = "Examples:\n  \
        ztps-agent swix --out ztps-agent-0.1.0.swix\n  \
        SOURCE_DATE_EPOCH=1717171717 ztps-agent swix --out ztps-agent-1.2.0.swix --version 1.2.0 --arch x86_64\n\n\
        An existing FILE is refused unless --force.\n\n\
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
    /// Print a shell completion script to stdout.
    #[command(after_help = "Examples:\n  \
        ztps-agent completions bash > /etc/bash_completion.d/ztps-agent\n  \
        ztps-agent completions zsh > \"${fpath[1]}/_ztps-agent\"\n  \
        ztps-agent completions fish > ~/.config/fish/completions/ztps-agent.fish")]
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to stdout, or write one per command.
    #[command(after_help = "Examples:\n  \
        ztps-agent man | man -l -\n  \
        ztps-agent man --out /usr/local/share/man/man1")]
    Man(ManArgs),
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
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells `completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write ztps-agent.1 and one page per command (ztps-agent-bundle.1, ...)
    /// into DIR instead of printing ztps-agent.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
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
    /// The spine to bundle for (only the one hosting the ZTPServer has a bundle); by default that one.
    #[arg(long, value_name = "NAME")]
    pub spine: Option<String>,
    /// The directory to write; created when missing.
    #[arg(long, value_name = "DIR", required_unless_present = "dry_run")]
    pub out: Option<PathBuf>,
    /// Replace the contents of a non-empty DIR.
    #[arg(long)]
    pub force: bool,
    /// A switch with nothing to keep: carry a full startup-config and
    /// boot-config. Without it the bundle carries startup-config.snippet and
    /// never a startup-config or boot-config.
    #[arg(long)]
    pub new_switch: bool,
    /// A copy of the switch's flash (or just its boot-extensions and
    /// startup-config): boot-extensions is merged with the one there, and
    /// --dry-run diffs against it.
    #[arg(long, value_name = "DIR")]
    pub current_flash: Option<PathBuf>,
    /// Print every file, its size, sha256 and diff; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The ZTPServer VM disk to carry, under the file name vm.disk gives it.
    #[arg(long, value_name = "FILE")]
    pub vm_disk: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SwixArgs {
    /// The SWIX file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace FILE when it exists.
    #[arg(long)]
    pub force: bool,
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
    /// Print one JSON document on stdout ({"valid", "checked", "problems":
    /// [{"file", "line", "column", "key", "message"}]}) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// What to render.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Fabric files, merged in the order given (later keys win).
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    pub fabric: Vec<PathBuf>,
    /// The spine to render for; by default the only one, or the one hosting the ZTPServer.
    #[arg(long, value_name = "NAME")]
    pub spine: Option<String>,
    /// Where to write: required for `seed` (a disk image file) and
    /// `ztpserver` (a directory); other kinds write this file instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Replace an existing --out file (or a non-empty directory).
    #[arg(long, requires = "out")]
    pub force: bool,
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
