//! Each leaf's Day-1 startup-config, from the source the fabric names for
//! it: built in, the operator's own file, or a Jinja2 template. `check`
//! reports every problem of the sources; rendering refuses while any is
//! left.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ztps_config::{Fabric, LeafConfigSource, LeafPlan};

/// A problem with a leaf's config source, at a file (and line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProblem {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for SourceProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Every planned leaf's config by hostname, and every problem found on
/// the way (a leaf with a problem has no config).
pub fn render_checked(fabric: &Fabric) -> (BTreeMap<String, String>, Vec<SourceProblem>) {
    let mut configs = BTreeMap::new();
    let mut problems = Vec::new();
    // Read once, for every leaf that uses it.
    let mut template = None;
    for plan in fabric.leaf_plans() {
        let text = match plan.source {
            LeafConfigSource::BuiltIn => Some(ztps_render::leaf_config(fabric, &plan)),
            LeafConfigSource::Files => from_file(fabric, &plan, &mut problems),
            LeafConfigSource::Template => {
                from_template(fabric, &plan, &mut template, &mut problems)
            }
        };
        if let Some(text) = text {
            configs.insert(plan.hostname.clone(), text);
        }
    }
    (configs, problems)
}

/// Every planned leaf's config, or all the problems at once.
pub fn render_all(fabric: &Fabric) -> anyhow::Result<BTreeMap<String, String>> {
    let (configs, problems) = render_checked(fabric);
    if problems.is_empty() {
        return Ok(configs);
    }
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    anyhow::bail!(
        "the leaves' configs have problems:\n{}\n{} problem{} found",
        lines.join("\n"),
        lines.len(),
        if lines.len() == 1 { "" } else { "s" }
    )
}

/// `<dir>/<hostname>.cfg`, checked against the planned uplinks.
fn from_file(
    fabric: &Fabric,
    plan: &LeafPlan,
    problems: &mut Vec<SourceProblem>,
) -> Option<String> {
    let dir = fabric.leaf_configs.dir.as_deref().unwrap_or(Path::new("."));
    let path = fabric.resolve(dir).join(format!("{}.cfg", plan.hostname));
    let file = path.display().to_string();
    if !path.exists() {
        problems.push(SourceProblem {
            file,
            line: None,
            message: format!(
                "missing: leaf {} is planned with config source \"files\"; put its config here (AVD writes intended/configs/{}.cfg)",
                plan.hostname, plan.hostname
            ),
        });
        return None;
    }
    let text = match ztps_config::read(&path) {
        Ok(text) => text,
        Err(e) => {
            problems.push(SourceProblem {
                file,
                line: None,
                message: format!("{:#}", anyhow::Error::from(e)),
            });
            return None;
        }
    };
    let mismatches = ztps_render::uplink_mismatches(plan, &text);
    if mismatches.is_empty() {
        return Some(text);
    }
    for mismatch in mismatches {
        problems.push(SourceProblem {
            file: file.clone(),
            line: mismatch.line,
            message: mismatch.to_string(),
        });
    }
    None
}

/// The template's file name and text, read on first use.
type Template = Option<Result<(String, String), ()>>;

/// The fabric's template rendered for one leaf, checked against the
/// planned uplinks like an operator's file.
fn from_template(
    fabric: &Fabric,
    plan: &LeafPlan,
    template: &mut Template,
    problems: &mut Vec<SourceProblem>,
) -> Option<String> {
    let loaded = template.get_or_insert_with(|| {
        let rel = fabric
            .leaf_configs
            .template
            .as_deref()
            .unwrap_or(Path::new(""));
        let path = fabric.resolve(rel);
        let file = path.display().to_string();
        match ztps_config::read(&path) {
            Ok(text) => Ok((file, text)),
            Err(e) => {
                problems.push(SourceProblem {
                    file,
                    line: None,
                    message: format!(
                        "the leaves' template (leaf_configs.template): {:#}",
                        anyhow::Error::from(e)
                    ),
                });
                Err(())
            }
        }
    });
    let Ok((file, source)) = loaded else {
        return None;
    };
    let text = match ztps_render::render_template(file, source, fabric, plan) {
        Ok(text) => text,
        Err(e) => {
            let problem = SourceProblem {
                file: e.file,
                line: e.line,
                message: e.message,
            };
            // One template error is the same for every leaf: say it once.
            if !problems.contains(&problem) {
                problems.push(problem);
            }
            return None;
        }
    };
    let mismatches = ztps_render::uplink_mismatches(plan, &text);
    if mismatches.is_empty() {
        return Some(text);
    }
    for mismatch in mismatches {
        problems.push(SourceProblem {
            file: file.clone(),
            line: None,
            message: format!("rendered for leaf {}: {mismatch}", plan.hostname),
        });
    }
    None
}
