//! The EOS CLI as eAPI runs it: modes, commands, and their JSON (or text) replies.

use serde_json::{Value, json};

use crate::faults::Faults;
use crate::kernel::Link;
use crate::replies;
use crate::sim::Sim;

/// A command as sent in `cmds`.
#[derive(Debug, Clone)]
pub struct CmdInput {
    pub cmd: String,
    #[allow(dead_code)] // the enable password: the simulator has none to check
    pub input: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Exec,
    Privileged,
    Config,
}

/// Why a command failed: the JSON-RPC code and EOS's wording.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: i64,
    /// "could not run command", "invalid command", ...
    pub summary: &'static str,
    /// The `errors` list of the failing command.
    pub errors: Vec<String>,
}

impl Failure {
    fn invalid(errors: impl Into<String>) -> Self {
        Self {
            code: 1002,
            summary: "invalid command",
            errors: vec![errors.into()],
        }
    }

    fn could_not_run(errors: impl Into<String>) -> Self {
        Self {
            code: 1000,
            summary: "could not run command",
            errors: vec![errors.into()],
        }
    }

    fn unauthorized(cmd: &str) -> Self {
        Self {
            code: 1005,
            summary: "permission to run command denied",
            errors: vec![format!("Authorization denied for command '{cmd}'")],
        }
    }
}

/// A failed batch: which command, why, and the results before it.
#[derive(Debug)]
pub struct BatchFailure {
    pub index: usize,
    pub failure: Failure,
    pub done: Vec<Value>,
}

/// One request's worth of CLI session.
pub struct Session<'a> {
    sim: &'a Sim,
    mode: Mode,
    links: Option<Vec<Link>>,
}

impl<'a> Session<'a> {
    pub fn new(sim: &'a Sim) -> Self {
        Self {
            sim,
            mode: Mode::Exec,
            links: None,
        }
    }

    /// Runs the commands in order and stops at the first failure, as EOS does.
    pub async fn run_all(
        &mut self,
        cmds: &[CmdInput],
        format: Format,
        faults: &Faults,
    ) -> Result<Vec<Value>, BatchFailure> {
        let mut done = Vec::with_capacity(cmds.len());
        for (index, c) in cmds.iter().enumerate() {
            let result = match faults.error_for(c.cmd.trim()) {
                Some(1005) => Err(Failure::unauthorized(c.cmd.trim())),
                Some(_) => Err(Failure::could_not_run(
                    "injected fault: could not run command",
                )),
                None => self.run(c.cmd.trim(), format).await,
            };
            match result {
                Ok(v) => done.push(v),
                Err(failure) => {
                    return Err(BatchFailure {
                        index,
                        failure,
                        done,
                    });
                }
            }
        }
        Ok(done)
    }

    async fn links(&mut self) -> Result<&[Link], Failure> {
        if self.links.is_none() {
            let links = crate::kernel::links()
                .await
                .map_err(|e| Failure::could_not_run(format!("reading interfaces: {e:#}")))?;
            self.links = Some(links);
        }
        Ok(self.links.as_deref().unwrap_or_default())
    }

