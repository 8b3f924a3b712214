//! TOML documents that remember where every value came from.
//!
//! serde loses spans as soon as documents are merged, so the loader keeps its
//! own tree: every node records the file, byte span and key path that defined
//! it. Documents merge on this tree (tables deep, everything else replaced),
//! serde then sees a plain `toml::Value`, and any problem found later is mapped
//! back through the tree to the line an operator has to edit.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use crate::diag::{Diagnostic, KeyPath, Location, Segment};

/// The text of one configuration file and the index of its line starts.
#[derive(Debug)]
pub struct SourceFile {
    name: String,
    text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// Line and column (1-based, column counted in characters) of a byte offset.
    pub fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        Location {
            file: self.name.clone(),
            line: line.max(1),
            column,
        }
    }
}

/// Who defined a node: file, spans, and the key path as written in that file.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub file: Arc<SourceFile>,
    pub key_span: Option<Range<usize>>,
    pub value_span: Range<usize>,
    pub path: KeyPath,
}

#[derive(Clone, Debug)]
pub(crate) enum Node {
    Table(BTreeMap<String, Entry>),
    Array(Vec<Entry>),
    Scalar(toml::Value),
}

/// A value together with its origin.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub node: Node,
    pub origin: Origin,
}

/// Parses one file. A syntax error becomes a diagnostic at its position.
pub(crate) fn parse(file: Arc<SourceFile>) -> Result<Entry, Diagnostic> {
    let text = file.text.clone();
    match toml::de::DeTable::parse(&text) {
        Ok(table) => {
            let span = table.span();
            let node = convert_table(&file, table.get_ref(), &KeyPath::root());
            Ok(Entry {
                node,
                origin: Origin {
                    file,
                    key_span: None,
                    value_span: span.start..span.start,
                    path: KeyPath::root(),
                },
            })
        }
        Err(error) => {
            let location = error
                .span()
                .map_or_else(|| file.location(0), |span| file.location(span.start));
            Err(Diagnostic {
                location: Some(location),
                path: KeyPath::root(),
                message: format!("not valid TOML: {}", error.message().trim()),
            })
        }
    }
}

fn convert_table(file: &Arc<SourceFile>, table: &toml::de::DeTable<'_>, path: &KeyPath) -> Node {
    let mut out = BTreeMap::new();
    for (key, value) in table.iter() {
        let key_text = key.get_ref().to_string();
        let child_path = path.key(&key_text);
        let node = convert_value(file, value.get_ref(), &child_path);
        out.insert(
            key_text,
            Entry {
                node,
                origin: Origin {
                    file: Arc::clone(file),
                    key_span: Some(key.span()),
                    value_span: value.span(),
                    path: child_path,
                },
            },
        );
    }
    Node::Table(out)
}

fn convert_value(file: &Arc<SourceFile>, value: &toml::de::DeValue<'_>, path: &KeyPath) -> Node {
    use toml::de::DeValue;
    match value {
        DeValue::String(s) => Node::Scalar(toml::Value::String(s.to_string())),
        DeValue::Integer(i) => Node::Scalar(
            i64::from_str_radix(i.as_str(), i.radix())
                .map(toml::Value::Integer)
                // Out of range for i64: keep the text so serde reports a type error.
                .unwrap_or_else(|_| toml::Value::String(i.to_string())),
        ),
        DeValue::Float(f) => Node::Scalar(
            f.as_str()
                .parse::<f64>()
                .map(toml::Value::Float)
                .unwrap_or_else(|_| toml::Value::String(f.to_string())),
        ),
        DeValue::Boolean(b) => Node::Scalar(toml::Value::Boolean(*b)),
        DeValue::Datetime(d) => Node::Scalar(toml::Value::Datetime(*d)),
        DeValue::Array(items) => Node::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let item_path = path.index(i);
                    Entry {
                        node: convert_value(file, item.get_ref(), &item_path),
                        origin: Origin {
                            file: Arc::clone(file),
                            key_span: None,
                            value_span: item.span(),
                            path: item_path,
                        },
                    }
                })
                .collect(),
        ),
        DeValue::Table(table) => convert_table(file, table, path),
    }
}

/// A plain value as a node (only the placeholders the loader inserts: no
/// nested origins are needed).
fn node_of(value: toml::Value) -> Node {
    match value {
        toml::Value::Table(table) if table.is_empty() => Node::Table(BTreeMap::new()),
        toml::Value::Array(items) if items.is_empty() => Node::Array(Vec::new()),
        other => Node::Scalar(other),
    }
}

