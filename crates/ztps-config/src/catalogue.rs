//! The software catalogue: the EOS images and extensions the leaves install
//! during ZTP, each a file on the operator's machine with its SHA-256.
//!
//! `[images.NAME]` and `[extensions.NAME]` describe the files once;
//! `[software]` says what every leaf gets, and a leaf link's own `image` and
//! `extensions` replace that default. The bundle carries the files a spine's
//! leaves use on the appliance's data disk, from which ZTPServer serves them.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::checks;
use crate::diag::{KeyPath, Problems};
use crate::fabric::{Fabric, LeafLink, Spine};
use crate::rules;

/// The data disk's file name when `vm.data_disk` does not name one: it sits
/// beside the VM disk.
pub const DATA_DISK_FILE: &str = "ztps-data.img";
/// The data disk's folder for EOS images; ZTPServer serves it as
/// `files/images/`.
pub const IMAGES_DIR: &str = "images";
/// The data disk's folder for extensions (`files/extensions/`).
pub const EXTENSIONS_DIR: &str = "extensions";

/// `[images.NAME]`: an EOS image a leaf may be told to run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EosImage {
    /// The `.swi` on the operator's machine; a relative path is taken from
    /// the folder of the fabric file that wrote it.
    pub file: PathBuf,
    /// Its SHA-256, 64 hex digits, as `sha256sum` prints it.
    pub sha256: String,
    /// The EOS version the image holds (`4.32.2F`): `install_image` skips a
    /// leaf already running it.
    pub version: String,
}

/// `[extensions.NAME]`: an EOS extension (`.swix` or `.rpm`), such as
/// TerminAttr for CloudVision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// The file on the operator's machine; relative like an image's.
    pub file: PathBuf,
    pub sha256: String,
}

/// `[software]`: what a leaf installs unless its link says otherwise.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeafSoftware {
    /// The name of an `[images.NAME]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Names of `[extensions.NAME]`, installed in this order.
    pub extensions: Vec<String>,
}

/// Everything a spine needs from the catalogue to render and bundle: the
/// fabric's tables, copied into each spine by the loader.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalogue {
    pub images: BTreeMap<String, EosImage>,
    pub extensions: BTreeMap<String, Extension>,
    pub software: LeafSoftware,
}

/// One file of the data disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDiskFile {
    /// `images` or `extensions`.
    pub dir: &'static str,
    /// The file name on the disk (the source's own name).
    pub name: String,
    pub source: PathBuf,
    /// Lowercase hex.
    pub sha256: String,
}

impl DataDiskFile {
    /// The path ZTPServer serves it at, relative to its `files/` folder
    /// (`images/EOS-4.32.2F.swi`).
    pub fn served_path(&self) -> String {
        format!("{}/{}", self.dir, self.name)
    }
}

/// The name a catalogue file keeps on the data disk.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Catalogue {
    /// The image a leaf installs: its own choice, else the fabric's.
    pub fn leaf_image<'a>(&'a self, link: &'a LeafLink) -> Option<(&'a str, &'a EosImage)> {
        let name = link.image.as_deref().or(self.software.image.as_deref())?;
        self.images
            .get_key_value(name)
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The extensions a leaf installs, in order.
    pub fn leaf_extensions<'a>(&'a self, link: &'a LeafLink) -> Vec<(&'a str, &'a Extension)> {
        link.extensions
            .as_ref()
            .unwrap_or(&self.software.extensions)
            .iter()
            .filter_map(|name| self.extensions.get_key_value(name))
            .map(|(k, v)| (k.as_str(), v))
            .collect()
    }

    /// The files `leaves` use, each once, images first, by name.
    pub fn files_for(&self, leaves: &[LeafLink]) -> Vec<DataDiskFile> {
        let mut images = BTreeMap::new();
        let mut extensions = BTreeMap::new();
        for link in leaves {
            if let Some((name, image)) = self.leaf_image(link) {
                images.insert(name, (&image.file, &image.sha256));
            }
            for (name, extension) in self.leaf_extensions(link) {
                extensions.insert(name, (&extension.file, &extension.sha256));
            }
        }
        let entry = |dir, (file, sha256): (&PathBuf, &String)| DataDiskFile {
            dir,
            name: file_name(file),
            source: file.clone(),
            sha256: sha256.to_ascii_lowercase(),
        };
        images
            .into_values()
            .map(|f| entry(IMAGES_DIR, f))
            .chain(extensions.into_values().map(|f| entry(EXTENSIONS_DIR, f)))
            .collect()
    }
}

impl Spine {
    /// The files this spine's data disk carries; empty when its leaves
    /// install nothing.
    pub fn data_disk_files(&self) -> Vec<DataDiskFile> {
        self.catalogue.files_for(&self.leaves)
    }

    /// Where the domain XML opens the data disk, when the spine needs one:
    /// `vm.data_disk`, or `ztps-data.img` beside the VM disk.
    pub fn data_disk_path(&self) -> Option<PathBuf> {
        // Only the host spine runs the appliance, so only it has one.
        let vm = self.vm.as_ref()?;
        // A container has no disks; its files come from a folder on flash.
        if vm.backend == crate::fabric::ApplianceBackend::Container
            || self.data_disk_files().is_empty()
        {
            return None;
        }
        Some(match &vm.data_disk {
            Some(path) => path.clone(),
            None => vm
                .disk
                .parent()
                .unwrap_or(Path::new("/mnt/flash"))
                .join(DATA_DISK_FILE),
        })
    }
}

