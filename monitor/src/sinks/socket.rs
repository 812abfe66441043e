//! The live alert socket that `mcp-monitor tail` reads.
//!
//! A Unix stream socket, mode 0660, group `sinks.socket.group` when set. The
//! file mode is the first gate; the daemon checks each client's credentials
//! (SO_PEERCRED, SO_PEERGROUPS) as the second: root, the daemon's own user, or
//! a member of the configured group. Anyone else gets one JSON line
//! `{"error": …}` saying what to do, and the connection is closed.
//!
//! A client may send one JSON request line ([`Request`]) right after
//! connecting: replay the last N alerts or those since a time, a filter, and
//! whether to follow. The replay is merged from the alert log and the alerts
//! this sink saw recently (deduplicated), so replay and live stream join
//! without gaps or repeats as long as the log writer is less than
//! [`HISTORY`] alerts behind. Then every alert is one JSON line.
//!
//! Sending never blocks the sink: each client has a bounded buffer, and a
//! client that lets it fill up is dropped, not waited for. A dropped client
//! still gets whole lines: the line it was in the middle of is finished, then
//! one JSON line `{"dropped": …}` ([`Dropped`]) says why, then the connection
//! is closed. That ending gets [`DROP_GRACE`] to be read; a client that reads
//! nothing in that time is closed where it stands.
use std::{
    collections::{HashSet, VecDeque},
    io::{BufRead as _, BufReader, Read as _, Write as _},
    os::{
        fd::AsRawFd as _,
        unix::{
            fs::{FileTypeExt as _, PermissionsExt as _},
            net::{UnixListener, UnixStream},
        },
    },
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use super::{
    config::SinksConfig,
    log::read_back,
    sink::{Delivery, Sink, SinkContext, Waker},
};
use crate::alerts::{Alert, AlertFilter};

pub use super::config::DEFAULT_SOCKET;
/// Recent alerts kept in memory to join a replay to the live stream.
pub const HISTORY: usize = 1024;
/// Clients served at once.
const MAX_CLIENTS: usize = 64;
/// How long a client has to send its request line after connecting.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest request line.
const MAX_REQUEST: u64 = 4096;
/// Live bytes a client may leave unread before it is dropped.
const MAX_PENDING: usize = 1 << 20;
/// Most alerts one replay sends.
pub const MAX_REPLAY: usize = 100_000;
/// How long a dropped client has to read the end of its line and the notice
/// saying why, before it is closed anyway. The sink never waits on it: the
/// ending is written as the client takes it, between alerts.
const DROP_GRACE: Duration = Duration::from_secs(2);

/// What a client asks for, in one JSON line after connecting. Every field is
/// optional: no request (or an empty line) is "live alerts, all of them".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Request {
    /// Replay the last N alerts (that pass the filter) first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<usize>,
    /// Replay the alerts at or after this time (RFC 3339, UTC) first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Close after the replay instead of following live alerts.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_follow: bool,
    pub filter: AlertFilter,
}

impl Request {
    fn wants_replay(&self) -> bool {
        self.last.is_some() || self.since.is_some()
    }

    fn check(&mut self) -> Result<(), String> {
        self.filter.check()?;
        if let Some(s) = &mut self.since {
            if !is_rfc3339_utc(s) {
                return Err(format!(
                    "since {s:?} is not an RFC 3339 UTC time like 2026-11-25T06:00:00Z"
                ));
            }
            // Alert times carry nanoseconds; compare like with like.
            if !s.contains('.') {
                s.pop();
                s.push_str(".000000000Z");
            }
        }
        Ok(())
    }

    /// Whether a replayed alert is wanted (the count is applied afterwards).
    fn replays(&self, a: &Alert) -> bool {
        self.filter.matches(a) && self.since.as_ref().is_none_or(|s| a.time >= *s)
    }
}

fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b.len() <= 30
        && s.ends_with('Z')
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && s.chars().all(|c| c.is_ascii_digit() || "-T:.Z".contains(c))
}

