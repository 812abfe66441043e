//! `mcp-monitor run`: wires the pipeline together.
//!
//! kernel record → decode → tracker (process table, tagging, enrichment) →
//! sinks. One task owns the tracker and the tag map; the control socket sends it
//! tag requests over a channel, so nothing on the event path takes a lock.
use std::{
    io::{IsTerminal as _, Write as _},
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use aya::maps::{MapData, RingBuf};
use monitor_common::TagSource;
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{SignalKind, signal},
    sync::{mpsc, oneshot, watch},
};

use crate::{
    alerts::{
        gate::Gate,
        health::{self, rule},
    },
    config::{Config, ConfigSource},
    control::{self, TagCommand},
    decode,
    detect::{self, AlertSink, Compiled, Detector},
    discover::{self, ConfigMatchers},
    event::Event,
    kernel,
    metrics::{self, Snapshot, Tally},
    probes::{self, LostKind},
    procs::{TagRequest, Tracker, patterns::PatternSet, recognise::Recogniser, scan},
};

/// What `run` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The config file and the flags over it (read again on SIGHUP).
    pub config: ConfigSource,
    /// Processes to follow from the start: (pid, optional server name).
    pub pids: Vec<(u32, Option<String>)>,
}

/// Runs until SIGINT or SIGTERM; returns the exit code.
pub fn run(opts: RunOptions) -> anyhow::Result<i32> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run_async(opts))
}

/// `mcp-monitor floor`: attaches no-op programs to every hook the monitor uses
/// and waits for SIGINT/SIGTERM. The overhead benchmark's floor.
pub fn run_floor() -> anyhow::Result<i32> {
    kernel::doctor::preflight().map_err(|e| anyhow::anyhow!("{e}"))?;
    let probes = probes::load_floor()?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(async {
            let mut sigint = signal(SignalKind::interrupt())?;
            let mut sigterm = signal(SignalKind::terminate())?;
            eprintln!(
                "mcp-monitor: floor: no-op programs on {} hooks",
                probes.attached().len()
            );
            tokio::select! {
                _ = sigint.recv() => {}
                _ = sigterm.recv() => {}
            }
            anyhow::Ok(())
        })?;
    drop(probes);
    Ok(0)
}

/// How often the sensitive-inode set is rebuilt (files replaced by rename
/// have new inodes).
const SENSITIVE_REFRESH: Duration = Duration::from_secs(30);

/// Records taken from the ring buffer per wake-up before other work gets a turn.
const BATCH: usize = 4096;
/// How often drop counters and the process table are looked after.
const TICK: Duration = Duration::from_secs(1);
/// How soon to look at the ring buffer again after a drain that found records.
const REPOLL: Duration = Duration::from_millis(2);
/// At most one drop warning per this long.
const DROP_WARN_INTERVAL: Duration = Duration::from_secs(10);
/// How long the sinks get to deliver and sync their last alerts at shutdown.
const SINK_SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

