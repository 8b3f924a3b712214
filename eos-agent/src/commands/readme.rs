//! The bundle's README.txt: the steps for this one spine, with its names and
//! paths filled in, so an operator at a console with no network has
//! everything in front of them.

use std::fmt::Write as _;
use std::path::Path;

use ztps_config::{AgentInstall, Spine};

use super::bundle::{
    BOOT_EXTENSIONS, BOOT_EXTENSIONS_ADD, MANIFEST_FILE, Options, README_FILE, SEED_FILE,
    data_disk_name, is_agent_extension, vm_disk_name,
};

/// The folder the README asks the operator to put the bundle in on a USB
/// stick; any name works as long as the commands use the same one.
const USB_FOLDER: &str = "ztps";

pub fn readme(spine: &Spine, options: &Options, files: &[String]) -> anyhow::Result<String> {
    let mut t = String::with_capacity(8192);
    let name = &spine.name;
    let agent = spine.agent_path();
    let host = spine.host()?;
    let disk = &host.vm.disk;
    let disk_name = vm_disk_name(spine)?;
    let disk_dir = disk.parent().unwrap_or(Path::new("/mnt/flash"));
    let disk_in_bundle = files.contains(&disk_name) && options.vm_disk.is_some();
    let disk_off_flash = disk_in_bundle && disk_dir != Path::new("/mnt/flash");
    let sidecar = format!("{disk_name}.sha256");
    // The data disk (the leaves' EOS images), beside the VM disk by default.
    let data_path = spine.data_disk_path();
    let data = data_disk_name(spine)
        .zip(data_path.as_deref())
        .filter(|(name, _)| files.contains(name));
    let data_dir = data
        .as_ref()
        .and_then(|(_, p)| p.parent())
        .unwrap_or(Path::new("/mnt/flash"));
    let data_off_flash = data.is_some() && data_dir != Path::new("/mnt/flash");
    // What lands on /mnt/flash, in the order the files are copied.
    let mut to_flash: Vec<String> = files
        .iter()
        .filter(|f| !(disk_off_flash && **f == disk_name))
        .filter(|f| !(data_off_flash && data.as_ref().is_some_and(|(n, _)| n == *f)))
        .cloned()
        .collect();
    if disk_off_flash {
        to_flash.push(sidecar.clone());
    }
    // Copied elsewhere than flash, each with its checksum file on flash.
    let mut elsewhere: Vec<(String, std::path::PathBuf)> = Vec::new();
    if data_off_flash && let Some((name, path)) = &data {
        to_flash.push(format!("{name}.sha256"));
        elsewhere.push((name.clone(), path.to_path_buf()));
    }
    to_flash.push(README_FILE.to_string());
    to_flash.push(MANIFEST_FILE.to_string());
    let usb = format!("/mnt/usb1/{USB_FOLDER}");
    let mode = if options.new_switch {
        "a NEW switch (full startup-config and boot-config)"
    } else {
        "a switch ALREADY IN SERVICE (nothing of its own config is replaced)"
    };

    let _ = writeln!(t, "ztps-eos bundle for spine {name}");
    let _ = writeln!(t, "{}", "=".repeat(25 + name.len()));
    let _ = writeln!(
        t,
        "Made by ztps-agent {} for {mode}.",
        crate::version::version()
    );
    t.push_str("Commands are one per line; `spine#` lines are typed at the EOS CLI.\n\n");

    t.push_str("Files\n-----\n");
    for file in &to_flash {
        let _ = writeln!(
            t,
            "  {file:<34} {}",
            describe(spine, options, file, &disk_name)
        );
    }
    if disk_off_flash {
        let _ = writeln!(
            t,
            "  {disk_name:<34} {}",
            describe(spine, options, &disk_name, &disk_name)
        );
    }
    for (name, _) in &elsewhere {
        let _ = writeln!(
            t,
            "  {name:<34} {}",
            describe(spine, options, name, &disk_name)
        );
    }
    if !disk_in_bundle {
        let _ = writeln!(
            t,
            "  {:<34} the VM disk, not in this bundle (vm-image/build makes it) -> {}",
            format!("({disk_name})"),
            disk.display()
        );
    }

    t.push_str(
        "\n1. Verify the bundle before copying it\n--------------------------------------\n",
    );
    t.push_str("In this directory:\n");
    let _ = writeln!(t, "  sha256sum -c {MANIFEST_FILE}");
    if disk_off_flash {
        let _ = writeln!(t, "  sha256sum -c {sidecar}");
    }
    for (name, _) in &elsewhere {
        let _ = writeln!(t, "  sha256sum -c {name}.sha256");
    }
    t.push_str("Every line must say OK. Run it again on the switch after copying (step 2).\n");

    t.push_str("\n2. Copy it to the switch (one of A, B, C, D)\n--------------------------------------------\n");
    let _ = writeln!(
        t,
        "A. USB stick, plain copy at the EOS CLI (keeps everything already on flash).\n   On a workstation, with the stick (FAT) mounted at /media/usb:\n     mkdir -p /media/usb/{USB_FOLDER}\n     cp -r ./. /media/usb/{USB_FOLDER}/\n     sync\n   Put the stick in {name}, then:\n     spine# bash cd {usb} && sha256sum -c {MANIFEST_FILE}"
    );
    for file in &to_flash {
        if let Some(dir) = Path::new(file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            let _ = writeln!(t, "     spine# bash mkdir -p /mnt/flash/{}", dir.display());
        }
        let _ = writeln!(t, "     spine# bash cp {usb}/{file} /mnt/flash/{file}");
    }
    let _ = writeln!(
        t,
        "     spine# bash cd /mnt/flash && sha256sum -c {MANIFEST_FILE}"
    );
    if disk_off_flash {
        let _ = writeln!(
            t,
            "     spine# bash cp {usb}/{disk_name} {}\n     spine# bash cd {} && sha256sum -c /mnt/flash/{sidecar}",
            disk.display(),
            disk_dir.display()
        );
    }
    for (name, path) in &elsewhere {
        let dir = path.parent().unwrap_or(Path::new("/mnt/flash"));
        let _ = writeln!(
            t,
            "     spine# bash cp {usb}/{name} {}\n     spine# bash cd {} && sha256sum -c /mnt/flash/{name}.sha256",
            path.display(),
            dir.display()
        );
    }
    t.push_str("\nB. USB stick, fullrecover (the recipe's route).\n");
    if options.new_switch {
        let _ = writeln!(
            t,
            "   At boot, Aboot ERASES the internal flash and copies the stick onto it.\n   Only for a switch with nothing to keep. Put on the stick's root (not in a folder):\n   every file of this bundle, the EOS image {} and an empty file named fullrecover:\n     cp -r ./. /media/usb/\n     cp EOS-image.swi /media/usb/{}\n     touch /media/usb/fullrecover\n     sync\n   Put the stick in {name}, power it on, then remove the stick once EOS is up\n   (or it recovers again at the next boot).",
            spine.eos_image, spine.eos_image
        );
    } else {
        t.push_str(
            "   NOT for this bundle: fullrecover erases the whole flash (the switch's\n   startup-config, boot-config, extensions such as TerminAttr). For a fresh\n   switch, build the bundle again with --new-switch.\n",
        );
    }

    let _ = writeln!(
        t,
        "\nC. From the console, with no network.\n   The console carries text, not files: use a USB stick (A) and type the\n   commands at the console. A single text file (say ztps-agent.toml after a\n   change) can be pasted instead:\n     spine# bash cat > /mnt/flash/ztps-agent.toml\n   paste the file, press Ctrl-D, then compare its sha256 with {MANIFEST_FILE}:\n     spine# bash sha256sum /mnt/flash/ztps-agent.toml"
    );

    let _ = writeln!(
        t,
        "\nD. scp, where a management path to {name} exists:\n     scp -r {} admin@{name}:/mnt/flash/",
        top_level(&to_flash).join(" ")
    );
    if disk_off_flash {
        let _ = writeln!(t, "     scp {disk_name} admin@{name}:{}", disk.display());
        let _ = writeln!(
            t,
            "     ssh admin@{name} 'bash cd {} && sha256sum -c /mnt/flash/{sidecar}'",
            disk_dir.display()
        );
    }
    for (file, path) in &elsewhere {
        let _ = writeln!(t, "     scp {file} admin@{name}:{}", path.display());
    }
    let _ = writeln!(
        t,
        "     ssh admin@{name} 'bash cd /mnt/flash && sha256sum -c {MANIFEST_FILE}'"
    );

    let _ = writeln!(
        t,
        "\n3. The VM disk\n--------------\nztps.xml opens {} ({} format). Put {disk_name} there before\nenabling the VM; /mnt/flash, /mnt/usb1 and /mnt/drive keep files across reboots.",
        disk.display(),
        host.vm.disk_format.as_str()
    );
    if let Some((name, path)) = &data {
        let served: Vec<String> = spine
            .data_disk_files()
            .iter()
            .map(|f| format!("files/{}", f.served_path()))
            .collect();
        let _ = writeln!(
            t,
            "ztps.xml also attaches {} read-only: the data disk {name}, from which\nZTPServer serves {} to the leaves\n(install_image / install_extension). No management network is needed.",
            path.display(),
            served.join(", ")
        );
    }
    if disk.starts_with("/mnt/usb1") || data_path.is_some_and(|p| p.starts_with("/mnt/usb1")) {
        t.push_str(
            "/mnt/usb1 is the USB stick: it stays in the switch for as long as the VM runs.\n",
        );
    }

    t.push_str("\n4. The agent binary\n-------------------\n");
    match spine.agent.install {
        AgentInstall::Flash => {
            let _ = writeln!(
                t,
                "agent.install = \"flash\": the daemon runs {agent}, copied above. No SWIX and no\nboot-extensions line are needed; boot-extensions is left as it is."
            );
        }
        AgentInstall::Swix => {
            let swix = &spine.agent.swix_file;
            if files.iter().any(|f| f == BOOT_EXTENSIONS_ADD) {
                let _ = writeln!(
                    t,
                    "agent.install = \"swix\". The switch's boot-extensions was not given, so it is\nnot in this bundle: append the one line of {BOOT_EXTENSIONS_ADD} ({swix}) to it,\nkeeping every line already there:\n  spine# bash cat /mnt/flash/{BOOT_EXTENSIONS}\n  spine# bash cat /mnt/flash/{BOOT_EXTENSIONS_ADD} >> /mnt/flash/{BOOT_EXTENSIONS}\nIf an older ztps-agent-*.swix line is there, delete that line."
                );
            } else if let Some(current) = &options.current_boot_extensions {
                let kept: Vec<&str> = current
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !is_agent_extension(l, swix))
                    .collect();
                let _ = writeln!(
                    t,
                    "agent.install = \"swix\". {BOOT_EXTENSIONS} is the switch's own with {swix} added;\nkept as they were: {}.",
                    if kept.is_empty() {
                        "no other lines".to_string()
                    } else {
                        kept.join(", ")
                    }
                );
            } else {
                let _ = writeln!(
                    t,
                    "agent.install = \"swix\". {BOOT_EXTENSIONS} lists {swix}."
                );
            }
            let _ = writeln!(
                t,
                "EOS installs it at every boot. To install it now, without a reload:\n  spine# copy flash:.extensions/{swix} extension:\n  spine# extension {swix}\n  spine# show extensions\nThe RPM is built for {}; a 32-bit EOS userland refuses an x86_64 one\n(\"intended for a different architecture\").",
                ztps_swix::Arch::for_eos_image(&spine.eos_image).rpm_name()
            );
        }
    }

    t.push_str("\n5. Apply the configuration\n--------------------------\n");
    if options.new_switch {
        let _ = writeln!(
            t,
            "startup-config and boot-config (SWI=flash:{}) are in the bundle: reload.\n  spine# reload",
            spine.eos_image
        );
    } else {
        t.push_str(
            "startup-config and boot-config are NOT in this bundle: the switch keeps its own.\nRead startup-config.snippet first (it says what each line does), then merge it\ninto the running config and save:\n  spine# copy flash:startup-config.snippet running-config\n  spine# show running-config section ztps\n  spine# write memory\n",
        );
    }

    let _ = writeln!(
        t,
        "\n6. Check that it runs\n---------------------\n  spine# show daemon ztps\n  spine# bash {agent} status\n  spine# show logging | include ZTPS\n`show daemon ztps` must say it is running; `ztps-agent status` shows the bridge\n{}, forwarding, the leaf links served, leases and the VM {}.",
        host.bridge.name, host.vm.name
    );

    let _ = writeln!(
        t,
        "\n7. When it does not run\n-----------------------\n- Its own words: the daemon's output is in /var/log/agents/:\n    spine# bash ls -t /var/log/agents/ | grep ztps\n    spine# bash tail -n 40 /var/log/agents/ztps-*\n- A config problem names the file, line and key:\n    spine# bash {agent} check --config /mnt/flash/ztps-agent.toml\n- \"No such file\" for {agent}: the binary is not there ({}).\n- \"refuses to run on a 32-bit kernel\": this switch's kernel cannot run the\n  static x86_64 agent. A 32-bit userland on the 64-bit kernel is fine.\n- Stop it without touching anything else (the bridge, forwarding and the VM\n  stay as they are):\n    spine# configure\n    spine(config)# daemon ztps\n    spine(config-daemon-ztps)# shutdown\n- More: docs/operations.md of ztps-eos: \"Troubleshooting\", and how to upgrade\n  the agent, remove it, or stop serving DHCP once the fabric is built.",
        match spine.agent.install {
            AgentInstall::Flash => "copy it again, step 2".to_string(),
            AgentInstall::Swix => format!(
                "`show extensions` must list {} as installed",
                spine.agent.swix_file
            ),
        }
    );
    Ok(t)
}

