//! The ZTPServer appliance's Day-1 inputs for one spine (ztps-appliance takes
//! the fabric's own leaf links), and `render seed` / `render ztpserver`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::ValueEnum as _;
use ztps_appliance::{DataFile, NicMatch, SeedSpec, ZtpsFabric};
use ztps_config::{Fabric, Spine};

use crate::cli::{Kind, RenderArgs};

/// neighbordb, node definitions and each leaf's startup-config, from the
/// source the fabric names for it, and the `bootstrap.conf` that sends each
/// leaf's bootstrap log to the agent (without it the appliance keeps the
/// package's default, which logs nowhere, and the agent's timeline sees no
/// leaf past its lease).
pub fn ztpserver_files(fabric: &Fabric) -> anyhow::Result<Vec<DataFile>> {
    let host = fabric.host_spine()?;
    let configs = super::leaf_configs::render_all(fabric)?;
    let plans = fabric.leaf_plans();
    let mut files = ztps_appliance::ztpserver::render(&ZtpsFabric::of_host(host, &plans, configs))
        .with_context(|| format!("cannot generate ZTPServer data for spine {}", host.name))?;
    files.push(DataFile {
        path: "bootstrap/bootstrap.conf".into(),
        contents: host.bootstrap_conf(),
    });
    Ok(files)
}

/// The appliance's NoCloud seed: its address on `br0`, the bridge as its
/// gateway, the ZTPServer URL, and the ZTPServer data when there are leaves.
pub fn seed_spec(fabric: &Fabric, spine: &Spine) -> anyhow::Result<SeedSpec> {
    let host = spine.host()?;
    let ztpserver_files = if spine.leaves.is_empty() {
        Vec::new()
    } else {
        ztpserver_files(fabric)?
    };
    Ok(SeedSpec {
        hostname: host.vm.name.clone(),
        address: host.vm.address,
        gateway: host.bridge.address.addr(),
        dns: spine.dhcp.dns_servers.clone(),
        ssh_authorized_key: host.vm.ssh_authorized_key.clone(),
        console_password_hash: host.vm.console_password_hash.clone(),
        server_url: spine.ztpserver_url(),
        identifier: spine.ztpserver.identifier,
        // The fabric names the NIC's MAC, which survives any renaming.
        nic: NicMatch::Mac(host.vm.mac),
        ztpserver_files,
    })
}

/// The seed disk image's bytes.
pub fn seed_image(fabric: &Fabric, spine: &Spine) -> anyhow::Result<Vec<u8>> {
    seed_spec(fabric, spine)?
        .image()
        .with_context(|| format!("cannot build the seed disk of spine {}", spine.name))
}

/// `render seed --out FILE`.
pub fn write_seed(fabric: &Fabric, spine: &Spine, out: &Path) -> anyhow::Result<()> {
    let spec = seed_spec(fabric, spine)?;
    ztps_appliance::write_seed_image(&spec, out)
        .with_context(|| format!("cannot write the seed disk {}", out.display()))?;
    super::files::print(&format!(
        "wrote {} (NoCloud seed, label cidata, {} ZTPServer files)\n",
        out.display(),
        spec.ztpserver_files.len()
    ))?;
    Ok(())
}

/// `render ztpserver --out DIR`: the files under DIR, as in ZTPServer's data root.
pub fn write_ztpserver(fabric: &Fabric, out: &Path) -> anyhow::Result<()> {
    let files = ztpserver_files(fabric)?;
    for file in &files {
        let path = data_path(out, &file.path)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        super::files::write_atomic(&path, file.contents.as_bytes(), 0o644)?;
        super::files::print(&format!("wrote {}\n", path.display()))?;
    }
    Ok(())
}

/// `out/rel`, refusing anything that would leave `out`; the generator's paths
/// are relative already, this keeps a bad one from writing elsewhere.
fn data_path(out: &Path, rel: &str) -> anyhow::Result<std::path::PathBuf> {
    let rel_path = Path::new(rel);
    if rel.is_empty()
        || rel_path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        bail!("ZTPServer data file {rel:?} is not a plain relative path");
    }
    Ok(out.join(rel_path))
}

/// `render seed|ztpserver`: the kinds that write files rather than text.
pub fn run_render(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let (what, placeholder, example) = match args.kind {
        Kind::Seed => ("a disk image", "FILE", "ztps-seed.img"),
        Kind::Ztpserver => ("a directory of files", "DIR", "ztpserver-data"),
        other => bail!("{other:?} renders text, not files"),
    };
    let name = args
        .kind
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let Some(out) = &args.out else {
        bail!(
            "render {name} writes {what}, not text: give --out {placeholder}, \
             e.g. `ztps-agent render {name} --fabric FILE --out {example}`"
        );
    };
    let fabric = super::load_fabric(&args.fabric)?;
    let spine = fabric.spine(args.spine.as_deref())?;
    match args.kind {
        Kind::Seed => write_seed(&fabric, spine, out)?,
        _ => write_ztpserver(&fabric, out)?,
    }
    Ok(ExitCode::SUCCESS)
}
