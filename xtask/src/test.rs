//! `cargo xtask test`: everything CI checks, from a fresh machine.
//!
//! 1. the build toolchain (see `setup`), and what the end-to-end tests run:
//!    Node.js with the filesystem, everything and memory MCP servers (and an
//!    old, vulnerable filesystem server beside them), and a Python virtualenv
//!    with the `mcp` SDK as the client and `mcp-server-fetch`;
//! 2. `cargo fmt --check` and `cargo clippy -D warnings`;
//! 3. unit tests, then the end-to-end tests (root; in CI a missing privilege fails);
//! 4. without a filter, the kernel matrix of `vm` for 6.1 and 6.12.
use std::{path::PathBuf, process::Command};

use anyhow::bail;

use crate::{cargo, checked, root, setup, step};

/// Versions the end-to-end tests install: the npm MCP servers (side by side in
/// one prefix), the Python SDK client and the fetch server (one virtualenv).
const NPM_SERVERS: &[&str] = &[
    "@modelcontextprotocol/server-filesystem@2026.8.31",
    "@modelcontextprotocol/server-everything@2026.8.31",
    "@modelcontextprotocol/server-memory@2026.8.31",
];
/// A server-filesystem from before the symlink fix of 2025.7.1
/// (CVE-2025-53109/53110), in a prefix of its own: the attack tests drive it.
const OLD_SERVER_FILESYSTEM: (&str, &str) = (
    "@modelcontextprotocol/server-filesystem@2025.3.28",
    "node-filesystem-2025.3.28",
);
const PYTHON_PACKAGES: &[(&str, &str)] = &[
    ("mcp==2.3.0", "mcp.client.stdio"),
    ("mcp-server-fetch==2026.10.24", "mcp_server_fetch"),
];

pub fn run(filter: Option<&str>) -> anyhow::Result<()> {
    setup::ensure_toolchain()?;
    let deps = ensure_e2e_deps()?;

    step("cargo fmt --check");
    checked(cargo().args(["fmt", "--all", "--", "--check"]))?;
    step("cargo clippy -D warnings");
    checked(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;

    let bin = crate::build_release()?;

    if filter.is_none() {
        step("unit tests");
        checked(cargo().args([
            "test",
            "--package",
            "monitor",
            "--package",
            "monitor-common",
            "--package",
            "xtask",
        ]))?;
    }

    step("end-to-end tests (real probes, real processes, real MCP servers)");
    let root = setup::is_root();
    if !root {
        eprintln!("note: not root: the end-to-end tests that load eBPF will say they skip");
    }
    let mut e2e = cargo();
    e2e.args(["test", "--package", "e2e"])
        .env("MCP_MONITOR_BIN", &bin)
        .env("MCP_E2E_PYTHON", &deps.python)
        .env("MCP_E2E_NODE_DIR", &deps.node_dir)
        .env("MCP_E2E_OLD_FS_DIR", &deps.old_fs_dir);
    e2e.arg("--");
    if let Some(f) = filter {
        e2e.arg(f);
    }
    // One daemon at a time: two cores, and timings in the tests stay honest.
    e2e.arg("--test-threads=1");
    if !root {
        // Show each test's reason for skipping (libtest hides a passing test's output).
        e2e.arg("--nocapture");
    }
    checked(&mut e2e)?;

    if filter.is_none() {
        step("the monitor on Debian's 5.10, 6.1 and 6.12 kernels, under qemu");
        crate::vm::check(&["5.10", "6.1", "6.12"], &bin)?;
    }
    Ok(())
}

struct E2eDeps {
    python: PathBuf,
    node_dir: PathBuf,
    old_fs_dir: PathBuf,
}

fn ensure_e2e_deps() -> anyhow::Result<E2eDeps> {
    let base = root().join("target/e2e");
    std::fs::create_dir_all(&base)?;

    if Command::new("npm").arg("--version").output().is_err() {
        setup::ensure_apt_packages(&["nodejs", "npm"])?;
    }
    let node_dir = base.join("node");
    ensure_npm(&node_dir, NPM_SERVERS)?;
    let old_fs_dir = base.join(OLD_SERVER_FILESYSTEM.1);
    ensure_npm(&old_fs_dir, &[OLD_SERVER_FILESYSTEM.0])?;

    let venv = base.join("venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        step("creating a python venv for the MCP client and the fetch server");
        if !Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
        {
            setup::ensure_apt_packages(&["python3-venv"])?;
            checked(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
    }
    for (spec, module) in PYTHON_PACKAGES {
        let present = Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if present {
            step(&format!("python {spec} present"));
        } else {
            step(&format!("installing {spec} into the venv"));
            // `python -m pip`, not the venv's pip script: a copied venv's
            // scripts name the interpreter of the venv they were copied from.
            checked(Command::new(&python).args(["-m", "pip", "install", "--quiet", spec]))?;
        }
    }
    if !python.exists() {
        bail!("{} was not created", python.display());
    }
    Ok(E2eDeps {
        python,
        node_dir,
        old_fs_dir,
    })
}

/// Installs the npm packages `specs` (`name@version`) into `prefix` unless
/// each is already there at that version.
fn ensure_npm(prefix: &std::path::Path, specs: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = specs
        .iter()
        .copied()
        .filter(|spec| {
            let (name, version) = spec.rsplit_once('@').unwrap_or((spec, ""));
            let manifest = prefix.join("node_modules").join(name).join("package.json");
            !std::fs::read_to_string(manifest)
                .is_ok_and(|m| m.contains(&format!("\"version\": \"{version}\"")))
        })
        .collect();
    if missing.is_empty() {
        step(&format!("{} present", specs.join(" ")));
        return Ok(());
    }
    step(&format!(
        "installing {} for the end-to-end tests",
        missing.join(" ")
    ));
    std::fs::create_dir_all(prefix)?;
    checked(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(prefix)
            .args(&missing),
    )
}
