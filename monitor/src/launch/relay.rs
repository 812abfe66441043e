//! The relay between the AI host and the server: the wrapper's stdio goes
//! through two pipes, copied both ways unchanged by a process of its own,
//! which also sends the daemon a bounded copy of every JSON-RPC message.
//!
//! The relay is forked twice before the wrapper registers, so it is neither
//! tagged (a tag is copied at fork from tagged parents only) nor a descendant
//! the registration would tag; it ends when the server's stdout has ended and
//! the server has exited (it holds a pidfd of the wrapper, which the server
//! keeps).
//!
//! The daemon never holds the server up: copies are sent without blocking and
//! dropped (and counted) when the socket is full or gone; a request waits at
//! most [`ACK_WAIT`] for the daemon to take its copy, so that the daemon
//! knows the call before the server can act on it.
use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd},
        unix::net::UnixStream,
    },
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::mcp::jsonrpc::{self, Direction, Framer, Parsed, Stamped};

/// How long a request waits for the daemon to take its copy.
pub const ACK_WAIT: Duration = Duration::from_millis(20);
/// Bytes read at once from either side.
const CHUNK: usize = 64 * 1024;
/// A copy that does not fit in the socket is kept for the next send, up to
/// this many bytes; beyond, copies are dropped.
const PENDING_MAX: usize = 256 * 1024;

/// Asks the daemon to follow this process's conversation. `None` when no
/// daemon takes it: the server then runs without a relay.
pub fn connect(socket: &std::path::Path) -> Option<UnixStream> {
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"{\"op\":\"conversation\"}\n").ok()?;
    let mut answer = String::new();
    BufReader::new(&s).read_line(&mut answer).ok()?;
    let v: serde_json::Value = serde_json::from_str(answer.trim()).ok()?;
    (v["ok"] == true).then_some(s)
}

/// The server's ends of the two pipes, for the wrapper to make its stdin and
/// stdout before it execs.
pub struct ServerEnds {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
}

