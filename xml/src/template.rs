//! Leaf configs from the operator's Jinja2 template (the syntax AVD users
//! write), rendered with minijinja and fed with the leaf's plan and what
//! the fabric says about every leaf.

use serde::Serialize;
use ztps_config::{AdminUser, Fabric, LeafPlan, PlannedUplink};

/// A template that does not parse or render, at its file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// One spine, as a template sees it.
#[derive(Serialize)]
struct SpineVars<'a> {
    name: &'a str,
    asn: Option<u32>,
    hosts_ztpserver: bool,
}

/// Everything a template may use; an unknown name is an error, so a typo
/// is reported at its line instead of rendering as nothing.
#[derive(Serialize)]
struct LeafVars<'a> {
    hostname: &'a str,
    asn: u32,
    loopback: String,
    uplinks: &'a [PlannedUplink],
    spines: Vec<SpineVars<'a>>,
    ztpserver_subnet: &'a str,
    admin: Option<&'a AdminUser>,
    users: Vec<&'a AdminUser>,
    ntp_servers: Vec<String>,
    syslog_servers: Vec<String>,
    serial: Option<&'a str>,
    system_mac: Option<String>,
}

/// Renders `source` (the template's text, `file` its name for errors) for
/// one leaf.
pub fn render_template(
    file: &str,
    source: &str,
    fabric: &Fabric,
    plan: &LeafPlan,
) -> Result<String, TemplateError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // EOS configs end in a newline; keep the template's.
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    let located = |e: minijinja::Error| TemplateError {
        file: file.to_string(),
        line: e.line(),
        message: match e.detail() {
            Some(detail) => format!("{}: {detail}", e.kind()),
            None => e.kind().to_string(),
        },
    };
    let template = env.template_from_named_str(file, source).map_err(located)?;
    let admin = fabric.underlay.admin.as_ref();
    let vars = LeafVars {
        hostname: &plan.hostname,
        asn: plan.asn,
        loopback: plan.loopback.to_string(),
        uplinks: &plan.uplinks,
        spines: fabric
            .spines
            .values()
            .map(|s| SpineVars {
                name: &s.name,
                asn: s.bgp_asn,
                hosts_ztpserver: s.is_host(),
            })
            .collect(),
        ztpserver_subnet: &plan.ztpserver_subnet,
        admin,
        users: admin.into_iter().collect(),
        ntp_servers: fabric
            .underlay
            .ntp_servers
            .iter()
            .map(ToString::to_string)
            .collect(),
        syslog_servers: fabric
            .underlay
            .syslog_servers
            .iter()
            .map(ToString::to_string)
            .collect(),
        serial: plan.serial.as_deref(),
        system_mac: plan.system_mac.map(|m| m.to_string()),
    };
    template.render(vars).map_err(located)
}
