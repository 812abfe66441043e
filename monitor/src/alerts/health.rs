//! Alerts the monitor raises about itself and about servers' lives: their
//! rule names, priorities and fields in one place, and the rate limiter that
//! keeps health alerts from flooding without ever silencing them.
//!
//! Every such alert has `source: mcp-monitor` like the rest; the tag
//! `mcp_monitor_health` marks the monitor's own state, `mcp_lifecycle` a
//! server's life, `mcp_monitor_flood` the flood-control reports.
use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use super::{
    Alert, AlertMcp, AlertProcess, Ancestor,
    suppress::{Notice, Summary},
};
use crate::{
    priority::Priority,
    procs::{
        lifecycle::{Happened, Note, RootProcess, decode_status},
        servers::{ServerInfo, source_name},
    },
    rules::{LoadError, ruleset::ReloadSummary},
};

/// Rule names of the monitor's own alerts.
pub mod rule {
    pub const EVENTS_LOST: &str = "Kernel events lost";
    pub const DELIVERY_FAILED: &str = "Alert delivery failed";
    pub const RULES_RELOADED: &str = "Rules reloaded";
    pub const RULES_REJECTED: &str = "Rules rejected";
    pub const PROBE_UNAVAILABLE: &str = "Probe unavailable";
    pub const INVENTORY_UNREADABLE: &str = "Tool inventory unreadable";
    pub const SERVER_STARTED: &str = "MCP server started";
    pub const SERVER_EXITED: &str = "MCP server exited";
    pub const SERVER_OUTLIVED_HOST: &str = "MCP server outlived its host";
    pub const ALERTS_SUPPRESSED: &str = "Alerts suppressed";
    pub const THROTTLE_STARTED: &str = "MCP server alerts throttled";
    pub const THROTTLE_STOPPED: &str = "MCP server alerts no longer throttled";
    pub const ACTIONS_RATE_LIMITED: &str = "Enforcement actions rate-limited";
}

const HEALTH: &str = "mcp_monitor_health";
const LIFECYCLE: &str = "mcp_lifecycle";
const FLOOD: &str = "mcp_monitor_flood";

type Fields = BTreeMap<String, Value>;

fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Fields {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn mcp_of(s: &ServerInfo) -> AlertMcp {
    AlertMcp {
        server: Some(s.name.clone()),
        host: s.host.clone(),
        tag_source: Some(source_name(s.source).to_owned()),
        root_pid: Some(s.root_pid),
        roots: s.roots.clone(),
        conversation: Default::default(),
    }
}

fn server_fields(s: &ServerInfo) -> Fields {
    fields([
        ("mcp.server", s.name.clone().into()),
        ("mcp.host", s.host.clone().map_or(Value::Null, Value::from)),
        ("mcp.tag_source", source_name(s.source).into()),
        ("mcp.root_pid", s.root_pid.into()),
    ])
}

fn build(
    rule: &str,
    priority: Priority,
    output: String,
    fields: Fields,
    tags: &[&str],
    mcp: Option<AlertMcp>,
    hostname: &str,
) -> Alert {
    let mut a = Alert::health(rule, priority, output, fields, hostname);
    a.tags = tags.iter().map(|t| (*t).to_owned()).collect();
    if let Some(mcp) = mcp {
        a.mcp = mcp;
    }
    a
}

/// The alert's `process`: the server's root as last seen.
fn process_of(root: &RootProcess) -> AlertProcess {
    let p = &root.info;
    AlertProcess {
        pid: p.pid,
        ppid: p.ppid,
        name: p.comm.clone(),
        exepath: p.exepath.clone(),
        cmdline: p.argv.join(" "),
        uid: p.uid,
        ancestors: root
            .ancestors
            .iter()
            .map(|(pid, name)| Ancestor {
                pid: *pid,
                name: name.clone(),
            })
            .collect(),
    }
}

/// The command `mcp-monitor launch … -- CMD…` is about to exec, if `argv` is
/// the launch wrapper's.
fn wrapped_command(argv: &[String]) -> Option<String> {
    let launch = argv.iter().position(|a| a == "launch")?;
    let dashes = argv[launch..].iter().position(|a| a == "--")? + launch;
    let cmd = &argv[dashes + 1..];
    (!cmd.is_empty()).then(|| cmd.join(" "))
}

/// A server's life as an alert.
pub fn from_note(note: &Note, hostname: &str) -> Alert {
    let server = &note.server;
    let mut f = server_fields(server);
    let cmdline = note.root.info.argv.join(" ");
    let (rule, priority, output, tags): (&str, Priority, String, &[&str]) = match &note.what {
        Happened::Started {
            host_process,
            at_start,
        } => {
            f.insert("proc.cmdline".into(), cmdline.clone().into());
            // Tagged by the launch wrapper before it execs: say what it runs.
            let command = wrapped_command(&note.root.info.argv);
            if let Some(c) = &command {
                f.insert("mcp.command".into(), c.clone().into());
            }
            f.insert("mcp.already_running".into(), (*at_start).into());
            if let Some(h) = host_process {
                f.insert("mcp.host_pid".into(), h.pid.into());
                f.insert("mcp.host_name".into(), h.name.clone().into());
            }
            let verb = if *at_start {
                "was already running"
            } else {
                "started"
            };
            (
                rule::SERVER_STARTED,
                Priority::Informational,
                format!(
                    "MCP server {} {verb} (pid={} host={} tag_source={} cmdline={})",
                    server.name,
                    server.root_pid,
                    server.host.as_deref().unwrap_or("<NA>"),
                    source_name(server.source),
                    command.as_deref().unwrap_or(&cmdline),
                ),
                &["mcp", LIFECYCLE],
            )
        }
        Happened::Exited {
            status,
            lifetime,
            events,
        } => {
            let (code, signal) = status.map_or((None, None), decode_status);
            f.insert("evt.arg.status".into(), (*status).into());
            f.insert("mcp.exit_code".into(), code.into());
            f.insert("mcp.exit_signal".into(), signal.into());
            f.insert("mcp.lifetime_s".into(), json!(secs(*lifetime)));
            f.insert("mcp.events".into(), (*events).into());
            let how = match (code, signal) {
                (Some(c), _) => format!("exit code {c}"),
                (_, Some(s)) => format!("signal {s}"),
                _ => "exit status unknown".into(),
            };
            (
                rule::SERVER_EXITED,
                Priority::Informational,
                format!(
                    "MCP server {} exited ({how}, pid={}, ran {:.1} s, {events} events)",
                    server.name,
                    server.root_pid,
                    secs(*lifetime)
                ),
                &["mcp", LIFECYCLE],
            )
        }
        Happened::OutlivedHost {
            host_process,
            running,
        } => {
            f.insert("mcp.host_pid".into(), host_process.pid.into());
            f.insert("mcp.host_name".into(), host_process.name.clone().into());
            f.insert("mcp.running_pids".into(), running.clone().into());
            (
                rule::SERVER_OUTLIVED_HOST,
                Priority::Warning,
                format!(
                    "MCP server {} outlived its host {} (pid={}): {} process(es) still running (pids {:?}); \
                     a server that keeps running without its host may have daemonised",
                    server.name,
                    host_process.name,
                    host_process.pid,
                    running.len(),
                    running
                ),
                &[
                    "mcp",
                    LIFECYCLE,
                    "persistence",
                    "mitre_persistence",
                    "slowmist.10",
                    "slowmist.11",
                ],
            )
        }
    };
    let mut a = build(
        rule,
        priority,
        output,
        f,
        tags,
        Some(mcp_of(server)),
        hostname,
    );
    a.process = Some(process_of(&note.root));
    a
}

/// A server's exit alert after prevent mode killed it: names the rule.
pub fn killed_by(alert: &mut Alert, rule: &str) {
    if alert.rule != rule::SERVER_EXITED {
        return;
    }
    alert
        .output_fields
        .insert("mcp.killed_by".into(), rule.into());
    alert.output.push_str(&format!("; killed by rule {rule}"));
}

/// Prevent mode cut a storm of actions short: once per storm and server.
pub fn actions_rate_limited(storm: &crate::enforce::actor::Storm, hostname: &str) -> Alert {
    let mut a = build(
        rule::ACTIONS_RATE_LIMITED,
        Priority::Warning,
        format!(
            "MCP server {} caused more than {} actions in {:.0} s (last rule {}); further actions \
             are skipped until it calms down, alerts still go out",
            storm.server,
            storm.max,
            storm.window.as_secs_f64(),
            storm.rule
        ),
        fields([
            ("mcp.server", storm.server.clone().into()),
            ("monitor.max_actions", storm.max.into()),
            ("monitor.window_s", json!(secs(storm.window))),
            ("rule", storm.rule.clone().into()),
        ]),
        &[HEALTH],
        None,
        hostname,
    );
    a.mcp.server = Some(storm.server.clone());
    a
}

/// A flood-control report as an alert.
pub fn from_notice(notice: &Notice, hostname: &str) -> Alert {
    match notice {
        Notice::Summary(summary) => {
            let Summary {
                rule,
                priority,
                tags,
                mcp,
                process,
                fields: key,
                count,
                window,
            } = &**summary;
            let mut f = key.clone();
            f.insert("suppressed.rule".into(), rule.clone().into());
            f.insert("suppressed.count".into(), (*count).into());
            f.insert("suppressed.window_s".into(), window.as_secs().into());
            f.insert("mcp.server".into(), mcp.server.clone().into());
            let key_text = key
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_owned)))
                .collect::<Vec<_>>()
                .join(" ");
            let mut a = build(
                rule::ALERTS_SUPPRESSED,
                *priority,
                format!(
                    "suppressed {count} similar alerts in the last {} s: rule {rule:?} server {} ({key_text})",
                    window.as_secs(),
                    mcp.server.as_deref().unwrap_or("<NA>"),
                ),
                f,
                &[],
                Some(mcp.clone()),
                hostname,
            );
            a.tags = tags.clone();
            a.tags.push(FLOOD.into());
            a.process = process.clone();
            a
        }
        Notice::ThrottleStart {
            server,
            rate,
            burst,
        } => build(
            rule::THROTTLE_STARTED,
            Priority::Warning,
            format!(
                "MCP server {server} raised more than {burst} alerts at once and more than {rate}/s: \
                 its alerts are dropped (and counted) until it calms down"
            ),
            fields([
                ("mcp.server", server.clone().into()),
                ("throttle.rate", json!(rate)),
                ("throttle.burst", (*burst).into()),
            ]),
            &[FLOOD, HEALTH],
            Some(AlertMcp {
                server: Some(server.clone()),
                ..AlertMcp::none()
            }),
            hostname,
        ),
        Notice::ThrottleStop {
            server,
            dropped,
            lasted,
        } => build(
            rule::THROTTLE_STOPPED,
            Priority::Notice,
            format!(
                "MCP server {server}: throttling ended after {:.1} s, {dropped} alert(s) were dropped",
                secs(*lasted)
            ),
            fields([
                ("mcp.server", server.clone().into()),
                ("throttle.dropped", (*dropped).into()),
                ("throttle.duration_s", json!(secs(*lasted))),
            ]),
            &[FLOOD, HEALTH],
            Some(AlertMcp {
                server: Some(server.clone()),
                ..AlertMcp::none()
            }),
            hostname,
        ),
    }
}

