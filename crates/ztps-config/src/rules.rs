//! The rules for single values, one function each. The loader applies them
//! to every field they govern (as located problems); renderers and other
//! crates that take these values call the same functions instead of keeping
//! their own copy. Each `Err` is a message saying what is wrong and what
//! would be valid.

/// Which URL schemes a field takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schemes {
    /// `http://` only (the VM health check speaks plain HTTP).
    Http,
    /// `https://` only (eAPI over HTTPS).
    Https,
    /// `http://` or `https://`.
    HttpOrHttps,
}

impl Schemes {
    fn allows(self, scheme: &str) -> bool {
        match self {
            Schemes::Http => scheme == "http",
            Schemes::Https => scheme == "https",
            Schemes::HttpOrHttps => matches!(scheme, "http" | "https"),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Schemes::Http => "an http:// URL",
            Schemes::Https => "an https:// URL",
            Schemes::HttpOrHttps => "an http:// or https:// URL",
        }
    }

    fn example(self) -> &'static str {
        match self {
            Schemes::Https => "https://127.0.0.1/command-api",
            _ => "http://172.16.130.10:8080/bootstrap",
        }
    }
}

/// What a control character is called in a message.
fn char_name(c: char) -> String {
    let name = match c {
        '\n' => " (line feed)",
        '\r' => " (carriage return)",
        '\t' => " (tab)",
        '\0' => " (NUL)",
        '\u{1b}' => " (escape)",
        _ => "",
    };
    format!("U+{:04X}{name}", u32::from(c))
}

/// No control characters (line breaks, tabs, escapes, NUL, DEL, C1): every
/// value is one line of printable text, so none can add a line to a file
/// rendered from it.
pub fn no_control_characters(text: &str) -> Result<(), String> {
    match text.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "contains the control character {}; write the value on one line, without control characters",
            char_name(c)
        )),
        None => Ok(()),
    }
}

/// A host name as EOS's `hostname` and Linux accept it, which also keeps it
/// a safe file name (ZTPServer names files after leaves) and free of
/// YAML or CLI syntax: 1 to 63 letters, digits, `-`, `.` or `_`, not
/// starting with `-` or `.`.
pub fn hostname(name: &str) -> Result<(), String> {
    const RULE: &str = "a host name is 1 to 63 letters, digits, '-', '.' or '_', not starting with '-' or '.', like leaf1";
    if name.is_empty() || name.len() > 63 {
        return Err(format!("{name:?} is not a host name; {RULE}"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return Err(format!(
            "{name:?} is not a host name: {bad:?} is not allowed; {RULE}"
        ));
    }
    if name.starts_with(['-', '.']) {
        return Err(format!("{name:?} is not a host name; {RULE}"));
    }
    Ok(())
}

/// An Ethernet port as EOS names it in full: `Ethernet` and one to three
/// numbers from 1 to 9999 separated by `/` (`Ethernet3`, `Ethernet1/1`,
/// `Ethernet3/1/4`), no leading zeros. LLDP reports ports in this form, so
/// it is also what a neighbour is compared with.
pub fn ethernet_interface(name: &str) -> Result<(), String> {
    let valid = name.strip_prefix("Ethernet").is_some_and(|rest| {
        let numbers: Vec<&str> = rest.split('/').collect();
        numbers.len() <= 3
            && numbers.iter().all(|n| {
                !n.is_empty()
                    && n.len() <= 4
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && !n.starts_with('0')
            })
    });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not an EOS Ethernet port; write it in full as EOS does: Ethernet and 1 to 3 numbers from 1 separated by '/', like Ethernet3 or Ethernet1/1"
        ))
    }
}

/// An EOS user or role name: a letter or `_`, then letters, digits, `_`,
/// `-` or `.`, at most 32.
pub fn user_name(name: &str) -> Result<(), String> {
    let valid = name.len() <= 32
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not an EOS user or role name; write a letter, then letters, digits, '_', '-' or '.', like admin"
        ))
    }
}

/// A link speed as EOS's `speed` command takes it: `10g`, `25g`, `40g`,
/// `50g`, `100g`, `200g`, `400g`, `800g`, `1g`, `auto`.
pub fn is_link_speed(speed: &str) -> bool {
    matches!(
        speed,
        "auto" | "1g" | "10g" | "25g" | "40g" | "50g" | "100g" | "200g" | "400g" | "800g"
    )
}

