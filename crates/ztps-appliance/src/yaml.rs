//! The small YAML subset ZTPServer's files need, written by hand: every
//! scalar is a double-quoted JSON string, which YAML reads as the same string,
//! so no value can change meaning (`no`, `1e3`, `:` and `#` stay strings).

/// A double-quoted YAML scalar.
pub(crate) fn quoted(s: &str) -> String {
    // serde_json cannot fail to serialise a &str.
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(quoted("spine1:Ethernet3"), "\"spine1:Ethernet3\"");
        assert_eq!(quoted("a\"b\n"), "\"a\\\"b\\n\"");
    }
}
