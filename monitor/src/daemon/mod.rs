//! `mcp-monitor run`: start-up, then one loop that waits on the ring buffer,
//! the control socket, a one-second tick, signals and rule reloads.
//!
//! The event path itself is [`Pipeline`]: kernel record → decode → tracker
//! (process table, tagging, enrichment) → event sink and rules → alerts. One
//! task owns it; the control socket sends it tag requests over a channel, so
//! nothing on the event path takes a lock.
mod enforcement;
mod reconfigure;
mod startup;
use std::{
    io::IsTerminal as _,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use monitor_common::TagSource;
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{SignalKind, signal},
    sync::mpsc,
};

use crate::{
    alerts::sink::AlertSink,
    alerts::{gate::Gate, health},
    config::ConfigSource,
    control::{self, TagCommand},
    enforce::actor::Actor,
    kernel,
    pipeline::{BATCH, Counters, DISCOVERY_LIST, Pipeline},
    probes::{self, drops::DropWatch},
    procs::TagRequest,
    rules::detector::{self, Detector, Reloads},
    sinks::events::EventSink,
};
use reconfigure::{read_host_configs, read_policies, reload_config, reselect_hooks, rule_options};

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
/// How often drop counters and the process table are looked after.
const TICK: Duration = Duration::from_secs(1);
/// How soon to look at the ring buffer again after a drain that found records.
const REPOLL: Duration = Duration::from_millis(2);
/// Relayed conversation messages waiting for the event loop; more are
/// dropped (the relays count what they could not deliver).
const CONVERSATION_QUEUE: usize = 4096;
/// How long the sinks get to deliver and sync their last alerts at shutdown.
const SINK_SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

async fn run_async(opts: RunOptions) -> anyhow::Result<i32> {
    let source = opts.config;
    let mut config = match source.load() {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}", e.render(std::io::stderr().is_terminal()));
            anyhow::bail!(
                "the configuration cannot be used; fix it (every key is in docs/configuration.md)"
            );
        }
    };
    kernel::doctor::preflight().map_err(|e| anyhow::anyhow!("{e}"))?;
    let (detector, warnings) = match Detector::load(rule_options(&config, &source)) {
        Ok(loaded) => loaded,
        Err(e) => {
            detector::report_load_error(&e);
            anyhow::bail!("the rules do not compile; fix them (see `mcp-monitor rules check`)");
        }
    };
    for w in &warnings {
        eprintln!("mcp-monitor: warning: {w}");
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
    let (mut probes, maps) = startup::load_probes(&config, &detector, offsets)?;
    let probes::Maps {
        events,
        mut enforce,
        mut sensitive,
        mut tags,
        drops,
        failures,
        previous_daemon,
    } = maps;
    let kernel_plan = enforcement::apply(
        &mut probes,
        &mut enforce,
        detector.rules(),
        offsets.identity != 0,
        config.enforcement.enabled,
    );
    let held = sensitive.refresh(detector.rules());
    log::info!("{held} sensitive files and directories may use the ring buffer's reserve");
    let tracking = startup::start_tracker(&config, &mut tags, previous_daemon, &opts.pids)?;

    let (tx, mut commands) = mpsc::channel::<TagCommand>(64);
    let (conversations_tx, mut conversations) = mpsc::channel(CONVERSATION_QUEUE);
    let control_socket = config.control.socket.clone();
    let server = control::serve(&control_socket, tx, conversations_tx)?;
    // SAFETY: the ring buffer owns its map fd, which stays open and the same for
    // as long as the AsyncFd holds it.
    let mut ring = unsafe { AsyncFd::register(events) }
        .map_err(|e| anyhow::anyhow!("polling the ring buffer: {e}"))?;
    let mut sensitive_refreshed = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    let metrics = crate::metrics::http::Publisher::start(config.metrics.address).await?;

    let mut notifier = crate::sdnotify::Notifier::from_env();
    let watching = startup::watching_line(&probes, &detector, &tracking, opts.pids.len(), &config);
    let ready = format!(
        "watching {} hooks, {} rules",
        probes.attached().len(),
        detector.rules().rules().len()
    );
    let startup::Tracking {
        mut tracker,
        homes,
        mut config_watch,
        mut policy_watch,
        ..
    } = tracking;
    tracker
        .enricher
        .activity
        .set_discovery_commands(detector.rules().list_items(DISCOVERY_LIST));
    let actor = Actor::new(&config.enforcement);
    let mut pipeline = Pipeline {
        tracker,
        tags,
        sink: EventSink::new(config.sinks.stdout.events),
        alerts,
        detector,
        kernel_plan,
        drops_watch: DropWatch::default(),
        failure_watch: Default::default(),
        counters: Counters::default(),
        actor,
        conversations: Default::default(),
        tools: Box::new(crate::mcp::IgnoreToolsLists),
    };
    pipeline.say_enforcement();
    enforcement::sync_policies(&mut enforce, &pipeline);
    // Ready, last: what the daemon enforces has been said, and the servers'
    // policies are in the kernel.
    eprintln!("{watching}");
    notifier.ready(&ready);
    if !probes.skipped.is_empty() {
        let hooks: Vec<String> = probes.skipped.iter().map(ToString::to_string).collect();
        let alert = health::probes_unavailable(&hooks, pipeline.alerts.hostname());
        pipeline.alerts.raise_health(alert);
    }
    pipeline.lifecycle_alerts();
    metrics.publish(|| pipeline.snapshot(&drops.totals(), &failures.totals()));
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
                // The server's policy reaches the kernel before the wrapper
                // hears back and execs the server.
                enforcement::sync_policies(&mut enforce, &pipeline);
                let _ = cmd.reply.send(result);
                pipeline.lifecycle_alerts();
            }
            Some(cmd) = conversations.recv() => {
                pipeline.conversation(cmd);
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
                    if pipeline.actor.enabled() {
                        enforce.refresh_files(&pipeline.kernel_plan, &crate::rules::fields::home_dirs());
                    }
                    sensitive_refreshed = Instant::now();
                }
                pipeline.tick(&drops.totals(), &failures.totals());
                if pipeline.detector.files_changed() {
                    reloads.request(&mut pipeline.detector, "a rule file changed");
                }
                metrics.publish(|| pipeline.snapshot(&drops.totals(), &failures.totals()));
                if policy_watch.changed() {
                    pipeline.tracker.set_policies(read_policies(&config.servers.policy_dir));
                    eprintln!("mcp-monitor: server policies reloaded from {}", config.servers.policy_dir.display());
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
                    let plan = enforcement::apply(
                        &mut probes,
                        &mut enforce,
                        pipeline.detector.rules(),
                        offsets.identity != 0,
                        pipeline.actor.enabled(),
                    );
                    pipeline.set_kernel_plan(plan);
                }
                if let Some(why) = reloads.again.take() {
                    reloads.request(&mut pipeline.detector, why);
                }
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
        enforcement::sync_policies(&mut enforce, &pipeline);
    }

    notifier.stopping();
    // Nothing acts in the kernel while no daemon reports it.
    enforce.deactivate();
    server.abort();
    metrics.stop();
    pipeline.finish(SINK_SHUTDOWN_WAIT, &drops.totals());
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