/// A file name on flash with the given extension (`.swi`, `.swix`): 1 to
/// 100 letters, digits, `-`, `.` or `_`, not starting with `-` or `.`.
pub fn flash_file_name(name: &str, extension: &str) -> Result<(), String> {
    let rule = format!(
        "a file name on flash is 1 to 100 letters, digits, '-', '.' or '_', not starting with '-' or '.', and ends in {extension}"
    );
    let valid = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with(['-', '.'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && name.len() > extension.len()
        && name.ends_with(extension);
    if valid {
        Ok(())
    } else {
        Err(format!("{name:?} is not a file name on flash; {rule}"))
    }
}

/// A Docker image reference as `docker load` tags it: a lowercase name
/// (path components of letters, digits, '.', '_', '-', separated by '/')
/// and an optional `:tag`. Digests are refused: an archive on flash is
/// loaded by its tag.
pub fn image_reference(reference: &str) -> Result<(), String> {
    const RULE: &str = "an image is a lowercase name of letters, digits, '.', '_', '-' and '/', with an optional :tag, like ztps-appliance:latest";
    let (name, tag) = match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (reference, None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with(['.', '_', '-'])
                && part.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
        });
    let tag_ok = tag.is_none_or(|t| {
        !t.is_empty()
            && t.len() <= 128
            && !t.starts_with(['.', '-'])
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    });
    if name_ok && tag_ok {
        Ok(())
    } else {
        Err(format!("{reference:?} is not an image reference; {RULE}"))
    }
}

/// The directories whose files survive a reboot of EOS: the root filesystem
/// is rebuilt from the image at every boot.
pub const PERSISTENT_DIRS: [&str; 3] = ["/mnt/flash", "/mnt/usb1", "/mnt/drive"];

/// A path EOS keeps across reboots: under /mnt/flash, /mnt/usb1 or
/// /mnt/drive, with no `..` to climb out again.
pub fn persistent_path(path: &std::path::Path) -> Result<(), String> {
    use std::path::Component;
    let climbs = path.components().any(|c| c == Component::ParentDir);
    let kept = PERSISTENT_DIRS
        .iter()
        .any(|dir| path.starts_with(dir) && path != std::path::Path::new(dir));
    if kept && !climbs {
        Ok(())
    } else {
        Err(format!(
            "{} is not kept across a reboot of EOS (its root filesystem is rebuilt at boot); put the file under {}, like /mnt/usb1/ztps.vmdk",
            path.display(),
            PERSISTENT_DIRS.join(", ")
        ))
    }
}

/// A disk image's extension agrees with its format: `.vmdk` is a VMDK,
/// `.qcow2` a qcow2. Another extension (`.img`) says nothing and is accepted.
pub fn disk_extension(path: &std::path::Path, format: &str) -> Result<(), String> {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return Ok(());
    };
    let says = match ext.to_ascii_lowercase().as_str() {
        "vmdk" => "vmdk",
        "qcow2" | "qcow" => "qcow2",
        _ => return Ok(()),
    };
    if says == format {
        Ok(())
    } else {
        Err(format!(
            "{} is named as a {says} disk but disk_format is {format:?}; set disk_format = {says:?}, or give the disk its format's extension (.{format})",
            path.display()
        ))
    }
}

/// The data disk is its own file: not the VM disk nor the seed (the bundle
/// would write one over the other), and a raw FAT image, not a VMDK or qcow2.
pub fn data_disk_path(
    path: &std::path::Path,
    disk: &std::path::Path,
    seed: Option<&std::path::Path>,
) -> Result<(), String> {
    if path == disk || Some(path) == seed {
        return Err(format!(
            "{} is also the VM's {} disk; give the data disk its own file, like /mnt/usb1/ztps-data.img",
            path.display(),
            if path == disk { "system" } else { "seed" }
        ));
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("img") => Ok(()),
        _ => Err(format!(
            "{} does not end in .img; the data disk is a raw FAT image, like /mnt/usb1/ztps-data.img",
            path.display()
        )),
    }
}

/// A SHA-256 as `sha256sum` prints it: 64 hex digits.
pub fn sha256_hex(text: &str) -> Result<(), String> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not a SHA-256; give the 64 hex digits `sha256sum FILE` prints"
        ))
    }
}