/// How deeply arrays and inline tables may nest. Real configurations nest a
/// few levels; the bound keeps a hostile file from exhausting the stack of
/// the parser or of the recursive walks over the tree.
pub(crate) const MAX_NESTING: usize = 64;

/// A diagnostic when brackets or braces nest deeper than [`MAX_NESTING`],
/// counted outside strings and comments.
pub(crate) fn too_deep(name: &str, text: &str) -> Option<Diagnostic> {
    let file = SourceFile::new(name, text);
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            quote @ (b'"' | b'\'') => {
                let triple = bytes.get(i..i + 3) == Some(&[quote, quote, quote][..]);
                let width = if triple { 3 } else { 1 };
                i += width;
                while i < bytes.len() {
                    if quote == b'"' && bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == quote
                        && (!triple || bytes.get(i..i + 3) == Some(&[quote, quote, quote][..]))
                    {
                        i += width - 1;
                        break;
                    }
                    if !triple && bytes[i] == b'\n' {
                        break;
                    }
                    i += 1;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(Diagnostic {
                        location: Some(file.location(i)),
                        path: KeyPath::root(),
                        message: format!(
                            "arrays and tables nest more than {MAX_NESTING} deep here; a configuration needs a few levels"
                        ),
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

impl Entry {
    /// Overlays `over` on `self`: tables merge key by key, recursively; any
    /// other value (arrays included) is replaced whole by the later one.
    pub fn merge(self, over: Entry) -> Entry {
        match (self.node, over.node) {
            (Node::Table(mut base), Node::Table(top)) => {
                for (key, value) in top {
                    let merged = match base.remove(&key) {
                        Some(existing) => existing.merge(value),
                        None => value,
                    };
                    base.insert(key, merged);
                }
                // A table takes the origin of its most specific definition:
                // that is where an operator adds a key missing from it.
                Entry {
                    node: Node::Table(base),
                    origin: over.origin,
                }
            }
            (_, node) => Entry {
                node,
                origin: over.origin,
            },
        }
    }

    /// The plain value serde deserializes.
    pub fn to_value(&self) -> toml::Value {
        match &self.node {
            Node::Scalar(value) => value.clone(),
            Node::Array(items) => toml::Value::Array(items.iter().map(Entry::to_value).collect()),
            Node::Table(table) => toml::Value::Table(
                table
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }

    pub fn child(&self, segment: &Segment) -> Option<&Entry> {
        match (&self.node, segment) {
            (Node::Table(table), Segment::Key(key)) => table.get(key),
            (Node::Array(items), Segment::Index(i)) => items.get(*i),
            _ => None,
        }
    }

    /// The deepest entry along `path`, and how many segments it matched.
    pub fn deepest(&self, path: &KeyPath) -> (&Entry, usize) {
        let mut entry = self;
        let mut matched = 0;
        for segment in path.segments() {
            match entry.child(segment) {
                Some(next) => {
                    entry = next;
                    matched += 1;
                }
                None => break,
            }
        }
        (entry, matched)
    }

    /// Removes the value at `path`; `false` when there is none.
    pub fn remove(&mut self, path: &KeyPath) -> bool {
        let Some((last, parents)) = path.segments().split_last() else {
            return false;
        };
        let mut entry = self;
        for segment in parents {
            let next = match (&mut entry.node, segment) {
                (Node::Table(table), Segment::Key(key)) => table.get_mut(key),
                (Node::Array(items), Segment::Index(i)) => items.get_mut(*i),
                _ => None,
            };
            match next {
                Some(next) => entry = next,
                None => return false,
            }
        }
        match (&mut entry.node, last) {
            (Node::Table(table), Segment::Key(key)) => table.remove(key).is_some(),
            // Removing an array element would shift the paths of its
            // siblings; a table element is emptied instead so the remaining
            // indices stay true to the file. Other elements cannot be
            // neutralised this way: the caller drops the whole array.
            (Node::Array(items), Segment::Index(i)) => match items.get_mut(*i) {
                Some(item) if matches!(&item.node, Node::Table(t) if !t.is_empty()) => {
                    item.node = Node::Table(BTreeMap::new());
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Sets the value at `path`, creating it in its (existing) parent table
    /// or replacing an array element; the new node takes the parent's
    /// origin. `false` when the parent is missing or not a container.
    pub fn insert(&mut self, path: &KeyPath, value: toml::Value) -> bool {
        let Some((last, parents)) = path.segments().split_last() else {
            return false;
        };
        let mut entry = self;
        for segment in parents {
            let next = match (&mut entry.node, segment) {
                (Node::Table(table), Segment::Key(key)) => table.get_mut(key),
                (Node::Array(items), Segment::Index(i)) => items.get_mut(*i),
                _ => None,
            };
            match next {
                Some(next) => entry = next,
                None => return false,
            }
        }
        let mut origin = entry.origin.clone();
        origin.path = KeyPath::from_segments(path.segments().to_vec());
        let new = Entry {
            node: node_of(value),
            origin,
        };
        match (&mut entry.node, last) {
            (Node::Table(table), Segment::Key(key)) => {
                table.insert(key.clone(), new);
                true
            }
            (Node::Array(items), Segment::Index(i)) => match items.get_mut(*i) {
                Some(item) => {
                    *item = new;
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// Takes a top-level key out of a table.
    pub fn take(&mut self, key: &str) -> Option<Entry> {
        match &mut self.node {
            Node::Table(table) => table.remove(key),
            _ => None,
        }
    }

    pub fn table_mut(&mut self) -> Option<&mut BTreeMap<String, Entry>> {
        match &mut self.node {
            Node::Table(table) => Some(table),
            _ => None,
        }
    }

    /// A diagnostic placed at this entry itself.
    pub fn diagnose_here(&self) -> Diagnostic {
        self.diagnose(&KeyPath::root(), false, String::new())
    }

    /// A diagnostic for `path`, placed where the value (or, for `at_key`, its
    /// key) was written, and named by the path in the file that wrote it.
    pub fn diagnose(&self, path: &KeyPath, at_key: bool, message: String) -> Diagnostic {
        let (entry, matched) = self.deepest(path);
        let origin = &entry.origin;
        let offset = match (&origin.key_span, at_key) {
            (Some(span), true) => span.start,
            _ => origin.value_span.start,
        };
        let mut segments = origin.path.segments().to_vec();
        segments.extend(path.segments()[matched..].iter().cloned());
        Diagnostic {
            location: Some(origin.file.location(offset)),
            path: KeyPath::from_segments(segments),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, text: &str) -> Entry {
        parse(Arc::new(SourceFile::new(name, text))).unwrap()
    }

    #[test]
    fn locations_are_one_based_lines_and_columns() {
        let file = SourceFile::new("f.toml", "a = 1\n[b]\nc = \"x\"\n");
        assert_eq!(file.location(0).to_string(), "f.toml:1:1");
        assert_eq!(file.location(10).to_string(), "f.toml:3:1");
        assert_eq!(file.location(14).to_string(), "f.toml:3:5");
    }

    #[test]
    fn merge_keeps_the_origin_of_each_value() {
        let base = entry(
            "site.toml",
            "[vm]\nmemory = 1\nname = \"a\"\nlist = [1, 2]\n",
        );
        let over = entry("spine.toml", "[vm]\nmemory = 2\nlist = [3]\n");
        let merged = base.merge(over);
        assert_eq!(
            merged.to_value(),
            toml::from_str::<toml::Value>("[vm]\nmemory = 2\nname = \"a\"\nlist = [3]\n").unwrap()
        );
        let d = merged.diagnose(&KeyPath::parse("vm.memory"), false, "m".into());
        assert_eq!(d.to_string(), "spine.toml:2:10: vm.memory: m");
        let d = merged.diagnose(&KeyPath::parse("vm.name"), true, "m".into());
        assert_eq!(d.to_string(), "site.toml:3:1: vm.name: m");
        let d = merged.diagnose(&KeyPath::parse("vm.missing"), false, "m".into());
        assert_eq!(d.path.to_string(), "vm.missing");
        assert_eq!(d.location.unwrap().file, "spine.toml");
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse(Arc::new(SourceFile::new("bad.toml", "a = 1\nb = = 2\n"))).unwrap_err();
        let location = err.location.unwrap();
        assert_eq!((location.file.as_str(), location.line), ("bad.toml", 2));
    }

    #[test]
    fn remove_keeps_sibling_indices() {
        let mut e = entry("f.toml", "[[x]]\na = 1\n[[x]]\na = 2\n");
        assert!(e.remove(&KeyPath::parse("x[0]")));
        let d = e.diagnose(&KeyPath::parse("x[1].a"), false, "m".into());
        assert_eq!(d.to_string(), "f.toml:4:5: x[1].a: m");
    }
}
