//! The control socket: how `mcp-monitor launch` asks the daemon to tag it.
//!
//! One JSON request line, one JSON response line, except for a conversation
//! (see [`conversation`]), which streams. The pid that gets tagged is
//! the peer's, taken from the socket credentials (SO_PEERCRED), never from the
//! message: a client can tag itself and nothing else, and there is no way to
//! untag. The socket is world-writable for that reason: tagging yourself only
//! makes you watched.
pub mod conversation;
use std::{os::unix::fs::PermissionsExt as _, path::Path, time::Duration};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{UnixListener, UnixStream},
    sync::{mpsc, oneshot},
};

/// Default path of the control socket.
pub const DEFAULT_SOCKET: &str = "/run/mcp-monitor/control.sock";
/// Environment variable that overrides it, for `run` and `launch` alike.
pub const SOCKET_ENV: &str = "MCP_MONITOR_CONTROL_SOCKET";

/// Longest accepted request line.
const MAX_REQUEST: u64 = 4096;
/// Connections one user may have open at once. A launch needs one for a
/// moment; without a cap, one user holding a thousand idle connections used
/// up the daemon's descriptors and every later `launch` went unwatched.
const MAX_PER_UID: usize = 16;
/// Servers one user may register: bursts of this many…
const REGISTRATION_BURST: f64 = 50.0;
/// …then this many per second. An AI host starts a handful of servers at a
/// time; thousands of registrations are a flood of lifecycle alerts.
const REGISTRATIONS_PER_SECOND: f64 = 5.0;
/// How long to wait before accepting again after accept failed (out of
/// descriptors): failing again at once would spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// Unknown fields are refused, so that nobody mistakes a `pid` in the message
/// for something the daemon would honour.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Tag the calling process as MCP server `name`.
    Tag { name: String, host: Option<String> },
    /// The launch wrapper's relay: the stdio conversation of the server the
    /// calling process is about to become, as a stream of
    /// [`crate::mcp::jsonrpc::Stamped`] lines.
    Conversation,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Response {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A tag request on its way to the daemon's event loop, which owns the tag map.
pub struct TagCommand {
    pub pid: u32,
    pub name: String,
    pub host: Option<String>,
    pub reply: oneshot::Sender<Result<u32, String>>,
}

/// Characters that change how a name is shown without being seen: bidi
/// embeddings, overrides and isolates, zero-width ones, the BOM. In an alert
/// they could make one server's name read as another's.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}'
        | '\u{061C}'
    )
}

/// Checks a server or host name: 1 to 64 printable characters.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 64 {
        return Err("a server name must be 1 to 64 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("a server name must not contain control characters".into());
    }
    if name.chars().any(is_invisible) {
        return Err("a server name must not contain invisible or text-direction characters".into());
    }
    Ok(())
}

/// Binds the socket (replacing a stale one) and serves it until the task is dropped.
pub fn serve(
    path: &Path,
    commands: mpsc::Sender<TagCommand>,
    conversations: mpsc::Sender<conversation::Command>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("binding the control socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    let open = PerUid::default();
    let streams = PerUid::default();
    let registrations = Registrations::default();
    Ok(tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    log::debug!("control socket: accept: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let uid = stream.peer_cred().map(|c| c.uid()).unwrap_or(u32::MAX);
            let Some(slot) = open.admit(uid) else {
                // Closed at once: that user has enough connections open.
                continue;
            };
            let commands = commands.clone();
            let conversations = conversations.clone();
            let registrations = registrations.clone();
            let streams = streams.clone();
            tokio::spawn(async move {
                let handled = handle(stream, uid, commands, registrations);
                let Ok(Some((stream, pid))) =
                    tokio::time::timeout(Duration::from_secs(5), handled).await
                else {
                    return;
                };
                // A conversation lasts as long as its server: it leaves the
                // short-lived connections' slot for one of its own.
                drop(slot);
                let Some(_slot) = streams.admit_up_to(uid, conversation::MAX_PER_UID) else {
                    return;
                };
                conversation::serve(stream, pid, conversations).await;
            });
        }
    }))
}

/// Open connections per user.
#[derive(Clone, Default)]
struct PerUid(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u32, usize>>>);

/// One admitted connection; dropping it frees the user's slot.
struct Slot {
    open: PerUid,
    uid: u32,
}

impl PerUid {
    fn admit(&self, uid: u32) -> Option<Slot> {
        self.admit_up_to(uid, MAX_PER_UID)
    }