async fn run_async(opts: RunOptions) -> anyhow::Result<i32> {
    let source = opts.config;
    let mut config = match source.load() {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}", e.render(std::io::stderr().is_terminal()));
            anyhow::bail!("the configuration cannot be used; fix it (every key is in README.md)");
        }
    };
    kernel::doctor::preflight().map_err(|e| anyhow::anyhow!("{e}"))?;
    let (detector, warnings) = match Detector::load(rule_options(&config, &source)) {
        Ok(loaded) => loaded,
        Err(e) => {
            detect::report_load_error(&e);
            anyhow::bail!("the rules do not compile; fix them (see `mcp-monitor rules check`)");
        }
    };
    for w in &warnings {
        log::info!("{w}");
    }
    let (gate, gate_warnings) = Gate::new(config.suppression.clone(), detector.rules());
    for w in gate_warnings {
        eprintln!("mcp-monitor: warning: {w}");
    }
    let alerts = AlertSink::new(&config.sinks, gate)?;
    let offsets = kernel::offsets::kernel_offsets()?;
    // Handlers first: a SIGTERM during loading is then a clean stop once
    // loading is done, not the default action's sudden death.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let load_options = probes::LoadOptions {
        offsets,
        ring_buffer_bytes: config.kernel.ring_buffer_size.map(|s| s.0 as u32),
        pin_dir: config.kernel.pin_dir(),
    };
    let loading = Instant::now();
    let (mut probes, maps) = probes::load(&load_options)?;
    let wanted = wanted_hooks(&detector, config.sinks.stdout.events);
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
    let probes::Maps {
        events,
        mut sensitive,
        mut tags,
        drops,
        previous_daemon,
    } = maps;
    let held = sensitive.refresh(detector.rules());
    log::info!("{held} sensitive files and directories may use the ring buffer's reserve");

    let servers = config.servers.clone();
    let patterns = PatternSet::new(
        servers.default_patterns,
        servers.patterns.iter().map(String::as_str),
    );
    let homes = if servers.homes.is_empty() {
        discover::default_homes()
    } else {
        servers.homes.clone()
    };
    let (host_configs, mut config_watch) = read_host_configs(&homes);
    let cgroups = servers.cgroups.iter().map(|c| c.0.clone()).collect();
    let recogniser = Recogniser::new(patterns, host_configs).with_cgroups(cgroups);
    let mut tracker = Tracker::new(scan::scan_all(), recogniser);
    let resumed = tracker.resume(&mut tags);
    tracker.set_previous_daemons(previous_daemon.into_iter().collect());
    tracker.lifecycle.set_config(config.lifecycle.clone());
    let mut policy_watch = crate::watch::FileWatch::new(vec![servers.policy_dir.clone()]);
    tracker.set_policies(read_policies(&servers.policy_dir));
    for (pid, name) in &opts.pids {
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
            .tag(&mut tags, &req)
            .map_err(|e| anyhow::anyhow!("--pid {pid}: {e}"))?;
    }
    let found = tracker.tag_matching_processes(&mut tags);
    tracker.lifecycle.set_running();

    let (tx, mut commands) = mpsc::channel::<TagCommand>(64);
    let control_socket = config.control.socket.clone();
    let server = control::serve(&control_socket, tx)?;

    // SAFETY: the ring buffer owns its map fd, which stays open and the same for
    // as long as the AsyncFd holds it.
    let mut ring = unsafe { AsyncFd::register(events) }
        .map_err(|e| anyhow::anyhow!("polling the ring buffer: {e}"))?;
    let mut sensitive_refreshed = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    let drops_watch = DropWatch::default();
    let sink = EventSink::new(config.sinks.stdout.events);
    // The endpoint serves what the event loop renders once per tick.
    let (metrics_tx, metrics_server) = match config.metrics.address {
        Some(addr) => {
            let (tx, rx) = watch::channel(Arc::new(String::new()));
            (Some(tx), Some(metrics::http::serve(addr, rx).await?))
        }
        None => (None, None),
    };

    let mut notifier = crate::sdnotify::Notifier::from_env();
    eprintln!(
        "mcp-monitor: watching ({} hooks attached{}), {} rules, {} configured MCP server(s), {} running MCP server(s) tagged{}, control socket {}; alerts to {}",
        probes.attached().len(),
        if probes.skipped.is_empty() {
            String::new()
        } else {
            format!(", {} not on this kernel", probes.skipped.len())
        },
        detector.rules().rules().len(),
        tracker.recogniser_mut().config_servers(),
        opts.pids.len() + found.len() + resumed.len(),
        if found.is_empty() && resumed.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                resumed
                    .iter()
                    .chain(&found)
                    .map(|(pid, n)| format!("{n}={pid}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        control_socket.display(),
        config.sinks.summary()
    );
    notifier.ready(&format!(
        "watching {} hooks, {} rules",
        probes.attached().len(),
        detector.rules().rules().len()
    ));

    tracker
        .activity
        .set_discovery_commands(detector.rules().list_items(DISCOVERY_LIST));
    let mut pipeline = Pipeline {
        tracker,
        tags,
        sink,
        alerts,
        detector,
        drops_watch,
        counters: Counters::new(),
    };
    if !probes.skipped.is_empty() {
        let hooks: Vec<String> = probes.skipped.iter().map(ToString::to_string).collect();
        let alert = health::probes_unavailable(&hooks, pipeline.alerts.hostname());
        pipeline.alerts.raise_health(alert);
    }
    pipeline.lifecycle_alerts();
    pipeline.publish_metrics(metrics_tx.as_ref(), &drops.totals());
    // After a drain that found records, look again shortly even without a
    // wake-up: the kernel wakes user space at most once per millisecond per CPU.
    let mut repoll = false;
    let mut reloads = Reloads::default();
    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard.context("waiting for the ring buffer")?;
                let n = pipeline.drain(guard.get_inner_mut());
                repoll = n > 0;
                if n < BATCH {
                    guard.clear_ready();
                }
            }
            _ = tokio::time::sleep(REPOLL), if repoll => {
                repoll = pipeline.drain(ring.get_mut()) > 0;
            }
            Some(cmd) = commands.recv() => {
                let req = TagRequest { pid: cmd.pid, name: cmd.name, host: cmd.host, source: TagSource::Wrapper };
                let result = pipeline.tracker.tag(&mut pipeline.tags, &req).map_err(|e| e.to_string());
                match &result {
                    Ok(id) => log::info!("pid {} tagged as MCP server {:?} (id {id}) by the launch wrapper", req.pid, req.name),
                    Err(e) => log::warn!("pid {} not tagged: {e}", req.pid),
                }
                let _ = cmd.reply.send(result);
                pipeline.lifecycle_alerts();
            }
            _ = tick.tick() => {
                notifier.tick(Instant::now());
                // Belt and braces: whatever a missed wake-up left behind.
                if pipeline.drain(ring.get_mut()) > 0 {
                    repoll = true;
                }
                // Files replaced by rename have new inodes.
                if sensitive_refreshed.elapsed() >= SENSITIVE_REFRESH {
                    sensitive.refresh(pipeline.detector.rules());
                    sensitive_refreshed = Instant::now();
                }
                if let Some(lost) = pipeline.drops_watch.check(&drops.totals()) {
                    pipeline.alerts.health(
                        rule::EVENTS_LOST,
                        "Warning",
                        format!("the kernel ring buffer was full and {} event(s) were lost ({}); a flood can be an attempt to blind the monitor", lost.total, lost.by_kind_text()),
                        lost.fields(),
                    );
                }
                pipeline.tracker.prune();
                pipeline.tracker.lifecycle_tick(Instant::now());
                pipeline.lifecycle_alerts();
                pipeline.alerts.tick();
                if pipeline.detector.files_changed() {
                    reloads.request(&mut pipeline.detector, "a rule file changed");
                }
                pipeline.publish_metrics(metrics_tx.as_ref(), &drops.totals());
                if policy_watch.changed() {
                    pipeline.tracker.set_policies(read_policies(&servers.policy_dir));
                    eprintln!("mcp-monitor: server policies reloaded from {}", servers.policy_dir.display());
                }
                if config_watch.changed() {
                    let (host_configs, watch) = read_host_configs(&homes);
                    config_watch = watch;
                    eprintln!("mcp-monitor: AI host configs changed: {} MCP server(s) configured", host_configs.len());
                    pipeline.tracker.recogniser_mut().set_config(host_configs);
                }
            }
            _ = sighup.recv() => {
                reload_config(&source, &mut config, &mut pipeline);
                reloads.request(&mut pipeline.detector, "SIGHUP");
            }
            (compiled, why) = reloads.finished(), if reloads.running() => {
                if pipeline.reloaded(why, compiled) {
                    reselect_hooks(&mut probes, &pipeline.detector, &config);
                    sensitive.refresh(pipeline.detector.rules());
                }
                if let Some(why) = reloads.again.take() {
                    reloads.request(&mut pipeline.detector, why);
                }
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
    }

    notifier.stopping();
    server.abort();
    if let Some(m) = metrics_server {
        m.abort();
    }
    pipeline.sink.flush();
    pipeline.alerts.finish();
    pipeline.alerts.shutdown(SINK_SHUTDOWN_WAIT);
    pipeline.drops_watch.final_report(&drops.totals());
    let attached = probes.attached().len();
    let pinned = config.kernel.pin && !config.kernel.unload_on_exit;
    if pinned {
        drop(probes);
    } else {
        probes.unload()?;
    }
    let _ = std::fs::remove_file(&control_socket);
    if pinned {
        eprintln!(
            "mcp-monitor: stopped; {attached} hooks stay attached and keep recording for the next start \
             (`mcp-monitor unload` detaches them)"
        );
    } else {
        eprintln!("mcp-monitor: stopped; {attached} hooks detached");
    }
    Ok(0)
}

