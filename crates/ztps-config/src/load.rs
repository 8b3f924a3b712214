//! Loading: read, parse, merge, deserialize and check, collecting every
//! problem on the way instead of stopping at the first.
//!
//! One run reports everything: a value of the wrong type is reported and
//! dropped (its default takes its place), a missing required value is
//! reported and replaced by a placeholder, and the checks then run on what is
//! left. Problems about placeholders, dropped values or strings already
//! reported for control characters are not reported a second time, and the
//! checks that relate several values run only when nothing had to be
//! replaced.

use std::collections::{BTreeSet, HashMap};
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::Error;
use crate::agent::AgentConfig;
use crate::diag::{Diagnostic, Diagnostics, KeyPath, Problems, Segment};
use crate::fabric::Fabric;
use crate::rules;
use crate::source::{self, Entry, Node, SourceFile};

/// Enough to report every mistake a person makes in one file, and a bound on
/// the work a hostile file can cause.
const MAX_DIAGNOSTICS: usize = 200;
/// The largest configuration file read: a fabric of hundreds of spines is
/// well below it; anything bigger is refused before it is read.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;
/// Rounds of deserialization one load may take (each drops a bad value or
/// fills in a placeholder): a bound on the work a hostile file can cause.
const MAX_ROUNDS: usize = 1000;

/// Reads and checks an agent config file.
pub fn load_agent_config(path: &Path) -> Result<AgentConfig, Error> {
    let text = read(path)?;
    parse_agent_config(&path.display().to_string(), &text)
}

/// Checks an agent config given as text; `name` is used in diagnostics.
pub fn parse_agent_config(name: &str, text: &str) -> Result<AgentConfig, Error> {
    let mut tree = parse_all(&[(name.to_string(), text.to_string())])?;
    load_tree(
        &mut tree,
        |_: &mut AgentConfig| {},
        |config, problems| config.check(&KeyPath::root(), problems),
    )
}

/// Reads the fabric files, merges them in order and checks the result.
pub fn load_fabric<P: AsRef<Path>>(paths: &[P]) -> Result<Fabric, Error> {
    load_fabric_with(paths, parse_fabric)
}

/// Fabric documents as `(name, text)` to a checked fabric.
type ParseFabric = fn(&[(String, String)]) -> Result<Fabric, Error>;

/// Reads `paths` as `(name, text)`, hands them to `parse`, and gives the
/// fabric the folder of its first file (relative paths in it start there).
fn load_fabric_with<P: AsRef<Path>>(paths: &[P], parse: ParseFabric) -> Result<Fabric, Error> {
    let mut files = Vec::new();
    for path in paths {
        let path = path.as_ref();
        files.push((path.display().to_string(), read(path)?));
    }
    let mut fabric = parse(&files)?;
    if let Some(dir) = paths.first().and_then(|p| p.as_ref().parent()) {
        fabric.base_dir = dir.to_path_buf();
    }
    Ok(fabric)
}

/// Merges fabric documents given as `(name, text)` in order and checks them.
pub fn parse_fabric(files: &[(String, String)]) -> Result<Fabric, Error> {
    parse_fabric_tree(files).map(|(fabric, _)| fabric)
}

/// [`load_fabric`], and then the checks that read the catalogue's files
/// (each exists and has its SHA-256): what `ztps-agent check` runs. A
/// problem names the fabric file and line that gave the file.
pub fn load_fabric_and_files<P: AsRef<Path>>(paths: &[P]) -> Result<Fabric, Error> {
    load_fabric_with(paths, parse_fabric_and_files)
}

/// [`parse_fabric`] with the file checks of [`load_fabric_and_files`].
pub fn parse_fabric_and_files(files: &[(String, String)]) -> Result<Fabric, Error> {
    let (fabric, tree) = parse_fabric_tree(files)?;
    let mut problems = Problems::new(true);
    crate::catalogue::check_files(&fabric, &mut problems);
    if problems.0.is_empty() {
        return Ok(fabric);
    }
    let diagnostics = problems
        .0
        .into_iter()
        .map(|p| tree.diagnose(&p.path, false, p.message))
        .collect();
    Err(Error::Invalid(Diagnostics(unique(diagnostics))))
}