    fn admit_up_to(&self, uid: u32, max: usize) -> Option<Slot> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(uid).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            open: self.clone(),
            uid,
        })
    }
}

/// Registrations per user: a token bucket each.
#[derive(Clone, Default)]
struct Registrations(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u32, (f64, std::time::Instant)>>>,
);

impl Registrations {
    /// Root is not limited: it can blind the monitor in other ways anyway,
    /// and system services start many servers.
    fn admit(&self, uid: u32) -> bool {
        uid == 0 || self.admit_at(uid, std::time::Instant::now())
    }

    fn admit_at(&self, uid: u32, now: std::time::Instant) -> bool {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Forget users whose bucket is full again.
        all.retain(|_, (tokens, last)| {
            *tokens + now.saturating_duration_since(*last).as_secs_f64() * REGISTRATIONS_PER_SECOND
                < REGISTRATION_BURST
        });
        let (tokens, last) = all.entry(uid).or_insert((REGISTRATION_BURST, now));
        *tokens = (*tokens
            + now.saturating_duration_since(*last).as_secs_f64() * REGISTRATIONS_PER_SECOND)
            .min(REGISTRATION_BURST);
        *last = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.uid);
            }
        }
    }
}

/// Answers a one-line request; a conversation's stream is handed back with
/// its peer's pid instead.
async fn handle(
    mut stream: UnixStream,
    uid: u32,
    commands: mpsc::Sender<TagCommand>,
    registrations: Registrations,
) -> Option<(UnixStream, u32)> {
    let pid = stream
        .peer_cred()
        .ok()
        .and_then(|c| c.pid())
        .map(|p| p as u32);
    let (read_ok, line) = read_request(&mut stream).await;
    if let (Some(pid), true) = (pid, read_ok)
        && matches!(serde_json::from_str(line.trim()), Ok(Request::Conversation))
    {
        return Some((stream, pid));
    }
    let (_, mut write) = stream.into_split();
    let result = match (pid, read_ok) {
        (None, _) => Err("the peer's pid is not available".to_owned()),
        (_, false) => Err("could not read the request".to_owned()),
        (Some(pid), true) => answer(pid, &line, &commands, || registrations.admit(uid)).await,
    };
    let response = match result {
        Ok(id) => Response {
            ok: true,
            server_id: Some(id),
            error: None,
        },
        Err(e) => Response {
            ok: false,
            server_id: None,
            error: Some(e),
        },
    };
    let mut out = serde_json::to_string(&response).unwrap_or_default();
    out.push('\n');
    let _ = write.write_all(out.as_bytes()).await;
    None
}

/// Reads the request line byte by byte, so that nothing after it (a
/// conversation's first messages) is taken from the stream.
async fn read_request(stream: &mut UnixStream) -> (bool, String) {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while (line.len() as u64) < MAX_REQUEST {
        match stream.read(&mut byte).await {
            Ok(0) => break,
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) => line.push(byte[0]),
            _ => return (false, String::new()),
        }
    }
    match String::from_utf8(line) {
        Ok(s) => (true, s),
        Err(_) => (false, String::new()),
    }
}

