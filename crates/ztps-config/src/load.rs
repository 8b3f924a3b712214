//! Loading: read, parse, merge, deserialize and check, collecting every
//! problem on the way instead of stopping at the first.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::Error;
use crate::agent::AgentConfig;
use crate::diag::{Diagnostic, Diagnostics, KeyPath, Problems, Segment};
use crate::fabric::Fabric;
use crate::source::{self, Entry, SourceFile};

/// Enough to report every mistake a person makes in one file, and a bound on
/// the work a hostile file can cause.
const MAX_DIAGNOSTICS: usize = 200;

/// Reads and checks an agent config file.
pub fn load_agent_config(path: &Path) -> Result<AgentConfig, Error> {
    let text = read(path)?;
    parse_agent_config(&path.display().to_string(), &text)
}

/// Checks an agent config given as text; `name` is used in diagnostics.
pub fn parse_agent_config(name: &str, text: &str) -> Result<AgentConfig, Error> {
    let mut tree = parse_all(&[(name.to_string(), text.to_string())])?;
    let mut diagnostics = Vec::new();
    let (config, complete) = deserialize_collecting::<AgentConfig>(&mut tree, &mut diagnostics);
    if let Some(config) = &config
        && complete
    {
        let mut problems = Problems::default();
        config.check(&KeyPath::root(), &mut problems);
        locate(&tree, problems, &mut diagnostics);
    }
    finish(config, diagnostics)
}

/// Reads the fabric files, merges them in order and checks the result.
pub fn load_fabric<P: AsRef<Path>>(paths: &[P]) -> Result<Fabric, Error> {
    let mut files = Vec::new();
    for path in paths {
        let path = path.as_ref();
        files.push((path.display().to_string(), read(path)?));
    }
    parse_fabric(&files)
}

