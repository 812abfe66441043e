//! What a call did in the kernel, and the record `mcp-monitor calls` shows of
//! it once it is over: one alert-shaped line (rule [`CALL_RULE`],
//! Informational) that goes to the alert log and the alert socket only, so
//! `calls` reads it through the same socket, access checks and replay as
//! `tail`.
use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::jsonrpc::cut_str;
use crate::{
    alerts::{Alert, AlertConversation, AlertMcp, CALL_RULE},
    event::Event,
    priority::Priority,
};

/// `mcp.call.state` values.
pub const IN_CALL: &str = "in_call";
pub const IDLE: &str = "idle";
pub const UNOBSERVED: &str = "unobserved";

/// One request of the host to the server.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The JSON-RPC id as text: a number as written, a string as is.
    pub id: String,
    pub method: String,
    /// `tools/call`: the tool's name.
    pub tool: Option<String>,
    /// The arguments (or a resource's uri, a prompt's name), redacted and cut.
    pub args: Option<String>,
    /// Nanoseconds since the Unix epoch.
    pub start_ns: u64,
    pub end_ns: Option<u64>,
    /// `ok`, `error` (a JSON-RPC error) or `tool_error` (a result with
    /// `isError`); `None` while in flight.
    pub outcome: Option<&'static str>,
    /// The JSON-RPC error's message, cut.
    pub error: Option<String>,
    /// What the events attributed to it did.
    pub activity: Activity,
    /// Its record went out.
    pub reported: bool,
}

/// Items kept per kind of activity; more are counted.
pub const MAX_EACH: usize = 16;

/// What the events attributed to a call did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activity {
    pub read: Vec<String>,
    pub written: Vec<String>,
    pub connects: Vec<String>,
    pub execs: Vec<String>,
    pub alerts: Vec<String>,
    /// Events attributed to the call.
    pub events: u64,
    /// Items left out beyond [`MAX_EACH`] of a kind.
    pub more: u64,
}

impl Activity {
    pub fn note(&mut self, ev: &Event) {
        self.events += 1;
        let ok = ev.rawres.is_none_or(|r| r >= 0);
        let name = ev.fd_name.as_deref().unwrap_or("");
        match ev.evt_type.as_str() {
            "open" | "openat" | "openat2" | "creat" | "io_uring" if ok && !name.is_empty() => {
                if ev.is_open_write == Some(true) || ev.evt_type == "creat" {
                    add(&mut self.written, name, &mut self.more);
                } else {
                    add(&mut self.read, name, &mut self.more);
                }
            }
            "rename" | "renameat" | "renameat2" | "link" | "linkat" | "unlink" | "unlinkat"
                if ok && !name.is_empty() =>
            {
                add(&mut self.written, name, &mut self.more);
            }
            "connect" if !name.is_empty() => add(&mut self.connects, name, &mut self.more),
            "execve" => {
                let cmd = crate::redact::text(&ev.cmdline).into_owned();
                add(&mut self.execs, &cut_str(&cmd, 200), &mut self.more);
            }
            _ => {}
        }
    }

    pub fn alert(&mut self, rule: &str) {
        add(&mut self.alerts, rule, &mut self.more);
    }
}

fn add(list: &mut Vec<String>, item: &str, more: &mut u64) {
    if list.iter().any(|i| i == item) {
        return;
    }
    if list.len() < MAX_EACH {
        list.push(item.to_owned());
    } else {
        *more += 1;
    }
}

/// Who the call's server is, as its events said.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerOf {
    pub name: Option<String>,
    pub host: Option<String>,
    pub tag_source: Option<String>,
    pub root_pid: u32,
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    pub protocol_version: Option<String>,
}

