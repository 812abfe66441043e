//! MCP's stdio transport: newline-delimited JSON-RPC messages, framed from
//! the bytes as they come, and reduced to the bounded copy the launch
//! wrapper's relay sends the daemon (method, id, tool name, the first bytes of
//! the arguments; a `tools/list` result whole).
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest line kept for decoding. A longer message is cut here (and
/// counted); its bytes are still relayed whole.
pub const LINE_MAX: usize = 64 * 1024;
/// Bytes of a call's arguments (as JSON text) kept in the copy.
pub const ARGS_MAX: usize = 1024;
/// Bytes of a request's other parameters kept in the copy.
const PARAMS_MAX: usize = 2048;
/// Bytes of an error message kept in the copy.
const ERROR_MAX: usize = 256;

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the AI host (the client) to the server.
    ToServer,
    /// From the server to the AI host.
    FromServer,
}

/// One JSON-RPC message: a request (`method` and `id`), a notification
/// (`method`, no `id`) or a response (`id` and `result` or `error`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// One line taken off the stream.
#[derive(Debug, PartialEq)]
pub struct Line<'a> {
    /// The line without its newline, at most [`LINE_MAX`] bytes.
    pub bytes: &'a [u8],
    /// The line was longer than [`LINE_MAX`]: `bytes` is its beginning…
    pub cut: bool,
    /// …and this its end (at most [`TAIL_MAX`] bytes), where an SDK that
    /// writes `id` last puts it.
    pub tail: &'a [u8],
}

/// Bytes kept of the end of a cut line.
pub const TAIL_MAX: usize = 128;

/// Splits a byte stream into lines: a line may come in many reads, and a read
/// may hold many lines. Memory is bounded by [`LINE_MAX`].
#[derive(Default)]
pub struct Framer {
    buf: Vec<u8>,
    cut: bool,
    tail: Vec<u8>,
}

impl Framer {
    /// Feeds one read's bytes; `line` is called for each line they complete.
    pub fn push(&mut self, mut chunk: &[u8], mut line: impl FnMut(Line)) {
        while let Some(nl) = chunk.iter().position(|&b| b == b'\n') {
            self.keep(&chunk[..nl]);
            self.take_line(&mut line);
            chunk = &chunk[nl + 1..];
        }
        self.keep(chunk);
    }

    /// The unfinished line at the end of the stream, if any.
    pub fn finish(&mut self, mut line: impl FnMut(Line)) {
        if !self.buf.is_empty() || self.cut {
            self.take_line(&mut line);
        }
    }

    /// Hands the line kept so far to `line` and starts a new one.
    fn take_line(&mut self, line: &mut impl FnMut(Line)) {
        line(Line {
            bytes: &self.buf,
            cut: self.cut,
            tail: &self.tail,
        });
        self.buf.clear();
        self.tail.clear();
        self.cut = false;
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = LINE_MAX - self.buf.len();
        let (kept, over) = bytes.split_at(bytes.len().min(room));
        self.buf.extend_from_slice(kept);
        if !over.is_empty() {
            self.cut = true;
            self.tail
                .extend_from_slice(&over[over.len().saturating_sub(TAIL_MAX)..]);
            let excess = self.tail.len().saturating_sub(TAIL_MAX);
            self.tail.drain(..excess);
        }
    }
}

/// What a line is.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// Messages (a batch gives several), already reduced.
    Messages(Vec<Message>),
    /// A blank line.
    Blank,
    /// Not JSON-RPC (a log line on stdout, say).
    NotJson,
}

/// Decodes a line into reduced messages. A cut line is read as far as it goes:
/// the id, method, tool name and the first bytes of the arguments are usually
/// at its start.
pub fn parse(line: &Line) -> Parsed {
    let text = trim(line.bytes);
    if text.is_empty() {
        return Parsed::Blank;
    }
    if line.cut {
        let mut m = scan_prefix(text).unwrap_or_default();
        if m.id.is_none() {
            m.id = id_at_end(line.tail);
        }
        return if m.id.is_some() || m.method.is_some() {
            Parsed::Messages(vec![m])
        } else {
            Parsed::NotJson
        };
    }
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Array(items)) => {
            let msgs: Vec<Message> = items.into_iter().filter_map(message).collect();
            if msgs.is_empty() {
                Parsed::NotJson
            } else {
                Parsed::Messages(msgs)
            }
        }
        Ok(v) => match message(v) {
            Some(m) => Parsed::Messages(vec![m]),
            None => Parsed::NotJson,
        },
        Err(_) => Parsed::NotJson,
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// A JSON value as a reduced message; `None` if it is not JSON-RPC.
fn message(v: Value) -> Option<Message> {
    let Value::Object(mut o) = v else { return None };
    let method = match o.remove("method") {
        Some(Value::String(m)) => Some(m),
        Some(_) => return None,
        None => None,
    };
    let m = Message {
        id: o.remove("id").filter(|id| !id.is_null()),
        params: o.remove("params"),
        result: o.remove("result"),
        error: o.remove("error"),
        method,
    };
    if m.method.is_none() && m.id.is_none() {
        return None;
    }
    Some(reduce(m))
}

