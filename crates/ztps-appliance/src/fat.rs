//! A small vfat image built in memory with the `fatfs` crate: no mkfs, no mount.

use std::io::{Cursor, Write};

use fatfs::{FatType, FileSystem, FormatVolumeOptions, FsOptions};
use sha2::{Digest, Sha256};

use crate::Error;

/// The label cloud-init's NoCloud datasource looks for.
const LABEL: [u8; 11] = *b"cidata     ";
const MIB: usize = 1024 * 1024;

/// Builds a FAT12 image (2048-byte sectors) holding `files` in its root directory. The volume id
/// comes from the contents and fatfs (without its `chrono` feature) stamps
/// every entry 1980-01-01, so equal inputs give equal bytes.
pub(crate) fn build(files: &[(&str, &[u8])]) -> Result<Vec<u8>, Error> {
    let payload: usize = files.iter().map(|(_, data)| data.len()).sum();
    // Room for FAT overhead and cluster slack; whole MiBs keep the disk tidy.
    let size = (payload * 2 + MIB).div_ceil(MIB) * MIB;
    if size > 16 * MIB {
        return Err(Error::Fat(std::io::Error::other(format!(
            "{payload} bytes of seed data is more than a 16 MiB seed disk holds"
        ))));
    }
    let mut hasher = Sha256::new();
    for (name, data) in files {
        hasher.update(name.as_bytes());
        hasher.update(data);
    }
    let digest = hasher.finalize();
    let volume_id = u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]);

    let mut disk = Cursor::new(vec![0u8; size]);
    fatfs::format_volume(
        &mut disk,
        FormatVolumeOptions::new()
            .fat_type(FatType::Fat12)
            // 2048-byte sectors: the same image then mounts from a disk and
            // from a CD-ROM (the domain XML attaches the seed read-only as
            // one), whose block size Linux will not go below.
            .bytes_per_sector(2048)
            .volume_label(LABEL)
            .volume_id(volume_id),
    )
    .map_err(Error::Fat)?;
    {
        let fs = FileSystem::new(&mut disk, FsOptions::new()).map_err(Error::Fat)?;
        let root = fs.root_dir();
        for (name, data) in files {
            let mut file = root.create_file(name).map_err(Error::Fat)?;
            file.truncate().map_err(Error::Fat)?;
            file.write_all(data).map_err(Error::Fat)?;
            file.flush().map_err(Error::Fat)?;
        }
        drop(root);
        fs.unmount().map_err(Error::Fat)?;
    }
    Ok(disk.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn files_read_back_with_label() {
        let image = build(&[
            ("meta-data", b"a: 1\n"),
            ("network-config", b"version: 2\n"),
        ])
        .unwrap();
        assert_eq!(image.len() % MIB, 0);
        let fs = FileSystem::new(Cursor::new(image), FsOptions::new()).unwrap();
        assert_eq!(fs.volume_label(), "cidata");
        assert_eq!(
            fs.read_volume_label_from_root_dir().unwrap().as_deref(),
            Some("cidata")
        );
        let mut text = String::new();
        fs.root_dir()
            .open_file("network-config")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "version: 2\n");
    }

    #[test]
    fn same_input_same_bytes() {
        let a = build(&[("user-data", b"x")]).unwrap();
        let b = build(&[("user-data", b"x")]).unwrap();
        let c = build(&[("user-data", b"y")]).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn grows_with_content_and_refuses_huge_seeds() {
        let big = vec![b'x'; 3 * MIB];
        assert!(build(&[("user-data", &big)]).unwrap().len() > 6 * MIB);
        let huge = vec![b'x'; 9 * MIB];
        assert!(matches!(build(&[("user-data", &huge)]), Err(Error::Fat(_))));
    }
}