/// An EOS version as `show version` prints it and ZTPServer's
/// `install_image` compares it: `4.32.2F`, `4.30.1.1M`.
pub fn eos_version(text: &str) -> Result<(), String> {
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (numbers, suffix) = text.split_at(digits_end);
    let parts: Vec<&str> = numbers.split('.').collect();
    let valid = matches!(parts.len(), 3 | 4)
        && parts.iter().all(|p| !p.is_empty() && p.len() <= 6)
        && !suffix.is_empty()
        && suffix.len() <= 8
        && suffix.chars().all(|c| c.is_ascii_alphabetic());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not an EOS version; write it as `show version` prints it, like 4.32.2F"
        ))
    }
}

/// A serial number as a switch reports it: 1 to 64 letters, digits or `-`.
pub fn serial_number(serial: &str) -> Result<(), String> {
    let valid = !serial.is_empty()
        && serial.len() <= 64
        && serial
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{serial:?} is not a serial number; write it as `show version` prints it: 1 to 64 letters, digits or '-', like JPE12345678"
        ))
    }
}

/// A Linux interface name: 1 to 15 bytes, no `/`, `:` or whitespace, not
/// `.` or `..`.
pub fn linux_interface(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.contains(['/', ':'])
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a Linux interface name; use 1 to 15 characters without '/', ':' or spaces, like br0"
        ))
    }
}

/// A QEMU machine type: 1 to 64 letters, digits, `-`, `.` or `_`.
pub fn machine_type(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a QEMU machine type; use letters, digits, '-', '.' or '_', like pc or q35"
        ))
    }
}

/// An absolute URL of the given schemes with a host, without credentials,
/// written exactly as it parses: what the operator wrote is what a client
/// (or DHCP option 67) gets, byte for byte.
pub fn url(text: &str, schemes: Schemes) -> Result<(), String> {
    let want = schemes.describe();
    let example = schemes.example();
    let parsed = match url::Url::parse(text) {
        Ok(parsed) => parsed,
        Err(e) => {
            return Err(format!(
                "{text:?} is not a URL ({e}); write {want} with a host, like {example}"
            ));
        }
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        let mut shown = parsed.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(format!(
            "{:?} carries a user name or password (user:password@); a URL ends up in logs, /status and events, so it takes no credentials: remove them, and give credentials in a credentials file (eapi.credentials_file)",
            shown.as_str()
        ));
    }
    if !schemes.allows(parsed.scheme()) {
        return Err(format!(
            "{text:?} uses scheme {:?}; it must be {want} with a host, like {example}",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{text:?} has no host; write {want} with a host, like {example}"
        ));
    }
    if parsed.as_str() != text {
        return Err(format!(
            "{text:?} is not written the way it parses (it reads as {:?}); write {:?}",
            parsed.as_str(),
            parsed.as_str()
        ));
    }
    Ok(())
}

/// One OpenSSH public key line (`ssh-ed25519 AAAA... you@host`): a known
/// key type, a base64 body, an optional comment, nothing more.
pub fn ssh_public_key(key: &str) -> Result<(), String> {
    let mut parts = key.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let known = ["ssh-", "ecdsa-", "sk-"]
        .iter()
        .any(|p| kind.starts_with(p));
    let valid = known
        && !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        && !key.chars().any(char::is_control);
    if valid {
        Ok(())
    } else {
        Err("not an OpenSSH public key line; paste one line of ~/.ssh/id_ed25519.pub, like \"ssh-ed25519 AAAA... you@host\"".into())
    }
}