/// What the rules are loaded from, with the monitor's own files (wherever the
/// configuration put them, its pinned kernel state included) for the rule
/// that guards them.
fn rule_options(config: &Config, source: &ConfigSource) -> crate::rules::LoadOptions {
    let mut opts = config.rules.load_options();
    opts.protected = std::iter::once(source.path().to_path_buf())
        .chain(opts.rules_dir.clone())
        .chain(opts.extra.iter().cloned())
        .chain([config.servers.policy_dir.clone()])
        .chain(config.kernel.pin_dir())
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .collect();
    opts
}

/// The hooks the rules look at, or every hook when every event is printed.
fn wanted_hooks(detector: &Detector, every_event: bool) -> Vec<probes::ProgramSpec> {
    let (types, catch_all) = detector.rules().event_types();
    let types = (!every_event && !catch_all).then_some(&types);
    probes::programs_for(types)
}

/// After a reload: attaches what the new rules need, detaches the rest.
fn reselect_hooks(probes: &mut probes::Probes, detector: &Detector, config: &Config) {
    match probes.select(&wanted_hooks(detector, config.sinks.stdout.events)) {
        Ok((0, 0)) => {}
        Ok((added, removed)) => eprintln!(
            "mcp-monitor: hooks for the new rules: {} attached ({added} added, {removed} removed)",
            probes.attached().len()
        ),
        Err(e) => eprintln!("mcp-monitor: warning: attaching the hooks the new rules need: {e:#}"),
    }
}

