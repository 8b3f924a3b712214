//! `ztps-agent check`: validate and report every problem, or one line of OK.

use std::process::ExitCode;

use ztps_config::{Diagnostics, Error};

use crate::cli::CheckArgs;

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let mut problems = 0;
    let mut checked = Vec::new();
    if let Some(path) = &args.config {
        problems += report(ztps_config::load_agent_config(path).map(|_| ()))?;
        checked.push(path.display().to_string());
    }
    if !args.fabric.is_empty() {
        let result = ztps_config::load_fabric(&args.fabric).and_then(|fabric| match &args.spine {
            Some(name) => fabric.spine(Some(name)).map(|_| ()),
            None => Ok(()),
        });
        problems += report(result)?;
        checked.extend(args.fabric.iter().map(|p| p.display().to_string()));
    }
    if problems > 0 {
        eprintln!(
            "{problems} problem{} found",
            if problems == 1 { "" } else { "s" }
        );
        return Ok(ExitCode::FAILURE);
    }
    println!("OK: {} valid", checked.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// Prints the problems of one load and counts them. A file that cannot be
/// read (or is no configuration file at all: a directory, a FIFO, a device,
/// too big) is one problem; the other input is still checked.
fn report(result: Result<(), Error>) -> anyhow::Result<usize> {
    match result {
        Ok(()) => Ok(0),
        Err(Error::Invalid(Diagnostics(list))) => {
            for diagnostic in &list {
                eprintln!("{diagnostic}");
            }
            Ok(list.len())
        }
        Err(
            error @ (Error::UnknownSpine { .. }
            | Error::NoSpines
            | Error::Unreasonable { .. }
            | Error::Read { .. }),
        ) => {
            eprintln!("{:#}", anyhow::Error::from(error));
            Ok(1)
        }
        Err(error) => Err(error.into()),
    }
}
