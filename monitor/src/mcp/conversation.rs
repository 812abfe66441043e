//! Each observed server's conversation with its AI host, and which of its
//! calls an event happened in.
//!
//! The launch wrapper's relay stamps every message with the kernel's clock
//! before it forwards it, so a request is stamped before the server can act
//! on it, and a response after the server has done what it did for it. An
//! event then belongs to the calls that had started and not yet finished at
//! its time. Finished calls are kept for [`FINISHED_KEEP_NS`], so an event
//! the daemon reads after the response (the ring buffer and the relay's
//! socket are read in turn) still finds its call.
//!
//! Memory is bounded: at most [`MAX_IN_FLIGHT`] calls in flight per server
//! (a server that never answers, a flood of requests: the oldest are
//! forgotten and counted) and [`MAX_FINISHED`] finished ones.
use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use super::{
    ToolsListObserver,
    calls::{Activity, Call, IDLE, IN_CALL, ServerOf, UNOBSERVED},
    jsonrpc::{Direction, Message, Stamped, cut_str},
};
use crate::event::Event;

/// How long after its response a call's record goes out, for the events
/// read late to be in it.
pub const SETTLE_NS: u64 = 2_000_000_000;
/// How long a finished call is kept to attribute events read late.
pub const FINISHED_KEEP_NS: u64 = 10_000_000_000;
/// Calls in flight kept per server.
pub const MAX_IN_FLIGHT: usize = 256;
/// Finished calls kept per server.
pub const MAX_FINISHED: usize = 256;
/// Characters of a call's arguments shown in `mcp.tool.args`.
pub const ARGS_SHOWN: usize = 512;
/// Conversations kept at once (one per server launched through the wrapper).
pub const MAX_CONVERSATIONS: usize = 4096;

/// What one server's conversation is known to be.
#[derive(Debug, Default)]
pub struct Conversation {
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    pub protocol_version: Option<String>,
    in_flight: HashMap<String, Call>,
    finished: VecDeque<Call>,
    /// When the relay's connection closed (epoch ns).
    closed_ns: Option<u64>,
    pub figures: Figures,
    /// The server, as its first event named it.
    server: Option<ServerOf>,
}

/// Counts of one conversation (or of all).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub messages: u64,
    /// Copies the relay could not send (the daemon was slow).
    pub relay_dropped: u64,
    /// Lines that were not JSON-RPC.
    pub not_json: u64,
    /// Messages longer than the relay keeps whole.
    pub cut: u64,
    /// Calls forgotten unanswered because too many were in flight.
    pub evicted: u64,
}

impl Figures {
    /// Adds what went from `before` to `after` (each only grows).
    fn add_change(&mut self, before: &Figures, after: &Figures) {
        self.messages += after.messages - before.messages;
        self.relay_dropped += after.relay_dropped - before.relay_dropped;
        self.not_json += after.not_json - before.not_json;
        self.cut += after.cut - before.cut;
        self.evicted += after.evicted - before.evicted;
    }
}

/// The conversations of the servers launched through the wrapper, by the pid
/// the wrapper registered (the server's `mcp.root_pid`).
#[derive(Default)]
pub struct Conversations {
    by_pid: HashMap<u32, Conversation>,
    /// Conversations refused because [`MAX_CONVERSATIONS`] were open.
    pub refused: u64,
    /// Counts over every conversation since the start, for metrics.
    pub totals: Figures,
}

impl Conversations {
    /// A relay connected for the server whose root is `pid`; false if too
    /// many are open, or one is open for that pid already (nobody replaces
    /// a server's conversation while it runs).
    pub fn open(&mut self, pid: u32) -> bool {
        let live = self.by_pid.get(&pid).is_some_and(|c| c.closed_ns.is_none());
        if live || (!self.by_pid.contains_key(&pid) && self.by_pid.len() >= MAX_CONVERSATIONS) {
            self.refused += 1;
            return false;
        }
        // A pid used again starts afresh.
        self.by_pid.insert(pid, Conversation::default());
        true
    }

    /// The relay's connection closed: kept a while for events read late.
    pub fn closed(&mut self, pid: u32, now_ns: u64) {
        if let Some(c) = self.by_pid.get_mut(&pid) {
            c.closed_ns = Some(now_ns);
        }
    }