/// Rules were reloaded: informational, with what changed.
pub fn rules_reloaded(why: &str, loaded: usize, s: &ReloadSummary, hostname: &str) -> Alert {
    build(
        rule::RULES_RELOADED,
        Priority::Informational,
        format!(
            "rules reloaded ({why}): {loaded} rules; {} added, {} removed, {} changed",
            s.added.len(),
            s.removed.len(),
            s.changed.len()
        ),
        fields([
            ("rules.reason", why.into()),
            ("rules.loaded", loaded.into()),
            ("rules.added", s.added.len().into()),
            ("rules.removed", s.removed.len().into()),
            ("rules.changed", s.changed.len().into()),
            ("rules.added_names", s.added.clone().into()),
            ("rules.removed_names", s.removed.clone().into()),
            ("rules.changed_names", s.changed.clone().into()),
        ]),
        &[HEALTH],
        None,
        hostname,
    )
}

/// A reload failed; the running rules stay. Names the first error's place.
pub fn rules_rejected(why: &str, e: &LoadError, hostname: &str) -> Alert {
    let first = e.errors.first();
    let at = first.map(|d| d.location.to_string()).unwrap_or_default();
    let message = first.map(|d| d.message.clone()).unwrap_or_default();
    build(
        rule::RULES_REJECTED,
        Priority::Error,
        format!(
            "rules reload ({why}) rejected, the previous rules stay in force: {at}: {message}{}; \
             fix the file (see `mcp-monitor rules check`)",
            if e.errors.len() > 1 {
                format!(" (and {} more errors)", e.errors.len() - 1)
            } else {
                String::new()
            }
        ),
        fields([
            ("rules.reason", why.into()),
            ("rules.error", message.clone().into()),
            ("rules.error_location", at.clone().into()),
            ("rules.errors", e.errors.len().into()),
        ]),
        &[HEALTH],
        None,
        hostname,
    )
}