/// The list of the rules naming discovery commands, whose bursts the tracker
/// counts (`mcp.recon.count`).
const DISCOVERY_LIST: &str = "mcp_discovery_binaries";

/// The event path: decode → tracker → event sink and rules → alerts.
struct Pipeline {
    tracker: Tracker,
    tags: probes::TagMap,
    sink: EventSink,
    alerts: AlertSink,
    detector: Detector,
    drops_watch: DropWatch,
    counters: Counters,
}

/// What the event loop counts for metrics: plain fields, no locks.
struct Counters {
    started: Instant,
    events: Tally,
    reloads: Tally,
}

impl Counters {
    fn new() -> Self {
        Counters {
            started: Instant::now(),
            events: Tally::default(),
            reloads: Tally::default(),
        }
    }
}

impl Pipeline {
    /// Raises the servers' lifecycle alerts the tracker noted.
    fn lifecycle_alerts(&mut self) {
        for note in self.tracker.lifecycle.take_notes() {
            if matches!(note.what, crate::procs::lifecycle::Happened::Exited { .. }) {
                // No process carries its id any more: a restart need not name it.
                self.tags.forget_server(note.server.id);
                self.tracker.activity.forget(note.server.id);
            }
            let alert = health::from_note(&note, self.alerts.hostname());
            self.alerts.lifecycle(alert);
        }
    }

    /// Puts a reload's rules in force, reporting what changed, or reports why
    /// the old rules stay; true when the new rules are in force.
    fn reloaded(&mut self, why: &str, compiled: Compiled) -> bool {
        match compiled.map(|(set, warnings)| (self.detector.install(set), warnings)) {
            Ok((summary, _warnings)) => {
                self.tracker
                    .activity
                    .set_discovery_commands(self.detector.rules().list_items(DISCOVERY_LIST));
                eprintln!(
                    "mcp-monitor: rules reloaded ({why}): {} rules; added {:?}, removed {:?}, changed {:?}",
                    self.detector.rules().rules().len(),
                    summary.added,
                    summary.removed,
                    summary.changed
                );
                self.counters.reloads.add("ok", 1);
                for w in self
                    .alerts
                    .gate
                    .rules_reloaded(self.detector.rules(), &summary.changed)
                {
                    eprintln!("mcp-monitor: warning: {w}");
                }
                // A reload that changed nothing is said on stderr only.
                if !(summary.added.is_empty()
                    && summary.removed.is_empty()
                    && summary.changed.is_empty())
                {
                    let alert = health::rules_reloaded(
                        why,
                        self.detector.rules().rules().len(),
                        &summary,
                        self.alerts.hostname(),
                    );
                    self.alerts.raise_health(alert);
                }
                true
            }
            Err(e) => {
                eprintln!(
                    "mcp-monitor: rules reload ({why}) failed; the previous rules stay in force:"
                );
                detect::report_load_error(&e);
                self.counters.reloads.add("rejected", 1);
                let alert = health::rules_rejected(why, &e, self.alerts.hostname());
                self.alerts.raise_health(alert);
                false
            }
        }
    }

