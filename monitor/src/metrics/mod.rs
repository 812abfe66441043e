//! Metrics in Prometheus' text format, served on loopback only.
//!
//! Counting stays cheap on the event path: the event loop owns plain counters
//! ([`Tally`], fields of its own structs) and, once per tick, renders a
//! [`Snapshot`] into text that the HTTP task ([`http`]) hands out. No lock or
//! atomic is touched per event.
pub mod http;

use std::{collections::BTreeMap, fmt::Write as _, net::SocketAddr};

use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::priority::Priority;

/// The `metrics:` settings.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where to serve `GET /metrics` (loopback only); unset: no endpoint.
    pub address: Option<SocketAddr>,
}

impl MetricsConfig {
    /// Refuses addresses other machines could reach.
    pub fn validate(&self) -> Result<(), String> {
        match self.address {
            Some(a) if !a.ip().is_loopback() => Err(format!(
                "refusing to serve metrics on {a}: only loopback addresses (127.0.0.1, ::1) are \
                 allowed, as the metrics name servers and rules; use 127.0.0.1:{} and put a \
                 reverse proxy or an SSH tunnel in front to read them from elsewhere",
                a.port()
            )),
            _ => Ok(()),
        }
    }
}

/// Counts by one label value. Adding to an existing label allocates nothing
/// and hashes with Fx: it runs once per event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally(FxHashMap<String, u64>);

impl Tally {
    #[inline]
    pub fn add(&mut self, label: &str, n: u64) {
        match self.0.get_mut(label) {
            Some(v) => *v += n,
            None => {
                self.0.insert(label.to_owned(), n);
            }
        }
    }

    pub fn get(&self, label: &str) -> u64 {
        self.0.get(label).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Sorted by label, for stable output.
    pub fn sorted(&self) -> BTreeMap<&str, u64> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v)).collect()
    }
}

/// Per-sink delivery figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SinkFigures {
    pub name: String,
    pub queue_depth: u64,
    pub overflow: u64,
    pub delivered: u64,
    pub failed: u64,
}

/// Everything the endpoint shows, copied out of the event loop once per tick.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub uptime_seconds: f64,
    pub events: Tally,
    pub kernel_lost: Tally,
    /// Kernel-side failures (`KernelFailure`), by kind.
    pub kernel_failures: Tally,
    pub undecodable_records: u64,
    /// What the alert sink reports of itself.
    pub alerts: AlertFigures,
    /// What the tracker reports of itself.
    pub tracking: TrackingFigures,
    pub rules_loaded: u64,
    pub rule_reloads: Tally,
    /// Rules' actions, by result: killed, denied, failed, skipped, would
    /// (dry run).
    pub actions: Tally,
}

/// The alert sink's figures (`AlertSink::figures`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertFigures {
    /// Alerts sent, by rule then priority.
    pub sent: BTreeMap<(String, Priority), u64>,
    pub suppressed: Tally,
    pub throttled: Tally,
    pub throttled_servers: u64,
    pub sinks: Vec<SinkFigures>,
}

/// The tracker's figures (`Tracker::figures`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrackingFigures {
    pub tagged_processes: u64,
    pub servers: u64,
    /// Stdio conversations the launch wrappers relay now.
    pub conversations: u64,
    /// Their messages and what was lost or cut of them, by kind.
    pub conversation_messages: Tally,
}

