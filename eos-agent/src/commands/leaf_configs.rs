//! Each leaf's Day-1 startup-config, from the source the fabric names for
//! it: built in, the operator's own file, or a Jinja2 template.

use std::collections::BTreeMap;

use ztps_config::{Fabric, LeafConfigSource};

/// Every planned leaf's config, by hostname.
pub fn render_all(fabric: &Fabric) -> anyhow::Result<BTreeMap<String, String>> {
    let mut configs = BTreeMap::new();
    for plan in fabric.leaf_plans() {
        let text = match plan.source {
            LeafConfigSource::BuiltIn => ztps_render::leaf_config(fabric, &plan),
            other => anyhow::bail!(
                "leaf {}: config source {:?} is not available yet",
                plan.hostname,
                other.as_str()
            ),
        };
        configs.insert(plan.hostname.clone(), text);
    }
    Ok(configs)
}