/// Forks the relay (twice: it is nobody's child but init's or a subreaper's)
/// and returns the server's ends of the pipes.
pub fn start(daemon: UnixStream) -> std::io::Result<ServerEnds> {
    let (to_server_r, to_server_w) = pipe()?;
    let (from_server_r, from_server_w) = pipe()?;
    // SAFETY: pidfd_open of this very process; the fd is close-on-exec.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    if pidfd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd from pidfd_open.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    // SAFETY: the wrapper is single-threaded here; the children only use
    // what they own and end with _exit.
    let first = unsafe { libc::fork() };
    if first < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if first == 0 {
        // SAFETY: as above.
        let second = unsafe { libc::fork() };
        if second == 0 {
            drop(to_server_r);
            drop(from_server_w);
            // SAFETY: naming this process and ignoring the terminal's ^C
            // (the server decides when the conversation ends).
            unsafe {
                libc::prctl(libc::PR_SET_NAME, c"mcp-relay".as_ptr());
                libc::signal(libc::SIGINT, libc::SIG_IGN);
            }
            run(daemon, to_server_w, from_server_r, pidfd);
            // SAFETY: the end of the relay.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: the intermediate process only forks.
        unsafe { libc::_exit(i32::from(second < 0)) };
    }
    let mut status = 0;
    // SAFETY: waiting for the intermediate child just forked.
    unsafe { libc::waitpid(first, &mut status, 0) };
    if status != 0 {
        return Err(std::io::Error::other("could not fork the stdio relay"));
    }
    Ok(ServerEnds {
        stdin: to_server_r,
        stdout: from_server_w,
    })
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: a valid out-array of two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh fds from pipe2.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// What the relay sends the daemon, shared by its two directions.
struct Copies {
    sock: Option<UnixStream>,
    /// Bytes of a copy the socket did not take yet.
    pending: Vec<u8>,
    seq: u64,
    dropped: u64,
}

struct Shared {
    copies: Mutex<Copies>,
    not_json: AtomicU64,
}

impl Shared {
    /// Sends a copy without blocking; the sequence number it got if sent.
    fn send(
        &self,
        dir: Direction,
        msg: jsonrpc::Message,
        t: u64,
        cut: bool,
        ack: bool,
    ) -> Option<u64> {
        let mut c = self.copies.lock().unwrap_or_else(|e| e.into_inner());
        c.seq += 1;
        let copy = Stamped {
            seq: c.seq,
            t,
            dir,
            msg,
            cut,
            ack,
            dropped: c.dropped,
            not_json: self.not_json.load(Ordering::Relaxed),
        };
        let c = &mut *c;
        let Some(sock) = &c.sock else {
            c.dropped += 1;
            return None;
        };
        if !c.pending.is_empty() {
            match send_now(sock, &c.pending) {
                Ok(n) => {
                    c.pending.drain(..n);
                }
                Err(_) => {
                    c.sock = None;
                    c.dropped += 1;
                    return None;
                }
            }
        }
        let mut line = serde_json::to_vec(&copy).unwrap_or_default();
        line.push(b'\n');
        if !c.pending.is_empty() {
            // Behind what the socket did not take yet: keep it if there is
            // room, so that the line stays whole.
            if c.pending.len() + line.len() > PENDING_MAX {
                c.dropped += 1;
                return None;
            }
            c.pending.extend_from_slice(&line);
            return Some(copy.seq);
        }
        match send_now(sock, &line) {
            Ok(n) if n == line.len() => Some(copy.seq),
            Ok(n) => {
                c.pending.extend_from_slice(&line[n..]);
                Some(copy.seq)
            }
            Err(_) => {
                c.sock = None;
                c.dropped += 1;
                None
            }
        }
    }
}

/// Sends what the socket takes now; Ok(0) when it is full.
fn send_now(sock: &UnixStream, bytes: &[u8]) -> std::io::Result<usize> {
    // SAFETY: a valid buffer and socket fd.
    let n = unsafe {
        libc::send(
            sock.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n >= 0 {
        return Ok(n as usize);
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Ok(0)
    } else {
        Err(e)
    }
}

/// Copies the messages of one read to the daemon.
fn copy_messages(
    shared: &Shared,
    framer: &mut Framer,
    dir: Direction,
    chunk: Option<&[u8]>,
    t: u64,
) -> Option<u64> {
    let mut last_ack = None;
    let mut each = |line: jsonrpc::Line| match jsonrpc::parse(&line) {
        Parsed::Messages(msgs) => {
            for msg in msgs {
                // The host's requests wait for the daemon to take them.
                let ack = dir == Direction::ToServer && msg.method.is_some() && msg.id.is_some();
                let seq = shared.send(dir, msg, t, line.cut, ack);
                if ack && seq.is_some() {
                    last_ack = seq;
                }
            }
        }
        Parsed::Blank => {}
        Parsed::NotJson => {
            shared.not_json.fetch_add(1, Ordering::Relaxed);
        }
    };
    match chunk {
        Some(chunk) => framer.push(chunk, &mut each),
        None => framer.finish(&mut each),
    }
    last_ack
}

fn run(daemon: UnixStream, to_server: OwnedFd, from_server: OwnedFd, server: OwnedFd) {
    let acks = daemon.try_clone().ok();
    let shared = Arc::new(Shared {
        copies: Mutex::new(Copies {
            sock: Some(daemon),
            pending: Vec::new(),
            seq: 0,
            dropped: 0,
        }),
        not_json: AtomicU64::new(0),
    });
    let host_side = {
        let shared = shared.clone();
        std::thread::spawn(move || host_to_server(&shared, to_server, acks))
    };
    server_to_host(&shared, from_server);
    // The server's stdout has ended: wait for the server itself, while the
    // host's input still goes to it.
    let mut pfd = libc::pollfd {
        fd: server.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    while unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {}
    drop(host_side);
}

/// Host stdin → server stdin.
fn host_to_server(shared: &Shared, to_server: OwnedFd, acks: Option<UnixStream>) {
    let mut to_server = std::fs::File::from(to_server);
    // SAFETY: fd 0 is the host's end, which this process alone reads now.
    let mut host = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) });
    let mut acks = acks.map(BufReader::new);
    let mut acked = 0u64;
    let mut framer = Framer::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match host.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let t = jsonrpc::boottime_ns();
        let seq = copy_messages(shared, &mut framer, Direction::ToServer, Some(&buf[..n]), t);
        if let (Some(seq), Some(reader)) = (seq, &mut acks)
            && !wait_for_ack(reader, seq, &mut acked)
        {
            // The daemon does not answer: no more waiting on it.
            acks = None;
        }
        if to_server.write_all(&buf[..n]).is_err() {
            // The server closed its stdin: the host's writes fail as they
            // would without the relay.
            break;
        }
    }
    copy_messages(
        shared,
        &mut framer,
        Direction::ToServer,
        None,
        jsonrpc::boottime_ns(),
    );
    // Dropping the pipe tells the server its input ended.
    drop(to_server);
    // SAFETY: closing the host's stdin end, which nothing else here uses.
    unsafe { libc::close(0) };
}

/// Reads acks until `seq` is taken or [`ACK_WAIT`] passes; false when the
/// daemon is gone or too slow.
fn wait_for_ack(reader: &mut BufReader<UnixStream>, seq: u64, acked: &mut u64) -> bool {
    let deadline = Instant::now() + ACK_WAIT;
    let mut line = String::new();
    while *acked < seq {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || reader.get_ref().set_read_timeout(Some(left)).is_err() {
            // Late, not gone: the next request waits again.
            return true;
        }
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return false,
            Ok(_) => {
                if let Some(n) = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v["ack"].as_u64())
                {
                    *acked = n;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return true;
            }
            Err(_) => return false,
        }
    }
    true
}

/// Server stdout → host stdout.
fn server_to_host(shared: &Shared, from_server: OwnedFd) {
    let mut from_server = std::fs::File::from(from_server);
    // SAFETY: fd 1 is the host's end, which this process alone writes now.
    let mut host = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(1) });
    let mut framer = Framer::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from_server.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let t = jsonrpc::boottime_ns();
        if host.write_all(&buf[..n]).is_err() {
            // The host stopped reading: the server's next write fails as it
            // would have.
            break;
        }
        copy_messages(
            shared,
            &mut framer,
            Direction::FromServer,
            Some(&buf[..n]),
            t,
        );
    }
    copy_messages(
        shared,
        &mut framer,
        Direction::FromServer,
        None,
        jsonrpc::boottime_ns(),
    );
    drop(from_server);
    // SAFETY: the host's stdout end: closing it tells the host the output ended.
    unsafe { libc::close(1) };
    // Whatever the socket had not taken yet gets one more chance.
    let mut c = shared.copies.lock().unwrap_or_else(|e| e.into_inner());
    let pending = std::mem::take(&mut c.pending);
    if let (Some(mut sock), false) = (c.sock.as_ref(), pending.is_empty()) {
        let _ = sock.set_write_timeout(Some(Duration::from_millis(200)));
        let _ = sock.write_all(&pending);
    }
}
