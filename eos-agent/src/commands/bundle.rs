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
use ztps_config::{AgentInstall, Fabric, Spine};
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
pub const README_FILE: &str = "README.txt";
pub const BOOT_EXTENSIONS: &str = "boot-extensions";
/// The line to append to the switch's boot-extensions, when its current one
/// was not given: the bundle never replaces a file it has not seen.
pub const BOOT_EXTENSIONS_ADD: &str = "boot-extensions.add";

/// What a bundle file holds: bytes rendered in memory, or a (large) file
/// copied as it is.
pub enum Body {
    Bytes(Vec<u8>),
    Copy(PathBuf),
    /// The appliance's data disk, built from the catalogue's files as it is
    /// written (about 1 GB: never in memory).
    DataDisk(Vec<ztps_config::DataDiskFile>),
}

/// One file of the bundle, by its path relative to the bundle's root.
pub struct BundleFile {
    pub path: String,
    pub body: Body,
    pub mode: u32,
    /// Goes somewhere other than /mnt/flash (a VM disk on /mnt/usb1): it gets
    /// its own `<name>.sha256`, checked where it lands, and stays out of
    /// MANIFEST.sha256, which is checked on flash.
    pub off_flash: bool,
}

impl BundleFile {
    fn text(path: &str, text: String) -> Self {
        BundleFile {
            path: path.to_string(),
            body: Body::Bytes(text.into_bytes()),
            mode: 0o644,
            off_flash: false,
        }
    }

    fn bytes(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Bytes(bytes) => Some(bytes),
            Body::Copy(_) | Body::DataDisk(_) => None,
        }
    }
}

/// A file as written (or as it would be): its size and SHA-256.
pub struct Written {
    pub path: String,
    pub size: u64,
    pub sha256: String,
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
    if let Some(vm) = spine.vm.as_mut()
        && vm.seed_disk.is_none()
    {
        vm.seed_disk = Some(SEED_FLASH_PATH.into());
    }
    spine
}

/// How the bundle is made, beyond the spine itself.
pub struct Options {
    /// A fresh switch: full startup-config and boot-config.
    pub new_switch: bool,
    /// The switch's current boot-extensions (`Some("")` when its flash has
    /// none), when a copy of its flash was given.
    pub current_boot_extensions: Option<String>,
    /// The VM disk to carry.
    pub vm_disk: Option<PathBuf>,
}

/// Is this line of boot-extensions one of ours (any version)? An upgrade
/// replaces the old SWIX's line instead of installing two agents.
pub fn is_agent_extension(line: &str, ours: &str) -> bool {
    let line = line.trim();
    line == ours || (line.starts_with("ztps-agent") && line.ends_with(".swix"))
}

/// The switch's boot-extensions with the agent's line added: every other
/// line (TerminAttr for CloudVision, ...) is kept as it is, in its order.
pub fn merge_boot_extensions(current: &str, ours: &str) -> String {
    let mut merged = String::with_capacity(current.len() + ours.len() + 2);
    for line in current.lines() {
        if !line.trim().is_empty() && !is_agent_extension(line, ours) {
            merged.push_str(line);
            merged.push('\n');
        }
    }
    merged.push_str(ours);
    merged.push('\n');
    merged
}

/// The VM disk's file name in the bundle: the one `vm.disk` gives it, since
/// that is the name the domain XML opens.
pub fn vm_disk_name(spine: &Spine) -> anyhow::Result<String> {
    let vm = spine.host()?.vm;
    vm.disk
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("vm.disk {} names no file", vm.disk.display()))
}

/// The data disk's file name in the bundle, when the spine's leaves install
/// an image or extensions: the name the domain XML opens.
pub fn data_disk_name(spine: &Spine) -> Option<String> {
    spine
        .data_disk_path()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
}

