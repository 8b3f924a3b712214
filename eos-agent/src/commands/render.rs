//! `ztps-agent render KIND`: one artifact for one spine, to stdout.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use ztps_render::Artifact;

use crate::cli::RenderArgs;

pub fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let fabric = super::load_fabric(&args.fabric)?;
    let spine = fabric.spine(args.spine.as_deref())?;
    let artifact = Artifact::from(args.kind);
    let text = ztps_render::render(artifact, spine)
        .with_context(|| format!("cannot render {artifact}"))?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}