    /// Conversations followed now.
    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    pub fn get(&self, pid: u32) -> Option<&Conversation> {
        self.by_pid.get(&pid)
    }

    /// Takes one message, stamped `time_ns` (epoch). `server` is the name and
    /// command line of the server, for the tool-list observer. Returns the
    /// call the message finished, if any.
    pub fn message(
        &mut self,
        pid: u32,
        copy: Stamped,
        time_ns: u64,
        server: Option<(&str, &str)>,
        tools: &mut dyn ToolsListObserver,
    ) -> Option<Call> {
        let c = self.by_pid.get_mut(&pid)?;
        let before = c.figures.clone();
        c.figures.messages += 1;
        c.figures.relay_dropped = c.figures.relay_dropped.max(copy.dropped);
        c.figures.not_json = c.figures.not_json.max(copy.not_json);
        c.figures.cut += u64::from(copy.cut);
        let msg = copy.msg;
        if let (Direction::ToServer, Some(method), Some(id)) = (copy.dir, &msg.method, &msg.id) {
            c.request(id, method, &msg, time_ns);
        }
        self.totals.add_change(&before, &c.figures);
        match (copy.dir, &msg.method, &msg.id) {
            (Direction::FromServer, None, Some(id)) => {
                let call = c.response(id, &msg, time_ns)?;
                if let ("tools/list", Some(result), Some((name, command))) =
                    (call.method.as_str(), &msg.result, server)
                {
                    tools.on_tools_list(name, command, result, time_ns);
                }
                Some(call)
            }
            // Notifications, the server's own requests and their answers.
            _ => None,
        }
    }

    /// Drops finished calls and closed conversations past their time.
    pub fn prune(&mut self, now_ns: u64) {
        let old = now_ns.saturating_sub(FINISHED_KEEP_NS);
        self.by_pid
            .retain(|_, c| c.closed_ns.is_none_or(|t| t >= old));
        for c in self.by_pid.values_mut() {
            while c
                .finished
                .front()
                .is_some_and(|f| f.end_ns.is_some_and(|e| e < old))
            {
                c.finished.pop_front();
            }
        }
    }

    /// Sets the `mcp.tool.*`, `mcp.method`, `mcp.client.*`,
    /// `mcp.protocol_version` and `mcp.call.state` fields of an event of a
    /// server.
    pub fn attribute(&mut self, ev: &mut Event) {
        let Some(c) = ev.mcp_root_pid.and_then(|p| self.by_pid.get_mut(&p)) else {
            ev.mcp_call_state = Some(UNOBSERVED.into());
            return;
        };
        ev.mcp_client_name = c.client_name.clone();
        ev.mcp_client_version = c.client_version.clone();
        ev.mcp_protocol_version = c.protocol_version.clone();
        if c.server.is_none() {
            c.server = Some(ServerOf {
                name: ev.mcp_server.clone(),
                host: ev.mcp_host.clone(),
                tag_source: ev.mcp_tag_source.clone(),
                root_pid: ev.mcp_root_pid.unwrap_or_default(),
                ..Default::default()
            });
        }
        let t = ev.time_ns;
        let mut calls: Vec<&mut Call> = c
            .in_flight
            .values_mut()
            .filter(|call| call.start_ns <= t)
            .chain(
                c.finished
                    .iter_mut()
                    .filter(|call| call.start_ns <= t && call.end_ns.is_some_and(|e| t <= e)),
            )
            .collect();
        calls.sort_by_key(|call| call.start_ns);
        for call in &mut calls {
            call.activity.note(ev);
            ev.mcp_method.push(call.method.clone());
            ev.mcp_tool_call_id.push(call.id.clone());
            ev.mcp_tool_args.push(call.args.clone().unwrap_or_default());
            if let Some(tool) = &call.tool {
                ev.mcp_tool_name.push(tool.clone());
            }
        }
        ev.mcp_call_state = Some(if calls.is_empty() { IDLE } else { IN_CALL }.into());
    }

    /// Notes that `ev`, attributed already, raised the alert of `rule`.
    pub fn alert_raised(&mut self, ev: &Event, rule: &str) {
        let Some(c) = ev.mcp_root_pid.and_then(|p| self.by_pid.get_mut(&p)) else {
            return;
        };
        for id in &ev.mcp_tool_call_id {
            if let Some(call) = c.in_flight.get_mut(id) {
                call.activity.alert(rule);
            } else if let Some(call) = c
                .finished
                .iter_mut()
                .rev()
                .find(|f| &f.id == id && f.start_ns <= ev.time_ns)
            {
                call.activity.alert(rule);
            }
        }
    }

