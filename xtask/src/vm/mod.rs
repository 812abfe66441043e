//! `cargo xtask vm-test`: the monitor on real Debian kernels, under qemu.
//!
//! For each kernel: fetch Debian's cloud kernel package through an apt state of
//! our own (`fetch`), boot it with an initramfs holding busybox, the release
//! binary and a script that starts the daemon and provokes two alerts and a
//! connect (`initramfs`, `init.sh`), then read the script's `VMTEST` lines off
//! the serial console (`qemu`, `report`).
mod fetch;
mod initramfs;
mod qemu;
mod report;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

use crate::{root, setup, step};

/// A kernel of the matrix: its short name and the `apt-cache search` pattern
/// that names its package (the newest match that downloads is used).
pub struct Kernel {
    pub name: &'static str,
    package: &'static str,
}

pub const KERNELS: &[Kernel] = &[
    Kernel {
        name: "6.1",
        // Digits only after `6.1.0-`: bullseye also carries 6.1 backports
        // named `6.1.0-0.deb11.N`, which are not bookworm's kernel.
        package: r"^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$",
    },
    Kernel {
        name: "6.12",
        package: r"^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64-unsigned$",
    },
    Kernel {
        name: "5.10",
        package: r"^linux-image-5\.10\.0-[0-9]+-cloud-amd64-unsigned$",
    },
];

/// How long the guest waits for the daemon's `watching` line, then for the
/// alerts and the connect event.
const READY_LIMIT_S: u32 = 120;
const ALERTS_LIMIT_S: u32 = 10;

/// Alerts the smoke server in `init.sh` must raise on every kernel.
const REQUIRED_ALERTS: &[&str] = &[
    "MCP server read SSH keys or configuration",
    "MCP server read another process's environment",
];

/// `cargo xtask vm-test`: runs the matrix, records it in docs/kernels.md and
/// fails if any kernel failed.
pub fn run(names: &[String], build: bool) -> anyhow::Result<()> {
    let kernels = select(names)?;
    let bin = if build {
        setup::ensure_toolchain()?;
        crate::build_release()?
    } else {
        existing_binary()?
    };
    let matrix = matrix(&kernels, &bin)?;
    matrix.write_doc(&root().join("docs/kernels.md"))?;
    matrix.verdict()
}

/// Runs the matrix for `names` with an already built `bin` and fails if any
/// kernel failed (for `cargo xtask test`; leaves docs/kernels.md alone).
pub fn check(names: &[&str], bin: &Path) -> anyhow::Result<()> {
    matrix(&select(names)?, bin)?.verdict()
}

/// The kernels named (all of them when none is).
fn select(names: &[impl AsRef<str>]) -> anyhow::Result<Vec<&'static Kernel>> {
    if names.is_empty() {
        return Ok(KERNELS.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            let name = name.as_ref();
            KERNELS.iter().find(|k| k.name == name).with_context(|| {
                let known: Vec<&str> = KERNELS.iter().map(|k| k.name).collect();
                format!(
                    "no kernel {name} in the matrix (known: {})",
                    known.join(", ")
                )
            })
        })
        .collect()
}

fn existing_binary() -> anyhow::Result<PathBuf> {
    let bin = crate::target_dir().join("release/mcp-monitor");
    if !bin.exists() {
        bail!(
            "{} does not exist: build it (cargo build --release -p monitor) or drop --no-build",
            bin.display()
        );
    }
    step(&format!("using the existing {}", bin.display()));
    Ok(bin)
}

fn matrix(kernels: &[&Kernel], bin: &Path) -> anyhow::Result<report::Matrix> {
    setup::ensure_apt_packages(&["qemu-system-x86", "busybox-static", "cpio"])?;
    let base = root().join("target/vm");
    let images = fetch::images(&base, kernels)?;
    let initrd = initramfs::build(&base, bin)?;
    let accel = qemu::accelerator(&images[0].vmlinuz, &base);
    let outcomes = images
        .iter()
        .map(|image| {
            let boot = qemu::boot(image, &initrd, accel, &base.join(image.kernel))?;
            Ok(report::Outcome::new(image, &boot))
        })
        .collect::<anyhow::Result<_>>()?;
    let matrix = report::Matrix { accel, outcomes };
    matrix.print();
    Ok(matrix)
}

/// A command's standard output, failing on a non-zero exit.
fn stdout_of(cmd: &mut Command) -> anyhow::Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("starting {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
