//! The lease journal: an append-only file of checksummed records.
//!
//! File: a header (`ZTPSLJNL`, then the format version as u16 LE and two
//! reserved bytes), then records. Version 1 files, written before the
//! header existed, are records from byte 0; they are still read, and the
//! start-up compaction rewrites them as the current version. A file of a
//! newer version than this build knows is refused, never misread.
//!
//! Record: `len: u32 LE | crc32(payload): u32 LE | payload`. A record is
//! either a binding or a release. At load, records are applied in order. A
//! record that is torn or corrupt does not end the load: the parser
//! resynchronises on the next valid record, and every damaged region is
//! counted and reported. The server keeps a `.corrupt` copy of a damaged
//! journal before its compaction removes the damage.
//!
//! The file grows in zero-filled steps of [`PREALLOCATE`] bytes and records
//! overwrite the zeros: most appends then change neither the file size nor
//! its block map, so their fdatasync writes the data and no metadata. The
//! run of zeros at the end of the file is not a record.
//!
//! Writes are batched: every record produced while the previous sync ran is
//! written in one call and made durable with one fdatasync (group commit).
//! Only then are the ACKs waiting on them sent.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::DhcpError;
use crate::metrics::Metrics;

/// The record encoding's version byte, inside each payload.
const VERSION: u8 = 1;
/// The first bytes of a journal that has a header (version 2 on).
const MAGIC: &[u8; 8] = b"ZTPSLJNL";
/// The file format this build writes; it reads every version up to it.
pub const FORMAT_VERSION: u16 = 2;
/// Magic, version, two reserved bytes.
pub const HEADER_LEN: usize = 12;
/// The smallest payload: version, kind and an address.
const MIN_PAYLOAD: usize = 6;
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

    /// The framed record's length in bytes, without encoding it.
    pub fn encoded_len(&self) -> usize {
        let field = |n: usize| 1 + n.min(255);
        8 + match self {
            Record::Bind {
                client_key,
                hwaddr,
                serial,
                ..
            } => {
                1 + 1
                    + 4
                    + 8
                    + field(client_key.len())
                    + field(hwaddr.len())
                    + field(serial.as_deref().map_or(0, str::len))
            }
            Record::Release { .. } => 1 + 1 + 4,
        }
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

/// The header every journal of the current format starts with.
fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

/// A stretch of the file that held no valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset where it starts.
    pub at: usize,
    /// Its length in bytes.
    pub len: usize,
    /// What was wrong with the record that should have started there.
    pub problem: &'static str,
}

/// What a load found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub records: Vec<Record>,
    /// Every damaged region, in file order; empty when the file is clean.
    pub damaged: Vec<Damage>,
    /// Where the data ends (the next append goes here).
    pub end: usize,
    /// The file's format version (1: no header).
    pub version: u16,
}

impl Loaded {
    /// Bytes that were not part of any valid record.
    pub fn skipped_bytes(&self) -> usize {
        self.damaged.iter().map(|d| d.len).sum()
    }

    /// A one-line account of the damage, or `None` when there is none.
    pub fn problem(&self) -> Option<String> {
        let first = self.damaged.first()?;
        let tail = self
            .damaged
            .last()
            .is_some_and(|d| d.at + d.len >= self.end);
        Some(format!(
            "{} damaged region(s), {} bytes, skipped ({}); the first at byte {}: {}",
            self.damaged.len(),
            self.skipped_bytes(),
            if tail && self.damaged.len() == 1 {
                "a torn or corrupt tail"
            } else {
                "records after damage were kept"
            },
            first.at,
            first.problem
        ))
    }
}

/// Reads every valid record of the journal at `path`; a missing file is an
/// empty journal, a file of a newer format an error.
pub fn load(path: &Path) -> Result<Loaded, DhcpError> {
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded {
                version: FORMAT_VERSION,
                ..Loaded::default()
            });
        }
        Err(source) => {
            return Err(DhcpError::Journal {
                path: path.to_path_buf(),
                what: "read",
                source,
            });
        }
    };
    let loaded = parse(&data);
    if loaded.version > FORMAT_VERSION {
        return Err(DhcpError::JournalVersion {
            path: path.to_path_buf(),
            found: loaded.version,
            supported: FORMAT_VERSION,
        });
    }
    Ok(loaded)
}