/// Every file of the bundle, README and manifest excluded, in a fixed order.
pub fn bundle_files(
    fabric: &Fabric,
    spine: &Spine,
    options: &Options,
) -> anyhow::Result<Vec<BundleFile>> {
    let spine = bundle_spine(spine);
    let mut artifacts = Vec::new();
    if options.new_switch {
        artifacts.push(Artifact::StartupConfig);
    } else {
        artifacts.push(Artifact::StartupConfigSnippet);
    }
    artifacts.push(Artifact::DomainXml);
    if options.new_switch {
        artifacts.push(Artifact::BootConfig);
    }
    artifacts.push(Artifact::AgentConfig);
    let mut files = Vec::new();
    for artifact in artifacts {
        let text = ztps_render::render(artifact, &spine)
            .with_context(|| format!("cannot render {artifact}"))?;
        files.push(BundleFile {
            mode: mode_of(artifact),
            ..BundleFile::text(artifact.file_name(), text)
        });
    }
    if spine.agent.install == AgentInstall::Swix {
        let ours = spine.agent.swix_file.as_str();
        match (&options.current_boot_extensions, options.new_switch) {
            (Some(current), _) => files.push(BundleFile::text(
                BOOT_EXTENSIONS,
                merge_boot_extensions(current, ours),
            )),
            (None, true) => files.push(BundleFile::text(BOOT_EXTENSIONS, format!("{ours}\n"))),
            (None, false) => {
                files.push(BundleFile::text(BOOT_EXTENSIONS_ADD, format!("{ours}\n")));
            }
        }
    }
    // The seed checks the ZTPServer data; before the slow packaging, so a
    // mistake is reported at once.
    files.push(BundleFile {
        path: SEED_FILE.into(),
        body: Body::Bytes(appliance::seed_image(fabric, &spine)?),
        mode: 0o644,
        off_flash: false,
    });
    match spine.agent.install {
        AgentInstall::Swix => files.push(BundleFile {
            path: format!(".extensions/{}", spine.agent.swix_file),
            body: Body::Bytes(swix::own_swix(None, &spine.eos_image)?),
            mode: 0o644,
            off_flash: false,
        }),
        // Nothing would install a SWIX: the daemon runs the binary on flash.
        AgentInstall::Flash => files.push(BundleFile {
            path: "ztps-agent".into(),
            body: Body::Bytes(swix::own_binary()?),
            mode: 0o755,
            off_flash: false,
        }),
    }
    // The images reach the appliance on this disk: there is no management
    // network to download them over.
    if let (Some(path), Some(name)) = (spine.data_disk_path(), data_disk_name(&spine)) {
        let files_on_disk = spine.data_disk_files();
        for file in &files_on_disk {
            let meta = std::fs::metadata(&file.source).with_context(|| {
                format!(
                    "cannot read {} ({}); `ztps-agent check` checks every catalogue file",
                    file.source.display(),
                    file.served_path()
                )
            })?;
            if !meta.is_file() {
                bail!("{} is not a regular file", file.source.display());
            }
        }
        files.push(BundleFile {
            path: name,
            body: Body::DataDisk(files_on_disk),
            mode: 0o644,
            off_flash: path.parent() != Some(Path::new("/mnt/flash")),
        });
    }
    if let Some(disk) = &options.vm_disk {
        let meta = std::fs::metadata(disk)
            .with_context(|| format!("cannot read the VM disk {}", disk.display()))?;
        if !meta.is_file() {
            bail!("the VM disk {} is not a regular file", disk.display());
        }
        files.push(BundleFile {
            path: vm_disk_name(&spine)?,
            body: Body::Copy(disk.clone()),
            mode: 0o644,
            off_flash: spine.host()?.vm.disk.parent() != Some(Path::new("/mnt/flash")),
        });
    }
    Ok(files)
}

/// `sha256sum` format: `<hex>  <path>`, one line per file.
pub fn manifest(files: &[&Written]) -> String {
    files
        .iter()
        .map(|f| format!("{}  {}\n", f.sha256, f.path))
        .collect()
}

/// The checksum files that close a bundle, from what was written: a
/// `<name>.sha256` for each file bound elsewhere than flash, then
/// MANIFEST.sha256 over everything that goes to flash (those included).
fn checksum_files(files: &[BundleFile], written: &[Written]) -> Vec<BundleFile> {
    let mut out = Vec::new();
    let mut on_flash: Vec<&Written> = Vec::new();
    let mut sidecars = Vec::new();
    for (file, w) in files.iter().zip(written) {
        if file.off_flash {
            let name = Path::new(&w.path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| w.path.clone());
            let text = format!("{}  {name}\n", w.sha256);
            sidecars.push(Written {
                path: format!("{}.sha256", w.path),
                size: text.len() as u64,
                sha256: sha256_hex(text.as_bytes()),
            });
            out.push(BundleFile::text(&format!("{}.sha256", w.path), text));
        } else {
            on_flash.push(w);
        }
    }
    on_flash.extend(sidecars.iter());
    out.push(BundleFile::text(MANIFEST_FILE, manifest(&on_flash)));
    out
}

