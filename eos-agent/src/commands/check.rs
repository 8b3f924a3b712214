//! `ztps-agent check`: validate and report every problem, or one line of OK;
//! with `--json`, one JSON document on stdout for scripts.

use std::process::ExitCode;

use serde::Serialize;
use ztps_config::{Diagnostics, Error};

use crate::cli::CheckArgs;

/// One problem, as `check --json` prints it. Location fields are absent for a
/// problem that belongs to no position (an unreadable file).
#[derive(Debug, Serialize)]
struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    message: String,
}

#[derive(Debug, Serialize)]
struct Report {
    valid: bool,
    checked: Vec<String>,
    problems: Vec<Problem>,
}

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    if let Some(path) = &args.config {
        collect(
            ztps_config::load_agent_config(path).map(|_| ()),
            &mut problems,
        )?;
        checked.push(path.display().to_string());
    }
    if !args.fabric.is_empty() {
        match ztps_config::load_fabric_and_files(&args.fabric) {
            Ok(fabric) => {
                if let Some(name) = &args.spine {
                    collect(fabric.spine(Some(name)).map(|_| ()), &mut problems)?;
                }
                // The leaves' own configs, once the fabric itself is valid.
                let (_, sources) = super::leaf_configs::render_checked(&fabric);
                for p in sources {
                    let line = p.to_string();
                    problems.push((
                        Problem {
                            file: Some(p.file),
                            line: p.line,
                            column: None,
                            key: None,
                            message: p.message,
                        },
                        line,
                    ));
                }
            }
            Err(error) => collect(Err(error), &mut problems)?,
        }
        checked.extend(args.fabric.iter().map(|p| p.display().to_string()));
    }
    let valid = problems.is_empty();
    if args.json {
        let report = Report {
            valid,
            checked,
            problems: problems.into_iter().map(|(p, _)| p).collect(),
        };
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        super::files::print(&text)?;
    } else if valid {
        println!("OK: {} valid", checked.join(", "));
    } else {
        for (_, line) in &problems {
            eprintln!("{line}");
        }
        let n = problems.len();
        eprintln!("{n} problem{} found", if n == 1 { "" } else { "s" });
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Collects the problems of one load, each with the line the text report
/// prints. A file that cannot be read (or is no configuration file at all:
/// a directory, a FIFO, a device, too big) is one problem; the other input
/// is still checked.
fn collect(result: Result<(), Error>, out: &mut Vec<(Problem, String)>) -> anyhow::Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(Error::Invalid(Diagnostics(list))) => {
            for d in &list {
                out.push((
                    Problem {
                        file: d.location.as_ref().map(|l| l.file.clone()),
                        line: d.location.as_ref().map(|l| l.line),
                        column: d.location.as_ref().map(|l| l.column),
                        key: (!d.path.is_root()).then(|| d.path.to_string()),
                        message: d.message.clone(),
                    },
                    d.to_string(),
                ));
            }
            Ok(())
        }
        Err(
            error @ (Error::UnknownSpine { .. }
            | Error::NoSpines
            | Error::Unreasonable { .. }
            | Error::Read { .. }),
        ) => {
            let line = format!("{:#}", anyhow::Error::from(error));
            out.push((
                Problem {
                    file: None,
                    line: None,
                    column: None,
                    key: None,
                    message: line.clone(),
                },
                line,
            ));
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}