    /// Renders the metrics for the endpoint, if there is one.
    fn publish_metrics(&self, tx: Option<&watch::Sender<Arc<String>>>, lost: &[(LostKind, u64)]) {
        if let Some(tx) = tx {
            tx.send_replace(Arc::new(self.snapshot(lost).render()));
        }
    }

    /// The figures the metrics endpoint shows.
    fn snapshot(&self, lost: &[(LostKind, u64)]) -> Snapshot {
        let mut kernel_lost = Tally::default();
        for (kind, n) in lost {
            kernel_lost.add(&kind.key(), *n);
        }
        let table = &self.tracker.table;
        Snapshot {
            uptime_seconds: self.counters.started.elapsed().as_secs_f64(),
            events: self.counters.events.clone(),
            kernel_lost,
            undecodable_records: self.drops_watch.bad_total,
            alerts: self
                .alerts
                .sent
                .iter()
                .flat_map(|(rule, by_priority)| {
                    by_priority
                        .sorted()
                        .into_iter()
                        .map(|(p, n)| ((rule.clone(), p.to_owned()), n))
                        .collect::<Vec<_>>()
                })
                .collect(),
            suppressed: self.alerts.gate.suppressed.clone(),
            throttled: self.alerts.gate.throttled.clone(),
            throttled_servers: self.alerts.gate.throttled_servers() as u64,
            tagged_processes: table
                .pids()
                .filter(|p| table.get(*p).is_some_and(|i| i.server_id != 0))
                .count() as u64,
            servers: self.tracker.lifecycle.live() as u64,
            rules_loaded: self.detector.rules().rules().len() as u64,
            rule_reloads: self.counters.reloads.clone(),
            sinks: self.alerts.sink_figures(),
        }
    }

    /// Handles up to [`BATCH`] records; returns how many there were.
    fn drain(&mut self, ring: &mut RingBuf<MapData>) -> usize {
        let mut n = 0;
        while n < BATCH {
            let Some(item) = ring.next() else { break };
            n += 1;
            match decode::decode(&item) {
                Ok(record) => {
                    if let Some(ev) = self.tracker.ingest(record, &mut self.tags) {
                        self.counters.events.add(&ev.evt_type, 1);
                        self.sink.event(&ev);
                        self.alerts.evaluate(&self.detector, &ev);
                    }
                }
                Err(e) => self.drops_watch.bad_record(&e),
            }
        }
        self.sink.flush();
        self.lifecycle_alerts();
        n
    }
}

/// Rule reloads, read and compiled on a thread of their own: a large rule set
/// takes seconds, and meanwhile the event loop keeps draining the ring buffer
/// with the rules in force. One runs at a time; reloads asked for while one
/// runs make one more after it, however many they were, so the last change
/// is never missed.
#[derive(Default)]
struct Reloads {
    /// The one running, and why it was asked for.
    running: Option<(
        oneshot::Receiver<std::thread::Result<Compiled>>,
        &'static str,
    )>,
    /// Why one more was asked for while one was running (the latest reason).
    again: Option<&'static str>,
}

impl Reloads {
    fn running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts a reload, or, while one runs, notes that one more is wanted.
    fn request(&mut self, detector: &mut Detector, why: &'static str) {
        if self.running() {
            self.again = Some(why);
            return;
        }
        let job = detector.reload_job();
        let (tx, rx) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("rules-reload".into())
            // A panic goes back to the loop, which re-raises it as before.
            .spawn(move || {
                let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)));
            });
        let rx = match spawned {
            Ok(_) => rx,
            Err(e) => {
                // No thread to be had: compile on the loop rather than not at all.
                log::warn!("compiling the rules on the event loop: no thread for it ({e})");
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(Ok(detector.reload_job()()));
                rx
            }
        };
        self.running = Some((rx, why));
    }

    /// The running reload's result and reason, once it is done. Cancel-safe:
    /// the loop polls it among its other work.
    async fn finished(&mut self) -> (Compiled, &'static str) {
        let Some((rx, why)) = &mut self.running else {
            return std::future::pending().await;
        };
        let why = *why;
        let done = rx.await;
        self.running = None;
        match done {
            Ok(Ok(compiled)) => (compiled, why),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("the rules-reload thread ended without a result"),
        }
    }
}

