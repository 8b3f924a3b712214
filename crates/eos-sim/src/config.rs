//! The running config as EOS keeps it: top-level commands, some of which
//! open a mode whose commands are indented under them.
//!
//! A new command replaces the one it overrides (`hostname b` replaces
//! `hostname a`, `no shutdown` replaces `shutdown`), which is all a
//! simulator needs to show the config back and save it to flash.

/// One top-level command and, for a mode, the commands entered in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub head: String,
    pub body: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunningConfig {
    blocks: Vec<Block>,
}

/// What a command overrides: the words that name the setting, without `no`.
fn key(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let words = match words.first() {
        Some(&"no") | Some(&"default") => &words[1..],
        _ => &words[..],
    };
    let n = match words {
        ["hostname", ..]
        | ["description", ..]
        | ["shutdown", ..]
        | ["switchport", ..]
        | ["mtu", ..] => 1,
        ["ip", "address", _, "secondary", ..] => words.len(),
        ["ip", "address", ..] | ["ip", "routing", ..] => 2,
        ["protocol", "http", "localhost", ..] => 3,
        ["protocol", ..] | ["username", ..] | ["dns", "domain", ..] | ["ip", "domain-name", ..] => {
            2
        }
        ["ip", "route", prefix, ..] => {
            return format!("ip route {prefix}");
        }
        _ => words.len(),
    };
    words[..n.min(words.len())].join(" ")
}

impl RunningConfig {
    /// Sets a top-level command that opens no mode.
    pub fn set(&mut self, line: &str) {
        let k = key(line);
        match self.blocks.iter_mut().find(|b| key(&b.head) == k) {
            Some(b) => b.head = line.to_string(),
            None => self.blocks.push(Block {
                head: line.to_string(),
                body: Vec::new(),
            }),
        }
    }

    /// Removes every top-level command that `line` (a `no ...`) negates.
    pub fn unset(&mut self, line: &str) {
        let k = key(line);
        self.blocks.retain(|b| key(&b.head) != k);
    }

    /// Opens (or reopens) the mode `head`; returns its index for `set_in`.
    pub fn enter(&mut self, head: &str) -> usize {
        if let Some(i) = self.blocks.iter().position(|b| b.head == head) {
            return i;
        }
        self.blocks.push(Block {
            head: head.to_string(),
            body: Vec::new(),
        });
        self.blocks.len() - 1
    }

    /// Sets a command inside the mode opened at `index`.
    pub fn set_in(&mut self, index: usize, line: &str) {
        let Some(block) = self.blocks.get_mut(index) else {
            return;
        };
        let k = key(line);
        match block.body.iter_mut().find(|l| key(l) == k) {
            Some(l) => *l = line.to_string(),
            None => block.body.push(line.to_string()),
        }
    }

    /// Removes the commands inside a mode that `line` negates.
    pub fn unset_in(&mut self, index: usize, line: &str) {
        if let Some(block) = self.blocks.get_mut(index) {
            let k = key(line);
            block.body.retain(|l| key(l) != k);
        }
    }

    pub fn block(&self, head: &str) -> Option<&Block> {
        self.blocks.iter().find(|b| b.head == head)
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The config as `show running-config` prints it.
    pub fn render(&self, header: &str) -> String {
        let mut out = String::from(header);
        for b in &self.blocks {
            out.push_str(&b.head);
            out.push('\n');
            for l in &b.body {
                out.push_str("   ");
                out.push_str(l);
                out.push('\n');
            }
            out.push_str("!\n");
        }
        out.push_str("end\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_commands_replace_what_they_override() {
        let mut c = RunningConfig::default();
        c.set("hostname a");
        c.set("hostname b");
        c.set("username ztps secret x privilege 15");
        c.set("username other secret y");
        c.set("username ztps secret z privilege 15");
        let api = c.enter("management api http-commands");
        c.set_in(api, "shutdown");
        c.set_in(api, "protocol https");
        c.set_in(api, "no protocol https");
        c.set_in(api, "protocol unix-socket");
        c.set_in(api, "no shutdown");
        assert_eq!(c.enter("management api http-commands"), api);
        let text = c.render("");
        assert_eq!(
            text,
            "hostname b\n!\nusername ztps secret z privilege 15\n!\nusername other secret y\n!\n\
             management api http-commands\n   no shutdown\n   no protocol https\n   protocol unix-socket\n!\nend\n"
        );
        c.unset("no username other");
        assert!(!c.render("").contains("other"));
    }

    #[test]
    fn routes_are_keyed_by_prefix() {
        let mut c = RunningConfig::default();
        c.set("ip route 0.0.0.0/0 10.1.1.0");
        c.set("ip route 10.9.0.0/16 10.1.1.0");
        c.set("ip route 0.0.0.0/0 10.1.1.2");
        assert_eq!(
            c.render(""),
            "ip route 0.0.0.0/0 10.1.1.2\n!\nip route 10.9.0.0/16 10.1.1.0\n!\nend\n"
        );
    }
}