/// The names scp needs: `.extensions` once, for every file under it.
fn top_level(files: &[String]) -> Vec<String> {
    let mut top: Vec<String> = Vec::new();
    for file in files {
        let first = file.split('/').next().unwrap_or(file).to_string();
        if !top.contains(&first) {
            top.push(first);
        }
    }
    top
}

fn describe(spine: &Spine, options: &Options, file: &str, disk_name: &str) -> String {
    match file {
        "startup-config" => "full EOS config for a new switch -> /mnt/flash/".into(),
        "startup-config.snippet" => {
            "only the lines ztps-eos adds, to merge (step 5) -> /mnt/flash/".into()
        }
        "boot-config" => format!("SWI=flash:{} -> /mnt/flash/", spine.eos_image),
        "ztps.xml" => format!(
            "libvirt domain of VM {} -> /mnt/flash/",
            spine.vm.as_ref().map_or("", |vm| vm.name.as_str())
        ),
        "ztps-agent.toml" => "the agent's config (mode 0600) -> /mnt/flash/".into(),
        SEED_FILE => "the VM's Day-1 seed disk -> /mnt/flash/".into(),
        "ztps-agent" => "the agent, static x86_64 -> /mnt/flash/".into(),
        BOOT_EXTENSIONS if options.current_boot_extensions.is_some() => {
            "the switch's boot-extensions plus the agent's line -> /mnt/flash/".into()
        }
        BOOT_EXTENSIONS => "extensions to install at boot -> /mnt/flash/".into(),
        BOOT_EXTENSIONS_ADD => "the line to append to boot-extensions (step 4)".into(),
        README_FILE => "this file".into(),
        MANIFEST_FILE => "sha256 of every file: sha256sum -c".into(),
        f if f.starts_with(".extensions/") => {
            "the agent as an EOS extension (SWIX) -> /mnt/flash/.extensions/".into()
        }
        f if f == disk_name => format!(
            "the ZTPServer VM disk -> {}",
            spine
                .vm
                .as_ref()
                .map_or(String::new(), |vm| vm.disk.display().to_string())
        ),
        f if data_disk_name(spine).as_deref() == Some(f) => format!(
            "the VM's data disk: the leaves' EOS images and extensions -> {}",
            spine
                .data_disk_path()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
        f if f.ends_with(".sha256") => "sha256 of the disk it names, checked where it lands".into(),
        _ => String::new(),
    }
}