/// SIGHUP: reads the config again and applies what can change while running;
/// a config that does not load leaves the running one in force.
fn reload_config(source: &ConfigSource, running: &mut Config, p: &mut Pipeline) {
    let new = match source.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "mcp-monitor: config reload failed; the running configuration stays in force:"
            );
            eprint!("{}", e.render(std::io::stderr().is_terminal()));
            return;
        }
    };
    let later = running.restart_needed(&new);
    if !later.is_empty() {
        eprintln!(
            "mcp-monitor: warning: changes to {} in {} take effect at the next restart",
            later.join(", "),
            source.path().display()
        );
    }
    if new.rules != running.rules {
        p.detector.set_options(rule_options(&new, source));
    }
    if new.sinks.stdout.events != running.sinks.stdout.events {
        p.sink.flush();
        p.sink = EventSink::new(new.sinks.stdout.events);
    }
    if new.suppression != running.suppression {
        for w in p
            .alerts
            .gate
            .reconfigure(new.suppression.clone(), p.detector.rules())
        {
            eprintln!("mcp-monitor: warning: {w}");
        }
    }
    if new.lifecycle != running.lifecycle {
        p.tracker.lifecycle.set_config(new.lifecycle.clone());
    }
    let sinks = match p.alerts.reconfigure(&new.sinks) {
        Ok(()) => new.sinks,
        Err(e) => {
            eprintln!("mcp-monitor: {e:#}");
            running.sinks.clone()
        }
    };
    // What needs a restart stays as it runs, so the warning repeats until then.
    *running = Config {
        rules: new.rules,
        sinks,
        suppression: new.suppression,
        lifecycle: new.lifecycle,
        ..running.clone()
    };
    eprintln!(
        "mcp-monitor: configuration reloaded (SIGHUP); alerts to {}",
        running.sinks.summary()
    );
}

/// Reads the AI hosts' MCP configs under `homes`: matchers for their servers,
/// and a watch on every file that could change them.
fn read_host_configs(homes: &[PathBuf]) -> (ConfigMatchers, crate::watch::FileWatch) {
    let found = discover::discover(homes);
    for p in &found.problems {
        log::warn!("{p}");
    }
    (
        ConfigMatchers::from_discovery(&found),
        crate::watch::FileWatch::new(found.watch),
    )
}

/// The per-server policy files, reporting broken ones.
fn read_policies(dir: &std::path::Path) -> crate::procs::policy::Policies {
    let (policies, problems) = crate::procs::policy::Policies::load(dir);
    for p in problems {
        eprintln!("mcp-monitor: server policy {p}; ignored");
    }
    policies
}

/// Where events go: JSON lines on stdout with `--events`, secrets redacted.
/// Whole lines are written under stdout's lock, so they never interleave with
/// the alert lines the stdout sink writes from its own thread.
struct EventSink {
    out: Option<Vec<u8>>,
    redactor: crate::redact::EventRedactor,
}

/// Buffered event bytes written out before a batch ends.
const EVENT_BUFFER: usize = 1 << 16;

impl EventSink {
    fn new(enabled: bool) -> Self {
        EventSink {
            out: enabled.then(Vec::new),
            redactor: Default::default(),
        }
    }