/// The record of a finished (or abandoned) call.
pub fn record(server: &ServerOf, call: &Call, hostname: &str) -> Alert {
    let a = &call.activity;
    let duration_ms = call
        .end_ns
        .map(|e| (e.saturating_sub(call.start_ns)) as f64 / 1e6);
    let outcome = call.outcome.unwrap_or("unanswered");
    let what = call.tool.as_deref().unwrap_or(&call.method);
    let mut output = format!(
        "{} {what} {} {outcome}",
        server.name.as_deref().unwrap_or("-"),
        call.args.as_deref().unwrap_or(""),
    );
    if let Some(ms) = duration_ms {
        output.push_str(&format!(" in {ms:.1} ms"));
    }
    for (label, items) in [
        ("read", &a.read),
        ("wrote", &a.written),
        ("connect", &a.connects),
        ("exec", &a.execs),
        ("alerts", &a.alerts),
    ] {
        if !items.is_empty() {
            output.push_str(&format!("; {label} {}", items.join(", ")));
        }
    }
    let mut fields: BTreeMap<String, Value> = BTreeMap::new();
    let mut put = |k: &str, v: Value| {
        fields.insert(k.to_owned(), v);
    };
    put("mcp.method", json!(call.method));
    put("mcp.tool.name", json!(call.tool));
    put("mcp.tool.call_id", json!(call.id));
    put("mcp.tool.args", json!(call.args));
    put(
        "call.start",
        json!(crate::alerts::rfc3339_nanos(call.start_ns)),
    );
    put("call.duration_ms", json!(duration_ms));
    put("call.outcome", json!(outcome));
    put("call.error", json!(call.error));
    put("call.files_read", json!(a.read));
    put("call.files_written", json!(a.written));
    put("call.connects", json!(a.connects));
    put("call.execs", json!(a.execs));
    put("call.alerts", json!(a.alerts));
    put("call.events", json!(a.events));
    put("call.left_out", json!(a.more));
    let mut alert = Alert::health(CALL_RULE, Priority::Informational, output, fields, hostname);
    alert.time = crate::alerts::rfc3339_nanos(call.start_ns);
    alert.tags = vec!["mcp_call".into()];
    alert.mcp = AlertMcp {
        server: server.name.clone(),
        host: server.host.clone(),
        tag_source: server.tag_source.clone(),
        root_pid: Some(server.root_pid),
        roots: Vec::new(),
        conversation: AlertConversation::of(&Event {
            mcp_call_state: Some(IN_CALL.into()),
            mcp_method: vec![call.method.clone()],
            mcp_tool_name: call.tool.iter().cloned().collect(),
            mcp_tool_call_id: vec![call.id.clone()],
            mcp_tool_args: call.args.iter().cloned().collect(),
            mcp_client_name: server.client_name.clone(),
            mcp_client_version: server.client_version.clone(),
            mcp_protocol_version: server.protocol_version.clone(),
            ..Default::default()
        }),
    };
    alert
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_is_sorted_by_kind_and_bounded() {
        let mut a = Activity::default();
        let open = |path: &str, write: bool| Event {
            evt_type: "openat".into(),
            fd_name: Some(path.into()),
            is_open_write: Some(write),
            rawres: Some(3),
            ..Default::default()
        };
        a.note(&open("/etc/hosts", false));
        a.note(&open("/etc/hosts", false));
        a.note(&open("/tmp/out", true));
        a.note(&Event {
            evt_type: "connect".into(),
            fd_name: Some("127.0.0.1:80".into()),
            rawres: Some(0),
            ..Default::default()
        });
        for i in 0..40 {
            a.note(&open(&format!("/f{i}"), false));
        }
        a.alert("MCP server read SSH keys or configuration");
        assert_eq!(a.read.len(), MAX_EACH);
        assert_eq!(a.read[0], "/etc/hosts");
        assert_eq!(a.written, ["/tmp/out"]);
        assert_eq!(a.connects, ["127.0.0.1:80"]);
        assert_eq!(a.more, 41 - MAX_EACH as u64);
        assert_eq!(a.events, 44);
        let call = Call {
            id: "3".into(),
            method: "tools/call".into(),
            tool: Some("read_text_file".into()),
            args: Some(r#"{"path":"/etc/hosts"}"#.into()),
            start_ns: 1_000_000_000,
            end_ns: Some(1_012_500_000),
            outcome: Some("ok"),
            error: None,
            activity: a,
            reported: false,
        };
        let server = ServerOf {
            name: Some("fs".into()),
            root_pid: 7,
            client_name: Some("mcp".into()),
            ..Default::default()
        };
        let r = record(&server, &call, "h");
        assert_eq!(r.rule, CALL_RULE);
        assert!(
            r.output.starts_with(
                r#"fs read_text_file {"path":"/etc/hosts"} ok in 12.5 ms; read /etc/hosts"#
            ),
            "{}",
            r.output
        );
        assert_eq!(r.output_fields["call.files_written"], json!(["/tmp/out"]));
        assert_eq!(r.mcp.conversation.tool.name, ["read_text_file"]);
        assert_eq!(
            r.mcp.conversation.client.as_ref().unwrap().name.as_deref(),
            Some("mcp")
        );
    }
}
