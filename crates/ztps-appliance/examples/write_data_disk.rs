//! Writes a data disk holding the given files, for shell scripts
//! (ci/test-image boots the appliance with one).
//!
//!   write_data_disk OUT.img images/FILE... extensions/FILE...
//!
//! Each argument is a folder (`images` or `extensions`) and a source path,
//! as `images=/path/EOS.swi`.

use std::path::PathBuf;

use anyhow::Context as _;
use ztps_config::DataDiskFile;
use ztps_config::catalogue::{EXTENSIONS_DIR, IMAGES_DIR, file_name, sha256_file};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let out = args
        .next()
        .context("usage: write_data_disk OUT.img images=FILE... extensions=FILE...")?;
    let mut files = Vec::new();
    for arg in args {
        let text = arg.to_string_lossy().into_owned();
        let (dir, source) = match text.split_once('=') {
            Some(("images", source)) => (IMAGES_DIR, PathBuf::from(source)),
            Some(("extensions", source)) => (EXTENSIONS_DIR, PathBuf::from(source)),
            _ => anyhow::bail!("{text}: write images=FILE or extensions=FILE"),
        };
        let sha256 = sha256_file(&source).map_err(anyhow::Error::msg)?;
        files.push(DataDiskFile {
            dir,
            name: file_name(&source),
            source,
            sha256,
        });
    }
    let summary = ztps_appliance::write_data_disk_file(&out, &files)?;
    println!(
        "{} ({} bytes): {}",
        out.display(),
        summary.size,
        summary.files.join(", ")
    );
    Ok(())
}