/// The switch's boot-extensions from a copy of its flash: `Some("")` when
/// the copy has none (nothing to keep), an error when it cannot be read.
fn read_current_boot_extensions(flash: &Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(flash)
        .with_context(|| format!("--current-flash {} cannot be read", flash.display()))?;
    if !meta.is_dir() {
        bail!(
            "--current-flash {} is not a directory; give a copy of the switch's flash (or a directory with its boot-extensions and startup-config)",
            flash.display()
        );
    }
    let path = flash.join(BOOT_EXTENSIONS);
    match std::fs::read(&path) {
        Ok(bytes) => {
            String::from_utf8(bytes).with_context(|| format!("{} is not text", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub fn run(args: &BundleArgs) -> anyhow::Result<ExitCode> {
    let fabric = super::load_fabric(&args.fabric)?;
    let spine = fabric.spine(args.spine.as_deref())?;
    // Only the host runs the agent and the VM; another spine needs only its
    // startup-config.
    let host = spine.host().with_context(|| {
        format!(
            "a bundle is for the spine hosting the ZTPServer; render spine {}'s config with `ztps-agent render startup-config --spine {}`",
            spine.name, spine.name
        )
    })?;
    if let Some(out) = &args.out
        && !args.dry_run
    {
        check_target(out, args.force)?;
    }
    if let Some(seed) = &host.vm.seed_disk
        && seed != Path::new(SEED_FLASH_PATH)
    {
        eprintln!(
            "note: the domain XML reads the seed from {}; copy {SEED_FILE} there",
            seed.display()
        );
    }
    let current_boot_extensions = args
        .current_flash
        .as_deref()
        .map(read_current_boot_extensions)
        .transpose()?;
    let options = Options {
        new_switch: args.new_switch,
        current_boot_extensions,
        vm_disk: args.vm_disk.clone(),
    };

    let mut files = bundle_files(&fabric, spine, &options)?;
    let listed: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    files.push(BundleFile::text(
        README_FILE,
        super::readme::readme(&bundle_spine(spine), &options, &listed)?,
    ));

    if args.dry_run {
        return dry_run(spine, &files, args.current_flash.as_deref());
    }
    let Some(out) = &args.out else {
        bail!("give --out DIR (or --dry-run to see what would be written)");
    };
    let written = install(out, &files)?;
    super::files::print(&format!(
        "bundle for spine {} in {}:\n",
        spine.name,
        out.display()
    ))?;
    print_table(&written)?;
    Ok(ExitCode::SUCCESS)
}

fn print_table(written: &[Written]) -> anyhow::Result<()> {
    let width = written.iter().map(|f| f.path.len()).max().unwrap_or(0);
    for file in written {
        super::files::print(&format!(
            "  {:width$}  {:>10}  {}\n",
            file.path, file.size, file.sha256
        ))?;
    }
    Ok(())
}

/// `--dry-run`: what the bundle would hold, and how it differs from the
/// switch's flash. Nothing is written anywhere.
fn dry_run(
    spine: &Spine,
    files: &[BundleFile],
    current: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let mut written = Vec::with_capacity(files.len() + 1);
    for file in files {
        let (size, sha256) = match &file.body {
            Body::Bytes(bytes) => (bytes.len() as u64, sha256_hex(bytes)),
            Body::Copy(source) => copy_with_digest(source, None)?,
            // Building a GB to learn its digest is not a dry run.
            Body::DataDisk(contents) => (
                data_disk_size(contents)?,
                "(computed when written)".to_string(),
            ),
        };
        written.push(Written {
            path: file.path.clone(),
            size,
            sha256,
        });
    }
    for file in checksum_files(files, &written) {
        let bytes = file.bytes().unwrap_or_default();
        written.push(Written {
            path: file.path.clone(),
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        });
    }
    super::files::print(&format!(
        "dry run: the bundle for spine {} would hold (nothing written):\n",
        spine.name
    ))?;
    print_table(&written)?;
    let Some(flash) = current else {
        return Ok(ExitCode::SUCCESS);
    };
    super::files::print(&format!("\nagainst {}:\n", flash.display()))?;
    for file in files {
        let there = flash.join(&file.path);
        let old = match std::fs::read(&there) {
            Ok(old) => old,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                super::files::print(&format!("new file: {}\n", file.path))?;
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", there.display())),
        };
        if let Body::DataDisk(contents) = &file.body {
            let served: Vec<String> = contents.iter().map(|f| f.served_path()).collect();
            super::files::print(&format!(
                "{}: on flash; the bundle's is built from {} (compare the .sha256 after writing)\n",
                file.path,
                served.join(", ")
            ))?;
            continue;
        }
        let Some(new) = file.bytes() else {
            let (_, sha) = copy_with_digest(
                match &file.body {
                    Body::Copy(source) => source,
                    Body::Bytes(_) | Body::DataDisk(_) => &there,
                },
                None,
            )?;
            let same = sha256_hex(&old) == sha;
            super::files::print(&format!(
                "{}: {}\n",
                file.path,
                if same {
                    "unchanged"
                } else {
                    "replaced (binary)"
                }
            ))?;
            continue;
        };
        if old == new {
            super::files::print(&format!("unchanged: {}\n", file.path))?;
            continue;
        }
        match (std::str::from_utf8(&old), std::str::from_utf8(new)) {
            (Ok(old), Ok(new)) => {
                let diff = similar::TextDiff::from_lines(old, new);
                let text = diff
                    .unified_diff()
                    .context_radius(3)
                    .header(
                        &format!("flash/{}", file.path),
                        &format!("bundle/{}", file.path),
                    )
                    .to_string();
                super::files::print(&text)?;
                if !text.ends_with('\n') {
                    super::files::print("\n")?;
                }
            }
            _ => super::files::print(&format!("replaced (binary): {}\n", file.path))?,
        }
    }
    for kept in [Artifact::StartupConfig, Artifact::BootConfig] {
        let name = kept.file_name();
        if !files.iter().any(|f| f.path == name) && flash.join(name).exists() {
            super::files::print(&format!("kept as it is: {name} (not in this bundle)\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads `source` (copying it to `dest` when given) and returns its size
/// and SHA-256. A copy shows its progress on stderr: a VM disk is hundreds
/// of MB, and flash or USB sticks are slow.
fn copy_with_digest(
    source: &Path,
    dest: Option<&mut std::fs::File>,
) -> anyhow::Result<(u64, String)> {
    use sha2::Digest as _;
    use std::io::{IsTerminal as _, Read as _};
    let mut input =
        std::fs::File::open(source).with_context(|| format!("cannot open {}", source.display()))?;
    let total = input
        .metadata()
        .with_context(|| format!("cannot read {}", source.display()))?
        .len();
    let tty = std::io::stderr().is_terminal();
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done: u64 = 0;
    let mut shown = None;
    let mut dest = dest;
    loop {
        let n = input
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", source.display()))?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        hasher.update(chunk);
        if let Some(out) = dest.as_deref_mut() {
            out.write_all(chunk).context("cannot write the copy")?;
            done += n as u64;
            // A terminal gets a bar redrawn in place; a log gets a line per quarter.
            let percent = done.saturating_mul(100).checked_div(total).unwrap_or(100);
            let step = if tty { percent } else { percent / 25 * 25 };
            if shown != Some(step) {
                shown = Some(step);
                let filled = usize::try_from(percent / 5).unwrap_or(20).min(20);
                let bar = format!("{}{}", "#".repeat(filled), ".".repeat(20 - filled));
                let line = format!(
                    "copying {} [{bar}] {percent:>3}% ({} of {} MiB)",
                    source.display(),
                    done >> 20,
                    total >> 20
                );
                if tty {
                    eprint!("\r{line}");
                } else {
                    eprintln!("{line}");
                }
            }
        }
    }
    if tty && shown.is_some() {
        eprintln!();
    }
    let sha: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let size = if dest.is_some() { done } else { total };
    Ok((size, sha))
}

/// The data disk's size, from its files' sizes, without building it.
fn data_disk_size(contents: &[ztps_config::DataDiskFile]) -> anyhow::Result<u64> {
    let mut sizes = Vec::with_capacity(contents.len());
    for file in contents {
        let meta = std::fs::metadata(&file.source)
            .with_context(|| format!("cannot read {}", file.source.display()))?;
        sizes.push(meta.len());
    }
    Ok(ztps_appliance::data_disk::disk_size(&sizes))
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
fn install(out: &Path, files: &[BundleFile]) -> anyhow::Result<Vec<Written>> {
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
    let mut written = Vec::with_capacity(files.len() + 1);
    for file in files {
        written.push(write_file(staging.path(), file)?);
    }
    for file in checksum_files(files, &written) {
        written.push(write_file(staging.path(), &file)?);
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
    Ok(written)
}

/// Writes one file into the staging directory, created with its mode: a
/// secret is never readable by others, not even for a moment.
fn write_file(root: &Path, file: &BundleFile) -> anyhow::Result<Written> {
    let path = root.join(&file.path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut out = std::fs::OpenOptions::new()
        // The data disk's filesystem reads back what it wrote.
        .read(true)
        .write(true)
        .create_new(true)
        .mode(file.mode)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let (size, sha256) = match &file.body {
        Body::Bytes(bytes) => {
            out.write_all(bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            (bytes.len() as u64, sha256_hex(bytes))
        }
        Body::Copy(source) => copy_with_digest(source, Some(&mut out))
            .with_context(|| format!("cannot copy {} to {}", source.display(), path.display()))?,
        Body::DataDisk(contents) => {
            eprintln!(
                "building the data disk {} ({} file{})",
                file.path,
                contents.len(),
                if contents.len() == 1 { "" } else { "s" }
            );
            ztps_appliance::write_data_disk(&mut out, contents)
                .with_context(|| format!("cannot build the data disk {}", path.display()))?;
            copy_with_digest(&path, None)?
        }
    };
    out.sync_all()
        .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file.mode)))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Written {
        path: file.path.clone(),
        size,
        sha256,
    })
}

fn is_non_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some())
}
