//! The appliance's data disk: a FAT32 image holding the EOS images and
//! extensions the leaves install, built with `fatfs` straight into a file
//! (no mkfs, no mount, nothing held in memory: an image is about 1 GB).
//!
//! The appliance mounts it read-only by its label where ZTPServer serves
//! `files/`, so `images/<file>` is served as `files/images/<file>`.
//! Equal inputs give equal bytes: fatfs (without `chrono`) stamps every
//! entry 1980-01-01 and the volume id comes from the files' digests.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use fatfs::{FatType, FileSystem, FormatVolumeOptions, FsOptions};
use sha2::{Digest, Sha256};
use ztps_config::DataDiskFile;
use ztps_config::catalogue::{EXTENSIONS_DIR, IMAGES_DIR};

use crate::Error;

/// The label the appliance mounts the disk by (`LABEL=ZTPSDATA`).
pub const LABEL: &str = "ZTPSDATA";
const MIB: u64 = 1024 * 1024;
/// The domain XML attaches the disk as a CD-ROM (read-only on the IDE bus,
/// which every guest supports), whose blocks Linux reads 2048 bytes at a
/// time: the filesystem's sectors must be as large.
const SECTOR: u16 = 2048;
/// FAT32 needs at least 65525 clusters: with 2 KiB clusters, this is a
/// small FAT32 disk with room to spare.
const MIN_SIZE: u64 = 160 * MIB;
/// From this size on, 4 KiB clusters (still over 65525 of them): half the
/// allocations for a 1 GB image.
const LARGE: u64 = 512 * MIB;
/// The largest file FAT32 holds.
const MAX_FILE: u64 = u32::MAX as u64;

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDiskSummary {
    /// The image's size in bytes.
    pub size: u64,
    /// The files it holds, as served (`images/EOS-4.32.2F.swi`).
    pub files: Vec<String>,
}

/// The disk's size for files of these sizes: the files rounded up to whole
/// 4 KiB clusters, the two FATs, and room for the directories; whole MiBs,
/// at least [`MIN_SIZE`].
pub fn disk_size(file_sizes: &[u64]) -> u64 {
    let data: u64 = file_sizes.iter().map(|s| s.div_ceil(4096) * 4096).sum();
    // Two FATs of 4 bytes per 2 KiB cluster.
    let fats = 2 * (data / 2048 + 1) * 4;
    let size = (data + fats + 4 * MIB).div_ceil(MIB) * MIB;
    size.max(MIN_SIZE)
}

