//! One CLI command of a `runCmds` request.

use serde::{Serialize, Serializer};

/// A CLI command: a plain string, or a command with input for its prompt
/// (EOS accepts `{"cmd": "enable", "input": "secret"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub cmd: String,
    pub input: Option<String>,
}

impl Command {
    pub fn new(cmd: impl Into<String>) -> Self {
        Self {
            cmd: cmd.into(),
            input: None,
        }
    }

    pub fn with_input(cmd: impl Into<String>, input: impl Into<String>) -> Self {
        Self {
            cmd: cmd.into(),
            input: Some(input.into()),
        }
    }

    /// Commands that change nothing on the switch, so a retry after a
    /// transport error cannot do harm: `show ...` and `enable`.
    pub fn is_read_only(&self) -> bool {
        let words: Vec<&str> = self.cmd.split_whitespace().collect();
        matches!(
            words.first().map(|w| w.to_ascii_lowercase()).as_deref(),
            Some("show") | Some("enable")
        ) && !words.iter().any(|w| *w == "|" || w.starts_with('>'))
    }
}

impl From<&str> for Command {
    fn from(cmd: &str) -> Self {
        Self::new(cmd)
    }
}

impl From<String> for Command {
    fn from(cmd: String) -> Self {
        Self::new(cmd)
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.cmd)
    }
}

impl Serialize for Command {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct WithInput<'a> {
            cmd: &'a str,
            input: &'a str,
        }
        match &self.input {
            None => serializer.serialize_str(&self.cmd),
            Some(input) => WithInput {
                cmd: &self.cmd,
                input,
            }
            .serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_command_serializes_as_a_string_and_input_as_an_object() {
        assert_eq!(
            serde_json::to_value(Command::new("show version")).unwrap(),
            "show version"
        );
        assert_eq!(
            serde_json::to_value(Command::with_input("enable", "pw")).unwrap(),
            serde_json::json!({"cmd": "enable", "input": "pw"})
        );
    }

    #[test]
    fn only_show_and_enable_are_read_only() {
        assert!(Command::new("show interfaces status connected").is_read_only());
        assert!(Command::new("enable").is_read_only());
        assert!(!Command::new("configure").is_read_only());
        assert!(!Command::new("virtual-machine ztps restart").is_read_only());
        // Redirection writes a file.
        assert!(!Command::new("show running-config > flash:x").is_read_only());
    }
}
