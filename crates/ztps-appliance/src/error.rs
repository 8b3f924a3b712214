use std::path::PathBuf;

/// Everything that can go wrong while rendering appliance inputs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input field has a value the appliance cannot use.
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: String,
    },
    /// Two leaves claim the same name or the same spine interface.
    #[error("duplicate {what} {value:?} (leaves {first:?} and {second:?})")]
    Duplicate {
        what: &'static str,
        value: String,
        first: String,
        second: String,
    },
    /// A seed file the appliance would refuse at boot (`ztps-seed-check`).
    #[error("seed {file}: {key}: {reason}")]
    BadSeed {
        file: &'static str,
        key: String,
        reason: String,
    },
    /// The seed files do not fit the FAT image, or the FAT writer failed.
    #[error("cannot build the seed image: {0}")]
    Fat(#[source] std::io::Error),
    /// A file for the data disk cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A catalogue file is not the one the fabric names.
    #[error(
        "{path} has SHA-256 {actual}, not {expected} as the fabric says; run `ztps-agent check`, then fix sha256 or copy the right file"
    )]
    Digest {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// Writing the finished image failed.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn invalid(
        field: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            field,
            value: value.into(),
            reason: reason.into(),
        }
    }
}
