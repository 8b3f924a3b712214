//! `ztps-agent bundle`: every file a spine's flash needs, in one directory,
//! with a `MANIFEST.sha256` that `sha256sum -c` checks.
//!
//! The bundle is built in a temporary directory beside DIR and renamed into
//! place, so a failure never leaves half a bundle, and an existing bundle is
//! only replaced (with `--force`) by a complete one.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use ztps_config::{AgentInstall, Spine};
use ztps_render::Artifact;

use super::appliance;
use super::files::sha256_hex;
use super::swix;
use crate::cli::BundleArgs;

/// The seed disk's name in the bundle; on the switch it is this file on flash.
pub const SEED_FILE: &str = "ztps-seed.img";
/// Where the domain XML finds the seed when the fabric names no other place.
pub const SEED_FLASH_PATH: &str = "/mnt/flash/ztps-seed.img";
pub const MANIFEST_FILE: &str = "MANIFEST.sha256";

/// One file of the bundle, by its path relative to the bundle's root.
pub struct BundleFile {
    pub path: String,
    pub bytes: Vec<u8>,
    pub mode: u32,
}

impl BundleFile {
    fn text(path: &str, text: String) -> Self {
        BundleFile {
            path: path.to_string(),
            bytes: text.into_bytes(),
            mode: 0o644,
        }
    }
}

/// Files that may hold a secret are readable by their owner only. The agent
/// config is one: it may carry a webhook URL with its token (and whatever
/// secret-bearing key comes next), so it is always written 0600.
pub const SECRET_MODE: u32 = 0o600;

/// The mode an artifact is written with, by `bundle` and `render --out`.
pub fn mode_of(artifact: Artifact) -> u32 {
    match artifact {
        Artifact::AgentConfig => SECRET_MODE,
        _ => 0o644,
    }
}

/// The spine as the bundle renders it: the domain XML refers to the seed disk
/// the bundle carries.
pub fn bundle_spine(spine: &Spine) -> Spine {
    let mut spine = spine.clone();
    if spine.vm.seed_disk.is_none() {
        spine.vm.seed_disk = Some(SEED_FLASH_PATH.into());
    }
    spine
}

/// Every file of the bundle, manifest excluded, in a fixed order.
pub fn bundle_files(spine: &Spine) -> anyhow::Result<Vec<BundleFile>> {
    let spine = bundle_spine(spine);
    let mut files = Vec::new();
    for artifact in [
        Artifact::StartupConfig,
        Artifact::DomainXml,
        Artifact::BootConfig,
        Artifact::BootExtensions,
        Artifact::AgentConfig,
    ] {
        let text = ztps_render::render(artifact, &spine)
            .with_context(|| format!("cannot render {artifact}"))?;
        files.push(BundleFile {
            mode: mode_of(artifact),
            ..BundleFile::text(artifact.file_name(), text)
        });
    }
    // The seed checks the ZTPServer data; before the slow packaging, so a
    // mistake is reported at once.
    files.push(BundleFile {
        path: SEED_FILE.into(),
        bytes: appliance::seed_image(&spine)?,
        mode: 0o644,
    });
    files.push(BundleFile {
        path: format!(".extensions/{}", spine.agent.swix_file),
        bytes: swix::own_swix(None, &spine.eos_image)?,
        mode: 0o644,
    });
    if spine.agent.install == AgentInstall::Flash {
        files.push(BundleFile {
            path: "ztps-agent".into(),
            bytes: swix::own_binary()?,
            mode: 0o755,
        });
    }
    Ok(files)
}

/// `sha256sum` format: `<hex>  <path>`, one line per file.
pub fn manifest(files: &[BundleFile]) -> String {
    files
        .iter()
        .map(|f| format!("{}  {}\n", sha256_hex(&f.bytes), f.path))
        .collect()
}

pub fn run(args: &BundleArgs) -> anyhow::Result<ExitCode> {
    let fabric = super::load_fabric(&args.fabric)?;
    let spine = fabric.spine(args.spine.as_deref())?;
    let out = &args.out;
    check_target(out, args.force)?;
    if let Some(seed) = &spine.vm.seed_disk
        && seed != Path::new(SEED_FLASH_PATH)
    {
        eprintln!(
            "note: the domain XML reads the seed from {}; copy {SEED_FILE} there",
            seed.display()
        );
    }

    let mut files = bundle_files(spine)?;
    let manifest = manifest(&files);
    files.push(BundleFile::text(MANIFEST_FILE, manifest));
    install(out, &files)?;

    super::files::print(&format!(
        "bundle for spine {} in {}:\n",
        spine.name,
        out.display()
    ))?;
    let width = files.iter().map(|f| f.path.len()).max().unwrap_or(0);
    for file in &files {
        super::files::print(&format!(
            "  {:width$}  {:>10}  {}\n",
            file.path,
            file.bytes.len(),
            sha256_hex(&file.bytes)
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// DIR may be missing or empty; anything else needs `--force`.
fn check_target(out: &Path, force: bool) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot inspect {}", out.display())),
        Ok(meta) if !meta.is_dir() => bail!(
            "{} exists and is not a directory; give a directory for the bundle",
            out.display()
        ),
        Ok(_) => {
            if is_non_empty_dir(out) && !force {
                bail!(
                    "{} is not empty; refusing to overwrite it (use --force to replace its contents with the bundle)",
                    out.display()
                );
            }
            Ok(())
        }
    }
}

/// Writes the files into a fresh directory beside `out`, then swaps it in.
fn install(out: &Path, files: &[BundleFile]) -> anyhow::Result<()> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .with_context(|| format!("{} does not name a directory", out.display()))?
        .to_string_lossy()
        .into_owned();
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.new-"))
        .tempdir_in(&parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })?;
    for file in files {
        let path = staging.path().join(&file.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        // Created with its mode: a secret is never readable by others, not
        // even for a moment.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(file.mode)
            .open(&path)
            .and_then(|mut f| f.write_all(&file.bytes))
            .and_then(|()| {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file.mode))
            })
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot set the mode of {}", staging.path().display()))?;

    // rename(2) replaces an empty directory in one step; a full one (with
    // --force) is first moved aside, and put back if the swap fails.
    let old = tempfile::Builder::new()
        .prefix(&format!(".{name}.old-"))
        .tempdir_in(&parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })?;
    let aside = old.path().join("bundle");
    let moved_aside = is_non_empty_dir(out);
    if moved_aside {
        std::fs::rename(out, &aside)
            .with_context(|| format!("cannot move the old {} aside", out.display()))?;
    }
    let staged = staging.keep();
    if let Err(error) = std::fs::rename(&staged, out) {
        let cleanup = std::fs::remove_dir_all(&staged);
        if moved_aside && let Err(restore) = std::fs::rename(&aside, out) {
            // Keep the old bundle where it is rather than delete it with `old`.
            let kept = old.keep();
            return Err(error).with_context(|| {
                format!(
                    "cannot move the bundle to {}, nor the old contents back ({restore}); they are in {}",
                    out.display(),
                    kept.join("bundle").display()
                )
            });
        }
        if let Err(cleanup) = cleanup {
            eprintln!("warning: cannot remove {}: {cleanup}", staged.display());
        }
        return Err(error).with_context(|| format!("cannot move the bundle to {}", out.display()));
    }
    // `old` (with the replaced bundle inside) is removed on drop.
    drop(old);
    Ok(())
}

fn is_non_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some())
}
