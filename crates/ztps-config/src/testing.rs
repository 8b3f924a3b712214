//! Seams for property tests of the merge; not part of the supported API.

use crate::Error;
use crate::source::{Entry, Node};

/// Parses and merges documents exactly as `load_fabric` does, before any
/// type check, and returns the plain merged value.
pub fn merge_to_value(files: &[(String, String)]) -> Result<toml::Value, Error> {
    Ok(crate::load::parse_all(files)?.to_value())
}

/// Every non-table value reachable through tables in the merged document,
/// with the name of the file the diagnostics would blame for it.
pub fn leaf_origins(files: &[(String, String)]) -> Result<Vec<(Vec<String>, String)>, Error> {
    let tree = crate::load::parse_all(files)?;
    let mut out = Vec::new();
    walk(&tree, &mut Vec::new(), &mut out);
    Ok(out)
}

fn walk(entry: &Entry, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match &entry.node {
        Node::Table(table) => {
            for (key, child) in table {
                path.push(key.clone());
                walk(child, path, out);
                path.pop();
            }
        }
        _ => {
            let file = entry
                .diagnose_here()
                .location
                .map(|l| l.file)
                .unwrap_or_default();
            out.push((path.clone(), file));
        }
    }
}