    /// The calls whose records are due: answered [`SETTLE_NS`] ago, or left
    /// unanswered by a conversation that ended that long ago. Each once.
    pub fn settled(&mut self, now_ns: u64) -> Vec<(ServerOf, Call)> {
        let mut out = Vec::new();
        let due = now_ns.saturating_sub(SETTLE_NS);
        for (&pid, c) in &mut self.by_pid {
            let mut server = c.server.clone().unwrap_or(ServerOf {
                root_pid: pid,
                ..Default::default()
            });
            server.client_name = c.client_name.clone();
            server.client_version = c.client_version.clone();
            server.protocol_version = c.protocol_version.clone();
            for call in c.finished.iter_mut() {
                if !call.reported && call.end_ns.is_some_and(|e| e <= due) {
                    call.reported = true;
                    out.push((server.clone(), call.clone()));
                }
            }
            if c.closed_ns.is_some_and(|t| t <= due) {
                for (_, call) in c.in_flight.drain() {
                    out.push((server.clone(), call));
                }
            }
        }
        out.sort_by_key(|(_, call)| call.start_ns);
        out
    }
}

impl Conversation {
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn request(&mut self, id: &Value, method: &str, msg: &Message, t: u64) {
        let params = msg.params.as_ref();
        if method == "initialize" {
            let info = params.and_then(|p| p.get("clientInfo"));
            let text = |k: &str| {
                info.and_then(|i| i.get(k))
                    .and_then(Value::as_str)
                    .map(|s| cut_str(s, 128))
            };
            self.client_name = text("name");
            self.client_version = text("version");
            self.protocol_version = params
                .and_then(|p| p.get("protocolVersion"))
                .and_then(Value::as_str)
                .map(|s| cut_str(s, 64));
        }
        let tool = (method == "tools/call")
            .then(|| params.and_then(|p| p.get("name")).and_then(Value::as_str))
            .flatten()
            .map(|s| cut_str(s, 128));
        let args = params.and_then(|p| {
            p.get("arguments")
                .or_else(|| p.get("uri"))
                .or_else(|| (method != "tools/call").then(|| p.get("name")).flatten())
        });
        let args = args.map(|a| {
            let text = match a {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            crate::redact::text(&cut_str(&text, ARGS_SHOWN)).into_owned()
        });
        let key = id_text(id);
        if self.in_flight.len() >= MAX_IN_FLIGHT && !self.in_flight.contains_key(&key) {
            // The oldest unanswered call goes.
            if let Some(oldest) = self
                .in_flight
                .values()
                .min_by_key(|c| c.start_ns)
                .map(|c| c.id.clone())
            {
                self.in_flight.remove(&oldest);
                self.figures.evicted += 1;
            }
        }
        self.in_flight.insert(
            key.clone(),
            Call {
                id: key,
                method: cut_str(method, 128),
                tool,
                args,
                start_ns: t,
                end_ns: None,
                outcome: None,
                error: None,
                activity: Activity::default(),
                reported: false,
            },
        );
    }

    fn response(&mut self, id: &Value, msg: &Message, t: u64) -> Option<Call> {
        let mut call = self.in_flight.remove(&id_text(id))?;
        call.end_ns = Some(t.max(call.start_ns));
        call.outcome = Some(if let Some(e) = &msg.error {
            call.error = e
                .get("message")
                .and_then(Value::as_str)
                .map(|s| crate::redact::text(s).into_owned());
            "error"
        } else if msg
            .result
            .as_ref()
            .and_then(|r| r.get("isError"))
            .and_then(Value::as_bool)
            == Some(true)
        {
            "tool_error"
        } else {
            "ok"
        });
        if call.method == "initialize"
            && let Some(v) = msg
                .result
                .as_ref()
                .and_then(|r| r.get("protocolVersion"))
                .and_then(Value::as_str)
        {
            self.protocol_version = Some(cut_str(v, 64));
        }
        if self.finished.len() >= MAX_FINISHED {
            self.finished.pop_front();
        }
        self.finished.push_back(call.clone());
        Some(call)
    }
}

/// An id as shown: a number as written, a string without quotes.
fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => cut_str(s, 128),
        other => cut_str(&other.to_string(), 128),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::IgnoreToolsLists;
    use serde_json::json;

