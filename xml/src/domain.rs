//! The libvirt domain of the ZTPServer VM, written element by element with
//! quick-xml so every value is escaped and the document is always well formed.
//!
//! Only configuration goes in: no `id=`, `<alias>`, `/dev/pts/N` or `vnet*`
//! target (live state, or names libvirt reserves for itself).

use std::io;
use std::path::Path;

use quick_xml::Writer;
use quick_xml::events::BytesText;
use ztps_config::{Host, Spine};

use crate::Error;

type Xml = Writer<Vec<u8>>;

/// The domain XML EOS's `virtual-machine` (or libvirt) defines the VM from.
pub fn domain_xml(spine: &Spine) -> Result<String, Error> {
    let host = spine.host()?;
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_domain(&mut writer, host, spine.data_disk_path().as_deref()).map_err(Error::Xml)?;
    let mut text =
        String::from_utf8(writer.into_inner()).map_err(|e| Error::Xml(io::Error::other(e)))?;
    text.push('\n');
    Ok(text)
}

fn write_domain(w: &mut Xml, host: Host<'_>, data_disk: Option<&Path>) -> io::Result<()> {
    let vm = host.vm;
    let memory = (u64::from(vm.memory_mib) * 1024).to_string();
    let vcpus = vm.vcpus.to_string();
    w.create_element("domain")
        .with_attribute(("type", "kvm"))
        .write_inner_content(|w| {
            text_element(w, "name", &vm.name)?;
            // KiB, libvirt's default unit, and no `unit` attribute: the
            // libvirt of older EOS releases may ignore it and read MiB as KiB.
            w.create_element("memory")
                .write_text_content(BytesText::new(&memory))?;
            w.create_element("currentMemory")
                .write_text_content(BytesText::new(&memory))?;
            w.create_element("vcpu")
                .with_attribute(("placement", "static"))
                .write_text_content(BytesText::new(&vcpus))?;
            w.create_element("os").write_inner_content(|w| {
                w.create_element("type")
                    .with_attribute(("arch", "x86_64"))
                    .with_attribute(("machine", vm.machine.as_str()))
                    .write_text_content(BytesText::new("hvm"))?;
                w.create_element("boot")
                    .with_attribute(("dev", "hd"))
                    .write_empty()?;
                Ok(())
            })?;
            w.create_element("features").write_inner_content(|w| {
                for feature in ["acpi", "apic", "pae"] {
                    w.create_element(feature).write_empty()?;
                }
                Ok(())
            })?;
            w.create_element("clock")
                .with_attribute(("offset", "utc"))
                .write_empty()?;
            text_element(w, "on_poweroff", "destroy")?;
            text_element(w, "on_reboot", "restart")?;
            text_element(w, "on_crash", "restart")?;
            w.create_element("devices")
                .write_inner_content(|w| write_devices(w, host, data_disk))?;
            Ok(())
        })?;
    Ok(())
}

/// A read-only raw image on an IDE CD-ROM at `dev`.
fn write_cdrom(w: &mut Xml, image: &Path, dev: &str) -> io::Result<()> {
    let image = image.to_string_lossy();
    w.create_element("disk")
        .with_attribute(("type", "file"))
        .with_attribute(("device", "cdrom"))
        .write_inner_content(|w| {
            w.create_element("driver")
                .with_attribute(("name", "qemu"))
                .with_attribute(("type", "raw"))
                .write_empty()?;
            w.create_element("source")
                .with_attribute(("file", image.as_ref()))
                .write_empty()?;
            w.create_element("target")
                .with_attribute(("dev", dev))
                .with_attribute(("bus", "ide"))
                .write_empty()?;
            w.create_element("readonly").write_empty()?;
            Ok(())
        })?;
    Ok(())
}

fn write_devices(w: &mut Xml, host: Host<'_>, data_disk: Option<&Path>) -> io::Result<()> {
    let vm = host.vm;
    if let Some(emulator) = &vm.emulator {
        text_element(w, "emulator", &emulator.to_string_lossy())?;
    }
    let disk = vm.disk.to_string_lossy();
    w.create_element("disk")
        .with_attribute(("type", "file"))
        .with_attribute(("device", "disk"))
        .write_inner_content(|w| {
            w.create_element("driver")
                .with_attribute(("name", "qemu"))
                .with_attribute(("type", vm.disk_format.as_str()))
                .write_empty()?;
            w.create_element("source")
                .with_attribute(("file", disk.as_ref()))
                .write_empty()?;
            w.create_element("target")
                .with_attribute(("dev", "hda"))
                .with_attribute(("bus", "ide"))
                .write_empty()?;
            Ok(())
        })?;
    if let Some(seed) = &vm.seed_disk {
        // The Day-1 seed is an ISO (cloud-init NoCloud); a CD-ROM is the
        // read-only device every guest and the IDE bus support.
        write_cdrom(w, seed, "hdb")?;
    }
    if let Some(data) = data_disk {
        // The EOS images and extensions ZTPServer serves. A CD-ROM like the
        // seed: read-only on the IDE bus (QEMU's IDE disks refuse read-only
        // drives), and the FAT on it has the CD-ROM's 2048-byte sectors.
        write_cdrom(w, data, "hdc")?;
    }
    let mac = vm.mac.to_string();
    w.create_element("interface")
        .with_attribute(("type", "bridge"))
        .write_inner_content(|w| {
            w.create_element("mac")
                .with_attribute(("address", mac.as_str()))
                .write_empty()?;
            w.create_element("source")
                .with_attribute(("bridge", host.bridge.name.as_str()))
                .write_empty()?;
            w.create_element("model")
                .with_attribute(("type", vm.nic_model.as_str()))
                .write_empty()?;
            Ok(())
        })?;
    w.create_element("serial")
        .with_attribute(("type", "pty"))
        .write_inner_content(|w| {
            w.create_element("target")
                .with_attribute(("port", "0"))
                .write_empty()?;
            Ok(())
        })?;
    w.create_element("console")
        .with_attribute(("type", "pty"))
        .write_inner_content(|w| {
            w.create_element("target")
                .with_attribute(("type", "serial"))
                .with_attribute(("port", "0"))
                .write_empty()?;
            Ok(())
        })?;
    if vm.vnc {
        // Never on 0.0.0.0: VNC here has no password.
        w.create_element("graphics")
            .with_attribute(("type", "vnc"))
            .with_attribute(("autoport", "yes"))
            .with_attribute(("listen", "127.0.0.1"))
            .write_inner_content(|w| {
                w.create_element("listen")
                    .with_attribute(("type", "address"))
                    .with_attribute(("address", "127.0.0.1"))
                    .write_empty()?;
                Ok(())
            })?;
        w.create_element("video").write_inner_content(|w| {
            w.create_element("model")
                .with_attribute(("type", "vga"))
                .write_empty()?;
            Ok(())
        })?;
    }
    Ok(())
}

fn text_element(w: &mut Xml, name: &str, text: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(text))?;
    Ok(())
}