/// The record that starts at `at`, and its framed length.
fn record_at(data: &[u8], at: usize) -> Result<(Record, usize), &'static str> {
    let header = data.get(at..at + 8).ok_or("torn record header")?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if !(MIN_PAYLOAD..=MAX_RECORD).contains(&len) {
        return Err("implausible record length");
    }
    let payload = data
        .get(at + 8..at + 8 + len)
        .ok_or("torn record (the file ends inside it)")?;
    // Cheap before the checksum: resynchronisation tries every offset.
    if payload.first() != Some(&VERSION) {
        return Err("unknown record version");
    }
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch");
    }
    let record = Record::decode(payload).ok_or("undecodable record")?;
    Ok((record, 8 + len))
}

/// Splits journal bytes into records, skipping damaged regions.
pub fn parse(data: &[u8]) -> Loaded {
    let mut loaded = Loaded {
        version: 1,
        ..Loaded::default()
    };
    let mut at = 0;
    if let Some(rest) = data.strip_prefix(MAGIC.as_slice()) {
        let Some(version) = rest.get(..2) else {
            // A header torn at creation: nothing was ever appended.
            loaded.version = FORMAT_VERSION;
            return loaded;
        };
        loaded.version = u16::from_le_bytes([version[0], version[1]]);
        if loaded.version > FORMAT_VERSION {
            return loaded;
        }
        at = HEADER_LEN.min(data.len());
    }
    // The zero-filled room at the end is not data.
    let tail = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    while at < tail {
        match record_at(data, at) {
            Ok((record, len)) => {
                loaded.records.push(record);
                at += len;
            }
            Err(problem) => {
                let next = (at + 1..tail).find(|&i| record_at(data, i).is_ok());
                let until = next.unwrap_or(tail);
                loaded.damaged.push(Damage {
                    at,
                    len: until - at,
                    problem,
                });
                at = until;
            }
        }
    }
    loaded.end = at;
    loaded
}

/// Replaces the journal with a header and exactly `records`, atomically:
/// a crash at any point leaves either the old file or the new one. Returns
/// the new file, open for appending (no second read).
pub fn compact(
    path: &Path,
    records: &[Record],
    metrics: Arc<Metrics>,
) -> Result<Appender, DhcpError> {
    let err = |what| {
        move |source| DhcpError::Journal {
            path: path.to_path_buf(),
            what,
            source,
        }
    };
    let tmp = path.with_extension("compact-tmp");
    let mut bytes = Vec::with_capacity(HEADER_LEN + records.len() * 48);
    bytes.extend_from_slice(&header());
    records.iter().for_each(|r| r.encode_into(&mut bytes));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&tmp)
        .map_err(err("create compaction file"))?;
    file.write_all(&bytes)
        .map_err(err("write compaction file"))?;
    file.sync_all().map_err(err("fsync compaction file"))?;
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
    let size = bytes.len() as u64;
    Ok(Appender {
        path: path.to_path_buf(),
        file,
        size,
        allocated: size,
        metrics,
        buf: Vec::new(),
    })
}