fn parse_fabric_tree(files: &[(String, String)]) -> Result<(Fabric, Entry), Error> {
    if files.is_empty() {
        return Err(Error::NoFabricFiles);
    }
    let mut tree = parse_all(files)?;
    apply_defaults(&mut tree);
    let mut fabric = load_tree(
        &mut tree,
        |fabric: &mut Fabric| {
            for (name, spine) in &mut fabric.spines {
                spine.name.clone_from(name);
            }
            let asns: std::collections::BTreeMap<String, u32> = fabric
                .leaf_plans()
                .into_iter()
                .map(|plan| (plan.hostname.to_ascii_lowercase(), plan.asn))
                .collect();
            for spine in fabric.spines.values_mut() {
                spine.leaf_asns.clone_from(&asns);
            }
        },
        |fabric, problems| fabric.check(problems),
    )?;
    resolve_catalogue_paths(&tree, &mut fabric);
    let catalogue = crate::catalogue::Catalogue {
        images: fabric.images.clone(),
        extensions: fabric.extensions.clone(),
        software: fabric.software.clone(),
    };
    for spine in fabric.spines.values_mut() {
        spine.catalogue = catalogue.clone();
    }
    Ok((fabric, tree))
}

/// A catalogue file's relative path is taken from the folder of the fabric
/// file that wrote it, so a fabric and its images move together.
fn resolve_catalogue_paths(tree: &Entry, fabric: &mut Fabric) {
    let base = |path: KeyPath| {
        tree.diagnose(&path, false, String::new())
            .location
            .and_then(|l| Path::new(&l.file).parent().map(Path::to_path_buf))
            .unwrap_or_default()
    };
    let root = KeyPath::root();
    for (name, image) in &mut fabric.images {
        if image.file.is_relative() {
            image.file = base(root.key("images").key(name).key("file")).join(&image.file);
        }
    }
    for (name, extension) in &mut fabric.extensions {
        if extension.file.is_relative() {
            extension.file =
                base(root.key("extensions").key(name).key("file")).join(&extension.file);
        }
    }
}

