//! `mcp-monitor discover`: the MCP servers every AI host on this machine is
//! configured to run, whether they are pinned, which secrets they are given
//! (names only), and whether they run now.
use std::path::PathBuf;

use super::matcher::ConfigMatchers;
use super::{default_homes, discover, running, table};

/// Runs discovery over `homes` (every home on the machine when empty) and
/// prints the servers on stdout (a table, or a JSON array with `json`).
/// Malformed configs are reported on stderr; the rest is still listed.
pub fn run_discover(homes: Vec<PathBuf>, json: bool) -> anyhow::Result<i32> {
    let homes = if homes.is_empty() {
        default_homes()
    } else {
        homes
    };
    let d = discover(&homes);
    let matchers = ConfigMatchers::from_discovery(&d);
    let procs = running::processes();
    let running = running::running(&matchers, &procs);
    let reports = table::reports(&d.servers, &running);
    let out = if json {
        table::render_json(&reports)
    } else {
        table::render_text(&reports)
    };
    print!("{out}");
    for p in &d.problems {
        eprintln!("mcp-monitor: {p}");
    }
    Ok(0)
}
