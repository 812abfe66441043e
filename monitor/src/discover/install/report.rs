//! What happened to each file, and the text printed about it.
use std::fmt::Write as _;
use std::path::PathBuf;

use super::targets::Target;
use crate::discover::config::Host;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Install,
    Uninstall,
}

/// What happened to one config file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    pub path: PathBuf,
    pub host: Option<Host>,
    /// Servers wrapped (install) or unwrapped (uninstall), or that would be.
    pub changed: Vec<String>,
    /// Servers left alone, with why.
    pub skipped: Vec<(String, String)>,
    /// Remarks on the file as a whole (backup written, restored, edited since…).
    pub notes: Vec<String>,
    /// Why the file could not be handled; it was not changed.
    pub error: Option<String>,
    /// The file was (or would be, in a dry run) rewritten.
    pub rewritten: bool,
}

impl FileReport {
    /// An empty report on one file.
    pub(super) fn of(t: &Target) -> Self {
        FileReport {
            path: t.path.clone(),
            host: Some(t.host),
            ..Default::default()
        }
    }
}

pub(super) fn render(reports: &[FileReport], mode: Mode, dry_run: bool) -> String {
    let mut out = String::new();
    let verb = match (mode, dry_run) {
        (Mode::Install, false) => "wrapped",
        (Mode::Install, true) => "would wrap",
        (Mode::Uninstall, false) => "unwrapped",
        (Mode::Uninstall, true) => "would unwrap",
    };
    let mut servers = 0;
    let mut files = 0;
    for r in reports {
        let host = r.host.map_or("", Host::as_str);
        let _ = writeln!(out, "{host} {}", r.path.display());
        if !r.changed.is_empty() {
            let _ = writeln!(out, "  {verb}: {}", r.changed.join(", "));
            servers += r.changed.len();
        }
        if r.rewritten {
            files += 1;
        }
        for (name, why) in &r.skipped {
            let _ = writeln!(out, "  skipped {name}: {why}");
        }
        for n in &r.notes {
            let _ = writeln!(out, "  {n}");
        }
        if let Some(e) = &r.error {
            let _ = writeln!(out, "  error: {e}");
        }
        if r.changed.is_empty() && r.skipped.is_empty() && r.notes.is_empty() && r.error.is_none() {
            let _ = writeln!(out, "  nothing to change");
        }
    }
    if reports.is_empty() {
        let _ = writeln!(out, "no MCP server configs with servers to change");
    }
    let _ = writeln!(
        out,
        "{}{servers} server(s) {verb} in {files} file(s){}",
        if dry_run { "dry run: " } else { "" },
        if dry_run { "; nothing written" } else { "" }
    );
    out
}
