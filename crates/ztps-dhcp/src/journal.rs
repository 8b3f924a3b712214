//! The lease journal: an append-only file of checksummed records.
//!
//! Record: `len: u32 LE | crc32(payload): u32 LE | payload`. A record is
//! either a binding or a release. At load, records are applied in order; the
//! first record whose length runs past the file or whose checksum does not
//! match ends the load: it and whatever follows are reported and skipped,
//! everything before is kept. The server then compacts, which also removes
//! the damaged tail.
//!
//! The file grows in zero-filled steps of [`PREALLOCATE`] bytes and records
//! overwrite the zeros: most appends then change neither the file size nor
//! its block map, so their fdatasync writes the data and no metadata. A run
//! of zeros where a record header should be is the end of the journal.
//!
//! Writes are batched by the server loop: every record produced by the
//! datagrams queued while the previous sync ran is written in one call and
//! made durable with one fdatasync (group commit). Only then are the ACKs
//! waiting on them sent.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::DhcpError;
use crate::metrics::Metrics;

const VERSION: u8 = 1;
const KIND_BIND: u8 = 1;
const KIND_RELEASE: u8 = 2;
/// Refuses absurd lengths at load instead of allocating them.
const MAX_RECORD: usize = 1024;
/// Zero-filled growth step of the journal (about a thousand records).
pub const PREALLOCATE: u64 = 64 * 1024;

/// One durable fact about a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Bind {
        ip: Ipv4Addr,
        client_key: Vec<u8>,
        hwaddr: Vec<u8>,
        /// Seconds since the Unix epoch.
        expires: u64,
        serial: Option<String>,
    },
    Release {
        ip: Ipv4Addr,
    },
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len().min(255);
    out.push(len as u8);
    out.extend_from_slice(&bytes[..len]);
}

impl Record {
    /// The framed record, ready to append.
    pub fn encode(&self) -> Vec<u8> {
        let mut framed = Vec::with_capacity(64);
        self.encode_into(&mut framed);
        framed
    }

    /// Appends the framed record to `out`: the hot path reuses one buffer
    /// for a whole batch instead of allocating per record.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        // Header placeholder; filled in once the payload length is known.
        out.extend_from_slice(&[0; 8]);
        out.push(VERSION);
        match self {
            Record::Bind {
                ip,
                client_key,
                hwaddr,
                expires,
                serial,
            } => {
                out.push(KIND_BIND);
                out.extend_from_slice(&ip.octets());
                out.extend_from_slice(&expires.to_le_bytes());
                put_bytes(out, client_key);
                put_bytes(out, hwaddr);
                put_bytes(out, serial.as_deref().unwrap_or("").as_bytes());
            }
            Record::Release { ip } => {
                out.push(KIND_RELEASE);
                out.extend_from_slice(&ip.octets());
            }
        }
        let (header, payload) = out[start..].split_at_mut(8);
        let len = (payload.len() as u32).to_le_bytes();
        let crc = crc32fast::hash(payload).to_le_bytes();
        header[..4].copy_from_slice(&len);
        header[4..].copy_from_slice(&crc);
    }

    fn decode(payload: &[u8]) -> Option<Record> {
        let mut r = Reader(payload);
        if r.take(1)? != [VERSION] {
            return None;
        }
        let kind = r.take(1)?[0];
        let ip = Ipv4Addr::from(<[u8; 4]>::try_from(r.take(4)?).ok()?);
        let record = match kind {
            KIND_BIND => {
                let expires = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
                let client_key = r.bytes()?.to_vec();
                let hwaddr = r.bytes()?.to_vec();
                let serial = r.bytes()?;
                Record::Bind {
                    ip,
                    client_key,
                    hwaddr,
                    expires,
                    serial: (!serial.is_empty())
                        .then(|| String::from_utf8_lossy(serial).into_owned()),
                }
            }
            KIND_RELEASE => Record::Release { ip },
            _ => return None,
        };
        r.0.is_empty().then_some(record)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(self.take(1)?[0]);
        self.take(len)
    }
}

/// What a load found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub records: Vec<Record>,
    /// Bytes at the end that were not a valid record (0 when clean).
    pub skipped_bytes: usize,
    /// Why the tail was skipped, when it was.
    pub problem: Option<String>,
    /// Where the valid records end (the next append goes here).
    pub end: usize,
}

/// Reads every valid record of the journal at `path`; a missing file is an
/// empty journal.
pub fn load(path: &Path) -> Result<Loaded, DhcpError> {
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::default()),
        Err(source) => {
            return Err(DhcpError::Journal {
                path: path.to_path_buf(),
                what: "read",
                source,
            });
        }
    };
    Ok(parse(&data))
}