/// Reads a configuration file, refusing what is not one: anything but a
/// regular file (a directory, a FIFO, `/dev/zero`), a file over
/// [`MAX_CONFIG_BYTES`], text that is not UTF-8.
pub fn read(path: &Path) -> Result<String, Error> {
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let unreasonable = |reason: String| Error::Unreasonable {
        path: path.to_path_buf(),
        reason,
    };
    // The type is checked before opening: opening a FIFO would block.
    let meta = std::fs::metadata(path).map_err(read_error)?;
    if !meta.is_file() {
        return Err(unreasonable(format!(
            "is {}, not a regular file; give a TOML file",
            file_kind(&meta)
        )));
    }
    let too_big = |size: u64| {
        unreasonable(format!(
            "is {size} bytes; a configuration file may have at most {MAX_CONFIG_BYTES} bytes (4 MiB)"
        ))
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_big(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(read_error)?;
    // The file may have been replaced since; fstat and a bounded read keep
    // the promise anyway.
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(unreasonable(format!(
            "is {}, not a regular file; give a TOML file",
            file_kind(&meta)
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        unreasonable(format!(
            "is not UTF-8 text (byte {} is not); TOML files are UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let kind = meta.file_type();
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Parses every file (reporting every syntax error) and merges them in order.
pub(crate) fn parse_all(files: &[(String, String)]) -> Result<Entry, Error> {
    let mut merged: Option<Entry> = None;
    let mut diagnostics = Vec::new();
    for (name, text) in files {
        if text.len() as u64 > MAX_CONFIG_BYTES {
            diagnostics.push(Diagnostic {
                location: None,
                path: KeyPath::root(),
                message: format!(
                    "{name} has {} bytes; a configuration file may have at most {MAX_CONFIG_BYTES} bytes (4 MiB)",
                    text.len()
                ),
            });
            continue;
        }
        if let Some(diagnostic) = source::too_deep(name, text) {
            diagnostics.push(diagnostic);
            continue;
        }
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

/// The tables of `[defaults]` that only the host spine takes.
const HOST_ONLY_TABLES: [&str; 5] = ["vm", "bridge", "loopback", "ztpserver", "dhcp"];

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
        let mut defaults = defaults.clone();
        // The VM's tables go only to the spine that hosts it: laid under
        // every spine, they would make each one a (half-described) host.
        let hosts = spine.table_mut().is_some_and(|t| t.contains_key("vm"));
        if !hosts {
            for key in HOST_ONLY_TABLES {
                defaults.take(key);
            }
        }
        let mut merged = defaults.merge(spine.clone());
        merged.origin = origin;
        *spine = merged;
    }
}

/// Paths whose problems are already reported (or are of our own making):
/// later problems at them are not reported again.
#[derive(Debug, Default)]
struct Suppressed {
    /// Everything at or below these paths.
    subtrees: Vec<KeyPath>,
    /// These paths only (a key with a control character: the table under it
    /// is still checked).
    exact: Vec<KeyPath>,
}

impl Suppressed {
    fn covers(&self, path: &KeyPath) -> bool {
        self.exact.contains(path) || self.subtrees.iter().any(|s| is_prefix(s, path))
    }

    /// Whether `path` is at, below or above a suppressed subtree.
    fn touches(&self, path: &KeyPath) -> bool {
        self.subtrees
            .iter()
            .any(|s| is_prefix(s, path) || is_prefix(path, s))
    }
}

/// Deserializes and checks a parsed (and merged) tree.
fn load_tree<T: DeserializeOwned>(
    tree: &mut Entry,
    fixup: impl FnOnce(&mut T),
    check: impl FnOnce(&T, &mut Problems),
) -> Result<T, Error> {
    let mut diagnostics = Vec::new();
    let mut suppressed = Suppressed::default();
    control_characters(tree, &KeyPath::root(), &mut diagnostics, &mut suppressed);
    let (value, complete) = deserialize_collecting::<T>(tree, &mut diagnostics, &mut suppressed);
    let value = value.map(|mut value| {
        fixup(&mut value);
        value
    });
    if let Some(value) = &value {
        let mut problems = Problems::new(complete);
        check(value, &mut problems);
        for problem in problems.0 {
            if !suppressed.covers(&problem.path) {
                let message = match &problem.first {
                    Some(first) => match tree.diagnose(first, false, String::new()).location {
                        Some(at) => format!("{} (first at {at})", problem.message),
                        None => problem.message,
                    },
                    None => problem.message,
                };
                diagnostics.push(tree.diagnose(&problem.path, false, message));
            }
        }
    }
    if !complete {
        // A placeholder stands in for a missing value: never hand it out.
        return Err(Error::Invalid(Diagnostics(unique(diagnostics))));
    }
    finish(value, diagnostics)
}

/// Reports every string (and key) with a control character.
fn control_characters(
    entry: &Entry,
    path: &KeyPath,
    diagnostics: &mut Vec<Diagnostic>,
    suppressed: &mut Suppressed,
) {
    if diagnostics.len() >= MAX_DIAGNOSTICS {
        return;
    }
    match &entry.node {
        Node::Table(table) => {
            for (key, child) in table {
                let child_path = path.key(key);
                if let Err(message) = rules::no_control_characters(key) {
                    diagnostics.push(entry.diagnose(
                        &KeyPath::root().key(key),
                        true,
                        format!("the key {message}"),
                    ));
                    suppressed.exact.push(child_path.clone());
                }
                control_characters(child, &child_path, diagnostics, suppressed);
            }
        }
        Node::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                control_characters(item, &path.index(i), diagnostics, suppressed);
            }
        }
        Node::Scalar(toml::Value::String(text)) => {
            if let Err(message) = rules::no_control_characters(text) {
                diagnostics.push(entry.diagnose(&KeyPath::root(), false, message));
                suppressed.subtrees.push(path.clone());
            }
        }
        Node::Scalar(_) => {}
    }
}

/// What a missing required value is replaced with, tried in turn until one
/// has the type the field wants: a table for a section, an empty string for
/// text, then values of the typed fields (networks, addresses, MACs, ...).
fn placeholders() -> [toml::Value; 8] {
    use toml::Value;
    [
        Value::Table(toml::Table::new()),
        Value::String(String::new()),
        Value::String("0.0.0.0/32".into()),
        Value::String("0.0.0.0".into()),
        Value::String("02:00:00:00:00:00".into()),
        Value::Integer(0),
        Value::Boolean(false),
        Value::Array(Vec::new()),
    ]
}

/// Deserializes `T`, and on each error records it, removes the offending
/// value (or fills in a missing one) and tries again, so that one run reports
/// every type error, unknown key and missing key. Returns whether the value
/// is complete: `false` once a placeholder stands in for a required value.
fn deserialize_collecting<T: DeserializeOwned>(
    tree: &mut Entry,
    diagnostics: &mut Vec<Diagnostic>,
    suppressed: &mut Suppressed,
) -> (Option<T>, bool) {
    // The placeholder tried at each path, by index into `placeholders()`.
    let mut tried: HashMap<KeyPath, usize> = HashMap::new();
    let mut complete = true;
    for _ in 0..MAX_ROUNDS {
        if diagnostics.len() >= MAX_DIAGNOSTICS {
            break;
        }
        let error = match serde_path_to_error::deserialize::<_, T>(tree.to_value()) {
            Ok(value) => return (Some(value), complete),
            Err(error) => error,
        };
        let path = convert_path(error.path());
        let message = error.into_inner().message().to_string();
        if let Some(field) = missing_field(&message) {
            let missing = path.key(field);
            complete = false;
            // A required value we removed ourselves was reported already.
            if !suppressed.touches(&missing) {
                diagnostics.push(tree.diagnose(
                    &missing,
                    false,
                    "this key is required but missing".into(),
                ));
            }
            if !tree.insert(&missing, placeholders()[0].clone()) {
                return (None, false);
            }
            tried.insert(missing.clone(), 0);
            suppressed.subtrees.push(missing);
            continue;
        }
        if let Some(index) = tried.get_mut(&path) {
            // Our placeholder has the wrong type: the next one.
            *index += 1;
            match placeholders().get(*index) {
                Some(next) if tree.insert(&path, next.clone()) => continue,
                _ => return (None, false),
            }
        }
        let unknown = message.starts_with("unknown field");
        if !suppressed.covers(&path) {
            diagnostics.push(tree.diagnose(&path, unknown, describe(&message)));
        }
        if tree.remove(&path) {
            suppressed.subtrees.push(path);
            continue;
        }
        // A bad array element, or a value that is already emptied: drop the
        // array (or the container) it is in.
        let container = container_of(&path);
        if container == path || !tree.remove(&container) {
            return (None, false);
        }
        suppressed.subtrees.push(container);
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

/// Defaults laid under several spines report the same mistake once each.
fn unique(diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut seen = BTreeSet::new();
    diagnostics
        .into_iter()
        .filter(|d| seen.insert(d.clone()))
        .collect()
}

fn finish<T>(value: Option<T>, diagnostics: Vec<Diagnostic>) -> Result<T, Error> {
    let unique = unique(diagnostics);
    match value {
        Some(value) if unique.is_empty() => Ok(value),
        _ => Err(Error::Invalid(Diagnostics(unique))),
    }
}
