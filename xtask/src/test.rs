//! `cargo xtask test`: everything CI checks, from a fresh machine.
//!
//! 1. the build toolchain (see `setup`), and what the end-to-end tests run:
//!    Node.js with `@modelcontextprotocol/server-filesystem`, and a Python
//!    virtualenv with the `mcp` SDK as the client;
//! 2. `cargo fmt --check` and `cargo clippy -D warnings`;
//! 3. unit tests, then the end-to-end tests (root; in CI a missing privilege fails).
use std::{path::PathBuf, process::Command};

use anyhow::bail;

use crate::{cargo, checked, root, setup, step};

/// Versions the end-to-end tests install.
const SERVER_FILESYSTEM: &str = "@modelcontextprotocol/server-filesystem@2026.8.31";
const PYTHON_MCP: &str = "mcp==2.3.0";

pub fn run(filter: Option<&str>) -> anyhow::Result<()> {
    setup::ensure_toolchain()?;
    let deps = ensure_e2e_deps()?;

    step("cargo fmt --check");
    checked(cargo().args(["fmt", "--all", "--", "--check"]))?;
    step("cargo clippy -D warnings");
    checked(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;

    step("building mcp-monitor (release) for the end-to-end tests");
    checked(cargo().args(["build", "--release", "--package", "monitor"]))?;
    let bin = root().join("target/release/mcp-monitor");

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
        .env("MCP_E2E_NODE_DIR", &deps.node_dir);
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
    checked(&mut e2e)
}

struct E2eDeps {
    python: PathBuf,
    node_dir: PathBuf,
}

fn ensure_e2e_deps() -> anyhow::Result<E2eDeps> {
    let base = root().join("target/e2e");
    std::fs::create_dir_all(&base)?;

    if Command::new("npm").arg("--version").output().is_err() {
        setup::ensure_apt_packages(&["nodejs", "npm"])?;
    }
    let node_dir = base.join("node");
    let installed =
        node_dir.join("node_modules/@modelcontextprotocol/server-filesystem/package.json");
    if installed.exists() {
        step(&format!("{SERVER_FILESYSTEM} present"));
    } else {
        step(&format!(
            "installing {SERVER_FILESYSTEM} for the end-to-end tests"
        ));
        std::fs::create_dir_all(&node_dir)?;
        checked(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--prefix"])
                .arg(&node_dir)
                .arg(SERVER_FILESYSTEM),
        )?;
    }

    let venv = base.join("venv");
    let python = venv.join("bin/python");
    let has_mcp = Command::new(&python)
        .args(["-c", "import mcp.client.stdio"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_mcp {
        step("python venv with the mcp SDK present");
    } else {
        step(&format!("creating a python venv with {PYTHON_MCP}"));
        if !Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
        {
            setup::ensure_apt_packages(&["python3-venv"])?;
            checked(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
        checked(Command::new(&python).args(["-m", "pip", "install", "--quiet", PYTHON_MCP]))?;
    }
    if !python.exists() {
        bail!("{} was not created", python.display());
    }
    Ok(E2eDeps { python, node_dir })
}