    async fn run(&mut self, cmd: &str, format: Format) -> Result<Value, Failure> {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let is = |pattern: &[(&str, usize)]| matches(&words, pattern);
        let text = |output: String| match format {
            Format::Json => None,
            Format::Text => Some(json!({ "output": output })),
        };
        if words.is_empty() {
            return Ok(json!({}));
        }
        // Mode changes.
        if is(&[("enable", 2)]) {
            self.mode = self.mode.max_privileged();
            return Ok(text(String::new()).unwrap_or(json!({})));
        }
        if is(&[("disable", 3)]) {
            self.mode = Mode::Exec;
            return Ok(text(String::new()).unwrap_or(json!({})));
        }
        if is(&[("configure", 4)]) || is(&[("configure", 4), ("terminal", 4)]) {
            if self.mode == Mode::Exec {
                return Err(Failure::invalid("Invalid input (privileged mode required)"));
            }
            self.mode = Mode::Config;
            return Ok(text(String::new()).unwrap_or(json!({})));
        }
        if is(&[("end", 3)]) || (self.mode == Mode::Config && is(&[("exit", 3)])) {
            if self.mode == Mode::Config {
                self.mode = Mode::Privileged;
            }
            return Ok(text(String::new()).unwrap_or(json!({})));
        }
        // Show commands run in every mode.
        if is(&[("show", 2), ("version", 3)]) {
            let v = replies::show_version(self.sim, self.links().await?);
            return Ok(text(replies::show_version_text(&v)).unwrap_or(v));
        }
        if is(&[("show", 2), ("hostname", 5)]) {
            let name = self.sim.hostname();
            return Ok(text(format!("Hostname: {name}\nFQDN:     {name}\n"))
                .unwrap_or(json!({"hostname": name, "fqdn": name})));
        }
        for (filter, pattern) in [
            (None, &[("show", 2), ("interfaces", 3), ("status", 4)][..]),
            (
                Some(true),
                &[
                    ("show", 2),
                    ("interfaces", 3),
                    ("status", 4),
                    ("connected", 4),
                ][..],
            ),
            (
                Some(false),
                &[
                    ("show", 2),
                    ("interfaces", 3),
                    ("status", 4),
                    ("notconnect", 4),
                ][..],
            ),
        ] {
            if is(pattern) {
                let v = replies::interfaces_status(self.links().await?, filter);
                return Ok(text(replies::interfaces_status_text(&v)).unwrap_or(v));
            }
        }
        if is(&[("show", 2), ("ip", 2), ("interface", 3)]) {
            let v = replies::ip_interface(self.links().await?);
            return Ok(text(replies::ip_interface_text(&v)).unwrap_or(v));
        }
        if is(&[("show", 2), ("ip", 2), ("interface", 3), ("brief", 2)]) {
            let v = replies::ip_interface_brief(self.links().await?);
            return Ok(text(replies::ip_interface_text(&v)).unwrap_or(v));
        }
        let detail = is(&[("show", 2), ("lldp", 2), ("neighbors", 5), ("detail", 3)]);
        if detail || is(&[("show", 2), ("lldp", 2), ("neighbors", 5)]) {
            let file = crate::lldp::read(self.sim.args.lldp_file.as_deref())
                .map_err(|e| Failure::could_not_run(format!("LLDP table unavailable: {e:#}")))?;
            let v = if detail {
                replies::lldp_neighbors_detail(self.links().await?, &file)
            } else {
                replies::lldp_neighbors(&file)
            };
            return Ok(text(replies::lldp_text(&file)).unwrap_or(v));
        }
        // Config-mode commands.
        let config_command = is(&[("hostname", 4), ("", 0)])
            || is(&[("virtual-machine", 7), ("", 0), ("restart", 3)]);
        if config_command && self.mode != Mode::Config {
            return Err(Failure::invalid(format!(
                "Invalid input (at token 0: '{}')",
                words[0]
            )));
        }
        if is(&[("hostname", 4), ("", 0)]) {
            self.sim.set_hostname(words[1]);
            return Ok(text(String::new()).unwrap_or(json!({})));
        }
        if is(&[("virtual-machine", 7), ("", 0), ("restart", 3)]) {
            let command = self.sim.args.vm_restart_cmd.as_deref();
            self.sim
                .vm
                .restart(command, words[1])
                .await
                .map_err(Failure::could_not_run)?;
            return Ok(text(String::new()).unwrap_or(json!({})));
        }
        Err(Failure::invalid(format!(
            "Invalid input (at token {}: '{}')",
            bad_token(&words),
            words[bad_token(&words)]
        )))
    }
}

impl Mode {
    fn max_privileged(self) -> Self {
        if self == Mode::Config {
            self
        } else {
            Mode::Privileged
        }
    }
}

/// Whether `words` is `pattern`: each word an abbreviation of its keyword,
/// at least `min` letters long, case-insensitively. An empty keyword takes
/// any word (an argument such as a name).
fn matches(words: &[&str], pattern: &[(&str, usize)]) -> bool {
    words.len() == pattern.len()
        && words.iter().zip(pattern).all(|(word, (keyword, min))| {
            keyword.is_empty() || {
                let w = word.to_ascii_lowercase();
                w.len() >= *min && keyword.starts_with(&w)
            }
        })
}

/// The first word that no known command starts with: close enough to EOS's
/// "at token N" for a client to see where its command went wrong.
fn bad_token(words: &[&str]) -> usize {
    const KNOWN: &[&[&str]] = &[
        &["show", "version"],
        &["show", "hostname"],
        &["show", "interfaces", "status", "connected"],
        &["show", "interfaces", "status", "notconnect"],
        &["show", "ip", "interface", "brief"],
        &["show", "lldp", "neighbors", "detail"],
    ];
    let mut best = 0;
    for known in KNOWN {
        let good = words
            .iter()
            .zip(known.iter())
            .take_while(|(w, k)| w.len() >= 2 && k.starts_with(&w.to_ascii_lowercase()))
            .count();
        best = best.max(good);
    }
    best.min(words.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviations_match_keywords() {
        assert!(matches(&["sh", "ver"], &[("show", 2), ("version", 3)]));
        assert!(matches(
            &["SHOW", "Version"],
            &[("show", 2), ("version", 3)]
        ));
        assert!(!matches(&["s", "ver"], &[("show", 2), ("version", 3)]));
        assert!(!matches(
            &["show", "version", "x"],
            &[("show", 2), ("version", 3)]
        ));
        assert!(matches(
            &["virtual-machine", "ztps", "restart"],
            &[("virtual-machine", 7), ("", 0), ("restart", 3)]
        ));
    }

    #[test]
    fn bad_token_points_at_the_first_unknown_word() {
        assert_eq!(bad_token(&["bogus"]), 0);
        assert_eq!(bad_token(&["show", "bogus"]), 1);
        assert_eq!(bad_token(&["show", "interfaces", "bogus"]), 2);
    }
}