/// Merges fabric documents given as `(name, text)` in order and checks them.
pub fn parse_fabric(files: &[(String, String)]) -> Result<Fabric, Error> {
    if files.is_empty() {
        return Err(Error::NoFabricFiles);
    }
    let mut tree = parse_all(files)?;
    apply_defaults(&mut tree);
    let mut diagnostics = Vec::new();
    let (fabric, complete) = deserialize_collecting::<Fabric>(&mut tree, &mut diagnostics);
    let fabric = fabric.map(|mut fabric| {
        for (name, spine) in &mut fabric.spines {
            spine.name.clone_from(name);
        }
        fabric
    });
    if let Some(fabric) = &fabric
        && complete
    {
        let mut problems = Problems::default();
        fabric.check(&mut problems);
        locate(&tree, problems, &mut diagnostics);
    }
    finish(fabric, diagnostics)
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses every file (reporting every syntax error) and merges them in order.
pub(crate) fn parse_all(files: &[(String, String)]) -> Result<Entry, Error> {
    let mut merged: Option<Entry> = None;
    let mut diagnostics = Vec::new();
    for (name, text) in files {
        match source::parse(Arc::new(SourceFile::new(name.clone(), text.clone()))) {
            Ok(entry) => {
                merged = Some(match merged {
                    Some(base) => base.merge(entry),
                    None => entry,
                });
            }
            Err(diagnostic) => diagnostics.push(diagnostic),
        }
    }
    match merged {
        Some(tree) if diagnostics.is_empty() => Ok(tree),
        _ => Err(Error::Invalid(Diagnostics(diagnostics))),
    }
}

/// Lays `[defaults]` under every `[spines.NAME]`. Values keep their origin,
/// so a mistake in the defaults is reported where the defaults wrote it.
fn apply_defaults(tree: &mut Entry) {
    let Some(defaults) = tree.take("defaults") else {
        return;
    };
    let Some(spines) = tree
        .table_mut()
        .and_then(|t| t.get_mut("spines"))
        .and_then(Entry::table_mut)
    else {
        // Keep it so the type check reports `defaults` as out of place.
        if let Some(table) = tree.table_mut() {
            table.insert("defaults".into(), defaults);
        }
        return;
    };
    for spine in spines.values_mut() {
        let origin = spine.origin.clone();
        let mut merged = defaults.clone().merge(spine.clone());
        merged.origin = origin;
        *spine = merged;
    }
}

/// Deserializes `T`, and on each error records it, removes the offending
/// value and tries again, so that one run reports every type error and
/// unknown key. Returns whether the value is complete enough for semantic
/// checks: `false` once a required value had to be dropped.
fn deserialize_collecting<T: DeserializeOwned>(
    tree: &mut Entry,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Option<T>, bool) {
    let mut removed: Vec<KeyPath> = Vec::new();
    let mut complete = true;
    while diagnostics.len() < MAX_DIAGNOSTICS {
        let error = match serde_path_to_error::deserialize::<_, T>(tree.to_value()) {
            Ok(value) => return (Some(value), complete),
            Err(error) => error,
        };
        let path = convert_path(error.path());
        let message = error.into_inner().message().to_string();
        if let Some(field) = missing_field(&message) {
            let missing = path.key(field);
            if removed
                .iter()
                .any(|r| is_prefix(r, &missing) || is_prefix(&missing, r))
            {
                // We caused this by dropping a bad required value: drop its
                // container as well and go on, but skip the semantic checks.
                complete = false;
                let container = container_of(&path);
                if !tree.remove(&container) {
                    return (None, false);
                }
                removed.push(container);
                continue;
            }
            diagnostics.push(tree.diagnose(
                &missing,
                false,
                "this key is required but missing".into(),
            ));
            // Nothing to remove: the value cannot be completed by us.
            return (None, false);
        }
        let unknown = message.starts_with("unknown field");
        diagnostics.push(tree.diagnose(&path, unknown, describe(&message)));
        if tree.remove(&path) {
            removed.push(path);
            continue;
        }
        // A bad array element, or a value that is already emptied: drop the
        // array (or the container) it is in.
        let container = container_of(&path);
        if container == path || !tree.remove(&container) {
            return (None, false);
        }
        removed.push(container);
    }
    (None, false)
}

/// The nearest removable container of `path`: array elements are not
/// removable without shifting their siblings, so the whole array goes.
fn container_of(path: &KeyPath) -> KeyPath {
    let mut segments = path.segments().to_vec();
    while matches!(segments.last(), Some(Segment::Index(_))) {
        segments.pop();
    }
    KeyPath::from_segments(segments)
}

fn is_prefix(prefix: &KeyPath, path: &KeyPath) -> bool {
    path.segments().starts_with(prefix.segments())
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

/// serde's wording, made to say what would be valid.
fn describe(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let valid = expected
            .trim_start_matches(", expected ")
            .trim_start_matches("one of ")
            .replace('`', "");
        return if valid.is_empty() || valid.starts_with("there are no fields") {
            format!("unknown key `{field}`; this table takes no keys")
        } else {
            format!("unknown key `{field}`; valid keys here: {valid}")
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let valid = expected
            .trim_start_matches(", expected ")
            .trim_start_matches("one of ")
            .replace('`', "\"");
        return format!("\"{value}\" is not allowed here; write one of {valid}");
    }
    if message == "invalid IP address syntax" || message == "invalid IPv4 address syntax" {
        return "not an IPv4 address; write one like 10.1.1.1".into();
    }
    message.to_string()
}

fn convert_path(path: &serde_path_to_error::Path) -> KeyPath {
    let segments = path
        .iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
            serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
            serde_path_to_error::Segment::Enum { variant } => Some(Segment::Key(variant.clone())),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect();
    KeyPath::from_segments(segments)
}

fn locate(tree: &Entry, problems: Problems, diagnostics: &mut Vec<Diagnostic>) {
    for problem in problems.0 {
        diagnostics.push(tree.diagnose(&problem.path, false, problem.message));
    }
}

fn finish<T>(value: Option<T>, diagnostics: Vec<Diagnostic>) -> Result<T, Error> {
    // Defaults laid under several spines report the same mistake once each.
    let mut seen = BTreeSet::new();
    let unique: Vec<Diagnostic> = diagnostics
        .into_iter()
        .filter(|d| seen.insert(d.clone()))
        .collect();
    match value {
        Some(value) if unique.is_empty() => Ok(value),
        _ => Err(Error::Invalid(Diagnostics(unique))),
    }
}