/// Alerts that did not reach every sink (`text` says which and how many).
pub fn delivery_failed(text: &str, fields: Fields, hostname: &str) -> Alert {
    build(
        rule::DELIVERY_FAILED,
        Priority::Error,
        format!(
            "alerts did not reach every sink ({text}); a slow or failing sink loses alerts rather than delay detection"
        ),
        fields,
        &[HEALTH],
        None,
        hostname,
    )
}

/// Records the kernel could not deliver (a full ring buffer).
pub fn events_lost(
    output: &str,
    fields: BTreeMap<String, serde_json::Value>,
    hostname: &str,
) -> Alert {
    build(
        rule::EVENTS_LOST,
        Priority::Warning,
        output.to_owned(),
        fields,
        &[HEALTH],
        None,
        hostname,
    )
}

/// Optional hooks this kernel does not offer: what goes unseen. One alert for
/// all of them, at start.
pub fn probes_unavailable(hooks: &[String], hostname: &str) -> Alert {
    build(
        rule::PROBE_UNAVAILABLE,
        Priority::Notice,
        format!(
            "{} optional probe(s) not available on this kernel: {}; the events they report are \
             not seen (run `mcp-monitor doctor` for details)",
            hooks.len(),
            hooks.join(", ")
        ),
        fields([("monitor.probes", hooks.to_vec().into())]),
        &[HEALTH],
        None,
        hostname,
    )
}

/// A server's file in the tool inventory's state directory could not be read
/// (corrupt, another format, not a file): its tools are compared with nothing
/// this time, and the file is replaced by the list seen now.
pub fn inventory_unreadable(server: &str, why: &str, hostname: &str) -> Alert {
    build(
        rule::INVENTORY_UNREADABLE,
        Priority::Warning,
        format!(
            "the tool inventory of MCP server {server} could not be read ({why}); a change of \
             its tools since its last run is not seen this time, and the file is replaced"
        ),
        fields([
            ("mcp.server", server.into()),
            ("monitor.inventory.error", why.into()),
        ]),
        &[HEALTH],
        None,
        hostname,
    )
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

/// Health alerts of one rule go out at most once per interval; those that come
/// sooner are held and folded into one, sent when the interval has passed,
/// with `monitor.coalesced` saying how many it stands for.
pub struct HealthLimiter {
    interval: Duration,
    by_rule: HashMap<String, Slot>,
}

struct Slot {
    last_sent: Instant,
    held: Option<(Alert, u64)>,
}

impl HealthLimiter {
    pub fn new(interval: Duration) -> Self {
        HealthLimiter {
            interval,
            by_rule: HashMap::new(),
        }
    }

    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval;
    }

    /// `Some` to send now; `None` when held for later.
    pub fn offer(&mut self, alert: Alert, now: Instant) -> Option<Alert> {
        match self.by_rule.get_mut(&alert.rule) {
            Some(slot) if now.saturating_duration_since(slot.last_sent) < self.interval => {
                let n = slot.held.as_ref().map_or(0, |(_, n)| *n);
                slot.held = Some((alert, n + 1));
                None
            }
            Some(slot) => {
                slot.last_sent = now;
                Some(alert)
            }
            None => {
                self.by_rule.insert(
                    alert.rule.clone(),
                    Slot {
                        last_sent: now,
                        held: None,
                    },
                );
                Some(alert)
            }
        }
    }

    /// Held alerts whose interval has passed, oldest first.
    pub fn tick(&mut self, now: Instant) -> Vec<Alert> {
        self.release(now, false)
    }

    /// At shutdown: every held alert, whatever its interval.
    pub fn finish(&mut self, now: Instant) -> Vec<Alert> {
        self.release(now, true)
    }

    fn release(&mut self, now: Instant, all: bool) -> Vec<Alert> {
        let mut out = Vec::new();
        for slot in self.by_rule.values_mut() {
            if !all && now.saturating_duration_since(slot.last_sent) < self.interval {
                continue;
            }
            if let Some((mut a, n)) = slot.held.take() {
                if n > 1 {
                    a.output
                        .push_str(&format!(" ({n} such alerts since the last one)"));
                }
                a.output_fields.insert("monitor.coalesced".into(), n.into());
                slot.last_sent = now;
                out.push(a);
            }
        }
        out.sort_by(|a, b| a.time.cmp(&b.time));
        out
    }
}

#[cfg(test)]
mod tests;
