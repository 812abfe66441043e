//! `mcp-monitor install` and `mcp-monitor uninstall`: put the launch wrapper in
//! front of every stdio MCP server in the AI hosts' config files, and take it
//! away again.
//!
//! A server `{"command": "npx", "args": ["-y", "pkg"]}` named `fs` in Cursor
//! becomes `{"command": "/usr/bin/mcp-monitor", "args": ["launch", "--name",
//! "fs", "--host", "cursor", "--", "npx", "-y", "pkg"]}`. Files are edited in
//! place, text span by text span: only the `command` and `args` values of the
//! wrapped entries change, so key order, indentation, comments (JSONC, TOML)
//! and every other key stay as they were. Each edit is checked by parsing the
//! result and comparing it with the intended tree before anything is written.
//!
//! Before its first change a file is copied to `<file>.mcp-monitor-backup`,
//! and `<file>.mcp-monitor-backup.sha256` holds the checksum of what install
//! wrote. Uninstall restores the backup byte for byte when the file still has
//! that checksum; otherwise (the user or the host edited it since) it unwraps
//! the wrapped entries in place and keeps the other edits. Writes go to a
//! temporary file in the same directory that is renamed over the original,
//! with the original's mode and owner.
mod document;
mod edits;
mod entries;
mod files;
mod report;
mod targets;
mod unwrap;
mod wrap;

use std::fs;
use std::path::PathBuf;

use anyhow::Context;

pub use report::FileReport;
use report::{Mode, render};
pub use targets::InstallOptions;
use targets::{Target, monitor_str, selected_targets};

/// The running binary, as the command configs should run.
pub fn current_monitor() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the path of mcp-monitor")?;
    Ok(fs::canonicalize(&exe).unwrap_or(exe))
}

/// `mcp-monitor install`: prints a report per file; 1 when a file failed.
pub fn run_install(opts: InstallOptions) -> anyhow::Result<i32> {
    let reports = install(&opts)?;
    print!("{}", render(&reports, Mode::Install, opts.dry_run));
    warn_unknown_servers(&opts, &reports);
    Ok(exit_code(&reports))
}

/// `mcp-monitor uninstall`: prints a report per file; 1 when a file failed.
pub fn run_uninstall(opts: InstallOptions) -> anyhow::Result<i32> {
    let reports = uninstall(&opts)?;
    print!("{}", render(&reports, Mode::Uninstall, opts.dry_run));
    warn_unknown_servers(&opts, &reports);
    Ok(exit_code(&reports))
}

/// Says which `--server` names matched nothing.
fn warn_unknown_servers(opts: &InstallOptions, reports: &[FileReport]) {
    for name in &opts.servers {
        let seen = reports
            .iter()
            .any(|r| r.changed.contains(name) || r.skipped.iter().any(|(n, _)| n == name));
        if !seen {
            eprintln!("mcp-monitor: no server named {name:?} to change");
        }
    }
}

fn exit_code(reports: &[FileReport]) -> i32 {
    i32::from(reports.iter().any(|r| r.error.is_some()))
}

/// Wraps the selected servers of every selected file; see [`run_install`].
pub fn install(opts: &InstallOptions) -> anyhow::Result<Vec<FileReport>> {
    each_target(opts, wrap::install_file)
}

/// The reports of `one` run on every selected file (`None`: nothing to say).
fn each_target(
    opts: &InstallOptions,
    one: fn(&Target, &InstallOptions, &str) -> Option<FileReport>,
) -> anyhow::Result<Vec<FileReport>> {
    let monitor = monitor_str(opts)?;
    Ok(selected_targets(opts)?
        .iter()
        .filter_map(|t| one(t, opts, monitor))
        .collect())
}

/// Undoes install in every selected file; see [`run_uninstall`].
pub fn uninstall(opts: &InstallOptions) -> anyhow::Result<Vec<FileReport>> {
    each_target(opts, unwrap::uninstall_file)
}

#[cfg(test)]
use {
    crate::discover::formats::{parse_jsonc, parse_toml},
    document::{Syntax, parse_doc},
    files::{backup_path, checksum_path, read_checksum, sha256_hex},
    std::os::unix::fs::MetadataExt,
};

#[cfg(test)]
mod tests;
