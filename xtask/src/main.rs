//! `cargo xtask …`: set-up, build, run and test mcp-monitor from a fresh machine.
mod bench;
mod deps;
mod setup;
mod test;
mod vm;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "mcp-monitor's development tasks")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what building the kernel programs needs (idempotent).
    Setup,
    /// Set up and build the release binary.
    Build,
    /// Set up, build and start the monitor with its embedded defaults (as root).
    Run {
        /// Arguments for `mcp-monitor run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up and run every check and test: fmt, clippy, unit and end-to-end tests.
    Test {
        /// Only the end-to-end tests whose name contains this.
        filter: Option<String>,
    },
    /// Measure the monitor's overhead on a syscall storm and a real workload (root).
    Bench {
        /// open+close pairs per storm run.
        #[arg(long, default_value_t = 1_000_000)]
        iterations: u64,
        /// Rounds; each configuration's figure is the median over them.
        #[arg(long, default_value_t = 7)]
        rounds: usize,
        /// Run the monitor in enforce mode (its default rules' actions compiled
        /// into the kernel), to measure what prevent mode costs.
        #[arg(long)]
        enforce: bool,
    },
    /// List the import circles between the daemon's modules (there should be none).
    Deps,
    /// Boot Debian's 6.1, 6.12 and 5.10 kernels under qemu and check the monitor on each.
    VmTest {
        /// Kernels to run, e.g. `6.1,6.12` (default: all).
        #[arg(long, value_delimiter = ',')]
        kernels: Vec<String>,
        /// Reuse the release binary already built instead of building it.
        #[arg(long)]
        no_build: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::Setup => setup::ensure_toolchain(),
        Task::Build => setup::ensure_toolchain().and_then(|()| build_release().map(drop)),
        Task::Run { args } => setup::ensure_toolchain()
            .and_then(|()| build_release())
            .and_then(|bin| run_monitor(&bin, &args)),
        Task::Test { filter } => test::run(filter.as_deref()),
        Task::Bench {
            iterations,
            rounds,
            enforce,
        } => setup::ensure_toolchain().and_then(|()| bench::run(iterations, rounds, enforce)),
        Task::VmTest { kernels, no_build } => vm::run(&kernels, !no_build),
        Task::Deps => deps::run(),
    };
    if let Err(e) = result {
        eprintln!("xtask: {e:#}");
        std::process::exit(1);
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Prints a step the way every task does.
pub fn step(what: &str) {
    eprintln!("\x1b[1m==> {what}\x1b[0m");
}

/// Runs a command in the workspace root, failing on a non-zero exit.
pub fn checked(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .current_dir(root())
        .status()
        .with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // A cargo started by `cargo xtask` inherits RUSTUP_TOOLCHAIN; let each build
    // pick its own toolchain (the eBPF build needs nightly through rustup).
    cmd.env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

/// Where the builds xtask starts put their output: a CARGO_TARGET_DIR that
/// xtask was started with reaches them too (relative to the workspace root,
/// where they run).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), |d| root().join(d))
}

/// Builds the release binary and returns its path.
pub fn build_release() -> anyhow::Result<PathBuf> {
    step("building mcp-monitor (release)");
    checked(cargo().args(["build", "--release", "--package", "monitor"]))?;
    Ok(target_dir().join("release/mcp-monitor"))
}

fn run_monitor(bin: &Path, args: &[String]) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt as _;
    step(&format!(
        "starting {} run {}",
        bin.display(),
        args.join(" ")
    ));
    let err = Command::new(bin).arg("run").args(args).exec();
    bail!("cannot start {}: {err}", bin.display())
}