/// The one line a refused client gets.
#[derive(Debug, Serialize, Deserialize)]
pub struct Refusal {
    pub error: String,
}

/// The last line a dropped client gets, after its last whole alert.
#[derive(Debug, Serialize, Deserialize)]
pub struct Dropped {
    pub dropped: String,
}

/// Who may read alerts.
#[derive(Clone, Debug)]
pub struct Access {
    pub daemon_uid: u32,
    /// The configured group's name and gid.
    pub group: Option<(String, u32)>,
}

impl Access {
    pub fn allows(&self, uid: u32, gids: &[u32]) -> bool {
        uid == 0
            || uid == self.daemon_uid
            || self.group.as_ref().is_some_and(|(_, g)| gids.contains(g))
    }

    /// What a refused user should do.
    pub fn refusal(&self, uid: u32) -> String {
        match &self.group {
            Some((name, _)) => format!(
                "uid {uid} may not read alerts: run as root or join the group {name:?} (then log in again)"
            ),
            None => format!(
                "uid {uid} may not read alerts: run as root, or set sinks.socket.group in the daemon's config to a group and join it"
            ),
        }
    }
}

/// The peer's uid and groups (primary and supplementary), from the kernel.
pub fn peer_credentials(s: &UnixStream) -> std::io::Result<(u32, u32, Vec<u32>)> {
    let fd = s.as_raw_fd();
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for the size given.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut groups = vec![0 as libc::gid_t; 1024];
    let mut glen = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
    // SAFETY: `groups` holds `glen` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERGROUPS,
            groups.as_mut_ptr().cast(),
            &mut glen,
        )
    };
    let mut gids = vec![cred.gid];
    if rc == 0 {
        groups.truncate(glen as usize / std::mem::size_of::<libc::gid_t>());
        gids.extend(groups);
    }
    Ok((cred.pid as u32, cred.uid, gids))
}

/// The gid of group `name`.
pub fn group_gid(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16384];
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the sizes given.
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut out,
        )
    };
    (rc == 0 && !out.is_null()).then_some(grp.gr_gid)
}

/// The name of group `gid`.
pub fn group_name(gid: u32) -> Option<String> {
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16384];
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the sizes given.
    let rc = unsafe { libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return None;
    }
    // SAFETY: on success gr_name points to a NUL-terminated string in `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(grp.gr_name) };
    Some(name.to_string_lossy().into_owned())
}

/// A client that passed the checks, with what it asked for and the matching
/// alerts read from the log.
struct NewClient {
    stream: UnixStream,
    request: Request,
    from_log: Vec<(Alert, String)>,
    who: String,
}

struct Client {
    stream: UnixStream,
    filter: AlertFilter,
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    sent: usize,
    /// `buf` may not grow past this unread.
    limit: usize,
    close_when_sent: bool,
    /// The last byte written was not the end of a line: the socket took part
    /// of one, and the reader has that part.
    mid_line: bool,
    /// Set once the client was dropped: when to close it even if it has not
    /// read the end of its stream.
    dropped_at: Option<Instant>,
    who: String,
}

impl Client {
    fn new(stream: UnixStream, filter: AlertFilter, close_when_sent: bool, who: String) -> Client {
        Client {
            stream,
            filter,
            buf: Vec::new(),
            sent: 0,
            limit: MAX_PENDING,
            close_when_sent,
            mid_line: false,
            dropped_at: None,
            who,
        }
    }