/// Splits journal bytes into records, stopping at the first bad one.
pub fn parse(data: &[u8]) -> Loaded {
    let mut loaded = Loaded::default();
    let mut at = 0;
    while at < data.len() {
        // Preallocated space: zeros to the end of the file. (A record
        // starts with a non-zero length, so this stops at its second byte.)
        if data[at..].iter().all(|&b| b == 0) {
            break;
        }
        let problem = match data.get(at..at + 8) {
            None => Some("torn record header".to_string()),
            Some(header) => {
                let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
                let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
                match data.get(at + 8..at + 8 + len) {
                    _ if len > MAX_RECORD => Some(format!("record length {len} is implausible")),
                    None => Some("torn record (file ends inside it)".to_string()),
                    Some(payload) if crc32fast::hash(payload) != crc => {
                        Some("checksum mismatch".to_string())
                    }
                    Some(payload) => match Record::decode(payload) {
                        Some(record) => {
                            loaded.records.push(record);
                            at += 8 + len;
                            None
                        }
                        None => Some("undecodable record".to_string()),
                    },
                }
            }
        };
        if let Some(problem) = problem {
            loaded.skipped_bytes = data.len() - at;
            loaded.end = at;
            loaded.problem = Some(format!("{problem} at byte {at}"));
            break;
        }
    }
    if loaded.problem.is_none() {
        loaded.end = at;
    }
    loaded
}

/// Replaces the journal with exactly `records`, atomically: a crash at any
/// point leaves either the old file or the new one.
pub fn compact(path: &Path, records: &[Record], metrics: &Metrics) -> Result<(), DhcpError> {
    let err = |what| {
        move |source| DhcpError::Journal {
            path: path.to_path_buf(),
            what,
            source,
        }
    };
    let tmp = path.with_extension("compact-tmp");
    let mut bytes = Vec::with_capacity(records.len() * 48);
    records.iter().for_each(|r| r.encode_into(&mut bytes));
    let mut file = File::create(&tmp).map_err(err("create compaction file"))?;
    file.write_all(&bytes)
        .map_err(err("write compaction file"))?;
    file.sync_all().map_err(err("fsync compaction file"))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(err("rename compaction file"))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err("fsync directory"))?;
    Metrics::add(&metrics.journal_bytes_written, bytes.len() as u64);
    Metrics::inc(&metrics.journal_fsyncs);
    Metrics::inc(&metrics.journal_compactions);
    Ok(())
}

/// The append side, owned by the server loop.
#[derive(Debug)]
pub struct Appender {
    path: PathBuf,
    file: File,
    /// End of the valid records.
    size: u64,
    /// File length: `size` plus zero-filled room.
    allocated: u64,
    metrics: Arc<Metrics>,
    /// Reused encoding buffer: no allocation per append.
    buf: Vec<u8>,
}

impl Appender {
    pub fn open(path: &Path, metrics: Arc<Metrics>) -> Result<Appender, DhcpError> {
        let err = |what| {
            move |source| DhcpError::Journal {
                path: path.to_path_buf(),
                what,
                source,
            }
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(err("open"))?;
        let allocated = file.metadata().map_err(err("stat"))?.len();
        // Appends go after the last valid record, over preallocated zeros
        // (the server compacts before it opens, so nothing valid is lost).
        let size = parse(&std::fs::read(path).map_err(err("read"))?).end as u64;
        Ok(Appender {
            path: path.to_path_buf(),
            file,
            size,
            allocated,
            metrics,
            buf: Vec::new(),
        })
    }

    /// Current file size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends all records with one write and one fdatasync (the file is
    /// append-only, so its data plus its size is all a reader needs).
    pub fn append_durably(&mut self, records: &[Record]) -> Result<(), DhcpError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut bytes = std::mem::take(&mut self.buf);
        bytes.clear();
        records.iter().for_each(|r| r.encode_into(&mut bytes));
        let result = self.write_synced(&bytes);
        self.buf = bytes;
        result
    }

    fn write_synced(&mut self, bytes: &[u8]) -> Result<(), DhcpError> {
        let path = &self.path;
        let err = |what| {
            move |source| DhcpError::Journal {
                path: path.clone(),
                what,
                source,
            }
        };
        let end = self.size + bytes.len() as u64;
        let mut written = bytes.len() as u64;
        if end > self.allocated {
            // Grow by whole zero-filled steps; this one sync also carries
            // the new size and block map.
            let grown = end.div_ceil(PREALLOCATE) * PREALLOCATE;
            let zeros = vec![0u8; (grown - self.allocated) as usize];
            self.file
                .write_all_at(&zeros, self.allocated)
                .map_err(err("preallocate"))?;
            written += zeros.len() as u64;
            self.allocated = grown;
        }
        self.file
            .write_all_at(bytes, self.size)
            .map_err(err("append"))?;
        self.file.sync_data().map_err(err("fdatasync"))?;
        self.size = end;
        Metrics::add(&self.metrics.journal_bytes_written, written);
        Metrics::inc(&self.metrics.journal_fsyncs);
        Ok(())
    }

