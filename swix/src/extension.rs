//! The SWIX: a stored (uncompressed) zip of `manifest.txt` and the RPM.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};
use zip::write::SimpleFileOptions;

use crate::{Manifest, PackageSpec, SwixError, build_rpm};

/// What was written, for logs and the flash bundle's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwixSummary {
    pub path: PathBuf,
    pub rpm_file_name: String,
    /// Lowercase hex, as in `manifest.txt`.
    pub rpm_sha1: String,
    pub rpm_size: u64,
    pub swix_size: u64,
}

/// Builds the RPM for `binary` and wraps it in a SWIX, all in memory.
/// Returns the SWIX bytes and the manifest written into it.
pub fn swix_bytes(spec: &PackageSpec, binary: &[u8]) -> Result<(Vec<u8>, Manifest), SwixError> {
    assemble(spec, binary).map(|(bytes, manifest, _)| (bytes, manifest))
}

/// The SWIX bytes, its manifest and the size of the RPM inside.
fn assemble(spec: &PackageSpec, binary: &[u8]) -> Result<(Vec<u8>, Manifest, u64), SwixError> {
    let rpm = build_rpm(spec, binary)?;
    let rpm_name = spec.rpm_file_name();
    let manifest = Manifest {
        primary_rpm: rpm_name.clone(),
        rpms: vec![(rpm_name.clone(), sha1_hex(&rpm))],
    };

    // EOS reads the RPMs straight out of the archive, so nothing may be deflated.
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip_time(spec.build_time.as_unix()))
        .unix_permissions(0o644);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(rpm.len() + 1024)));
    // The same order as Arista's swix-create: manifest first.
    zip.start_file("manifest.txt", options)?;
    write_entry(&mut zip, manifest.render().as_bytes())?;
    zip.start_file(rpm_name, options)?;
    write_entry(&mut zip, &rpm)?;
    let bytes = zip.finish()?.into_inner();
    Ok((bytes, manifest, rpm.len() as u64))
}

/// Writes the agent as a SWIX to `out`, atomically: the bytes go to a
/// temporary file beside `out`, are synced, and only then renamed over
/// it, so a crash leaves either the old file or the complete new one.
pub fn write_swix(spec: &PackageSpec, binary: &[u8], out: &Path) -> Result<SwixSummary, SwixError> {
    let (bytes, manifest, rpm_size) = assemble(spec, binary)?;
    let dir = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| SwixError::Io {
            action,
            path,
            source,
        }
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".swix-")
        .tempfile_in(dir)
        .map_err(io("creating a temporary file in", dir))?;
    tmp.write_all(&bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io("writing", tmp.path()))?;
    set_readable(tmp.as_file()).map_err(io("setting permissions of", tmp.path()))?;
    tmp.persist(out).map_err(|e| SwixError::Io {
        action: "renaming the temporary file to",
        path: out.to_path_buf(),
        source: e.error,
    })?;
    // The rename itself is only durable once the directory is synced.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing directory", dir))?;

    let (rpm_file_name, rpm_sha1) = manifest.rpms.into_iter().next().unwrap_or_default();
    tracing::info!(path = %out.display(), rpm = %rpm_file_name, size = bytes.len(), "wrote SWIX");
    Ok(SwixSummary {
        path: out.to_path_buf(),
        rpm_file_name,
        rpm_sha1,
        rpm_size,
        swix_size: bytes.len() as u64,
    })
}

fn write_entry<W: Write + std::io::Seek>(
    zip: &mut zip::ZipWriter<W>,
    data: &[u8],
) -> Result<(), SwixError> {
    zip.write_all(data).map_err(|e| SwixError::Zip(e.into()))
}

fn sha1_hex(data: &[u8]) -> String {
    Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The zip's DOS timestamp for the build time (UTC). Zip cannot say
/// anything before 1980, so earlier build times clamp to its epoch.
fn zip_time(unix: u32) -> zip::DateTime {
    let Ok(ts) = jiff::Timestamp::from_second(i64::from(unix)) else {
        return zip::DateTime::default();
    };
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let (Ok(year), Ok(month), Ok(day), Ok(hour), Ok(minute), Ok(second)) = (
        u16::try_from(dt.year()),
        u8::try_from(dt.month()),
        u8::try_from(dt.day()),
        u8::try_from(dt.hour()),
        u8::try_from(dt.minute()),
        u8::try_from(dt.second()),
    ) else {
        return zip::DateTime::default();
    };
    zip::DateTime::from_date_and_time(year, month, day, hour, minute, second).unwrap_or_default()
}

fn set_readable(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // tempfile creates 0600; an extension on flash is world-readable like its neighbours.
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_time_follows_build_time() {
        assert_eq!(zip_time(1_700_000_000).to_string(), "2023-11-14 22:13:20");
        assert_eq!(zip_time(0), zip::DateTime::default());
    }
}
