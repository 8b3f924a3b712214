//! A JSON-lines file with a size cap: past the cap it is renamed to
//! `<path>.1` (replacing the previous one) and a new file starts.
//! Writes go through a buffer because on EOS the file sits on flash.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::Sink;
use crate::{EventsError, Record};

const BUFFER_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub struct JsonLogSink {
    path: PathBuf,
    rotated: PathBuf,
    cap_bytes: u64,
    writer: BufWriter<File>,
    size: u64,
}

impl JsonLogSink {
    /// Opens (or creates) `path` for appending; `cap_bytes` is the size at
    /// which it rotates.
    pub fn open(path: impl Into<PathBuf>, cap_bytes: u64) -> Result<Self, EventsError> {
        let path = path.into();
        let mut rotated = path.clone().into_os_string();
        rotated.push(".1");
        let (writer, size) = open_append(&path)?;
        Ok(Self {
            rotated: rotated.into(),
            path,
            cap_bytes: cap_bytes.max(1),
            writer,
            size,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rotate(&mut self) -> Result<(), EventsError> {
        let err = |action| {
            let path = self.path.clone();
            move |source| EventsError::JsonLog {
                path,
                action,
                source,
            }
        };
        self.writer.flush().map_err(err("flushing"))?;
        self.writer.get_ref().sync_data().map_err(err("syncing"))?;
        std::fs::rename(&self.path, &self.rotated).map_err(err("rotating to .1"))?;
        let (writer, size) = open_append(&self.path)?;
        self.writer = writer;
        self.size = size;
        tracing::debug!(path = %self.path.display(), "rotated JSON event log");
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<(BufWriter<File>, u64), EventsError> {
    let err = |action| {
        let path = path.to_path_buf();
        move |source| EventsError::JsonLog {
            path,
            action,
            source,
        }
    };
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err("opening"))?;
    let size = file.metadata().map_err(err("reading the size of"))?.len();
    Ok((BufWriter::with_capacity(BUFFER_BYTES, file), size))
}

impl Sink for JsonLogSink {
    fn name(&self) -> &'static str {
        "json-log"
    }

    fn deliver(&mut self, record: &Record) -> Result<(), EventsError> {
        let mut line = record.to_json()?;
        line.push('\n');
        let len = line.len() as u64;
        if self.size > 0 && self.size + len > self.cap_bytes {
            self.rotate()?;
        }
        self.writer
            .write_all(line.as_bytes())
            .map_err(|source| EventsError::JsonLog {
                path: self.path.clone(),
                action: "writing",
                source,
            })?;
        self.size += len;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), EventsError> {
        self.writer.flush().map_err(|source| EventsError::JsonLog {
            path: self.path.clone(),
            action: "flushing",
            source,
        })
    }
}

impl Drop for JsonLogSink {
    fn drop(&mut self) {
        if let Err(e) = self.writer.flush() {
            tracing::warn!(path = %self.path.display(), error = %e, "could not flush JSON event log");
        }
    }
}