/// The bounded copy of a message: what attribution and the tool inventory
/// need, nothing more.
pub fn reduce(mut m: Message) -> Message {
    if let Some(params) = m.params.take() {
        m.params = reduce_params(m.method.as_deref().unwrap_or(""), params);
    }
    if let Some(result) = m.result.take() {
        m.result = Some(reduce_result(result));
    }
    if let Some(error) = m.error.take() {
        let mut e = Map::new();
        if let Some(code) = error.get("code") {
            e.insert("code".into(), code.clone());
        }
        if let Some(Value::String(msg)) = error.get("message") {
            e.insert("message".into(), Value::String(cut_str(msg, ERROR_MAX)));
        }
        m.error = Some(Value::Object(e));
    }
    m
}

fn reduce_params(method: &str, params: Value) -> Option<Value> {
    let Value::Object(mut p) = params else {
        return None;
    };
    let mut out = Map::new();
    match method {
        "initialize" => {
            for k in ["protocolVersion", "clientInfo"] {
                if let Some(v) = p.remove(k) {
                    out.insert(k.into(), v);
                }
            }
        }
        _ => {
            if let Some(args) = p.remove("arguments") {
                out.insert("arguments".into(), bounded_args(args));
            }
            for k in ["name", "uri"] {
                if let Some(Value::String(v)) = p.remove(k) {
                    out.insert(k.into(), Value::String(cut_str(&v, PARAMS_MAX)));
                }
            }
            if Value::Object(p.clone()).to_string().len() <= PARAMS_MAX {
                for (k, v) in p {
                    out.entry(k).or_insert(v);
                }
            }
        }
    }
    Some(Value::Object(out))
}

/// Arguments as they came when short, else the beginning of their JSON text
/// as a string ending in `…`.
fn bounded_args(args: Value) -> Value {
    let text = args.to_string();
    if text.len() <= ARGS_MAX {
        args
    } else {
        Value::String(format!("{}…", cut_str(&text, ARGS_MAX)))
    }
}

fn reduce_result(result: Value) -> Value {
    let Value::Object(mut r) = result else {
        return Value::Object(Map::new());
    };
    // A tool list is kept whole (the line was at most LINE_MAX bytes).
    if r.contains_key("tools") {
        return Value::Object(r);
    }
    let mut out = Map::new();
    for k in ["protocolVersion", "serverInfo", "isError"] {
        if let Some(v) = r.remove(k) {
            out.insert(k.into(), v);
        }
    }
    Value::Object(out)
}

