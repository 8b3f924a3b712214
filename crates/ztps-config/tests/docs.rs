//! docs/configuration.md cannot drift from the types: its tables list exactly
//! the keys the types accept, its defaults are the code's defaults, and its
//! complete examples load without a problem and set every key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use toml::{Table, Value};

// `[eapi]` and `[vm]` are given empty: their keys' defaults are what a
// present section gets (an absent one turns the feature off).
// A supervised VM needs its MAC: the one key set that has no default.
const MINIMAL_AGENT: &str = "[bridge]\naddress = \"172.16.130.254/24\"\n[eapi]\n[vm]\nmac = \"08:00:27:85:0c:f8\"\n[dhcp]\nbootstrap_url = \"http://172.16.130.10:8080/bootstrap\"\n";
const MINIMAL_FABRIC: &str = "[spines.NAME.loopback]\naddress = \"172.16.130.253/24\"\n[spines.NAME.bridge]\naddress = \"172.16.130.254/24\"\n[spines.NAME.vm]\naddress = \"172.16.130.10/24\"\nmac = \"08:00:27:85:0c:f8\"\ndisk = \"/mnt/usb1/ztps.vmdk\"\n";

/// A table's place in a document: keys, with the element index for arrays.
type TablePath = Vec<(String, Option<usize>)>;

struct Section {
    example: String,
    rows: Vec<(String, String)>,
}

fn section(heading: &str) -> Section {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .unwrap();
    let start = doc
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading}"));
    let body = &doc[start + 4..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    let example = body
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap()
        .to_string();
    let rows = body
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            (
                cells[0]
                    .trim_start_matches("| ")
                    .trim_matches('`')
                    .to_string(),
                cells[2].to_string(),
            )
        })
        .collect();
    Section { example, rows }
}

/// Leaf keys of a document; elements of arrays of tables appear as `[]`.
fn leaf_keys(table: &Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Table(t) => leaf_keys(t, &path, out),
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_table) => {
                for item in items {
                    leaf_keys(item.as_table().unwrap(), &format!("{path}[]"), out);
                }
            }
            _ => {
                out.insert(path);
            }
        }
    }
}