    /// Writes what the socket takes now; false when the client is gone or done.
    fn flush(&mut self) -> bool {
        while self.sent < self.buf.len() {
            match self.stream.write(&self.buf[self.sent..]) {
                Ok(0) => return false,
                Ok(n) => {
                    self.sent += n;
                    self.mid_line = self.buf[self.sent - 1] != b'\n';
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
            if self.close_when_sent {
                return false;
            }
        } else if self.sent > 1 << 16 {
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
        true
    }

    /// Queues a line; false if the client is too far behind.
    fn push(&mut self, line: &str) -> bool {
        if self.buf.len() - self.sent + line.len() + 1 > self.limit {
            return false;
        }
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
        true
    }

    /// Turns the client away without cutting a line in two: what is queued
    /// goes, except the rest of the line the reader already has part of, and
    /// the notice `why` follows it. Then the client is closed once that is
    /// sent, or after [`DROP_GRACE`].
    fn drop_with(&mut self, why: String) {
        let end = if self.mid_line {
            // Every queued line ends with a newline, so there is one ahead.
            self.buf[self.sent..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(self.buf.len(), |i| self.sent + i + 1)
        } else {
            self.sent
        };
        self.buf.truncate(end);
        let notice = serde_json::to_string(&Dropped { dropped: why }).unwrap_or_default();
        self.buf.extend_from_slice(notice.as_bytes());
        self.buf.push(b'\n');
        self.close_when_sent = true;
        self.dropped_at = Some(Instant::now());
    }

    /// A dropped client that did not take the end of its stream in time.
    fn grace_over(&self) -> bool {
        self.dropped_at.is_some_and(|t| t.elapsed() >= DROP_GRACE)
    }

    /// False once the peer has closed its end. What it sends is read and
    /// ignored, a bounded amount per call, so a chatty client cannot keep the
    /// sink's thread busy.
    fn alive(&mut self) -> bool {
        let mut scratch = [0u8; 4096];
        for _ in 0..4 {
            match self.stream.read(&mut scratch) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

pub struct SocketSink {
    path: PathBuf,
    listener: Arc<UnixListener>,
    stopping: Arc<AtomicBool>,
    new_clients: mpsc::Receiver<NewClient>,
    clients: Vec<Client>,
    connected: Arc<AtomicUsize>,
    history: VecDeque<Arc<Delivery>>,
}

impl SocketSink {
    /// Binds the socket (0660, the configured group) and starts accepting.
    pub fn bind(cfg: &SinksConfig, ctx: SinkContext) -> anyhow::Result<SocketSink> {
        let path = cfg.socket.path.clone();
        let group = match &cfg.socket.group {
            Some(name) => Some((
                name.clone(),
                group_gid(name).ok_or_else(|| {
                    anyhow::anyhow!(
                        "sinks.socket.group: there is no group {name:?}; create it (groupadd {name}) or change the setting"
                    )
                })?,
            )),
            None => None,
        };
        let listener = Arc::new(listen(&path, group.as_ref().map(|g| g.1))?);
        let access = Access {
            // SAFETY: geteuid has no preconditions.
            daemon_uid: unsafe { libc::geteuid() },
            group,
        };
        let (tx, new_clients) = mpsc::channel();
        let connected = Arc::new(AtomicUsize::new(0));
        let log = cfg
            .log
            .enabled
            .then(|| (cfg.log.path.clone(), cfg.log.keep));
        let acceptor = Acceptor {
            listener: listener.clone(),
            access,
            tx,
            waker: ctx.waker,
            connected: connected.clone(),
            stopping: ctx.stopping.clone(),
            log,
        };
        std::thread::Builder::new()
            .name("alert-socket".into())
            .spawn(move || acceptor.run())?;
        Ok(SocketSink {
            path,
            listener,
            stopping: ctx.stopping,
            new_clients,
            clients: Vec::new(),
            connected,
            history: VecDeque::with_capacity(HISTORY),
        })
    }

    /// Starts serving a client: its replay, then live alerts.
    fn admit(&mut self, c: NewClient) {
        let NewClient {
            stream,
            request,
            from_log,
            who,
        } = c;
        let mut replay: Vec<(String, String)> = Vec::new();
        if request.wants_replay() {
            let logged: HashSet<&str> = from_log.iter().map(|(_, l)| l.as_str()).collect();
            let recent = self
                .history
                .iter()
                .filter(|d| !logged.contains(d.json.as_str()) && request.replays(&d.alert))
                .map(|d| (d.alert.time.clone(), d.json.clone()));
            replay = from_log
                .iter()
                .map(|(a, l)| (a.time.clone(), l.clone()))
                .chain(recent)
                .collect();
            replay.sort_by(|a, b| a.0.cmp(&b.0));
            let keep = request.last.unwrap_or(MAX_REPLAY).min(MAX_REPLAY);
            if replay.len() > keep {
                replay.drain(..replay.len() - keep);
            }
        }
        let _ = stream.set_nonblocking(true);
        let mut client = Client::new(stream, request.filter, request.no_follow, who);
        for (_, line) in &replay {
            client.buf.extend_from_slice(line.as_bytes());
            client.buf.push(b'\n');
        }
        client.limit = client.buf.len() + MAX_PENDING;
        ::log::info!(
            "alert socket: {} connected ({} replayed)",
            client.who,
            replay.len()
        );
        self.clients.push(client);
    }

    fn flush_clients(&mut self) {
        let connected = &self.connected;
        self.clients.retain_mut(|c| {
            let keep = c.flush() && (!c.buf.is_empty() || c.alive()) && !c.grace_over();
            if !keep {
                // A dropped client was logged when it was dropped.
                if c.dropped_at.is_none() {
                    ::log::info!("alert socket: {} left", c.who);
                }
                connected.fetch_sub(1, Ordering::SeqCst);
            }
            keep
        });
    }
}

impl Sink for SocketSink {
    fn deliver(&mut self, d: &Arc<Delivery>) -> Result<(), String> {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(d.clone());
        let mut slow = 0;
        for c in &mut self.clients {
            if c.dropped_at.is_none() && c.filter.matches(&d.alert) && !c.push(&d.json) {
                let unread = c.buf.len() - c.sent;
                c.drop_with(format!("too slow: {unread} bytes of alerts unread"));
                // What the socket takes now; the rest in the idle turns.
                c.flush();
                slow += 1;
                ::log::warn!(
                    "alert socket: {} does not read its alerts; dropped it",
                    c.who
                );
            }
        }
        if slow == 0 {
            Ok(())
        } else {
            Err(format!("{slow} slow alert socket client(s) dropped"))
        }
    }

    fn idle(&mut self) {
        while let Ok(c) = self.new_clients.try_recv() {
            self.admit(c);
        }
        self.flush_clients();
    }

    fn close(&mut self) {
        // Last alerts to the clients that take them now, then the socket goes.
        for c in &mut self.clients {
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.set_write_timeout(Some(Duration::from_millis(200)));
            let _ = c.stream.write_all(&c.buf[c.sent..]);
        }
        self.clients.clear();
        self.stopping.store(true, Ordering::SeqCst);
        // SAFETY: shutting down our own listening socket wakes the acceptor.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Creates the socket file: 0660, owned by the daemon's user and `gid`.
fn listen(path: &Path, gid: Option<u32>) -> anyhow::Result<UnixListener> {
    let what_to_do =
        "choose another sinks.socket.path (--alert-socket) or turn it off (--no-alert-socket)";
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {}; {what_to_do}", dir.display()))?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            bail!(
                "{} exists and is not a socket; remove it or {what_to_do}",
                path.display()
            );
        }
        if UnixStream::connect(path).is_ok() {
            bail!(
                "another mcp-monitor serves alerts on {}; stop it or {what_to_do}",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    // Bind under a tight umask so the socket is never briefly world-connectable.
    // SAFETY: umask has no preconditions; restored right after.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = bound.with_context(|| format!("binding {}; {what_to_do}", path.display()))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid))
            .with_context(|| format!("giving {} to group {gid}", path.display()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    Ok(listener)
}

/// Accepts connections, checks who they are and reads their request, off the
/// sink's thread.
struct Acceptor {
    listener: Arc<UnixListener>,
    access: Access,
    tx: mpsc::Sender<NewClient>,
    waker: Waker,
    connected: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    log: Option<(PathBuf, u32)>,
}

impl Acceptor {
    fn run(self) {
        let me = Arc::new(self);
        loop {
            let accepted = me.listener.accept();
            if me.stopping.load(Ordering::SeqCst) {
                return;
            }
            let Ok((stream, _)) = accepted else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            if me.connected.load(Ordering::SeqCst) >= MAX_CLIENTS {
                refuse(
                    stream,
                    &format!(
                        "the daemon already serves {MAX_CLIENTS} alert readers; try again later"
                    ),
                );
                continue;
            }
            me.connected.fetch_add(1, Ordering::SeqCst);
            let this = me.clone();
            let spawned = std::thread::Builder::new()
                .name("alert-client".into())
                .spawn(move || {
                    if !this.handshake(stream) {
                        this.connected.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            if spawned.is_err() {
                me.connected.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Checks the peer, reads its request and its replay from the log, and
    /// hands it to the sink. False if the client was turned away.
    fn handshake(&self, stream: UnixStream) -> bool {
        let (pid, uid, gids) = match peer_credentials(&stream) {
            Ok(c) => c,
            Err(e) => {
                refuse(stream, &format!("the daemon cannot check who you are: {e}"));
                return false;
            }
        };
        let who = format!("pid {pid} (uid {uid})");
        if !self.access.allows(uid, &gids) {
            ::log::warn!(
                "alert socket: refused {who}: not root, the daemon's user or in the group"
            );
            refuse(stream, &self.access.refusal(uid));
            return false;
        }
        let mut request = match read_request(&stream) {
            Ok(r) => r,
            Err(e) => {
                refuse(stream, &e);
                return false;
            }
        };
        if let Err(e) = request.check() {
            refuse(stream, &e);
            return false;
        }
        let from_log = match (&self.log, request.wants_replay()) {
            (Some((path, keep)), true) => replay_from_log(path, *keep, &request),
            _ => Vec::new(),
        };
        let sent = self.tx.send(NewClient {
            stream,
            request,
            from_log,
            who,
        });
        self.waker.wake();
        sent.is_ok()
    }
}

/// The request line, or the default request if the client sends none in time.
fn read_request(stream: &UnixStream) -> Result<Request, String> {
    let _ = stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
    let mut line = String::new();
    match BufReader::new(stream.take(MAX_REQUEST)).read_line(&mut line) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        Err(e) => return Err(format!("could not read the request: {e}")),
    }
    let _ = stream.set_read_timeout(None);
    if line.trim().is_empty() {
        return Ok(Request::default());
    }
    serde_json::from_str(line.trim()).map_err(|e| {
        format!("bad request ({e}); send one JSON line such as {{\"last\":10}}, or nothing")
    })
}

/// The logged alerts the request replays, oldest first.
fn replay_from_log(path: &Path, keep: u32, request: &Request) -> Vec<(Alert, String)> {
    let parse = |l: &String| serde_json::from_str::<Alert>(l).ok();
    let lines = read_back(path, keep, |lines| {
        if let Some(since) = &request.since {
            // Far enough back once the oldest line read is older than `since`.
            return lines
                .first()
                .and_then(parse)
                .is_some_and(|a| a.time < *since);
        }
        let want = request.last.unwrap_or(0).min(MAX_REPLAY);
        lines
            .iter()
            .rev()
            .filter_map(parse)
            .filter(|a| request.replays(a))
            .take(want)
            .count()
            >= want
    });
    let mut out: Vec<(Alert, String)> = lines
        .into_iter()
        .filter_map(|l| Some((serde_json::from_str::<Alert>(&l).ok()?, l)))
        .filter(|(a, _)| request.replays(a))
        .collect();
    let keep = request.last.unwrap_or(MAX_REPLAY).min(MAX_REPLAY);
    if out.len() > keep {
        out.drain(..out.len() - keep);
    }
    out
}

fn refuse(mut stream: UnixStream, why: &str) {
    let mut line = serde_json::to_string(&Refusal {
        error: why.to_owned(),
    })
    .unwrap_or_default();
    line.push('\n');
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let _ = stream.write_all(line.as_bytes());
}

#[cfg(test)]
mod tests;
