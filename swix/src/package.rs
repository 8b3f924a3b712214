//! The binary RPM that carries the agent.

use crate::{PackageSpec, SwixError};

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