    fn event(&mut self, ev: &Event) {
        if let Some(out) = &mut self.out {
            out.extend_from_slice(self.redactor.event(ev).to_json_line().as_bytes());
            out.push(b'\n');
            if out.len() >= EVENT_BUFFER {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        if let Some(out) = &mut self.out
            && !out.is_empty()
        {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(out).and_then(|()| stdout.flush()).is_err() {
                // The reader went away: stop writing rather than fail the daemon.
                self.out = None;
            } else {
                out.clear();
            }
        }
    }
}

/// Turns kernel drop counters and undecodable records into rate-limited warnings.
#[derive(Default)]
struct DropWatch {
    reported: Vec<(LostKind, u64)>,
    bad_records: u64,
    /// Undecodable records over the whole run.
    bad_total: u64,
    last_warning: Option<Instant>,
}

impl DropWatch {
    fn bad_record(&mut self, e: &decode::DecodeError) {
        self.bad_records += 1;
        self.bad_total += 1;
        log::debug!("undecodable record: {e}");
    }

    /// At shutdown: what was lost over the whole run, whatever was said before.
    fn final_report(&self, totals: &[(LostKind, u64)]) {
        let lost = Lost {
            total: totals.iter().map(|(_, n)| n).sum(),
            by_kind: totals.iter().copied().filter(|(_, n)| *n > 0).collect(),
        };
        if lost.total > 0 {
            eprintln!(
                "mcp-monitor: {} event(s) were lost to a full ring buffer during this run ({}); \
                 consider a larger --ring-buffer-size",
                lost.total,
                lost.by_kind_text()
            );
        }
    }

    /// Reports new losses (at most every [`DROP_WARN_INTERVAL`]); returns them
    /// so the caller can raise an alert.
    fn check(&mut self, totals: &[(LostKind, u64)]) -> Option<Lost> {
        let new: Vec<(LostKind, u64)> = totals
            .iter()
            .map(|(kind, total)| {
                let before = self
                    .reported
                    .iter()
                    .find(|(k, _)| k == kind)
                    .map_or(0, |(_, n)| *n);
                (*kind, total.saturating_sub(before))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        if new.is_empty() && self.bad_records == 0 {
            return None;
        }
        if self
            .last_warning
            .is_some_and(|t| t.elapsed() < DROP_WARN_INTERVAL)
        {
            return None;
        }
        let lost = Lost {
            total: new.iter().map(|(_, n)| n).sum(),
            by_kind: new,
        };
        if lost.total > 0 {
            eprintln!(
                "mcp-monitor: warning: the kernel ring buffer was full, {} event(s) lost ({}); \
                 a flood can be an attempt to blind the monitor",
                lost.total,
                lost.by_kind_text()
            );
        }
        if self.bad_records > 0 {
            eprintln!(
                "mcp-monitor: warning: {} undecodable record(s) skipped",
                self.bad_records
            );
            self.bad_records = 0;
        }
        self.reported = totals.to_vec();
        self.last_warning = Some(Instant::now());
        (lost.total > 0).then_some(lost)
    }
}

/// Events lost since the last report.
struct Lost {
    total: u64,
    by_kind: Vec<(LostKind, u64)>,
}

impl Lost {
    fn by_kind_text(&self) -> String {
        self.by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn fields(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        let mut f = std::collections::BTreeMap::new();
        f.insert("monitor.lost".into(), self.total.into());
        for (k, n) in &self.by_kind {
            f.insert(format!("monitor.lost.{}", k.key()), (*n).into());
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(n: usize) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "- rule: r{i}\n  desc: d\n  condition: evt.type = openat and fd.name startswith /tmp/{i}\n  output: o\n  priority: warning\n"
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn reloads_compile_off_the_loop_one_at_a_time_and_none_is_lost() {
        let dir = std::env::temp_dir().join(format!("mcpmon-reloads-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("r.yaml");
        std::fs::write(&file, rules(1)).unwrap();
        let (mut detector, _) = Detector::load(crate::rules::LoadOptions {
            default_rules: false,
            rules_dir: None,
            extra: vec![file.clone()],
            ..Default::default()
        })
        .unwrap();
        let mut reloads = Reloads::default();

        // Enough rules that compiling them takes a while.
        std::fs::write(&file, rules(1000)).unwrap();
        reloads.request(&mut detector, "first");
        // Asked for twice more while it runs: one more after it, for the latest reason.
        reloads.request(&mut detector, "second");
        reloads.request(&mut detector, "third");
        assert_eq!(reloads.again, Some("third"));

        // The loop keeps taking its turns while the rules compile.
        let mut turns = 0u64;
        let (compiled, why) = loop {
            tokio::select! {
                done = reloads.finished(), if reloads.running() => break done,
                () = tokio::task::yield_now() => turns += 1,
            }
        };
        assert!(turns > 0, "the loop waited for the compile");
        assert_eq!(why, "first");
        assert_eq!(
            detector.rules().rules().len(),
            1,
            "the old rules serve meanwhile"
        );
        detector.install(compiled.unwrap().0);
        assert_eq!(detector.rules().rules().len(), 1000);

        let why = reloads.again.take().unwrap();
        std::fs::write(&file, rules(2)).unwrap();
        reloads.request(&mut detector, why);
        let (compiled, why) = reloads.finished().await;
        assert_eq!(why, "third");
        detector.install(compiled.unwrap().0);
        assert_eq!(detector.rules().rules().len(), 2);
        assert!(!reloads.running() && reloads.again.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
