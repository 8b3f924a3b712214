//! Diagnostics: one problem in a configuration file, located by file, line,
//! column and key path, with a message that says what would be valid.

use std::fmt;

/// One step of a key path: a table key or an array index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Where a value sits inside a TOML document, e.g. `spines.spine1.leaves[2].subnet`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// The document itself.
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path extended by a table key.
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.into()));
        KeyPath(segments)
    }

    /// This path extended by an array index.
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        KeyPath(segments)
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn from_segments(segments: Vec<Segment>) -> Self {
        KeyPath(segments)
    }

    /// Parses the dotted form this type displays (bare keys and `[N]` only).
    pub fn parse(text: &str) -> Self {
        let mut segments = Vec::new();
        for part in text.split('.').filter(|p| !p.is_empty()) {
            let (key, mut rest) = match part.find('[') {
                Some(at) => (&part[..at], &part[at..]),
                None => (part, ""),
            };
            if !key.is_empty() {
                segments.push(Segment::Key(key.to_string()));
            }
            while let Some((inside, after)) = rest.strip_prefix('[').and_then(|r| r.split_once(']'))
            {
                if let Ok(index) = inside.parse() {
                    segments.push(Segment::Index(index));
                }
                rest = after;
            }
        }
        KeyPath(segments)
    }
}

fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_bare_key(key) {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{key:?}")?;
                    }
                }
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A position in a source file, 1-based like editors show it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One problem found in a configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Diagnostic {
    /// Where the offending value (or key) was written; `None` only for
    /// problems that belong to no file at all.
    pub location: Option<Location>,
    /// The key the problem is about, as written in the file that defined it.
    pub path: KeyPath,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        if !self.path.is_root() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one load, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// A problem found by a semantic check, before it is given a location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub path: KeyPath,
    pub message: String,
    /// Where the value this one clashes with was written (the first of a
    /// duplicate): the loader appends its file and line to the message.
    pub first: Option<KeyPath>,
}

/// Collects problems found by the checks, each tied to a key path.
#[derive(Debug)]
pub(crate) struct Problems(pub Vec<Problem>, bool);

impl Default for Problems {
    fn default() -> Self {
        Problems(Vec::new(), true)
    }
}

impl Problems {
    /// `complete` is `false` when placeholders stand in for missing values:
    /// then the checks that relate several values are skipped, since one of
    /// them may be a placeholder.
    pub fn new(complete: bool) -> Self {
        Problems(Vec::new(), complete)
    }

    /// Whether the checks that relate several values may run.
    pub fn complete(&self) -> bool {
        self.1
    }

    pub fn push(&mut self, path: KeyPath, message: impl Into<String>) {
        self.0.push(Problem {
            path,
            message: message.into(),
            first: None,
        });
    }

    /// A problem about a value that clashes with one written earlier, at
    /// `first`; the message gets the first one's position.
    pub fn push_clash(&mut self, path: KeyPath, first: KeyPath, message: impl Into<String>) {
        self.0.push(Problem {
            path,
            message: message.into(),
            first: Some(first),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_display_like_toml_keys() {
        let path = KeyPath::root()
            .key("spines")
            .key("spine1")
            .key("leaves")
            .index(2)
            .key("subnet");
        assert_eq!(path.to_string(), "spines.spine1.leaves[2].subnet");
        assert_eq!(KeyPath::parse("spines.spine1.leaves[2].subnet"), path);
        assert_eq!(KeyPath::root().key("a.b").to_string(), "\"a.b\"");
    }

    #[test]
    fn diagnostic_display_names_file_line_column_and_key() {
        let d = Diagnostic {
            location: Some(Location {
                file: "examples/fabric.toml".into(),
                line: 12,
                column: 9,
            }),
            path: KeyPath::parse("leaves[2].subnet"),
            message: "10.1.1.4/32 is a single host; a leaf link needs a /30 or /31".into(),
        };
        assert_eq!(
            d.to_string(),
            "examples/fabric.toml:12:9: leaves[2].subnet: 10.1.1.4/32 is a single host; a leaf link needs a /30 or /31"
        );
    }
}
