//! `ztps-agent render KIND`: one artifact for one spine, to stdout (or --out).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{Kind, RenderArgs};

pub fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    if let Some(out) = &args.out {
        super::files::refuse_existing(out, args.force)?;
    }
    let text = if args.kind == Kind::BootstrapConf {
        let fabric = super::load_fabric(&args.fabric)?;
        let spine = fabric.spine(args.spine.as_deref())?;
        let text = spine.bootstrap_conf();
        if let Some(out) = &args.out {
            super::files::write_atomic(out, text.as_bytes(), 0o644)?;
            return Ok(ExitCode::SUCCESS);
        }
        text
    } else {
        let Some(artifact) = args.kind.artifact() else {
            return super::appliance::run_render(args);
        };
        let fabric = super::load_fabric(&args.fabric)?;
        let spine = fabric.spine(args.spine.as_deref())?;
        if artifact == ztps_render::Artifact::BootExtensions
            && spine.agent.install == ztps_config::AgentInstall::Flash
            && args.out.is_some()
        {
            // Copied to flash, an empty file would drop every extension the
            // switch installs at boot (TerminAttr...).
            anyhow::bail!(
                "spine {}: agent.install = \"flash\" needs no boot-extensions line, and an empty boot-extensions would drop the switch's other extensions; nothing written (set agent.install = \"swix\" for the SWIX's line)",
                spine.name
            );
        }
        let text = ztps_render::render(artifact, spine)
            .with_context(|| format!("cannot render {artifact}"))?;
        if let Some(out) = &args.out {
            super::files::write_atomic(out, text.as_bytes(), super::bundle::mode_of(artifact))?;
            return Ok(ExitCode::SUCCESS);
        }
        text
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}
