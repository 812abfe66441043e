//! Installing what the build needs, idempotently, one printed step at a time:
//! Debian's LLVM 22 (for bpf-linker), the nightly toolchain with `rust-src`
//! (the kernel programs are built with `-Z build-std=core`), and bpf-linker.
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

use crate::{checked, step};

/// LLVM major that bpf-linker must share with rustc.
const LLVM_MAJOR: u32 = 22;
const BPF_LINKER_VERSION: &str = "0.13.0";

pub fn ensure_toolchain() -> anyhow::Result<()> {
    ensure_apt_packages(&[
        &format!("llvm-{LLVM_MAJOR}-dev"),
        &format!("libpolly-{LLVM_MAJOR}-dev"),
        "libzstd-dev",
        "zlib1g-dev",
    ])?;
    ensure_nightly_rust_src()?;
    ensure_bpf_linker()
}

fn quiet(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Installs the Debian packages that are missing (apt-get update first, once).
pub fn ensure_apt_packages(packages: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_none_or(|s| !s.contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        step(&format!("apt packages present: {}", packages.join(" ")));
        return Ok(());
    }
    step(&format!("installing apt packages: {}", missing.join(" ")));
    if !is_root() {
        bail!(
            "installing {} needs root; run this as root or install them with apt-get",
            missing.join(" ")
        );
    }
    checked(Command::new("apt-get").args(["update", "-qq"]))?;
    checked(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn ensure_nightly_rust_src() -> anyhow::Result<()> {
    let installed = output(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed",
    ]));
    match installed {
        None => {
            step("installing the nightly toolchain with rust-src");
            checked(Command::new("rustup").args([
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
                "--component",
                "rust-src",
            ]))
        }
        Some(list) if !list.lines().any(|l| l.starts_with("rust-src")) => {
            step("installing rust-src for the nightly toolchain");
            checked(Command::new("rustup").args([
                "component",
                "add",
                "rust-src",
                "--toolchain",
                "nightly",
            ]))
        }
        Some(_) => {
            step("nightly toolchain with rust-src present");
            Ok(())
        }
    }
}

fn ensure_bpf_linker() -> anyhow::Result<()> {
    let version = output(Command::new("bpf-linker").arg("--version"));
    if version
        .as_deref()
        .is_some_and(|v| v.trim().ends_with(BPF_LINKER_VERSION))
    {
        step(&format!("bpf-linker {BPF_LINKER_VERSION} present"));
        return Ok(());
    }
    step(&format!(
        "building bpf-linker {BPF_LINKER_VERSION} against LLVM {LLVM_MAJOR} (about a minute)"
    ));
    let prefix = format!("/usr/lib/llvm-{LLVM_MAJOR}");
    checked(
        crate::cargo()
            .args([
                "install",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--no-default-features",
                "--features",
                &format!("llvm-{LLVM_MAJOR}"),
            ])
            .env("LLVM_PREFIX", &prefix),
    )
    .context("building bpf-linker")?;
    if !quiet(Command::new("bpf-linker").arg("--version")) {
        bail!("bpf-linker was installed but is not on PATH: add ~/.cargo/bin to PATH");
    }
    Ok(())
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() == 0 }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