/// Writes the data disk into `out` (an empty file), each source copied a
/// MiB at a time and its SHA-256 compared with the catalogue's: a file that
/// changed since `check` is refused, and the caller discards `out`.
pub fn write_data_disk(out: &mut File, files: &[DataDiskFile]) -> Result<DataDiskSummary, Error> {
    let mut sizes = Vec::with_capacity(files.len());
    let mut id = Sha256::new();
    for file in files {
        // The catalogue's rules allow only plain names; a path here would
        // escape the folder.
        if file.name.is_empty() || file.name.contains('/') || file.name.starts_with('.') {
            return Err(Error::invalid(
                "data disk file name",
                file.name.clone(),
                "a plain file name, like EOS-4.32.2F.swi",
            ));
        }
        let meta = std::fs::metadata(&file.source).map_err(|source| Error::Read {
            path: file.source.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Err(Error::invalid(
                "data disk file",
                file.source.display().to_string(),
                "not a regular file",
            ));
        }
        if meta.len() > MAX_FILE {
            return Err(Error::invalid(
                "data disk file",
                file.source.display().to_string(),
                format!("{} bytes; a FAT32 file holds at most 4 GiB", meta.len()),
            ));
        }
        sizes.push(meta.len());
        id.update(file.served_path().as_bytes());
        id.update(file.sha256.as_bytes());
    }
    let size = disk_size(&sizes);
    let digest = id.finalize();
    let volume_id = u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let mut label = [b' '; 11];
    label[..LABEL.len()].copy_from_slice(LABEL.as_bytes());

    let fat = Error::Fat;
    out.set_len(size).map_err(fat)?;
    out.seek(SeekFrom::Start(0)).map_err(fat)?;
    fatfs::format_volume(
        &mut *out,
        FormatVolumeOptions::new()
            .fat_type(FatType::Fat32)
            .bytes_per_sector(SECTOR)
            .bytes_per_cluster(if size >= LARGE { 4096 } else { 2048 })
            .volume_label(label)
            .volume_id(volume_id),
    )
    .map_err(fat)?;
    out.seek(SeekFrom::Start(0)).map_err(fat)?;
    {
        let fs = FileSystem::new(&mut *out, FsOptions::new()).map_err(fat)?;
        let root = fs.root_dir();
        root.create_dir(IMAGES_DIR).map_err(fat)?;
        root.create_dir(EXTENSIONS_DIR).map_err(fat)?;
        drop(root);
        fs.unmount().map_err(fat)?;
    }
    fix_dot_entries(out).map_err(fat)?;
    out.seek(SeekFrom::Start(0)).map_err(fat)?;
    let mut served = Vec::with_capacity(files.len());
    {
        let fs = FileSystem::new(&mut *out, FsOptions::new()).map_err(fat)?;
        // Counts the free clusters once, so FSInfo carries the count (fatfs
        // keeps it up to date from then on) and fsck has nothing to note.
        fs.stats().map_err(fat)?;
        let root = fs.root_dir();
        let images = root.open_dir(IMAGES_DIR).map_err(fat)?;
        let extensions = root.open_dir(EXTENSIONS_DIR).map_err(fat)?;
        let mut buf = vec![0u8; MIB as usize];
        for file in files {
            let dir = if file.dir == IMAGES_DIR {
                &images
            } else {
                &extensions
            };
            let mut dest = dir.create_file(&file.name).map_err(fat)?;
            dest.truncate().map_err(fat)?;
            let mut source = File::open(&file.source).map_err(|source| Error::Read {
                path: file.source.clone(),
                source,
            })?;
            let mut hasher = Sha256::new();
            loop {
                let n = source.read(&mut buf).map_err(|source| Error::Read {
                    path: file.source.clone(),
                    source,
                })?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                dest.write_all(&buf[..n]).map_err(fat)?;
            }
            dest.flush().map_err(fat)?;
            let actual: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if !actual.eq_ignore_ascii_case(&file.sha256) {
                return Err(Error::Digest {
                    path: file.source.clone(),
                    expected: file.sha256.clone(),
                    actual,
                });
            }
            served.push(file.served_path());
        }
        drop((images, extensions, root));
        fs.unmount().map_err(fat)?;
    }
    out.sync_all().map_err(fat)?;
    Ok(DataDiskSummary {
        size,
        files: served,
    })
}

const DIR_ENTRY: usize = 32;
const ATTR_LFN: u8 = 0x0F;
const ATTR_DIRECTORY: u8 = 0x10;

/// fatfs 0.3 (with long names) writes a long-name entry before a new
/// folder's `.` and `..`, and points `..` of a folder in the root at the
/// root's cluster; FAT (and `fsck.vfat`) wants `.` and `..` in the first two
/// slots and 0 for the root. This rewrites the start of each folder in the
/// root, while they are still empty, to `.`, `..` and the end marker.
fn fix_dot_entries(disk: &mut File) -> std::io::Result<()> {
    let mut boot = [0u8; 512];
    disk.seek(SeekFrom::Start(0))?;
    disk.read_exact(&mut boot)?;
    let u16_at = |o: usize| u64::from(u16::from_le_bytes([boot[o], boot[o + 1]]));
    let u32_at = |o: usize| {
        u64::from(u32::from_le_bytes([
            boot[o],
            boot[o + 1],
            boot[o + 2],
            boot[o + 3],
        ]))
    };
    let bytes_per_sector = u16_at(11);
    let cluster_size = bytes_per_sector * u64::from(boot[13]);
    let data_start = (u16_at(14) + u64::from(boot[16]) * u32_at(36)) * bytes_per_sector;
    let cluster_offset = |cluster: u64| data_start + (cluster.saturating_sub(2)) * cluster_size;
    let bad = |what: &str| std::io::Error::other(format!("data disk layout: {what}"));
    if cluster_size < 4 * DIR_ENTRY as u64 {
        return Err(bad("clusters too small"));
    }

    let mut root = vec![0u8; usize::try_from(cluster_size).map_err(|_| bad("cluster size"))?];
    disk.seek(SeekFrom::Start(cluster_offset(u32_at(44))))?;
    disk.read_exact(&mut root)?;
    let mut fixed = 0;
    for entry in root.chunks_exact(DIR_ENTRY) {
        if entry[0] == 0 {
            break;
        }
        if entry[0] == 0xE5 || entry[11] == ATTR_LFN || entry[11] & ATTR_DIRECTORY == 0 {
            continue;
        }
        let cluster = u64::from(u16::from_le_bytes([entry[20], entry[21]])) << 16
            | u64::from(u16::from_le_bytes([entry[26], entry[27]]));
        let at = cluster_offset(cluster);
        let mut head = [0u8; 4 * DIR_ENTRY];
        disk.seek(SeekFrom::Start(at))?;
        disk.read_exact(&mut head)?;
        let short = |name: &[u8]| {
            head.chunks_exact(DIR_ENTRY)
                .find(|e| e[11] != ATTR_LFN && &e[..11] == name)
                .map(<[u8]>::to_vec)
        };
        let (Some(dot), Some(mut dotdot)) = (short(b".          "), short(b"..         ")) else {
            return Err(bad("a new folder has no . and .. entries"));
        };
        // `..` of a folder in the root names cluster 0.
        dotdot[20..22].fill(0);
        dotdot[26..28].fill(0);
        let mut new = [0u8; 4 * DIR_ENTRY];
        new[..DIR_ENTRY].copy_from_slice(&dot);
        new[DIR_ENTRY..2 * DIR_ENTRY].copy_from_slice(&dotdot);
        disk.seek(SeekFrom::Start(at))?;
        disk.write_all(&new)?;
        fixed += 1;
    }
    if fixed != 2 {
        return Err(bad("expected two folders in the root"));
    }
    Ok(())
}

/// [`write_data_disk`] into a new file at `path` (refused if it exists).
pub fn write_data_disk_file(path: &Path, files: &[DataDiskFile]) -> Result<DataDiskSummary, Error> {
    let mut out = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
    write_data_disk(&mut out, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_leave_room_and_stay_fat32() {
        assert_eq!(disk_size(&[]), MIN_SIZE);
        let gb = 1_100_000_000;
        let size = disk_size(&[gb, 50_000_000]);
        assert!(size > gb + 50_000_000 && size < gb + 80 * MIB, "{size}");
        assert_eq!(size % MIB, 0);
    }
}
