//! Booting (at start and on `reload`) from the flash, and saving to it.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;

use crate::cli_engine::Session;
use crate::sim::{Device, Sim, default_hostname};

/// Starts the switch afresh: the image boot-config names, then the
/// startup-config replayed as CLI commands, as EOS does at every boot.
/// Without a flash (or a startup-config on it) the switch keeps the kernel
/// state it was given.
pub async fn boot(sim: &Sim) -> anyhow::Result<()> {
    let flash = sim.args.flash.as_deref();
    let startup = match flash {
        Some(dir) => read_optional(&dir.join("startup-config"))?.filter(|t| !t.trim().is_empty()),
        None => None,
    };
    let version = match flash {
        Some(dir) => read_optional(&dir.join("boot-config"))?
            .as_deref()
            .and_then(image_version),
        None => None,
    }
    .unwrap_or_else(|| sim.identity.eos_version().to_string());
    {
        let mut device = sim.device();
        let boots = device.boots + 1;
        *device = Device {
            hostname: default_hostname(&sim.args, &sim.identity),
            version,
            booted: SystemTime::now(),
            boots,
            config: Default::default(),
            ztp_mode: flash.is_some() && startup.is_none(),
        };
        tracing::info!(boot = boots, version = %device.version, ztp_mode = device.ztp_mode, "booting");
    }
    if let Some(text) = startup {
        // What DHCP (ZTP) or an earlier config gave the ports is gone after
        // a reboot; only the startup-config's addresses come back.
        crate::kernel::flush_port_addresses().await?;
        Session::privileged(sim).replay_startup(&text).await;
    }
    sim.lldp_changed.notify_one();
    Ok(())
}

fn read_optional(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The EOS version in boot-config's `SWI=flash:EOS-4.33.2F.swi` (also
/// `EOS64-...`, `vEOS-lab-...`): the first dash-separated part that looks
/// like a version.
pub fn image_version(boot_config: &str) -> Option<String> {
    let swi = boot_config
        .lines()
        .find_map(|l| l.trim().strip_prefix("SWI="))?;
    let file = swi.rsplit(['/', ':']).next()?;
    let stem = file.strip_suffix(".swi").unwrap_or(file);
    stem.split('-')
        .find(|part| part.starts_with(|c: char| c.is_ascii_digit()) && part.contains('.'))
        .map(str::to_string)
}

/// `copy running-config startup-config`.
pub fn save_running_config(sim: &Sim) -> anyhow::Result<()> {
    let flash = sim
        .args
        .flash
        .as_deref()
        .context("this instance has no flash (start it with --flash)")?;
    let text = crate::replies::running_config(sim);
    let path = flash.join("startup-config");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// `boot system flash:EOS-X.swi` writes boot-config at once, as on EOS.
pub fn set_boot_image(sim: &Sim, image: &str) -> anyhow::Result<()> {
    let image = if image.contains(':') {
        image.to_string()
    } else {
        format!("flash:{image}")
    };
    write_boot_config(flash_dir(sim)?, &image)
}

/// `install source flash:EOS-X.swi`: points boot-config at an image already
/// on flash (what ZTPServer's `install_image` runs after downloading it).
/// Returns the text EOS prints.
pub fn install_source(sim: &Sim, source: &str) -> anyhow::Result<String> {
    install_from_flash(flash_dir(sim)?, source)
}

/// `install source` on a flash folder. Unlike `boot system`, EOS checks the
/// image exists first: a boot-config naming a missing file would leave the
/// switch in Aboot at its next reload. Only `flash:` sources are modelled;
/// EOS would also download a URL first.
pub fn install_from_flash(flash: &Path, source: &str) -> anyhow::Result<String> {
    let Some(name) = source.strip_prefix("flash:") else {
        anyhow::bail!(
            "eos-sim installs only from flash: (got {source:?}); copy the image to flash first"
        );
    };
    let name = name.trim_start_matches('/');
    let valid = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !valid {
        anyhow::bail!("Invalid image name {name:?}: a file name directly on flash: is expected");
    }
    let path = flash.join(name);
    if !path.is_file() {
        anyhow::bail!("Error installing flash:{name}: the file does not exist on flash:");
    }
    write_boot_config(flash, &format!("flash:{name}"))?;
    Ok(format!("Installing flash:{name}... Done.\n"))
}

fn flash_dir(sim: &Sim) -> anyhow::Result<&Path> {
    sim.args
        .flash
        .as_deref()
        .context("this instance has no flash (start it with --flash)")
}

fn write_boot_config(flash: &Path, image: &str) -> anyhow::Result<()> {
    let path = flash.join("boot-config");
    std::fs::write(&path, format!("SWI={image}\n"))
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_version_reads_the_swi_line() {
        assert_eq!(
            image_version("SWI=flash:EOS-4.33.2F.swi\n").as_deref(),
            Some("4.33.2F")
        );
        assert_eq!(
            image_version("CONSOLESPEED=9600\nSWI=flash:/EOS64-4.34.1F.swi\n").as_deref(),
            Some("4.34.1F")
        );
        assert_eq!(
            image_version("SWI=flash:vEOS-lab-4.32.0F.swi").as_deref(),
            Some("4.32.0F")
        );
        assert_eq!(image_version("SWI=flash:custom.swi"), None);
        assert_eq!(image_version(""), None);
    }

    #[test]
    fn install_source_points_boot_config_at_an_image_on_flash() {
        let flash = tempfile::tempdir().unwrap();
        let boot_config = flash.path().join("boot-config");
        std::fs::write(&boot_config, "SWI=flash:EOS-4.33.2F.swi\n").unwrap();

        // Missing on flash: an error, and boot-config untouched.
        let err = install_from_flash(flash.path(), "flash:EOS-4.34.0F.swi").unwrap_err();
        assert!(format!("{err}").contains("does not exist"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&boot_config).unwrap(),
            "SWI=flash:EOS-4.33.2F.swi\n"
        );
        // Not a flash: source, or not a plain file name: refused too.
        assert!(install_from_flash(flash.path(), "http://10.0.0.1/EOS.swi").is_err());
        assert!(install_from_flash(flash.path(), "flash:../EOS-4.34.0F.swi").is_err());
        assert!(install_from_flash(flash.path(), "flash:").is_err());

        std::fs::write(flash.path().join("EOS-4.34.0F.swi"), b"image").unwrap();
        let out = install_from_flash(flash.path(), "flash:/EOS-4.34.0F.swi").unwrap();
        assert!(out.contains("flash:EOS-4.34.0F.swi"), "{out}");
        let written = std::fs::read_to_string(&boot_config).unwrap();
        assert_eq!(written, "SWI=flash:EOS-4.34.0F.swi\n");
        // What the next boot reports in `show version`.
        assert_eq!(image_version(&written).as_deref(), Some("4.34.0F"));
    }
}