    fn stamped(dir: Direction, msg: Value) -> Stamped {
        let crate::mcp::jsonrpc::Parsed::Messages(mut m) =
            crate::mcp::jsonrpc::parse(&crate::mcp::jsonrpc::Line {
                bytes: msg.to_string().as_bytes(),
                cut: false,
                tail: &[],
            })
        else {
            panic!("{msg}")
        };
        Stamped {
            seq: 0,
            t: 0,
            dir,
            msg: m.remove(0),
            cut: false,
            ack: false,
            dropped: 0,
            not_json: 0,
        }
    }

    fn event(pid: u32, t: u64) -> Event {
        Event {
            mcp_root_pid: Some(pid),
            time_ns: t,
            ..Default::default()
        }
    }

    struct Lists(Vec<(String, String, Value)>);
    impl ToolsListObserver for Lists {
        fn on_tools_list(&mut self, n: &str, c: &str, r: &Value, _: u64) {
            self.0.push((n.into(), c.into(), r.clone()));
        }
    }

    fn session(c: &mut Conversations, pid: u32) {
        c.open(pid);
        let t = &mut IgnoreToolsLists;
        c.message(pid, stamped(Direction::ToServer, json!({"jsonrpc":"2.0","id":0,"method":"initialize",
            "params":{"protocolVersion":"2025-06-18","clientInfo":{"name":"mcp","version":"0.1.0"},"capabilities":{}}})), 10, None, t);
        c.message(
            pid,
            stamped(
                Direction::FromServer,
                json!({"jsonrpc":"2.0","id":0,
            "result":{"protocolVersion":"2025-06-18","serverInfo":{"name":"fs","version":"1"}}}),
            ),
            20,
            None,
            t,
        );
    }