/// One metric family: name, help, type, samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn tally(&mut self, name: &str, label: &str, t: &Tally) {
        for (v, n) in t.sorted() {
            self.sample(name, &[(label, v)], n);
        }
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Snapshot {
    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut f = Family { out: &mut out };
        let m = "mcp_monitor_uptime_seconds";
        f.head(m, "gauge", "Seconds since the monitor started.")
            .sample(m, &[], format_args!("{:.3}", self.uptime_seconds));
        let m = "mcp_monitor_events_total";
        f.head(
            m,
            "counter",
            "Events of MCP server process trees, by event type.",
        )
        .tally(m, "type", &self.events);
        let m = "mcp_monitor_kernel_events_lost_total";
        f.head(
            m,
            "counter",
            "Events lost to a full kernel ring buffer, by kind.",
        )
        .tally(m, "kind", &self.kernel_lost);
        let m = "mcp_monitor_kernel_failures_total";
        f.head(
            m,
            "counter",
            "Kernel-side failures: a full tag map (children left untagged), arguments that could not be kept, calls whose exit found none.",
        )
        .tally(m, "kind", &self.kernel_failures);
        let m = "mcp_monitor_undecodable_records_total";
        f.head(m, "counter", "Kernel records that could not be decoded.")
            .sample(m, &[], self.undecodable_records);
        let m = "mcp_monitor_alerts_total";
        f.head(m, "counter", "Alerts sent, by rule and priority.");
        // By rule, then by the priority's name: the order scrapers have seen.
        let mut alerts: Vec<_> = self.alerts.sent.iter().collect();
        alerts.sort_by_key(|((rule, p), _)| (rule.as_str(), p.as_str()));
        for ((rule, priority), n) in alerts {
            f.sample(m, &[("rule", rule), ("priority", priority.as_str())], n);
        }
        let m = "mcp_monitor_alerts_suppressed_total";
        f.head(
            m,
            "counter",
            "Repeats held back by suppression windows (reported in summaries), by rule.",
        )
        .tally(m, "rule", &self.alerts.suppressed);
        let m = "mcp_monitor_alerts_throttled_total";
        f.head(
            m,
            "counter",
            "Alerts dropped because their MCP server exceeded its alert rate, by server.",
        )
        .tally(m, "server", &self.alerts.throttled);
        let m = "mcp_monitor_throttled_servers";
        f.head(
            m,
            "gauge",
            "MCP servers whose alerts are being throttled now.",
        )
        .sample(m, &[], self.alerts.throttled_servers);
        let m = "mcp_monitor_tagged_processes";
        f.head(m, "gauge", "Processes tagged as part of an MCP server.")
            .sample(m, &[], self.tracking.tagged_processes);
        let m = "mcp_monitor_servers";
        f.head(m, "gauge", "MCP servers running now.")
            .sample(m, &[], self.tracking.servers);
        let m = "mcp_monitor_conversations";
        f.head(
            m,
            "gauge",
            "Stdio conversations of MCP servers the launch wrappers relay now.",
        )
        .sample(m, &[], self.tracking.conversations);
        let m = "mcp_monitor_conversation_messages_total";
        f.head(
            m,
            "counter",
            "Relayed JSON-RPC messages (kind=message) and what was lost of them: copies the relays dropped (relay_dropped), lines that were not JSON-RPC (not_json), messages cut at 64 KiB (cut), calls forgotten unanswered (evicted).",
        )
        .tally(m, "kind", &self.tracking.conversation_messages);
        let m = "mcp_monitor_rules_loaded";
        f.head(m, "gauge", "Detection rules in the running set.")
            .sample(m, &[], self.rules_loaded);
        let m = "mcp_monitor_rule_reloads_total";
        f.head(m, "counter", "Rule reloads, by result (ok, rejected).")
            .tally(m, "result", &self.rule_reloads);
        let m = "mcp_monitor_actions_total";
        f.head(
            m,
            "counter",
            "Rules' actions, by result (killed, denied, failed, skipped; would in dry run).",
        )
        .tally(m, "result", &self.actions);
        if !self.alerts.sinks.is_empty() {
            let m = "mcp_monitor_sink_queue_depth";
            f.head(m, "gauge", "Alerts waiting in each sink's queue.");
            for s in &self.alerts.sinks {
                f.sample(m, &[("sink", &s.name)], s.queue_depth);
            }
            let m = "mcp_monitor_sink_overflow_total";
            f.head(
                m,
                "counter",
                "Alerts a sink lost because its queue was full, by sink.",
            );
            for s in &self.alerts.sinks {
                f.sample(m, &[("sink", &s.name)], s.overflow);
            }
            let m = "mcp_monitor_sink_delivered_total";
            f.head(m, "counter", "Alerts a sink delivered, by sink.");
            for s in &self.alerts.sinks {
                f.sample(m, &[("sink", &s.name)], s.delivered);
            }
            let m = "mcp_monitor_sink_failed_total";
            f.head(
                m,
                "counter",
                "Alerts a sink took but could not deliver (and live clients dropped for being slow), by sink.",
            );
            for s in &self.alerts.sinks {
                f.sample(m, &[("sink", &s.name)], s.failed);
            }
        }
        out
    }
}

/// A parsed sample, for tests: name, labels, value.
#[cfg(test)]
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the text format back (the subset [`Snapshot::render`] writes);
/// returns the samples and the `(name, type)` pairs of the TYPE lines.
#[cfg(test)]
pub fn parse(text: &str) -> Result<(Vec<Sample>, BTreeMap<String, String>), String> {
    let mut samples = Vec::new();
    let mut types = BTreeMap::new();
    let mut helped = std::collections::BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |why: &str| format!("line {}: {why}: {line}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest
                .split_once(' ')
                .ok_or_else(|| bad("HELP without text"))?;
            helped.insert(name.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| bad("TYPE without kind"))?;
            if !helped.contains(name) {
                return Err(bad("TYPE before HELP"));
            }
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, value) = line.rsplit_once(' ').ok_or_else(|| bad("no value"))?;
        let value: f64 = value.parse().map_err(|_| bad("value is not a number"))?;
        let (name, labels) = match head.split_once('{') {
            None => (head, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .ok_or_else(|| bad("unclosed labels"))?;
                (name, parse_labels(body).map_err(|e| bad(&e))?)
            }
        };
        if !types.contains_key(name) {
            return Err(bad("sample without a TYPE line"));
        }
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok((samples, types))
}

