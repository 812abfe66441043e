//! Start-up steps of `run`, each saying what it did: loading and attaching
//! the programs, and setting up the tracker with what is running already.
use std::{path::PathBuf, time::Instant};

use anyhow::Context as _;
use monitor_common::TagSource;

use super::reconfigure::{read_host_configs, read_policies, wanted_hooks};
use crate::{
    config::Config,
    discover, probes,
    procs::{TagRequest, Tracker, patterns::PatternSet, recognise::Recogniser, scan},
    rules::detector::Detector,
    watch::FileWatch,
};

/// Loads the object and attaches the hooks the rules need, saying how long
/// it took and what the verifier processed.
pub(super) fn load_probes(
    config: &Config,
    detector: &Detector,
    offsets: monitor_common::KernelOffsets,
) -> anyhow::Result<(probes::Probes, probes::Maps)> {
    let load_options = probes::LoadOptions {
        offsets,
        ring_buffer_bytes: config.kernel.ring_buffer_size.map(|s| s.0 as u32),
        pin_dir: config.kernel.pin_dir(),
    };
    let loading = Instant::now();
    let (mut probes, maps) = probes::load(&load_options)?;
    let wanted = wanted_hooks(detector, config.sinks.stdout.events);
    eprintln!(
        "mcp-monitor: attaching {} of {} hooks (what the rules need{})…",
        wanted.len(),
        probes::programs().count(),
        if config.sinks.stdout.events {
            ", and every event for --events"
        } else {
            ""
        }
    );
    probes.select(&wanted)?;
    eprintln!(
        "mcp-monitor: loaded {} programs in {:.2}s (verifier: {}){}",
        probes.verified.len(),
        loading.elapsed().as_secs_f64(),
        match probes.verified_total() {
            Some(n) => format!("{n} instructions"),
            None => "n/a".to_owned(),
        },
        if probes.resumed() {
            format!(
                "; took over the pinned state ({} hooks still attached)",
                probes.adopted
            )
        } else {
            String::new()
        }
    );
    Ok((probes, maps))
}

/// The tracker, with the servers already running tagged.
pub(super) struct Tracking {
    pub tracker: Tracker,
    /// The homes whose AI host configs are read, and the watch on them.
    pub homes: Vec<PathBuf>,
    pub config_watch: FileWatch,
    pub policy_watch: FileWatch,
    /// (pid, name) of the servers tagged at start: taken over, and found.
    pub tagged: Vec<(u32, String)>,
}

/// Sets up the tracker: the process table, the ways servers are recognised,
/// the tags taken over from an earlier run, `--pid`s, and the processes that
/// match already.
pub(super) fn start_tracker(
    config: &Config,
    tags: &mut probes::TagMap,
    previous_daemon: Option<u32>,
    pids: &[(u32, Option<String>)],
) -> anyhow::Result<Tracking> {
    let servers = &config.servers;
    let patterns = PatternSet::new(
        servers.default_patterns,
        servers.patterns.iter().map(String::as_str),
    );
    let homes = if servers.homes.is_empty() {
        discover::default_homes()
    } else {
        servers.homes.clone()
    };
    let (host_configs, config_watch) = read_host_configs(&homes);
    let cgroups = servers.cgroups.iter().map(|c| c.0.clone()).collect();
    let recogniser = Recogniser::new(patterns, host_configs).with_cgroups(cgroups);
    let mut tracker = Tracker::new(scan::scan_all(), recogniser);
    let resumed = tracker.resume(tags);
    tracker.set_previous_daemons(previous_daemon.into_iter().collect());
    tracker
        .tagger
        .lifecycle
        .set_config(config.lifecycle.clone());
    let policy_watch = FileWatch::new(vec![servers.policy_dir.clone()]);
    tracker.set_policies(read_policies(&servers.policy_dir));
    let mut tagged = resumed;
    for (pid, name) in pids {
        let name = match name {
            Some(n) => n.clone(),
            None => scan::read_process(*pid)
                .map(|p| p.comm)
                .with_context(|| format!("--pid {pid}: no such process"))?,
        };
        let req = TagRequest {
            pid: *pid,
            name,
            host: None,
            source: TagSource::Pid,
        };
        tracker
            .tag(tags, &req)
            .map_err(|e| anyhow::anyhow!("--pid {pid}: {e}"))?;
    }
    tagged.extend(tracker.tag_matching_processes(tags));
    tracker.tagger.lifecycle.set_running();
    Ok(Tracking {
        tracker,
        homes,
        config_watch,
        policy_watch,
        tagged,
    })
}

/// The line that says the daemon is ready.
pub(super) fn watching_line(
    probes: &probes::Probes,
    detector: &Detector,
    tracking: &Tracking,
    pids: usize,
    config: &Config,
) -> String {
    let tagged = &tracking.tagged;
    format!(
        "mcp-monitor: watching ({} hooks attached{}), {} rules, {} configured MCP server(s), {} running MCP server(s) tagged{}, control socket {}; alerts to {}",
        probes.attached().len(),
        match (
            probes.skipped.len() - probes.failed.len(),
            probes.failed.len()
        ) {
            (0, 0) => String::new(),
            (absent, 0) => format!(", {absent} not on this kernel"),
            (absent, failed) => format!(
                ", {absent} not on this kernel, {failed} refused by the verifier (see the warnings above)"
            ),
        },
        detector.rules().rules().len(),
        tracking.tracker.recogniser().config_servers(),
        pids + tagged.len(),
        if tagged.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                tagged
                    .iter()
                    .map(|(pid, n)| format!("{n}={pid}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        config.control.socket.display(),
        config.sinks.summary()
    )
}
