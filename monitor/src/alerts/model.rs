use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{event::Event, priority::Priority, rules::ruleset::Match};

/// One alert, as written to every sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// RFC 3339 with nanoseconds, UTC.
    pub time: String,
    pub rule: String,
    /// Written as Falco writes it: `Critical`, `Warning`, …
    pub priority: Priority,
    pub output: String,
    pub output_fields: BTreeMap<String, serde_json::Value>,
    pub tags: Vec<String>,
    /// Always `mcp-monitor`.
    pub source: String,
    pub hostname: String,
    pub mcp: AlertMcp,
    /// The process that triggered the rule; absent for the monitor's own
    /// health alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<AlertProcess>,
    /// What the rule's `action:` did (absent for rules without one): `kill`,
    /// `kill-server`, `deny`, or in dry run `would-kill`, … .
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `killed`, `denied`, `failed: WHY`, `skipped: WHY` (absent in dry run).
    #[serde(
        rename = "action.result",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub action_result: Option<String>,
    /// `kernel` (the probe acted at the call) or `user` (after the event).
    #[serde(
        rename = "action.latency",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub action_latency: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertMcp {
    pub server: Option<String>,
    pub host: Option<String>,
    pub tag_source: Option<String>,
    pub root_pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roots: Vec<String>,
    /// Which of the host's calls the event happened in (the `mcp.call.*`,
    /// `mcp.method`, `mcp.tool.*`, `mcp.client.*` fields, at the same paths).
    #[serde(flatten)]
    pub conversation: AlertConversation,
}

/// The conversation fields of an alert's event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertConversation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<AlertCallState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub method: Vec<String>,
    #[serde(default, skip_serializing_if = "AlertTool::is_empty")]
    pub tool: AlertTool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<AlertClient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertCallState {
    pub state: String,
}

/// The calls in flight: `name` per tool call, `call_id` and `args` per call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertTool {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub call_id: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

impl AlertTool {
    fn is_empty(&self) -> bool {
        self.name.is_empty() && self.call_id.is_empty() && self.args.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertClient {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl AlertConversation {
    pub fn of(ev: &Event) -> Self {
        AlertConversation {
            call: ev
                .mcp_call_state
                .clone()
                .map(|state| AlertCallState { state }),
            method: ev.mcp_method.clone(),
            tool: AlertTool {
                name: ev.mcp_tool_name.clone(),
                call_id: ev.mcp_tool_call_id.clone(),
                args: ev.mcp_tool_args.clone(),
            },
            client: (ev.mcp_client_name.is_some() || ev.mcp_client_version.is_some()).then(|| {
                AlertClient {
                    name: ev.mcp_client_name.clone(),
                    version: ev.mcp_client_version.clone(),
                }
            }),
            protocol_version: ev.mcp_protocol_version.clone(),
        }
    }

    /// What a one-line rendering names: the tools, else the methods.
    pub fn label(&self) -> Option<String> {
        let names = if self.tool.name.is_empty() {
            &self.method
        } else {
            &self.tool.name
        };
        (!names.is_empty()).then(|| names.join(","))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertProcess {
    pub pid: u32,
    pub ppid: u32,
    pub name: String,
    pub exepath: String,
    pub cmdline: String,
    pub uid: u32,
    /// Parent first.
    pub ancestors: Vec<Ancestor>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ancestor {
    pub pid: u32,
    pub name: String,
}

impl AlertMcp {
    /// No server: the monitor's own alerts.
    pub fn none() -> Self {
        AlertMcp {
            server: None,
            host: None,
            tag_source: None,
            root_pid: None,
            roots: Vec::new(),
            conversation: AlertConversation::default(),
        }
    }
}

impl Alert {
    /// The alert for a rule match, with secrets redacted (rules saw them raw;
    /// no output carries them).
    pub fn new(m: &Match<'_>, ev: &Event, hostname: &str) -> Alert {
        let mut alert = Alert {
            time: rfc3339_nanos(ev.time_ns),
            rule: m.rule.to_owned(),
            priority: m.priority,
            output: m.output.clone(),
            output_fields: m.output_fields.clone(),
            tags: m.tags.to_vec(),
            source: "mcp-monitor".into(),
            hostname: hostname.to_owned(),
            mcp: AlertMcp {
                server: ev.mcp_server.clone(),
                host: ev.mcp_host.clone(),
                tag_source: ev.mcp_tag_source.clone(),
                root_pid: ev.mcp_root_pid,
                roots: ev.mcp_roots.clone(),
                conversation: AlertConversation::of(ev),
            },
            process: Some(AlertProcess {
                pid: ev.pid,
                ppid: ev.ppid,
                name: ev.name.clone(),
                exepath: ev.exepath.clone(),
                cmdline: ev.cmdline.to_string(),
                uid: ev.uid,
                ancestors: ev
                    .apids
                    .iter()
                    .zip(ev.anames.iter())
                    .map(|(pid, name)| Ancestor {
                        pid: *pid,
                        name: name.clone(),
                    })
                    .collect(),
            }),
            action: None,
            action_result: None,
            action_latency: None,
        };
        crate::redact::alert(&mut alert);
        alert
    }

    /// An alert about the monitor itself (events lost, …): no process, no server.
    pub fn health(
        rule: &str,
        priority: Priority,
        output: String,
        output_fields: BTreeMap<String, serde_json::Value>,
        hostname: &str,
    ) -> Alert {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Alert {
            time: rfc3339_nanos(now),
            rule: rule.to_owned(),
            priority,
            output,
            output_fields,
            tags: vec!["mcp_monitor_health".into()],
            source: "mcp-monitor".into(),
            hostname: hostname.to_owned(),
            mcp: AlertMcp::none(),
            process: None,
            action: None,
            action_result: None,
            action_latency: None,
        }
    }

    /// One JSON line, no trailing newline.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// This machine's host name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer and its length are valid.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// `2026-11-25T06:14:03.123456789Z` from nanoseconds since the epoch.
pub fn rfc3339_nanos(epoch_ns: u64) -> String {
    let secs = epoch_ns / 1_000_000_000;
    let nanos = epoch_ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The inverse of [`rfc3339_nanos`] for the times it writes; `None` for
/// anything else.
pub fn parse_rfc3339_nanos(t: &str) -> Option<u64> {
    let b = t.as_bytes();
    if b.len() != 30 || &t[4..5] != "-" || &t[10..11] != "T" || !t.ends_with('Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| t.get(r)?.parse::<u64>().ok();
    let (y, m, d) = (n(0..4)? as i64, n(5..7)? as u32, n(8..10)? as u32);
    let secs = n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?;
    let days = days_from_civil(y, m, d);
    let total = u64::try_from(days).ok()? * 86_400 + secs;
    Some(total * 1_000_000_000 + n(20..29)?)
}

/// (year, month, day) → days since 1970-01-01, proleptic Gregorian.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_nanos(1_795_586_988_159_473_973),
            "2026-11-25T06:09:48.159473973Z"
        );
        assert_eq!(
            rfc3339_nanos(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
        for t in [0, 951_782_400_000_000_001, 1_795_586_988_159_473_973] {
            assert_eq!(parse_rfc3339_nanos(&rfc3339_nanos(t)), Some(t));
        }
        assert_eq!(parse_rfc3339_nanos("yesterday"), None);
    }
}