/// Every table of a document with its path, array elements included.
fn tables<'a>(table: &'a Table, path: TablePath, out: &mut Vec<(TablePath, &'a Table)>) {
    out.push((path.clone(), table));
    for (key, value) in table {
        match value {
            Value::Table(t) => {
                let mut p = path.clone();
                p.push((key.clone(), None));
                tables(t, p, out);
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(t) = item.as_table() {
                        let mut p = path.clone();
                        p.push((key.clone(), Some(i)));
                        tables(t, p, out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn table_at<'a>(root: &'a mut Table, path: &[(String, Option<usize>)]) -> &'a mut Table {
    let mut table = root;
    for (key, index) in path {
        let value = table.get_mut(key).unwrap();
        table = match index {
            Some(i) => value.as_array_mut().unwrap()[*i].as_table_mut().unwrap(),
            None => value.as_table_mut().unwrap(),
        };
    }
    table
}

/// The keys a table accepts, as the loader's unknown-key message lists them.
fn accepted_keys(
    check: &dyn Fn(&str) -> Vec<String>,
    root: &Table,
    path: &[(String, Option<usize>)],
) -> Vec<String> {
    let mut probed = root.clone();
    table_at(&mut probed, path).insert("zz_probe".into(), Value::Integer(1));
    let problems = check(&toml::to_string(&probed).unwrap());
    let line = problems
        .iter()
        .find(|p| p.contains("unknown key `zz_probe`"))
        .unwrap_or_else(|| panic!("probe not reported at {path:?}: {problems:?}"));
    line.split("valid keys here: ")
        .nth(1)
        .unwrap()
        .split(", ")
        .flat_map(|k| k.split(" or "))
        .map(str::to_string)
        .collect()
}

fn check_section(
    heading: &str,
    check: &dyn Fn(&str) -> Vec<String>,
    minimal: &str,
    skip_top: &[&str],
    exceptions: &[&str],
) {
    let section = section(heading);
    let problems = check(&section.example);
    assert!(
        problems.is_empty(),
        "the complete example of {heading} has problems: {problems:?}"
    );

    let mut example: Table = toml::from_str(&section.example).unwrap();
    for key in skip_top {
        example.remove(*key);
    }
    // Every key each table accepts is set in the example, so the example's
    // keys are all the keys there are.
    let mut all = Vec::new();
    tables(&example, Vec::new(), &mut all);
    // Elements of one array together set every key (a reservation is by mac,
    // or client_id, or serial): compare per path pattern.
    let mut patterns: std::collections::BTreeMap<String, (TablePath, BTreeSet<String>)> =
        Default::default();
    for (path, table) in &all {
        let pattern = path
            .iter()
            .map(|(k, i)| {
                if i.is_some() {
                    format!("{k}[]")
                } else {
                    k.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(".");
        let entry = patterns
            .entry(pattern)
            .or_insert_with(|| (path.clone(), BTreeSet::new()));
        entry.1.extend(table.keys().cloned());
    }
    for (pattern, (path, present)) in &patterns {
        // `spines`, `leaves`, `images` and `extensions` are maps of names,
        // not tables of keys.
        if matches!(
            pattern.as_str(),
            "spines" | "leaves" | "images" | "extensions"
        ) {
            continue;
        }
        for key in accepted_keys(check, &example, path) {
            let full = if pattern.is_empty() {
                key.clone()
            } else {
                format!("{pattern}.{key}")
            };
            assert!(
                present.contains(&key) || exceptions.iter().any(|e| normalize(&full) == *e),
                "{heading}: the complete example does not set {full}"
            );
        }
    }
    let mut keys = BTreeSet::new();
    leaf_keys(&example, "", &mut keys);
    let keys: BTreeSet<String> = keys
        .into_iter()
        .map(|k| normalize(&k))
        .chain(exceptions.iter().map(|e| e.to_string()))
        .collect();
    let documented: BTreeSet<String> = section.rows.iter().map(|(k, _)| k.clone()).collect();
    let undocumented: Vec<_> = keys.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&keys).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "{heading}: keys missing from the table: {undocumented:?}; keys in the table the types do not have: {unknown:?}"
    );

    // Defaults: what the table says is what a minimal document gets.
    let minimal_value = check_value(minimal);
    let minimal_text: Table = toml::from_str(minimal).unwrap();
    for (key, default) in &section.rows {
        // Keys the minimal document has to set have no default to compare.
        if key.contains("[]") || default == "required" || lookup(&minimal_text, key).is_some() {
            continue;
        }
        let found = lookup(&minimal_value, key);
        if default == "absent" {
            assert!(
                found.is_none(),
                "{heading}: {key} is documented absent by default but is {found:?}"
            );
        } else {
            let want = default.trim_matches('`');
            assert_eq!(
                found.map(ToString::to_string).as_deref(),
                Some(want),
                "{heading}: default of {key}"
            );
        }
    }
}

fn normalize(key: &str) -> String {
    // The example names its spine `spine1`; the table writes NAME.
    for map in ["spines", "leaves", "images", "extensions"] {
        if let Some(rest) = key.strip_prefix(&format!("{map}.")) {
            return format!("{map}.NAME.{}", rest.split_once('.').unwrap().1);
        }
    }
    key.to_string()
}

fn check_value(minimal: &str) -> Table {
    if minimal.starts_with("[spines") {
        let fabric = ztps_config::parse_fabric(&[("m.toml".into(), minimal.into())]).unwrap();
        toml::Table::try_from(&fabric).unwrap()
    } else {
        let agent = ztps_config::parse_agent_config("m.toml", minimal).unwrap();
        toml::Table::try_from(&agent).unwrap()
    }
}

fn lookup<'a>(table: &'a Table, key: &str) -> Option<&'a Value> {
    let (first, rest) = key.split_once('.').unwrap_or((key, ""));
    let value = table.get(first)?;
    if rest.is_empty() {
        Some(value)
    } else {
        lookup(value.as_table()?, rest)
    }
}

fn problems_of(result: Result<impl Sized, ztps_config::Error>) -> Vec<String> {
    match result {
        Ok(_) => Vec::new(),
        Err(e) => e
            .diagnostics()
            .map(|d| d.iter().map(ToString::to_string).collect())
            .unwrap_or_else(|| vec![e.to_string()]),
    }
}

#[test]
fn agent_config_reference_matches_the_types() {
    check_section(
        "Agent config",
        &|text| problems_of(ztps_config::parse_agent_config("doc.toml", text)),
        MINIMAL_AGENT,
        &[],
        &[
            "events.webhook_url_file",
            "leaves[].image",
            "leaves[].extensions",
        ],
    );
}

#[test]
fn fabric_reference_matches_the_types() {
    check_section(
        "Fabric description",
        &|text| {
            problems_of(ztps_config::parse_fabric(&[(
                "doc.toml".into(),
                text.into(),
            )]))
        },
        MINIMAL_FABRIC,
        &["defaults"],
        &["spines.NAME.agent.events.webhook_url_file"],
    );
}

#[test]
fn dhcp_only_example_loads_with_the_other_features_off() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .unwrap();
    let after = doc
        .split("The DHCP server on its own")
        .nth(1)
        .expect("docs/configuration.md has the dhcp-only example");
    let example = after
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let config = ztps_config::parse_agent_config("doc.toml", example).unwrap();
    assert_eq!((config.bridge, config.eapi, config.vm), (None, None, None));
}