/// A crypt(3) password hash for `/etc/shadow`: yescrypt (`$y$`, Debian's
/// default), SHA-512 (`$6$`) or SHA-256 (`$5$`), as `mkpasswd` or `openssl
/// passwd -6` print them. A plain password is refused. The message never
/// repeats the value: it may be a password pasted by mistake.
pub fn crypt_password_hash(hash: &str) -> Result<(), String> {
    const HELP: &str = "give a crypt(3) hash, not a password: `mkpasswd -m yescrypt` or `openssl passwd -6` prints one (it starts with $y$ or $6$)";
    let fields: Vec<&str> = hash.split('$').collect();
    // "", id, [params or rounds=N,] salt, digest
    let (id, digest) = match fields.as_slice() {
        ["", id, .., digest] if fields.len() >= 4 => (*id, *digest),
        _ => return Err(HELP.into()),
    };
    let digest_len = match id {
        "y" | "5" => 43,
        "6" => 86,
        _ => return Err(format!("unsupported hash type ${id}$; {HELP}")),
    };
    let crypt_chars = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/'))
    };
    let middle_ok = fields[2..fields.len() - 1].iter().all(|f| {
        !f.is_empty()
            && f.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '='))
    });
    if digest.len() != digest_len || !crypt_chars(digest) || !middle_ok {
        return Err(HELP.into());
    }
    Ok(())
}

/// The longest bootstrap URL DHCP option 67 can carry.
pub const MAX_BOOTSTRAP_URL_BYTES: usize = 255;