#[cfg(test)]
fn parse_labels(body: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut chars = body.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('"') {
            return Err(format!("label {key} is not quoted"));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => return Err("dangling escape".into()),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => return Err(format!("label {key} is not closed")),
            }
        }
        out.insert(key.trim_start_matches(',').to_owned(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let mut s = Snapshot {
            uptime_seconds: 12.5,
            undecodable_records: 1,
            tracking: TrackingFigures {
                tagged_processes: 3,
                servers: 2,
                ..Default::default()
            },
            rules_loaded: 31,
            ..Default::default()
        };
        s.events.add("openat", 40);
        s.events.add("execve", 2);
        s.events.add("openat", 2);
        s.kernel_lost.add("open", 7);
        s.alerts
            .sent
            .insert(("Marker \"x\"\\y".into(), Priority::Warning), 5);
        s.alerts.suppressed.add("Marker", 199);
        s.alerts.throttled.add("noisy", 4);
        s.rule_reloads.add("ok", 1);
        s.actions.add("killed", 2);
        s.alerts.sinks.push(SinkFigures {
            name: "stdout".into(),
            queue_depth: 3,
            overflow: 2,
            delivered: 40,
            failed: 1,
        });
        s
    }

    #[test]
    fn a_rules_priorities_come_in_the_order_of_their_names() {
        let mut s = Snapshot::default();
        for p in [Priority::Warning, Priority::Notice, Priority::Critical] {
            s.alerts.sent.insert(("Alerts suppressed".into(), p), 1);
        }
        let text = s.render();
        let order: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("mcp_monitor_alerts_total{"))
            .filter_map(|l| l.split("priority=\"").nth(1)?.split('"').next())
            .collect();
        assert_eq!(order, ["Critical", "Notice", "Warning"]);
    }

    #[test]
    fn text_format_parses_back_with_names_labels_and_types() {
        let text = snapshot().render();
        let (samples, types) = parse(&text).unwrap();
        let get = |name: &str, labels: &[(&str, &str)]| {
            samples
                .iter()
                .find(|s| {
                    s.name == name
                        && labels
                            .iter()
                            .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
                })
                .map(|s| s.value)
        };
        assert_eq!(
            get("mcp_monitor_events_total", &[("type", "openat")]),
            Some(42.0)
        );
        assert_eq!(
            get("mcp_monitor_events_total", &[("type", "execve")]),
            Some(2.0)
        );
        assert_eq!(
            get("mcp_monitor_kernel_events_lost_total", &[("kind", "open")]),
            Some(7.0)
        );
        assert_eq!(
            get(
                "mcp_monitor_alerts_total",
                &[("rule", "Marker \"x\"\\y"), ("priority", "Warning")]
            ),
            Some(5.0),
            "label values are escaped and unescaped"
        );
        assert_eq!(
            get("mcp_monitor_alerts_suppressed_total", &[("rule", "Marker")]),
            Some(199.0)
        );
        assert_eq!(
            get("mcp_monitor_actions_total", &[("result", "killed")]),
            Some(2.0)
        );
        assert_eq!(get("mcp_monitor_uptime_seconds", &[]), Some(12.5));
        assert_eq!(get("mcp_monitor_servers", &[]), Some(2.0));
        assert_eq!(
            get("mcp_monitor_sink_overflow_total", &[("sink", "stdout")]),
            Some(2.0)
        );
        assert_eq!(
            get("mcp_monitor_sink_queue_depth", &[("sink", "stdout")]),
            Some(3.0)
        );
        assert_eq!(types["mcp_monitor_events_total"], "counter");
        assert_eq!(types["mcp_monitor_tagged_processes"], "gauge");
        // Every family has HELP then TYPE; counters end in _total.
        for (name, kind) in &types {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert_eq!(kind == "counter", name.ends_with("_total"), "{name}");
        }
        // Metric names are valid Prometheus names.
        for s in &samples {
            assert!(
                s.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{}",
                s.name
            );
        }
    }

    #[test]
    fn parse_rejects_samples_without_a_type() {
        assert!(parse("foo 1\n").is_err());
        assert!(parse("# HELP foo x\n# TYPE foo gauge\nfoo{a=\"1\" 2\n").is_err());
    }

    #[test]
    fn only_loopback_addresses_are_accepted() {
        let cfg = |a: &str| MetricsConfig {
            address: Some(a.parse().unwrap()),
        };
        assert!(cfg("127.0.0.1:9464").validate().is_ok());
        assert!(cfg("[::1]:9464").validate().is_ok());
        let e = cfg("0.0.0.0:9464").validate().unwrap_err();
        assert!(
            e.contains("loopback") && e.contains("127.0.0.1:9464"),
            "{e}"
        );
        assert!(cfg("10.1.2.3:80").validate().is_err());
        assert!(MetricsConfig::default().validate().is_ok());
    }
}
