//! `manifest.txt`, the index EOS reads from a SWIX.

use crate::SwixError;

/// The manifest of a SWIX: format 1, the primary RPM and the SHA-1 of
/// every RPM in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub primary_rpm: String,
    /// (file name, lowercase hex SHA-1), primary first.
    pub rpms: Vec<(String, String)>,
}

impl Manifest {
    /// The text EOS expects; the same lines, in the same order, that
    /// Arista's `swix-create` writes.
    pub fn render(&self) -> String {
        let mut text = format!("format: 1\nprimaryRpm: {}\n", self.primary_rpm);
        for (name, sha1) in &self.rpms {
            text.push_str(&format!("{name}-sha1: {sha1}\n"));
        }
        text
    }

    /// Reads a manifest back, rejecting anything EOS would not accept.
    pub fn parse(text: &str) -> Result<Self, SwixError> {
        let bad = |line: usize, reason: String| SwixError::Manifest { line, reason };
        let mut format_seen = false;
        let mut primary = None;
        let mut rpms = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(bad(line_no, format!("expected `key: value`, got {line:?}")));
            };
            let (key, value) = (key.trim(), value.trim());
            if key == "format" {
                if value != "1" {
                    return Err(bad(line_no, format!("unsupported format {value:?}")));
                }
                format_seen = true;
            } else if key == "primaryRpm" {
                primary = Some(value.to_string());
            } else if let Some(name) = key.strip_suffix("-sha1") {
                let is_hex = value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit());
                if !is_hex {
                    return Err(bad(line_no, format!("{value:?} is not a SHA-1 in hex")));
                }
                rpms.push((name.to_string(), value.to_ascii_lowercase()));
            } else {
                return Err(bad(line_no, format!("unknown key {key:?}")));
            }
        }
        if !format_seen {
            return Err(bad(0, "no `format: 1` line".into()));
        }
        let primary_rpm = primary.ok_or_else(|| bad(0, "no `primaryRpm:` line".into()))?;
        if !rpms.iter().any(|(name, _)| *name == primary_rpm) {
            return Err(bad(
                0,
                format!("no SHA-1 line for primary RPM {primary_rpm:?}"),
            ));
        }
        Ok(Self { primary_rpm, rpms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";

    #[test]
    fn renders_and_parses_back() {
        let m = Manifest {
            primary_rpm: "a-1-1.x86_64.rpm".into(),
            rpms: vec![("a-1-1.x86_64.rpm".into(), SHA.into())],
        };
        let text = m.render();
        assert_eq!(
            text,
            format!("format: 1\nprimaryRpm: a-1-1.x86_64.rpm\na-1-1.x86_64.rpm-sha1: {SHA}\n")
        );
        assert_eq!(Manifest::parse(&text).unwrap(), m);
    }

    #[test]
    fn rejects_bad_manifests() {
        let cases = [
            (
                "primaryRpm: a.rpm\na.rpm-sha1: ".to_string() + SHA,
                "format",
            ),
            (
                format!("format: 2\nprimaryRpm: a.rpm\na.rpm-sha1: {SHA}"),
                "format",
            ),
            (
                "format: 1\nprimaryRpm: a.rpm\na.rpm-sha1: xyz".to_string(),
                "SHA-1",
            ),
            (
                format!("format: 1\nprimaryRpm: b.rpm\na.rpm-sha1: {SHA}"),
                "primary",
            ),
            ("format: 1\ngarbage".to_string(), "key: value"),
            ("\u{0}\u{ff}:::".to_string(), "unknown key"),
        ];
        for (text, needle) in cases {
            let err = Manifest::parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
