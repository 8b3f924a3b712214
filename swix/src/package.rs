//! The binary RPM that carries the agent.

use md5::{Digest as _, Md5};

use crate::{PackageSpec, SwixError};

/// Signature tag of the MD5 digest over header and payload (rpm's
/// `RPMSIGTAG_MD5`), and the region tag of the signature header.
const SIGTAG_MD5: u32 = rpm::IndexSignatureTag::RPMSIGTAG_MD5 as u32;
const SIGTAG_REGION: u32 = rpm::IndexSignatureTag::HEADER_SIGNATURES as u32;

/// Builds the RPM holding `binary` at `spec.install_path` (mode 0755,
/// owned by root) and returns its bytes.
///
/// The output depends only on the inputs: every timestamp is
/// `spec.build_time` and nothing host-specific (build host, cookie) is
/// recorded.
pub fn build_rpm(spec: &PackageSpec, binary: &[u8]) -> Result<Vec<u8>, SwixError> {
    spec.validate()?;
    if binary.is_empty() {
        return Err(SwixError::EmptyBinary);
    }
    let config = rpm::BuildConfig::v4()
        .compression(spec.compression.to_rpm())
        .source_date(spec.build_time.as_unix());
    let file = rpm::FileOptions::new(spec.install_path.as_str())
        .permissions(0o755)
        .user("root")
        .group("root");
    let package = rpm::PackageBuilder::new(
        &spec.name,
        &spec.version,
        &spec.license,
        spec.arch.rpm_name(),
        &spec.summary,
    )
    .using_config(config)
    .release(spec.release.as_str())
    .description(spec.description.as_str())
    .with_file_contents(binary.to_vec(), file)?
    .build()?;
    let package = with_legacy_md5(package)?;
    let mut bytes = Vec::with_capacity(binary.len() / 2 + 8192);
    package.write(&mut bytes)?;
    tracing::debug!(
        rpm = %spec.rpm_file_name(),
        size = bytes.len(),
        compression = spec.compression.rpm_name(),
        "built RPM"
    );
    Ok(bytes)
}

/// Adds the MD5 digest of header and payload to the signature header.
///
/// The rpm crate writes the SHA-1 and SHA-256 header digests but not this
/// legacy one, and `rpm -K` on EOS releases before 4.32 (rpm 4.11, CentOS 7
/// based) checks "sha1 md5". Every other entry is kept as it was built.
fn with_legacy_md5(mut package: rpm::Package) -> Result<rpm::Package, SwixError> {
    let mut md5 = Md5::new();
    md5.update(package.header_bytes()?);
    md5.update(&package.payload);
    let digest = md5.finalize().to_vec();
    let mut entries: Vec<rpm::HeaderEntry> = package
        .metadata
        .signature
        .get_all_entries()?
        .into_iter()
        .filter(|(tag, _)| *tag != SIGTAG_REGION && *tag != SIGTAG_MD5)
        .map(|(tag, data)| rpm::HeaderEntry { tag, data })
        .collect();
    entries.push(rpm::HeaderEntry {
        tag: SIGTAG_MD5,
        data: rpm::IndexData::Bin(digest),
    });
    package.metadata.signature =
        rpm::Header::from_entries(entries, rpm::IndexSignatureTag::HEADER_SIGNATURES);
    Ok(package)
}