/// DHCP vendor class prefixes: at least one; `[""]` alone answers every
/// client, an empty prefix beside others is a mistake.
pub fn vendor_class_prefixes(prefixes: &[String]) -> Result<(), String> {
    if prefixes.is_empty() {
        return Err(
            "an empty list answers no client; list prefixes such as [\"Arista\"] (or [\"\"] to answer every client)"
                .into(),
        );
    }
    if prefixes.len() > 1 && prefixes.iter().any(String::is_empty) {
        return Err(
            "an empty prefix matches every client, which makes the other prefixes meaningless; write [\"\"] alone to answer every client, or list only non-empty prefixes"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eos_versions_as_install_image_parses_them() {
        for good in ["4.32.2F", "4.30.1.1M", "4.13.5F", "4.28.0FX"] {
            assert_eq!(eos_version(good), Ok(()), "{good}");
        }
        for bad in [
            "4.32",
            "4.32.2",
            "4.32.2F ",
            "v4.32.2F",
            "4..2F",
            "4.32.2F-1",
            "",
        ] {
            assert!(eos_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sha256_is_64_hex_digits() {
        assert_eq!(sha256_hex(&"aB".repeat(32)), Ok(()));
        assert!(sha256_hex(&"a".repeat(63)).is_err());
        assert!(sha256_hex(&"g".repeat(64)).is_err());
    }

    #[test]
    fn a_data_disk_is_its_own_raw_image() {
        let disk = std::path::Path::new("/mnt/usb1/ztps.vmdk");
        let seed = std::path::Path::new("/mnt/flash/ztps-seed.img");
        let ok = std::path::Path::new("/mnt/usb1/ztps-data.img");
        assert_eq!(data_disk_path(ok, disk, Some(seed)), Ok(()));
        assert!(
            data_disk_path(seed, disk, Some(seed))
                .unwrap_err()
                .contains("seed")
        );
        assert!(
            data_disk_path(std::path::Path::new("/mnt/usb1/d.qcow2"), disk, None)
                .unwrap_err()
                .contains(".img")
        );
    }

    #[test]
    fn crypt_hashes_are_taken_and_passwords_refused_without_echo() {
        // `openssl passwd -6 -salt saltsalt secret` and `mkpasswd -m yescrypt`.
        let sha512 = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
        let yescrypt = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o7iY2l0dPp8UpQvHq4EMgtOn9ZgqN5tlA";
        let rounds = "$6$rounds=10000$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
        let sha256 = "$5$jR0Kz//utOWInLB0$PbU.3ZyTkBs7RblxSTsi7KgRC2SU2mbECMtN99voU78";
        for ok in [sha512, yescrypt, rounds, sha256] {
            assert_eq!(crypt_password_hash(ok), Ok(()), "{ok}");
        }
        for bad in [
            "hunter2",
            "",
            "$1$abc$def",
            "$6$salt$short",
            "$6$$x",
            &format!("{sha512} "),
        ] {
            let err = crypt_password_hash(bad).unwrap_err();
            assert!(err.contains("crypt(3)"), "{err}");
            if bad.len() > 3 {
                assert!(!err.contains(bad), "the value must not be echoed: {err}");
            }
        }
    }

    #[test]
    fn urls_must_round_trip() {
        assert!(url("http://172.16.130.10:8080/bootstrap", Schemes::Http).is_ok());
        assert!(url("https://hooks.example.net/ztps?t=1", Schemes::HttpOrHttps).is_ok());
        for bad in [
            "http://172.16.130.10:8080/bootstrap\n",
            "http://172.16.130.10:8080",
            "HTTP://host/",
            "http://host:80/",
            "http://h/a b",
        ] {
            let err = url(bad, Schemes::HttpOrHttps).unwrap_err();
            assert!(
                err.contains("not written the way it parses"),
                "{bad:?}: {err}"
            );
        }
        let err = url("https://admin:s3cret@127.0.0.1/command-api", Schemes::Https).unwrap_err();
        assert!(
            !err.contains("s3cret") && err.contains("credentials file"),
            "{err}"
        );
        assert!(
            url("https://x/", Schemes::Http)
                .unwrap_err()
                .contains("scheme")
        );
        assert!(url("ftp://x/", Schemes::HttpOrHttps).is_err());
        assert!(url("nonsense", Schemes::HttpOrHttps).is_err());
    }

    #[test]
    fn names() {
        assert!(hostname("leaf1.dc1").is_ok());
        for bad in ["", "-a", ".a", "a b", "a\nb", "a/b", "a:b", &"x".repeat(64)] {
            assert!(hostname(bad).is_err(), "{bad:?}");
        }
        for good in ["Ethernet3", "Ethernet1/1", "Ethernet3/1/4", "Ethernet9999"] {
            assert!(ethernet_interface(good).is_ok(), "{good}");
        }
        for bad in [
            "Et3",
            "Ethernet",
            "Ethernet0",
            "Ethernet01",
            "Ethernet1//2",
            "Ethernet1/2/3/4",
            "Ethernet3\n",
        ] {
            assert!(ethernet_interface(bad).is_err(), "{bad:?}");
        }
        assert!(flash_file_name("EOS-4.33.1F.swi", ".swi").is_ok());
        for bad in [
            "",
            ".swi",
            "a/b.swi",
            "EOS.swix",
            "evil.swi\nSWI=flash:x.swi",
            "-x.swi",
        ] {
            assert!(flash_file_name(bad, ".swi").is_err(), "{bad:?}");
        }
        assert!(serial_number("JPE12345678").is_ok());
        assert!(serial_number("JPE 1").is_err());
        assert!(linux_interface("br0").is_ok());
        assert!(linux_interface("br:0").is_err());
        assert!(vendor_class_prefixes(&["".into()]).is_ok());
        assert!(vendor_class_prefixes(&["".into(), "Arista".into()]).is_err());
        assert!(vendor_class_prefixes(&[]).is_err());
        assert!(no_control_characters("a\u{7f}").is_err());
        assert!(no_control_characters("a\u{85}").is_err());
    }

    #[test]
    fn disks() {
        use std::path::Path;
        for good in [
            "/mnt/flash/ztps.qcow2",
            "/mnt/usb1/vm/ztps.vmdk",
            "/mnt/drive/z.img",
        ] {
            assert!(persistent_path(Path::new(good)).is_ok(), "{good}");
        }
        for bad in [
            "/tmp/ztps.vmdk",
            "/var/lib/libvirt/images/ztps.qcow2",
            "/mnt/flashy/ztps.vmdk",
            "/mnt/flash",
            "/mnt/flash/../../tmp/ztps.vmdk",
        ] {
            let err = persistent_path(Path::new(bad)).unwrap_err();
            assert!(
                err.contains("/mnt/flash, /mnt/usb1, /mnt/drive"),
                "{bad}: {err}"
            );
        }
        assert!(disk_extension(Path::new("/mnt/usb1/ztps.vmdk"), "vmdk").is_ok());
        assert!(disk_extension(Path::new("/mnt/usb1/ztps.QCOW2"), "qcow2").is_ok());
        assert!(disk_extension(Path::new("/mnt/usb1/ztps.img"), "vmdk").is_ok());
        assert!(disk_extension(Path::new("/mnt/usb1/ztps"), "qcow2").is_ok());
        let err = disk_extension(Path::new("/mnt/usb1/ztps.vmdk"), "qcow2").unwrap_err();
        assert!(err.contains("set disk_format = \"vmdk\""), "{err}");
        assert!(disk_extension(Path::new("/mnt/usb1/ztps.qcow2"), "vmdk").is_err());
    }
}