/// Copies a damaged journal to `<file>.corrupt` (durably) before the
/// compaction that drops its damage, so nothing is lost for good.
pub fn keep_corrupt_copy(path: &Path) -> Result<PathBuf, DhcpError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".corrupt");
    let copy = path.with_file_name(name);
    let err = |what| {
        let path = copy.clone();
        move |source| DhcpError::Journal { path, what, source }
    };
    std::fs::copy(path, &copy).map_err(err("copy the damaged journal"))?;
    File::open(&copy)
        .and_then(|f| f.sync_all())
        .map_err(err("fsync the copy"))?;
    Ok(copy)
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
        let mut allocated = file.metadata().map_err(err("stat"))?.len();
        if allocated == 0 {
            file.write_all_at(&header(), 0)
                .map_err(err("write the header"))?;
            allocated = HEADER_LEN as u64;
            Metrics::add(&metrics.journal_bytes_written, allocated);
        }
        // Appends go after the last record, over preallocated zeros.
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

    /// Compacts to `records` and appends to the new file from then on.
    pub fn compact(&mut self, records: &[Record]) -> Result<(), DhcpError> {
        *self = compact(&self.path, records, self.metrics.clone())?;
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

    fn v2(records: &[Record]) -> Vec<u8> {
        let mut bytes = header().to_vec();
        records.iter().for_each(|r| r.encode_into(&mut bytes));
        bytes
    }

    #[test]
    fn records_round_trip_in_both_formats() {
        let records = vec![
            bind(1),
            Record::Release {
                ip: Ipv4Addr::new(10, 0, 0, 1),
            },
            bind(2),
        ];
        let legacy: Vec<u8> = records.iter().flat_map(Record::encode).collect();
        let loaded = parse(&legacy);
        assert_eq!((&loaded.records, loaded.version), (&records, 1));
        assert_eq!((loaded.skipped_bytes(), loaded.problem()), (0, None));
        let loaded = parse(&v2(&records));
        assert_eq!((&loaded.records, loaded.version), (&records, 2));
        assert!(loaded.damaged.is_empty());
    }

    #[test]
    fn encoded_len_is_the_length() {
        for r in [
            bind(7),
            Record::Release {
                ip: Ipv4Addr::new(1, 2, 3, 4),
            },
        ] {
            assert_eq!(r.encoded_len(), r.encode().len());
        }
    }

    #[test]
    fn a_newer_format_is_refused_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases");
        let mut bytes = v2(&[bind(1)]);
        bytes[8] = 9;
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
    }

    #[test]
    fn torn_and_corrupt_tails_are_skipped_keeping_what_precedes() {
        let good = v2(&[bind(1), bind(2)]);
        let third = bind(3).encode();
        for cut in 1..third.len() {
            let mut data = good.clone();
            data.extend_from_slice(&third[..cut]);
            let loaded = parse(&data);
            assert_eq!(loaded.records, vec![bind(1), bind(2)], "cut at {cut}");
            // Trailing zeros of a cut are indistinguishable from the room.
            let nonzero = third[..cut]
                .iter()
                .rposition(|&b| b != 0)
                .map_or(0, |i| i + 1);
            assert_eq!(loaded.skipped_bytes(), nonzero, "cut at {cut}");
        }
        let mut flipped = good.clone();
        flipped.extend_from_slice(&third);
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        let loaded = parse(&flipped);
        assert_eq!(loaded.records.len(), 2);
        assert!(loaded.problem().unwrap().contains("checksum"));
    }

    #[test]
    fn one_corrupt_record_loses_only_itself() {
        let records: Vec<Record> = (1..=20).map(bind).collect();
        let clean = v2(&records);
        // Every single byte flipped, one at a time: at most the one record
        // holding that byte is lost, never the ones after it.
        for at in HEADER_LEN..clean.len() {
            let mut data = clean.clone();
            data[at] ^= 0x5a;
            let loaded = parse(&data);
            assert!(
                loaded.records.len() >= 19,
                "flip at {at} kept {}",
                loaded.records.len()
            );
            assert!(loaded.records.iter().all(|r| records.contains(r)));
            if loaded.records.len() == 19 {
                assert_eq!(loaded.damaged.len(), 1, "flip at {at}");
            }
        }
        // The case: byte 12 of a 20-record legacy journal.
        let mut legacy: Vec<u8> = records.iter().flat_map(Record::encode).collect();
        legacy[12] ^= 0x01;
        let loaded = parse(&legacy);
        assert_eq!(loaded.records, records[1..]);
        let problem = loaded.problem().unwrap();
        assert!(problem.contains("1 damaged region"), "{problem}");
    }

    #[test]
    fn a_damaged_journal_is_copied_before_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases.json");
        std::fs::write(&path, b"damaged bytes").unwrap();
        let copy = keep_corrupt_copy(&path).unwrap();
        assert_eq!(copy, dir.path().join("leases.json.corrupt"));
        assert_eq!(std::fs::read(&copy).unwrap(), b"damaged bytes");
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
        // Records, plus the zeros of two growth steps (each filling up from
        // where the file ended: the header, then the compacted file).
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
        assert_eq!((loaded.problem(), loaded.records), (None, vec![bind(1)]));
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
        assert!(loaded.problem().unwrap().contains("checksum"));

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
        assert_eq!((loaded.records.len(), loaded.problem()), (2 + 1600, None));
        assert_eq!(loaded.end as u64, app.size());
    }
}