    #[test]
    fn an_event_belongs_to_the_calls_around_it() {
        let mut c = Conversations::default();
        session(&mut c, 42);
        let t = &mut IgnoreToolsLists;
        c.message(
            42,
            stamped(
                Direction::ToServer,
                json!({"jsonrpc":"2.0","id":3,"method":"tools/call",
            "params":{"name":"read_text_file","arguments":{"path":"/home/u/.ssh/id_rsa"}}}),
            ),
            100,
            None,
            t,
        );
        let mut ev = event(42, 150);
        c.attribute(&mut ev);
        assert_eq!(ev.mcp_call_state.as_deref(), Some(IN_CALL));
        assert_eq!(ev.mcp_tool_name, vec!["read_text_file"]);
        assert_eq!(ev.mcp_tool_call_id, vec!["3"]);
        assert_eq!(ev.mcp_method, vec!["tools/call"]);
        assert_eq!(ev.mcp_tool_args, vec![r#"{"path":"/home/u/.ssh/id_rsa"}"#]);
        assert_eq!(ev.mcp_client_name.as_deref(), Some("mcp"));
        assert_eq!(ev.mcp_client_version.as_deref(), Some("0.1.0"));
        assert_eq!(ev.mcp_protocol_version.as_deref(), Some("2025-06-18"));
        // A second call overlaps the first: both.
        c.message(
            42,
            stamped(
                Direction::ToServer,
                json!({"jsonrpc":"2.0","id":"b","method":"resources/read",
            "params":{"uri":"file:///etc/hosts"}}),
            ),
            160,
            None,
            t,
        );
        let finished = c
            .message(
                42,
                stamped(
                    Direction::FromServer,
                    json!({"jsonrpc":"2.0","id":3,
            "result":{"content":[],"isError":true}}),
                ),
                200,
                None,
                t,
            )
            .unwrap();
        assert_eq!(finished.outcome, Some("tool_error"));
        let mut ev = event(42, 170);
        c.attribute(&mut ev);
        assert_eq!(ev.mcp_tool_call_id, vec!["3", "b"]);
        assert_eq!(ev.mcp_method, vec!["tools/call", "resources/read"]);
        assert_eq!(
            ev.mcp_tool_name,
            vec!["read_text_file"],
            "only tool calls have a tool"
        );
        assert_eq!(ev.mcp_tool_args[1], "file:///etc/hosts");
        // After the response: only the call still open; before any: idle.
        let mut ev = event(42, 250);
        c.attribute(&mut ev);
        assert_eq!(ev.mcp_tool_call_id, vec!["b"]);
        let mut ev = event(42, 50);
        c.attribute(&mut ev);
        assert_eq!(ev.mcp_call_state.as_deref(), Some(IDLE));
        assert!(ev.mcp_tool_call_id.is_empty());
        // Another server: not observed.
        let mut ev = event(7, 150);
        c.attribute(&mut ev);
        assert_eq!(ev.mcp_call_state.as_deref(), Some(UNOBSERVED));
        assert_eq!(ev.mcp_client_name, None);
    }

    #[test]
    fn events_read_after_the_response_still_find_their_call() {
        let mut c = Conversations::default();
        session(&mut c, 1);
        let t = &mut IgnoreToolsLists;
        c.message(1, stamped(Direction::ToServer, json!({"id":5,"method":"tools/call","params":{"name":"fetch","arguments":{"url":"http://127.0.0.1/"}}})), 1_000, None, t);
        c.message(
            1,
            stamped(
                Direction::FromServer,
                json!({"id":5,"error":{"code":-32000,"message":"boom"}}),
            ),
            2_000,
            None,
            t,
        );
        c.closed(1, 3_000);
        c.prune(3_000);
        let mut ev = event(1, 1_500);
        c.attribute(&mut ev);
        assert_eq!(ev.mcp_tool_name, vec!["fetch"]);
        // Long after: forgotten.
        c.prune(3_000 + FINISHED_KEEP_NS + 1);
        let mut ev = event(1, 1_500);
        c.attribute(&mut ev);
        assert_eq!(ev.mcp_call_state.as_deref(), Some(UNOBSERVED));
    }

    #[test]
    fn a_call_is_reported_once_with_what_it_did_after_it_settles() {
        let mut c = Conversations::default();
        session(&mut c, 5);
        let t = &mut IgnoreToolsLists;
        c.message(5, stamped(Direction::ToServer, json!({"id":1,"method":"tools/call","params":{"name":"read_text_file","arguments":{"path":"/k"}}})), 100, None, t);
        c.message(
            5,
            stamped(
                Direction::ToServer,
                json!({"id":2,"method":"tools/call","params":{"name":"never","arguments":{}}}),
            ),
            100,
            None,
            t,
        );
        let mut ev = Event {
            evt_type: "openat".into(),
            fd_name: Some("/k".into()),
            is_open_write: Some(false),
            rawres: Some(3),
            mcp_server: Some("fs".into()),
            ..event(5, 150)
        };
        c.attribute(&mut ev);
        c.alert_raised(&ev, "secret read");
        c.message(
            5,
            stamped(
                Direction::FromServer,
                json!({"id":1,"result":{"content":[]}}),
            ),
            200,
            None,
            t,
        );
        let early = c.settled(200 + SETTLE_NS - 1);
        assert_eq!(early.len(), 1, "only initialize, answered at 20");
        assert_eq!(early[0].1.method, "initialize");
        let due = c.settled(200 + SETTLE_NS);
        assert_eq!(due.len(), 1);
        let (server, call) = &due[0];
        assert_eq!(server.name.as_deref(), Some("fs"));
        assert_eq!(server.client_name.as_deref(), Some("mcp"));
        assert_eq!(call.tool.as_deref(), Some("read_text_file"));
        assert_eq!(call.activity.read, ["/k"]);
        assert_eq!(call.activity.alerts, ["secret read"]);
        assert!(c.settled(u64::MAX).is_empty(), "once");
        // The unanswered one goes out when the conversation has ended.
        c.closed(5, 300);
        let due = c.settled(300 + SETTLE_NS);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1.outcome, None, "unanswered");
        assert_eq!(due[0].1.activity.read, ["/k"]);
    }

    /// `cargo test --release -p monitor --lib attribution_cost -- --ignored
    /// --nocapture`: what attributing one event costs.
    #[test]
    #[ignore]
    fn attribution_cost() {
        let mut c = Conversations::default();
        session(&mut c, 3);
        let t = &mut IgnoreToolsLists;
        let base = Event {
            evt_type: "openat".into(),
            fd_name: Some("/etc/hostname".into()),
            is_open_write: Some(false),
            rawres: Some(3),
            mcp_server: Some("fs".into()),
            ..event(3, 0)
        };
        let n = 1_000_000u64;
        let run = |c: &mut Conversations, what: &str, pid: u32| {
            let started = std::time::Instant::now();
            for i in 0..n {
                let mut ev = base.clone();
                ev.mcp_root_pid = Some(pid);
                ev.time_ns = 1_000 + i;
                c.attribute(&mut ev);
                std::hint::black_box(&ev);
            }
            let clone_only = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(base.clone());
            }
            let per = (clone_only - started).as_nanos() as f64 / n as f64;
            let clone = clone_only.elapsed().as_nanos() as f64 / n as f64;
            eprintln!(
                "{what}: {:.0} ns per event ({per:.0} with the event's clone)",
                per - clone
            );
        };
        run(&mut c, "unobserved server", 99);
        run(&mut c, "observed, no call in flight", 3);
        c.message(3, stamped(Direction::ToServer, json!({"id":1,"method":"tools/call","params":{"name":"read_text_file","arguments":{"path":"/etc/hostname"}}})), 500, None, t);
        run(&mut c, "observed, one call in flight", 3);
    }

