//! Compiles `monitor-ebpf` for the bpf target (nightly + bpf-linker) and leaves the
//! object in OUT_DIR, where `probes::loader` embeds it.
//!
//! With `AYA_BUILD_SKIP=1` the kernel programs are not built and an empty object is
//! embedded instead: user-space code (rules, decoding, CLI) can then be built and
//! unit-tested without the eBPF toolchain; the daemon refuses to start with it.
use std::{env, fs, path::PathBuf};

use anyhow::{Context as _, anyhow};

const EBPF_PACKAGE: &str = "monitor-ebpf";
/// The binaries of `monitor-ebpf`, each an eBPF object.
const OBJECT_NAMES: &[&str] = &["monitor-ebpf", "monitor-ebpf-compat", "monitor-ebpf-floor"];

fn main() -> anyhow::Result<()> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR not set")?);
    let skip = env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    // The default rules are embedded from ../rules: a new file there must rebuild.
    println!("cargo:rerun-if-changed=../rules");
    if skip {
        for name in OBJECT_NAMES {
            let object = out_dir.join(name);
            if !object.exists() {
                fs::write(&object, b"").context("writing an empty eBPF placeholder")?;
            }
        }
        return Ok(());
    }
    let metadata = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let package = metadata
        .packages
        .into_iter()
        .find(|p| p.name.as_str() == EBPF_PACKAGE)
        .ok_or_else(|| anyhow!("{EBPF_PACKAGE} package not found"))?;
    let root_dir = package
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no parent for {}", package.manifest_path))?
        .to_string();
    aya_build::build_ebpf(
        [aya_build::Package {
            name: EBPF_PACKAGE,
            root_dir: &root_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
