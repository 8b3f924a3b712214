//! The EOS CLI as eAPI and FastCli run it: modes, commands, and their JSON
//! (or text) replies.

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

/// Where a config-mode command lands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sub {
    Global,
    /// `interface Ethernet49`: the EOS name.
    Interface(String),
    /// `management api http-commands`.
    HttpApi,
    /// Any other mode (`control-plane`, or a block of a startup-config the
    /// simulator does not model): its commands are kept as they are.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Exec,
    Privileged,
    Config(Sub),
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

    fn no_json(cmd: &str) -> Self {
        Self {
            code: 1003,
            summary: "no JSON output",
            errors: vec![format!(
                "'{cmd}' has no JSON output: output filters need format \"text\""
            )],
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

/// One request's (or one FastCli run's) worth of CLI session.
pub struct Session<'a> {
    sim: &'a Sim,
    mode: Mode,
    links: Option<Vec<Link>>,
    /// Replaying a startup-config: commands the simulator does not model are
    /// kept in the running config instead of being refused, as the config
    /// of a real switch holds much more than the simulator understands.
    lenient: bool,
}

impl<'a> Session<'a> {
    pub fn new(sim: &'a Sim) -> Self {
        Self {
            sim,
            mode: Mode::Exec,
            links: None,
            lenient: false,
        }
    }

    /// A session at privilege 15 (`FastCli -p 15`: privileged mode).
    pub fn privileged(sim: &'a Sim) -> Self {
        let mut s = Self::new(sim);
        s.mode = Mode::Privileged;
        s
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
                None => self.run_piped(c.cmd.trim(), format).await,
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

    /// FastCli: every line runs (a failure does not stop the rest, as in an
    /// interactive session), text output and `% ` error lines in order.
    /// Returns the output and whether every command succeeded.
    pub async fn run_script(&mut self, script: &str) -> (String, bool) {
        let mut out = String::new();
        let mut ok = true;
        for line in script.lines() {
            let cmd = line.trim();
            if cmd.is_empty() {
                continue;
            }
            match self.run_piped(cmd, Format::Text).await {
                Ok(v) => {
                    if let Some(text) = v.get("output").and_then(Value::as_str) {
                        out.push_str(text);
                    }
                }
                Err(f) => {
                    ok = false;
                    for e in f.errors {
                        out.push_str(&format!("% {e}\n"));
                    }
                }
            }
        }
        (out, ok)
    }

    /// Boots from a startup-config: each top-level line in global config
    /// mode, each indented line in the mode its block opened.
    pub async fn replay_startup(&mut self, text: &str) {
        self.lenient = true;
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('!') || trimmed == "end" {
                continue;
            }
            if !line.starts_with(char::is_whitespace) {
                self.mode = Mode::Config(Sub::Global);
            }
            if let Err(f) = self.run(trimmed, Format::Text).await {
                tracing::warn!(line = trimmed, errors = ?f.errors, "startup-config line not applied");
            }
        }
        self.mode = Mode::Privileged;
        self.lenient = false;
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

    /// A command with EOS's output filters (`show version | include image`):
    /// they apply to text output only.
    async fn run_piped(&mut self, cmd: &str, format: Format) -> Result<Value, Failure> {
        let mut parts = cmd.split('|');
        let base = parts.next().unwrap_or_default().trim();
        let filters: Vec<&str> = parts.map(str::trim).collect();
        if filters.is_empty() {
            return self.run(base, format).await;
        }
        let filters = filters
            .iter()
            .map(|f| OutputFilter::parse(f))
            .collect::<Result<Vec<_>, _>>()?;
        if format == Format::Json {
            return Err(Failure::no_json(cmd));
        }
        let v = self.run(base, Format::Text).await?;
        let mut text = v["output"].as_str().unwrap_or_default().to_string();
        for f in &filters {
            text = f.apply(&text);
        }
        Ok(json!({ "output": text }))
    }

    async fn run(&mut self, cmd: &str, format: Format) -> Result<Value, Failure> {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let is = |pattern: &[(&str, usize)]| matches(&words, pattern);
        let text = |output: String| match format {
            Format::Json => None,
            Format::Text => Some(json!({ "output": output })),
        };
        let empty = || text(String::new()).unwrap_or(json!({}));
        if words.is_empty() {
            return Ok(json!({}));
        }
        // Mode changes.
        if is(&[("enable", 2)]) {
            if self.mode == Mode::Exec {
                self.mode = Mode::Privileged;
            }
            return Ok(empty());
        }
        if is(&[("disable", 3)]) {
            self.mode = Mode::Exec;
            return Ok(empty());
        }
        if is(&[("configure", 4)]) || is(&[("configure", 4), ("terminal", 4)]) {
            if self.mode == Mode::Exec {
                return Err(Failure::invalid("Invalid input (privileged mode required)"));
            }
            self.mode = Mode::Config(Sub::Global);
            return Ok(empty());
        }
        if is(&[("end", 3)]) {
            if matches!(self.mode, Mode::Config(_)) {
                self.mode = Mode::Privileged;
            }
            return Ok(empty());
        }
        if let Mode::Config(sub) = &self.mode
            && is(&[("exit", 3)])
        {
            self.mode = match sub {
                Sub::Global => Mode::Privileged,
                _ => Mode::Config(Sub::Global),
            };
            return Ok(empty());
        }
        // Show commands run in every mode.
        if is(&[("show", 2), ("version", 3)]) {
            let v = replies::show_version(self.sim, self.links().await?);
            return Ok(text(replies::show_version_text(&v)).unwrap_or(v));
        }
        if is(&[("show", 2), ("hostname", 5)]) {
            let (name, fqdn) = (self.sim.hostname(), self.sim.fqdn());
            return Ok(text(format!("Hostname: {name}\nFQDN:     {fqdn}\n"))
                .unwrap_or(json!({"hostname": name, "fqdn": fqdn})));
        }
        if is(&[
            ("show", 2),
            ("management", 3),
            ("api", 3),
            ("http-commands", 6),
        ]) {
            let v = replies::http_api(self.sim);
            return Ok(text(replies::http_api_text(&v)).unwrap_or(v));
        }
        if is(&[("show", 2), ("running-config", 7)]) {
            let v = json!({ "output": replies::running_config(self.sim) });
            return match format {
                Format::Text => Ok(v),
                Format::Json => Err(Failure::no_json(cmd)),
            };
        }
        if is(&[("show", 2), ("startup-config", 7)]) {
            let Some(flash) = &self.sim.args.flash else {
                return Err(Failure::could_not_run(
                    "No flash (start eos-sim with --flash)",
                ));
            };
            let config = std::fs::read_to_string(flash.join("startup-config"))
                .map_err(|_| Failure::could_not_run("startup-config does not exist"))?;
            return match format {
                Format::Text => Ok(json!({ "output": config })),
                Format::Json => Err(Failure::no_json(cmd)),
            };
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
            let file = crate::lldp::neighbors(self.sim)
                .await
                .map_err(|e| Failure::could_not_run(format!("LLDP table unavailable: {e:#}")))?;
            let v = if detail {
                replies::lldp_neighbors_detail(self.links().await?, &file)
            } else {
                replies::lldp_neighbors(&file)
            };
            return Ok(text(replies::lldp_text(&file)).unwrap_or(v));
        }
        // Privileged commands.
        let privileged = self.mode != Mode::Exec;
        let copy_run_start = is(&[("copy", 2), ("running-config", 7), ("startup-config", 7)])
            || is(&[("write", 2)])
            || is(&[("write", 2), ("memory", 3)]);
        if copy_run_start && privileged {
            crate::boot::save_running_config(self.sim).map_err(|e| {
                Failure::could_not_run(format!("Error copying to startup-config: {e:#}"))
            })?;
            return Ok(text("Copy completed successfully.\n".into()).unwrap_or(json!({})));
        }
        let reload = is(&[("reload", 3)])
            || is(&[("reload", 3), ("now", 3)])
            || is(&[("reload", 3), ("force", 3)]);
        if reload && privileged {
            // The reply is the last thing the old instance says: by the time
            // the client reads it, the switch runs its startup-config.
            Box::pin(crate::boot::boot(self.sim))
                .await
                .map_err(|e| Failure::could_not_run(format!("reload failed: {e:#}")))?;
            self.mode = Mode::Exec;
            self.links = None;
            return Ok(empty());
        }
        if is(&[("install", 4), ("source", 3), ("", 0)]) && privileged {
            let out = crate::boot::install_source(self.sim, words[2])
                .map_err(|e| Failure::could_not_run(format!("{e:#}")))?;
            return Ok(text(out).unwrap_or(json!({})));
        }
        // Config-mode commands.
        let Mode::Config(sub) = self.mode.clone() else {
            return Err(Failure::invalid(format!(
                "Invalid input (at token {}: '{}')",
                bad_token(&words),
                words[bad_token(&words)]
            )));
        };
        if sub != Sub::Global {
            if let Some(v) = self.sub_mode_command(&sub, cmd, &words).await? {
                return Ok(text(String::new()).unwrap_or(v));
            }
            // Not a command of this mode: EOS tries the enclosing one.
            self.mode = Mode::Config(Sub::Global);
        }
        self.global_config_command(&words).await?;
        Ok(empty())
    }

    /// `Ok(None)`: not a command of this mode.
    async fn sub_mode_command(
        &mut self,
        sub: &Sub,
        cmd: &str,
        words: &[&str],
    ) -> Result<Option<Value>, Failure> {
        let negated = matches!(words.first(), Some(&"no") | Some(&"default"));
        let rest: &[&str] = if negated { &words[1..] } else { words };
        let rest_is = |pattern: &[(&str, usize)]| matches(rest, pattern);
        match sub {
            Sub::Global => Ok(None),
            Sub::HttpApi => {
                let protocol = rest.first().is_some_and(|w| kw(w, "protocol", 4));
                let known = rest_is(&[("shutdown", 4)])
                    || (protocol && rest.len() >= 2)
                    || rest_is(&[("vrf", 3), ("", 0)]);
                if !known {
                    return Ok(None);
                }
                let line = normalise_http_api(rest, negated);
                self.with_block("management api http-commands", |c, i| {
                    c.set_in(i, &line);
                });
                Ok(Some(json!({})))
            }
            Sub::Interface(name) => {
                let head = format!("interface {name}");
                if rest.first().is_some_and(|w| kw(w, "description", 4)) {
                    let description = if negated {
                        String::new()
                    } else {
                        after_words(cmd, 1).to_string()
                    };
                    self.with_block(&head, |c, i| {
                        if negated {
                            c.unset_in(i, "description");
                        } else {
                            c.set_in(i, &format!("description {description}"));
                        }
                    });
                    crate::kernel::set_description(name, &description)
                        .await
                        .map_err(|e| Failure::could_not_run(format!("{e:#}")))?;
                    self.sim.lldp_changed.notify_one();
                    return Ok(Some(json!({})));
                }
                if rest_is(&[("ip", 2), ("address", 3), ("", 0)])
                    || (negated && rest_is(&[("ip", 2), ("address", 3)]))
                {
                    let address = if negated {
                        None
                    } else {
                        Some(parse_prefix(rest[2]).ok_or_else(|| {
                            Failure::invalid(format!("Invalid input (at token 2: '{}')", rest[2]))
                        })?)
                    };
                    self.with_block(&head, |c, i| match &address {
                        Some((a, l)) => c.set_in(i, &format!("ip address {a}/{l}")),
                        None => c.unset_in(i, "ip address"),
                    });
                    crate::kernel::set_address(name, address)
                        .await
                        .map_err(|e| Failure::could_not_run(format!("{e:#}")))?;
                    return Ok(Some(json!({})));
                }
                if rest_is(&[("switchport", 6)])
                    || rest_is(&[("shutdown", 4)])
                    || rest_is(&[("mtu", 3), ("", 0)])
                {
                    let line = words.join(" ");
                    self.with_block(&head, |c, i| c.set_in(i, &line));
                    return Ok(Some(json!({})));
                }
                if self.lenient {
                    let line = words.join(" ");
                    self.with_block(&head, |c, i| c.set_in(i, &line));
                    return Ok(Some(json!({})));
                }
                Ok(None)
            }
            Sub::Other(head) => {
                // A mode the simulator does not model keeps whatever it is
                // given, except the global commands the simulator knows.
                const GLOBAL: &[(&str, usize)] = &[
                    ("hostname", 4),
                    ("username", 5),
                    ("interface", 4),
                    ("management", 3),
                    ("ip", 2),
                    ("dns", 3),
                    ("control-plane", 7),
                    ("boot", 4),
                    ("virtual-machine", 7),
                ];
                if rest
                    .first()
                    .is_some_and(|w| GLOBAL.iter().any(|(k, min)| kw(w, k, *min)))
                {
                    return Ok(None);
                }
                let line = words.join(" ");
                self.with_block(head, |c, i| c.set_in(i, &line));
                Ok(Some(json!({})))
            }
        }
    }

    async fn global_config_command(&mut self, words: &[&str]) -> Result<(), Failure> {
        let is = |pattern: &[(&str, usize)]| matches(words, pattern);
        let line = words.join(" ");
        if is(&[("hostname", 4), ("", 0)]) {
            self.sim.set_hostname(words[1]);
            self.sim.device().config.set(&line);
            return Ok(());
        }
        if is(&[("no", 2), ("hostname", 4)]) {
            self.sim.set_hostname("localhost");
            self.sim.device().config.unset(&line);
            return Ok(());
        }
        if words.len() >= 2 && kw(words[0], "username", 5) {
            self.sim.device().config.set(&line);
            return Ok(());
        }
        if is(&[("no", 2), ("username", 5), ("", 0)]) {
            self.sim.device().config.unset(&line);
            return Ok(());
        }
        if is(&[("management", 3), ("api", 3), ("http-commands", 6)]) {
            self.sim
                .device()
                .config
                .enter("management api http-commands");
            self.mode = Mode::Config(Sub::HttpApi);
            return Ok(());
        }
        if is(&[("interface", 2), ("", 0)]) {
            let name = ztps_eapi::ifname::canonical_eos(words[1]).ok_or_else(|| {
                Failure::invalid(format!("Invalid input (at token 1: '{}')", words[1]))
            })?;
            self.sim.device().config.enter(&format!("interface {name}"));
            self.mode = Mode::Config(Sub::Interface(name));
            return Ok(());
        }
        let domain = is(&[("dns", 3), ("domain", 3), ("", 0)])
            || is(&[("ip", 2), ("domain-name", 8), ("", 0)]);
        let no_domain = is(&[("no", 2), ("dns", 3), ("domain", 3)])
            || is(&[("no", 2), ("ip", 2), ("domain-name", 8)]);
        if domain || no_domain {
            let keyword = if kw(words[usize::from(no_domain)], "dns", 3) {
                "dns domain"
            } else {
                "ip domain-name"
            };
            {
                let mut d = self.sim.device();
                d.config.unset(keyword);
                if domain {
                    d.config.set(&format!("{keyword} {}", words[2]));
                }
            }
            self.sim.lldp_changed.notify_one();
            return Ok(());
        }
        if is(&[("ip", 2), ("routing", 3)]) || is(&[("no", 2), ("ip", 2), ("routing", 3)]) {
            self.sim.device().config.set(&line);
            return Ok(());
        }
        if words.len() >= 4 && kw(words[0], "ip", 2) && kw(words[1], "route", 3) {
            let prefix = parse_prefix(words[2]).ok_or_else(|| {
                Failure::invalid(format!("Invalid input (at token 2: '{}')", words[2]))
            })?;
            let via: std::net::Ipv4Addr = words[3].parse().map_err(|_| {
                Failure::invalid(format!("Invalid input (at token 3: '{}')", words[3]))
            })?;
            self.sim.device().config.set(&line);
            crate::kernel::set_route(prefix, Some(via))
                .await
                .map_err(|e| Failure::could_not_run(format!("{e:#}")))?;
            return Ok(());
        }
        if words.len() >= 4 && words[0] == "no" && kw(words[1], "ip", 2) && kw(words[2], "route", 3)
        {
            let prefix = parse_prefix(words[3]).ok_or_else(|| {
                Failure::invalid(format!("Invalid input (at token 3: '{}')", words[3]))
            })?;
            self.sim.device().config.unset(&line);
            crate::kernel::set_route(prefix, None)
                .await
                .map_err(|e| Failure::could_not_run(format!("{e:#}")))?;
            return Ok(());
        }
        if is(&[("control-plane", 7)]) {
            self.sim.device().config.enter("control-plane");
            self.mode = Mode::Config(Sub::Other("control-plane".into()));
            return Ok(());
        }
        if is(&[("boot", 4), ("system", 3), ("", 0)]) {
            crate::boot::set_boot_image(self.sim, words[2])
                .map_err(|e| Failure::could_not_run(format!("{e:#}")))?;
            return Ok(());
        }
        if is(&[("virtual-machine", 7), ("", 0), ("restart", 3)]) {
            let command = self.sim.args.vm_restart_cmd.as_deref();
            self.sim
                .vm
                .restart(command, words[1])
                .await
                .map_err(Failure::could_not_run)?;
            return Ok(());
        }
        if self.lenient {
            // A block the simulator does not model: kept, with what is indented under it.
            self.sim.device().config.enter(&line);
            self.mode = Mode::Config(Sub::Other(line));
            return Ok(());
        }
        Err(Failure::invalid(format!(
            "Invalid input (at token {}: '{}')",
            bad_token(words),
            words[bad_token(words)]
        )))
    }

    fn with_block(&self, head: &str, f: impl FnOnce(&mut crate::config::RunningConfig, usize)) {
        let mut device = self.sim.device();
        let index = device.config.enter(head);
        f(&mut device.config, index);
    }
}

/// `protocol http` and friends, spelled out as the running config shows them.
fn normalise_http_api(rest: &[&str], negated: bool) -> String {
    let mut words: Vec<String> = Vec::new();
    if negated {
        words.push("no".into());
    }
    for (i, w) in rest.iter().enumerate() {
        let full = match (i, w.to_ascii_lowercase().as_str()) {
            (0, x) if "shutdown".starts_with(x) => "shutdown".to_string(),
            (0, x) if "protocol".starts_with(x) => "protocol".to_string(),
            (1, "https") => "https".to_string(),
            (1, "http") => "http".to_string(),
            (1, x) if "unix-socket".starts_with(x) && x.len() >= 2 => "unix-socket".to_string(),
            (_, x) => x.to_string(),
        };
        words.push(full);
    }
    words.join(" ")
}

/// The text of a command after its first `n` words, spacing kept.
fn after_words(cmd: &str, n: usize) -> &str {
    let mut rest = cmd.trim_start();
    for _ in 0..n {
        rest = rest
            .split_once(char::is_whitespace)
            .map_or("", |(_, r)| r)
            .trim_start();
    }
    rest.trim_end()
}

/// `10.1.1.1/31` (EOS also takes `10.1.1.1 255.255.255.254`; the renderer does not write it).
fn parse_prefix(s: &str) -> Option<(std::net::Ipv4Addr, u8)> {
    let (a, l) = s.split_once('/')?;
    let len: u8 = l.parse().ok()?;
    (len <= 32).then_some(())?;
    Some((a.parse().ok()?, len))
}

/// `| include RE`, `| grep RE`, `| exclude RE`, `| begin RE`.
#[derive(Debug)]
struct OutputFilter {
    keep: FilterKind,
    pattern: Pattern,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FilterKind {
    Include,
    Exclude,
    Begin,
}

impl OutputFilter {
    fn parse(f: &str) -> Result<Self, Failure> {
        let (word, pattern) = f
            .split_once(char::is_whitespace)
            .map(|(w, p)| (w, p.trim()))
            .unwrap_or((f, ""));
        let w = word.to_ascii_lowercase();
        let keep = match w.as_str() {
            "grep" => FilterKind::Include,
            x if x.len() >= 3 && "include".starts_with(x) => FilterKind::Include,
            x if x.len() >= 2 && "exclude".starts_with(x) => FilterKind::Exclude,
            x if x.len() >= 3 && "begin".starts_with(x) => FilterKind::Begin,
            _ => {
                return Err(Failure::invalid(format!(
                    "Invalid input (at token 0: '{word}')"
                )));
            }
        };
        if pattern.is_empty() {
            return Err(Failure::invalid("Incomplete command"));
        }
        Ok(Self {
            keep,
            pattern: Pattern::new(pattern),
        })
    }

    fn apply(&self, text: &str) -> String {
        let mut out = String::new();
        let mut begun = false;
        for line in text.lines() {
            let hit = self.pattern.matches(line);
            let keep = match self.keep {
                FilterKind::Include => hit,
                FilterKind::Exclude => !hit,
                FilterKind::Begin => {
                    begun |= hit;
                    begun
                }
            };
            if keep {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

/// The part of EOS's regular expressions that show up in filters in
/// practice: literal text, `^` and `$` anchors, `.` for any character, and
/// alternatives separated by `|`... except that `|` separates filters, so
/// alternatives never reach here. Matching is case-sensitive, as on EOS.
#[derive(Debug)]
struct Pattern {
    anchored_start: bool,
    anchored_end: bool,
    body: Vec<char>,
}

impl Pattern {
    fn new(p: &str) -> Self {
        let p = p.trim_matches('"');
        let anchored_start = p.starts_with('^');
        let p = p.strip_prefix('^').unwrap_or(p);
        let anchored_end = p.ends_with('$') && !p.ends_with("\\$");
        let p = if anchored_end { &p[..p.len() - 1] } else { p };
        Self {
            anchored_start,
            anchored_end,
            body: p.chars().collect(),
        }
    }

    fn matches_at(&self, line: &[char], at: usize) -> bool {
        if at + self.body.len() > line.len() {
            return false;
        }
        let ok = self
            .body
            .iter()
            .zip(&line[at..])
            .all(|(p, c)| *p == '.' || p == c);
        ok && (!self.anchored_end || at + self.body.len() == line.len())
    }

    fn matches(&self, line: &str) -> bool {
        let chars: Vec<char> = line.chars().collect();
        if self.anchored_start {
            return self.matches_at(&chars, 0);
        }
        (0..=chars.len()).any(|at| self.matches_at(&chars, at))
    }
}

/// Whether `word` abbreviates `keyword` (at least `min` letters).
fn kw(word: &str, keyword: &str, min: usize) -> bool {
    let w = word.to_ascii_lowercase();
    w.len() >= min && keyword.starts_with(&w)
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
        &["show", "management", "api", "http-commands"],
        &["show", "running-config"],
        &["copy", "running-config", "startup-config"],
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