    #[test]
    fn a_server_that_never_answers_keeps_memory_bounded() {
        let mut c = Conversations::default();
        session(&mut c, 9);
        let t = &mut IgnoreToolsLists;
        for i in 0..10_000u64 {
            c.message(
                9,
                stamped(
                    Direction::ToServer,
                    json!({"id":i,"method":"tools/call","params":{"name":"x","arguments":{}}}),
                ),
                100 + i,
                None,
                t,
            );
        }
        let conv = c.get(9).unwrap();
        assert_eq!(conv.in_flight(), MAX_IN_FLIGHT);
        assert_eq!(conv.figures.evicted, 10_000 - MAX_IN_FLIGHT as u64);
        assert_eq!(c.totals.evicted, 10_000 - MAX_IN_FLIGHT as u64);
        assert_eq!(c.totals.messages, 10_002);
        // A response for a forgotten call is ignored; one for a kept call works.
        assert!(
            c.message(
                9,
                stamped(Direction::FromServer, json!({"id":0,"result":{}})),
                20_000,
                None,
                t
            )
            .is_none()
        );
        assert!(
            c.message(
                9,
                stamped(Direction::FromServer, json!({"id":9999,"result":{}})),
                20_000,
                None,
                t
            )
            .is_some()
        );
        // Nor do conversations grow without end.
        for pid in 0..(MAX_CONVERSATIONS as u32 + 10) {
            c.open(1000 + pid);
        }
        assert_eq!(c.refused, 11);
        // A running server's conversation is not replaced; an ended one may be.
        assert!(!c.open(9));
        c.closed(9, 1);
        assert!(c.open(9));
    }

    #[test]
    fn tool_lists_go_to_the_observer_and_args_are_redacted() {
        let mut c = Conversations::default();
        session(&mut c, 4);
        let mut lists = Lists(Vec::new());
        c.message(
            4,
            stamped(Direction::ToServer, json!({"id":1,"method":"tools/list"})),
            30,
            None,
            &mut lists,
        );
        c.message(
            4,
            stamped(
                Direction::FromServer,
                json!({"id":1,"result":{"tools":[{"name":"read_text_file"}]}}),
            ),
            40,
            Some(("fs", "npx -y fs")),
            &mut lists,
        );
        assert_eq!(
            lists.0,
            vec![(
                "fs".into(),
                "npx -y fs".into(),
                json!({"tools":[{"name":"read_text_file"}]})
            )]
        );
        c.message(
            4,
            stamped(
                Direction::ToServer,
                json!({"id":2,"method":"tools/call",
            "params":{"name":"gh","arguments":{"token":"ghp_abcdefghijklmnopqrstuvwxyz0123456789"}}}),
            ),
            50,
            None,
            &mut lists,
        );
        let mut ev = event(4, 60);
        c.attribute(&mut ev);
        assert!(
            ev.mcp_tool_args[0].contains("<redacted>"),
            "{:?}",
            ev.mcp_tool_args
        );
        assert!(!ev.mcp_tool_args[0].contains("abcdefghij"));
    }
}