/// Answers one request; `admit` says whether its user may register another
/// server now.
async fn answer(
    pid: u32,
    line: &str,
    commands: &mpsc::Sender<TagCommand>,
    admit: impl FnOnce() -> bool,
) -> Result<u32, String> {
    let request: Request =
        serde_json::from_str(line.trim()).map_err(|e| format!("bad request: {e}"))?;
    let Request::Tag { name, host } = request else {
        return Err("a conversation is not a one-line request".to_owned());
    };
    validate_name(&name)?;
    if let Some(h) = &host {
        validate_name(h)?;
    }
    if !admit() {
        return Err(format!(
            "too many servers registered by this user: at most {REGISTRATION_BURST} at once, \
             then {REGISTRATIONS_PER_SECOND} per second"
        ));
    }
    let (reply, rx) = oneshot::channel();
    commands
        .send(TagCommand {
            pid,
            name,
            host,
            reply,
        })
        .await
        .map_err(|_| "the daemon is shutting down".to_owned())?;
    rx.await
        .map_err(|_| "the daemon is shutting down".to_owned())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt as _, BufReader};

    #[test]
    fn names_with_invisible_or_direction_characters_are_refused() {
        for name in [
            "git\u{202E}buh",
            "git\u{200B}hub",
            "\u{2066}fs\u{2069}",
            "\u{FEFF}fs",
        ] {
            assert!(validate_name(name).is_err(), "{name:?}");
        }
        for name in ["github", "файлы", "fs-2", "数据"] {
            assert!(validate_name(name).is_ok(), "{name:?}");
        }
    }

    #[test]
    fn registrations_are_rate_limited_per_user() {
        let r = Registrations::default();
        let t0 = std::time::Instant::now();
        let burst = REGISTRATION_BURST as usize;
        assert_eq!((0..100).filter(|_| r.admit_at(7, t0)).count(), burst);
        assert!(r.admit_at(8, t0), "another user is not affected");
        assert!(!r.admit_at(7, t0 + Duration::from_millis(100)));
        assert!(
            r.admit_at(7, t0 + Duration::from_millis(250)),
            "one more after 1/5 s"
        );
        // A full bucket again is forgotten: the map does not grow with users.
        assert!(r.admit_at(9, t0 + Duration::from_secs(60)));
        assert_eq!(r.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_user_gets_a_bounded_number_of_connections() {
        let open = PerUid::default();
        let held: Vec<Slot> = (0..MAX_PER_UID)
            .map(|_| open.admit(1000).unwrap())
            .collect();
        assert!(open.admit(1000).is_none(), "one more than the cap");
        assert!(open.admit(0).is_some(), "other users are not affected");
        drop(held);
        assert!(
            open.admit(1000).is_some(),
            "freed when the connections close"
        );
        assert!(open.0.lock().unwrap().get(&0).is_none());
    }

    #[test]
    fn wire_format() {
        let r: Request = serde_json::from_str(r#"{"op":"tag","name":"fs","host":null}"#).unwrap();
        assert_eq!(
            r,
            Request::Tag {
                name: "fs".into(),
                host: None
            }
        );
        // A pid in the message is not part of the protocol.
        assert!(serde_json::from_str::<Request>(r#"{"op":"untag","pid":1}"#).is_err());
        let e = serde_json::from_str::<Request>(r#"{"op":"tag","name":"fs","pid":1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `pid`"), "{e}");
        assert!(validate_name("").is_err());
        assert!(validate_name("a\nb").is_err());
        assert!(validate_name(&"x".repeat(65)).is_err());
        assert!(validate_name("filesystem").is_ok());
    }

    #[tokio::test]
    async fn the_peer_pid_is_what_gets_tagged() {
        let dir = std::env::temp_dir().join(format!("mcpmon-ctl-{}", std::process::id()));
        let path = dir.join("c.sock");
        let (tx, mut rx) = mpsc::channel(4);
        let (ctx, _crx) = mpsc::channel(4);
        let server = serve(&path, tx, ctx).unwrap();
        let daemon = tokio::spawn(async move {
            let cmd = rx.recv().await.unwrap();
            let pid = cmd.pid;
            let _ = cmd.reply.send(Ok(7));
            pid
        });
        let mut s = UnixStream::connect(&path).await.unwrap();
        s.write_all(b"{\"op\":\"tag\",\"name\":\"fs\"}\n")
            .await
            .unwrap();
        let mut resp = String::new();
        BufReader::new(s).read_line(&mut resp).await.unwrap();
        let resp: Response = serde_json::from_str(&resp).unwrap();
        assert_eq!(resp.server_id, Some(7));
        assert_eq!(daemon.await.unwrap(), std::process::id());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666);
        server.abort();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_message_cannot_name_another_pid_or_untag() {
        let dir = std::env::temp_dir().join(format!("mcpmon-ctl2-{}", std::process::id()));
        let path = dir.join("c.sock");
        let (tx, mut rx) = mpsc::channel(4);
        let (ctx, _crx) = mpsc::channel(4);
        let server = serve(&path, tx, ctx).unwrap();
        for request in [
            "{\"op\":\"tag\",\"name\":\"fs\",\"pid\":1}\n",
            "{\"op\":\"untag\",\"pid\":1}\n",
            "{\"op\":\"tag\",\"name\":\"\"}\n",
            "not json\n",
        ] {
            let mut s = UnixStream::connect(&path).await.unwrap();
            s.write_all(request.as_bytes()).await.unwrap();
            let mut resp = String::new();
            BufReader::new(s).read_line(&mut resp).await.unwrap();
            let resp: Response = serde_json::from_str(&resp).unwrap();
            assert!(!resp.ok, "{request}");
            assert!(resp.error.is_some());
        }
        // Nothing of it reached the daemon's tag map.
        assert!(rx.try_recv().is_err());
        server.abort();
        let _ = std::fs::remove_dir_all(dir);
    }
}