/// The catalogue's rules that need no file: names, digests, versions, and
/// every reference resolving.
pub(crate) fn check(fabric: &Fabric, problems: &mut Problems) {
    let root = KeyPath::root();
    // Two files of one folder with the same name would overwrite each other
    // on the data disk.
    let mut names: BTreeMap<(&str, String), KeyPath> = BTreeMap::new();
    for (name, image) in &fabric.images {
        let at = root.key("images").key(name);
        check_name(problems, &at, name);
        let file = file_name(&image.file);
        checks::rule(
            problems,
            at.key("file"),
            rules::flash_file_name(&file, ".swi")
                .map_err(|m| format!("{m}; the leaf copies the image to flash under this name")),
        );
        checks::rule(problems, at.key("sha256"), rules::sha256_hex(&image.sha256));
        checks::rule(
            problems,
            at.key("version"),
            rules::eos_version(&image.version),
        );
        unique_name(problems, &mut names, IMAGES_DIR, file, at.key("file"));
    }
    for (name, extension) in &fabric.extensions {
        let at = root.key("extensions").key(name);
        check_name(problems, &at, name);
        let file = file_name(&extension.file);
        let kind = if file.ends_with(".rpm") {
            ".rpm"
        } else {
            ".swix"
        };
        checks::rule(
            problems,
            at.key("file"),
            rules::flash_file_name(&file, kind).map_err(|m| {
                format!("{m}; an extension is a .swix or an .rpm, installed under this name")
            }),
        );
        checks::rule(
            problems,
            at.key("sha256"),
            rules::sha256_hex(&extension.sha256),
        );
        unique_name(problems, &mut names, EXTENSIONS_DIR, file, at.key("file"));
    }
    check_selection(
        fabric,
        problems,
        &root.key("software"),
        fabric.software.image.as_deref(),
        Some(&fabric.software.extensions),
    );
    for (spine_name, spine) in &fabric.spines {
        for (i, link) in spine.leaves.iter().enumerate() {
            let at = root.key("spines").key(spine_name).key("leaves").index(i);
            check_selection(
                fabric,
                problems,
                &at,
                link.image.as_deref(),
                link.extensions.as_ref(),
            );
        }
    }
}

fn check_name(problems: &mut Problems, at: &KeyPath, name: &str) {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !valid {
        problems.push(
            at.clone(),
            format!(
                "{name:?} is not a catalogue name; use 1 to 64 letters, digits, '-', '.' or '_'"
            ),
        );
    }
}

fn unique_name<'a>(
    problems: &mut Problems,
    seen: &mut BTreeMap<(&'a str, String), KeyPath>,
    dir: &'a str,
    file: String,
    at: KeyPath,
) {
    if let Some(first) = seen.get(&(dir, file.clone())) {
        problems.push(
            at,
            format!(
                "{file} is also the file of {first}; both would be {dir}/{file} on the data disk, so rename one"
            ),
        );
    } else {
        seen.insert((dir, file), at);
    }
}

fn check_selection(
    fabric: &Fabric,
    problems: &mut Problems,
    at: &KeyPath,
    image: Option<&str>,
    extensions: Option<&Vec<String>>,
) {
    let known = |names: Vec<&String>| {
        if names.is_empty() {
            "none is described".to_string()
        } else {
            format!(
                "known: {}",
                names
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    if let Some(image) = image
        && !fabric.images.contains_key(image)
    {
        problems.push(
            at.key("image"),
            format!(
                "no [images.{image}] describes {image:?}; add one with its file, sha256 and version ({})",
                known(fabric.images.keys().collect())
            ),
        );
    }
    for (i, name) in extensions.into_iter().flatten().enumerate() {
        if !fabric.extensions.contains_key(name) {
            problems.push(
                at.key("extensions").index(i),
                format!(
                    "no [extensions.{name}] describes {name:?}; add one with its file and sha256 ({})",
                    known(fabric.extensions.keys().collect())
                ),
            );
        } else if extensions
            .into_iter()
            .flatten()
            .take(i)
            .any(|earlier| earlier == name)
        {
            problems.push(
                at.key("extensions").index(i),
                format!("{name:?} is listed twice; an extension is installed once"),
            );
        }
    }
}

/// The checks that read the files: each exists, is a regular file, and has
/// the SHA-256 the fabric gives. Files are hashed as streams, a buffer at a
/// time: an EOS image is about 1 GB.
pub(crate) fn check_files(fabric: &Fabric, problems: &mut Problems) {
    let root = KeyPath::root();
    let entries = fabric
        .images
        .iter()
        .map(|(name, image)| (root.key("images").key(name), &image.file, &image.sha256))
        .chain(fabric.extensions.iter().map(|(name, extension)| {
            (
                root.key("extensions").key(name),
                &extension.file,
                &extension.sha256,
            )
        }));
    for (at, file, expected) in entries {
        match sha256_file(file) {
            Err(message) => problems.push(at.key("file"), message),
            Ok(actual) if !actual.eq_ignore_ascii_case(expected) => problems.push(
                at.key("sha256"),
                format!(
                    "{} has SHA-256 {actual}, not {expected}; if the file is the one you mean, set sha256 = \"{actual}\", otherwise copy the right file (a download cut short or another release has another digest)",
                    file.display(),
                ),
            ),
            Ok(_) => {}
        }
    }
}

/// The lowercase hex SHA-256 of a file, read a MiB at a time. `Err` says
/// what is wrong with the file and what to do.
pub fn sha256_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "{} does not exist; copy the file there, or give the path it has (a relative path is taken from the fabric file's folder)",
                path.display()
            )
        } else {
            format!("cannot read {}: {e}", path.display())
        }
    })?;
    if !meta.is_file() {
        return Err(format!(
            "{} is not a regular file; give the file itself",
            path.display()
        ));
    }
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
