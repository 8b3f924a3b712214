use std::path::PathBuf;

/// Everything that can go wrong while packaging the agent.
#[derive(Debug, thiserror::Error)]
pub enum SwixError {
    #[error("package {field} {value:?} is not valid: {reason}")]
    InvalidSpec {
        field: &'static str,
        value: String,
        reason: &'static str,
    },

    #[error("the binary to package is empty")]
    EmptyBinary,

    #[error(
        "SOURCE_DATE_EPOCH={value:?} is not valid: expected whole seconds since 1970 that fit in 32 bits"
    )]
    SourceDateEpoch { value: String },

    #[error("building the RPM failed")]
    Rpm(#[from] rpm::Error),

    #[error("writing the SWIX zip archive failed")]
    Zip(#[from] zip::result::ZipError),

    #[error("manifest.txt line {line}: {reason}")]
    Manifest { line: usize, reason: String },

    #[error("{action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