    /// Compacts to `records` and reopens the new file for appending.
    pub fn compact(&mut self, records: &[Record]) -> Result<(), DhcpError> {
        compact(&self.path, records, &self.metrics)?;
        *self = Appender::open(&self.path, self.metrics.clone())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(last: u8) -> Record {
        Record::Bind {
            ip: Ipv4Addr::new(10, 0, 0, last),
            client_key: vec![1, 2, 0, 0, 0, 0, last],
            hwaddr: vec![2, 0, 0, 0, 0, last],
            expires: 1_700_000_000 + u64::from(last),
            serial: Some(format!("SN{last}")),
        }
    }

    #[test]
    fn records_round_trip() {
        let records = vec![
            bind(1),
            Record::Release {
                ip: Ipv4Addr::new(10, 0, 0, 1),
            },
            bind(2),
        ];
        let bytes: Vec<u8> = records.iter().flat_map(Record::encode).collect();
        let loaded = parse(&bytes);
        assert_eq!(loaded.records, records);
        assert_eq!((loaded.skipped_bytes, loaded.problem), (0, None));
    }

    #[test]
    fn torn_and_corrupt_tails_are_skipped_keeping_what_precedes() {
        let good: Vec<u8> = [bind(1), bind(2)].iter().flat_map(Record::encode).collect();
        let third = bind(3).encode();
        for cut in 1..third.len() {
            let mut data = good.clone();
            data.extend_from_slice(&third[..cut]);
            let loaded = parse(&data);
            assert_eq!(loaded.records, vec![bind(1), bind(2)], "cut at {cut}");
            assert_eq!(loaded.skipped_bytes, cut);
            assert!(loaded.problem.unwrap().contains("torn"));
        }
        let mut flipped = good.clone();
        flipped.extend_from_slice(&third);
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        let loaded = parse(&flipped);
        assert_eq!(loaded.records.len(), 2);
        assert!(loaded.problem.unwrap().contains("checksum"));
    }

    #[test]
    fn append_then_compact_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases");
        let metrics = Arc::new(Metrics::default());
        let mut app = Appender::open(&path, metrics.clone()).unwrap();
        app.append_durably(&[bind(1), bind(2)]).unwrap();
        app.append_durably(&[Record::Release {
            ip: Ipv4Addr::new(10, 0, 0, 1),
        }])
        .unwrap();
        assert_eq!(load(&path).unwrap().records.len(), 3);
        app.compact(&[bind(2)]).unwrap();
        app.append_durably(&[bind(4)]).unwrap();
        assert_eq!(load(&path).unwrap().records, vec![bind(2), bind(4)]);
        let m = metrics.snapshot();
        assert_eq!(m.journal_fsyncs, 3 + 1);
        assert_eq!(m.journal_compactions, 1);
        assert!(!path.with_extension("compact-tmp").exists());
        // Records, plus the zeros of two growth steps (the second one
        // started where the compacted file ended).
        let records: u64 = [
            bind(1),
            bind(2),
            Record::Release {
                ip: Ipv4Addr::new(10, 0, 0, 1),
            },
            bind(2),
            bind(4),
        ]
        .iter()
        .map(|r| r.encode().len() as u64)
        .sum();
        let compacted = bind(2).encode().len() as u64;
        assert_eq!(
            m.journal_bytes_written,
            records + 2 * PREALLOCATE - compacted
        );
    }

    #[test]
    fn preallocated_zeros_end_the_journal_and_reopening_appends_after_the_last_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases");
        let metrics = Arc::new(Metrics::default());
        let mut app = Appender::open(&path, metrics.clone()).unwrap();
        app.append_durably(&[bind(1)]).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), PREALLOCATE);
        let loaded = load(&path).unwrap();
        assert_eq!((loaded.records, loaded.problem), (vec![bind(1)], None));
        drop(app);

        let mut app = Appender::open(&path, metrics.clone()).unwrap();
        app.append_durably(&[bind(2)]).unwrap();
        assert_eq!(load(&path).unwrap().records, vec![bind(1), bind(2)]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), PREALLOCATE);

        // A record torn inside the zeroed room is damage, reported as such.
        let mut data = std::fs::read(&path).unwrap();
        let end = load(&path).unwrap().end;
        let third = bind(3).encode();
        data[end..end + 10].copy_from_slice(&third[..10]);
        let loaded = parse(&data);
        assert_eq!(loaded.records, vec![bind(1), bind(2)]);
        assert!(loaded.problem.unwrap().contains("checksum"));

        // Records that run past one growth step grow the file again.
        let many: Vec<Record> = (0..=255).map(bind).collect();
        let mut app = Appender::open(&path, metrics).unwrap();
        for chunk in many.chunks(8).cycle().take(200) {
            app.append_durably(chunk).unwrap();
        }
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(
            len > PREALLOCATE && len.is_multiple_of(PREALLOCATE),
            "{len}"
        );
        let loaded = load(&path).unwrap();
        assert_eq!((loaded.records.len(), loaded.problem), (2 + 1600, None));
        assert_eq!(loaded.end as u64, app.size());
    }
}