/// The first `max` bytes of `s`, at a character boundary.
pub fn cut_str(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Reads what it can of the beginning of a message too long to keep whole:
/// `id` and `method` at the top, `params.name`/`params.uri`, and the first
/// bytes of `params.arguments` as text. `None` if nothing of it is JSON-RPC.
pub fn scan_prefix(text: &[u8]) -> Option<Message> {
    let mut s = Scanner { b: text, i: 0 };
    s.ws();
    if !s.eat(b'{') {
        return None;
    }
    let mut m = Message::default();
    let mut params = Map::new();
    s.members(|s, key| {
        match key.as_str() {
            "id" => m.id = s.scalar(),
            "method" => m.method = s.scalar().and_then(|v| v.as_str().map(str::to_owned)),
            "params" => {
                s.ws();
                if !s.eat(b'{') {
                    return s.skip_value();
                }
                return s.members(|s, key| match key.as_str() {
                    "name" | "uri" => {
                        if let Some(Value::String(v)) = s.scalar() {
                            params.insert(key, Value::String(cut_str(&v, PARAMS_MAX)));
                        }
                        true
                    }
                    "arguments" => {
                        s.ws();
                        let start = s.i;
                        let done = s.skip_value();
                        let raw = String::from_utf8_lossy(&s.b[start..s.i.min(start + ARGS_MAX)]);
                        params.insert("arguments".into(), Value::String(format!("{raw}…")));
                        done
                    }
                    _ => s.skip_value(),
                });
            }
            _ => return s.skip_value(),
        }
        true
    });
    if !params.is_empty() {
        m.params = Some(Value::Object(params));
    }
    (m.id.is_some() || m.method.is_some()).then_some(m)
}

/// The id of a message whose line ends `"id":ID}`: the last member of the
/// outermost object, which is where an SDK that writes `id` last puts it.
fn id_at_end(tail: &[u8]) -> Option<Value> {
    let tail = trim(tail);
    let body = tail.strip_suffix(b"}")?;
    let key = b"\"id\":";
    let at = body.windows(key.len()).rposition(|w| w == key)?;
    let value = trim(&body[at + key.len()..]);
    match serde_json::from_slice::<Value>(value).ok()? {
        v @ (Value::Number(_) | Value::String(_)) => Some(v),
        _ => None,
    }
}

/// A forgiving reader of the start of a JSON object: it stops at the cut.
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// The members of an object whose `{` was read; `f` reads each value and
    /// says whether the input goes on. Returns false at the cut.
    fn members(&mut self, mut f: impl FnMut(&mut Self, String) -> bool) -> bool {
        loop {
            self.ws();
            if self.eat(b'}') {
                return true;
            }
            let Some(Value::String(key)) = self.scalar() else {
                return false;
            };
            if !self.eat(b':') || !f(self, key) {
                return false;
            }
            if !self.eat(b',') {
                return self.eat(b'}');
            }
        }
    }

    /// A string, number, boolean or null, if whole.
    fn scalar(&mut self) -> Option<Value> {
        self.ws();
        let start = self.i;
        if !self.skip_value() {
            return None;
        }
        serde_json::from_slice(&self.b[start..self.i]).ok()
    }

    /// Steps over one value; false if the input ends inside it.
    fn skip_value(&mut self) -> bool {
        self.ws();
        let Some(&c) = self.b.get(self.i) else {
            return false;
        };
        match c {
            b'"' => {
                self.i += 1;
                while let Some(&c) = self.b.get(self.i) {
                    self.i += 1;
                    match c {
                        b'\\' => self.i += 1,
                        b'"' => return true,
                        _ => {}
                    }
                }
                self.i = self.b.len();
                false
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                while let Some(&c) = self.b.get(self.i) {
                    match c {
                        b'"' => {
                            if !self.skip_value() {
                                return false;
                            }
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return true;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                false
            }
            _ => {
                while let Some(&c) = self.b.get(self.i) {
                    if matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace() {
                        return true;
                    }
                    self.i += 1;
                }
                false
            }
        }
    }
}

/// What the relay sends the daemon for each message, one JSON line each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    /// Counts the relay's copies from 1; an ack names it.
    pub seq: u64,
    /// When the relay read the message: CLOCK_BOOTTIME nanoseconds, the
    /// clock of the kernel's records.
    pub t: u64,
    pub dir: Direction,
    pub msg: Message,
    /// The line was longer than [`LINE_MAX`] and only its beginning was read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
    /// The relay waits (briefly) for the daemon to say it has taken this one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ack: bool,
    /// Copies the relay dropped so far (the daemon was slow or away).
    #[serde(default)]
    pub dropped: u64,
    /// Lines so far that were not JSON-RPC.
    #[serde(default)]
    pub not_json: u64,
}

/// The current CLOCK_BOOTTIME in nanoseconds.
pub fn boottime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines(chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut f = Framer::default();
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, |l| out.push((l.bytes.to_vec(), l.cut)));
        }
        f.finish(|l| out.push((l.bytes.to_vec(), l.cut)));
        out
    }

    #[test]
    fn messages_split_across_reads_and_many_in_one_read() {
        let out = lines(&[
            b"{\"id\":1,",
            b"\"method\":\"ping\"}\n{\"id\"",
            b":2}\n{\"id\":3}\n",
        ]);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].0, b"{\"id\":1,\"method\":\"ping\"}");
        assert_eq!(out[1].0, b"{\"id\":2}");
        let one = lines(&[b"{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n{\"id\":4}\n"]);
        assert_eq!(one.len(), 4);
        // Byte by byte.
        let text = b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}\n";
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        let out = lines(&bytes);
        assert_eq!(out, vec![(text[..text.len() - 1].to_vec(), false)]);
    }

    #[test]
    fn a_long_line_is_cut_and_read_from_its_start() {
        let big = "x".repeat(1024 * 1024);
        // As the SDKs write it: the tool's name before its arguments.
        let msg = format!(
            r#"{{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{{"name":"write_file","arguments":{{"path":"/tmp/big","content":"{big}"}}}}}}"#
        );
        let mut text = msg.into_bytes();
        text.extend_from_slice(b"\n{\"id\":2,\"result\":{}}\n");
        let out = lines(&text.chunks(4096).collect::<Vec<_>>());
        assert_eq!(out.len(), 2);
        assert!(out[0].1, "cut");
        assert_eq!(out[0].0.len(), LINE_MAX);
        let Parsed::Messages(m) = parse(&Line {
            bytes: &out[0].0,
            cut: true,
            tail: &[],
        }) else {
            panic!()
        };
        assert_eq!(m[0].id, Some(json!("a-1")));
        assert_eq!(m[0].method.as_deref(), Some("tools/call"));
        let p = m[0].params.as_ref().unwrap();
        assert_eq!(p["name"], "write_file");
        let args = p["arguments"].as_str().unwrap();
        assert!(
            args.starts_with(r#"{"path":"/tmp/big","content":"xxx"#),
            "{args}"
        );
        assert!(args.len() <= ARGS_MAX + 4);
        // The next message is whole.
        assert!(!out[1].1);
        assert!(matches!(
            parse(&Line {
                bytes: &out[1].0,
                cut: false,
                tail: &[]
            }),
            Parsed::Messages(_)
        ));
    }

    #[test]
    fn an_id_written_last_is_found_at_the_end_of_a_cut_line() {
        let big = "y".repeat(200 * 1024);
        let text = format!(
            r#"{{"method":"tools/call","params":{{"name":"write_file","arguments":{{"content":"{big}","id":9}}}},"jsonrpc":"2.0","id":17}}"#
        );
        let mut f = Framer::default();
        let mut got = Vec::new();
        f.push(text.as_bytes(), |_| panic!("no newline yet"));
        f.push(b"\n", |l| got.push(parse(&l)));
        let [Parsed::Messages(m)] = &got[..] else {
            panic!("{got:?}")
        };
        assert_eq!(m[0].id, Some(json!(17)));
        assert_eq!(m[0].method.as_deref(), Some("tools/call"));
        assert_eq!(m[0].params.as_ref().unwrap()["name"], "write_file");
        assert_eq!(id_at_end(br#"..."x":{"id":3}}"#), None, "nested");
        assert_eq!(id_at_end(br#"...,"id":"abc"} "#), Some(json!("abc")));
    }

    #[test]
    fn what_is_not_json_rpc_is_said() {
        for l in [
            &b"Secure MCP Filesystem Server running on stdio"[..],
            b"[1,2]",
            b"{\"a\":1}",
            b"{\"method\":3}",
            b"\xff\xfe",
        ] {
            assert_eq!(
                parse(&Line {
                    bytes: l,
                    cut: false,
                    tail: &[]
                }),
                Parsed::NotJson,
                "{l:?}"
            );
        }
        assert_eq!(
            parse(&Line {
                bytes: b"  \r",
                cut: false,
                tail: &[]
            }),
            Parsed::Blank
        );
        assert_eq!(scan_prefix(b"not json at all"), None);
    }

    #[test]
    fn the_copy_keeps_what_attribution_needs() {
        let line = json!({"jsonrpc":"2.0","id":3,"method":"tools/call",
            "params":{"name":"read_text_file","arguments":{"path":"/home/u/.ssh/id_rsa"},"_meta":{"progressToken":3}}})
        .to_string();
        let Parsed::Messages(m) = parse(&Line {
            bytes: line.as_bytes(),
            cut: false,
            tail: &[],
        }) else {
            panic!()
        };
        assert_eq!(m[0].params.as_ref().unwrap()["name"], "read_text_file");
        assert_eq!(
            m[0].params.as_ref().unwrap()["arguments"]["path"],
            "/home/u/.ssh/id_rsa"
        );
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",
            "capabilities":{"roots":{}},"clientInfo":{"name":"mcp","version":"0.1.0"}}})
        .to_string();
        let Parsed::Messages(m) = parse(&Line {
            bytes: init.as_bytes(),
            cut: false,
            tail: &[],
        }) else {
            panic!()
        };
        assert_eq!(
            m[0].params,
            Some(
                json!({"protocolVersion":"2025-06-18","clientInfo":{"name":"mcp","version":"0.1.0"}})
            )
        );
        // Results: a tool list whole, others reduced.
        let r = json!({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"secret"}],"isError":false}}).to_string();
        let Parsed::Messages(m) = parse(&Line {
            bytes: r.as_bytes(),
            cut: false,
            tail: &[],
        }) else {
            panic!()
        };
        assert_eq!(m[0].result, Some(json!({"isError": false})));
        let batch = b"[{\"id\":1,\"method\":\"a\"},{\"id\":2,\"method\":\"b\"}]";
        let Parsed::Messages(m) = parse(&Line {
            bytes: batch,
            cut: false,
            tail: &[],
        }) else {
            panic!()
        };
        assert_eq!(m.len(), 2);
    }
}
