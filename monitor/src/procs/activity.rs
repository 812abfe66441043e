//! What each MCP server did lately, kept in user space so that one event can
//! be judged by the ones before it: the files its processes wrote (a script
//! run by an interpreter right after the server wrote it), the distinct
//! discovery commands it ran (a reconnaissance burst), and the pipes its
//! processes write to (`curl … | sh`).
//!
//! Everything is bounded: a few hundred paths, a few dozen commands and pipes
//! per server, and a bounded number of servers (the least recently active
//! is forgotten first). Times are the events' own (`evt.time`, ns).
use std::collections::{HashMap, HashSet, VecDeque};

/// How long a written file counts as "just written".
pub const WRITTEN_WINDOW_NS: u64 = 10 * 60 * 1_000_000_000;
/// Written paths remembered per server.
pub const MAX_WRITTEN: usize = 512;
/// The window of a reconnaissance burst.
pub const RECON_WINDOW_NS: u64 = 10 * 1_000_000_000;
/// Discovery commands remembered per server (distinct ones in the window).
pub const MAX_RECON: usize = 64;
/// Pipe writers remembered per server.
pub const MAX_PIPES: usize = 64;
/// Servers remembered.
pub const MAX_SERVERS: usize = 1024;

/// A process that had a pipe as its standard output when it started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipeWriter {
    pub inode: u64,
    pub pid: u32,
    /// Its name after the exec (`curl`, `base64`).
    pub name: String,
}

#[derive(Default)]
struct ServerActivity {
    /// Path → (time, sequence number) of the latest write.
    written: HashMap<Box<str>, (u64, u64)>,
    /// Writes in order, oldest first, by sequence number; an entry whose
    /// number is no longer the map's is a stale duplicate.
    written_order: VecDeque<(Box<str>, u64)>,
    written_seq: u64,
    /// Discovery commands, oldest first: (name, time).
    recon: VecDeque<(String, u64)>,
    /// Pipe writers, oldest first.
    pipes: VecDeque<PipeWriter>,
    /// Last time anything was recorded, to forget idle servers first.
    touched: u64,
}

/// Recent activity of every server, by server id.
#[derive(Default)]
pub struct Activity {
    servers: HashMap<u32, ServerActivity>,
    /// Names of discovery commands (the rules' `mcp_discovery_binaries`).
    discovery: HashSet<String>,
}

impl Activity {
    /// Sets which command names count as discovery.
    pub fn set_discovery_commands<I: IntoIterator<Item = String>>(&mut self, names: I) {
        self.discovery = names.into_iter().collect();
    }

    fn server(&mut self, id: u32, now: u64) -> &mut ServerActivity {
        if !self.servers.contains_key(&id) && self.servers.len() >= MAX_SERVERS {
            let idle = self
                .servers
                .iter()
                .min_by_key(|(_, s)| s.touched)
                .map(|(k, _)| *k);
            if let Some(k) = idle {
                self.servers.remove(&k);
            }
        }
        let s = self.servers.entry(id).or_default();
        s.touched = s.touched.max(now);
        s
    }

    /// A process of server `id` wrote, created, or renamed or linked a file
    /// into place at `path`.
    pub fn wrote(&mut self, id: u32, path: &str, now: u64) {
        let s = self.server(id, now);
        let key: Box<str> = path.into();
        s.written_seq += 1;
        let seq = s.written_seq;
        s.written.insert(key.clone(), (now, seq));
        s.written_order.push_back((key, seq));
        while s.written_order.len() > MAX_WRITTEN {
            if let Some((old, n)) = s.written_order.pop_front()
                && s.written.get(&old).is_some_and(|&(_, latest)| latest == n)
            {
                s.written.remove(&old);
            }
        }
    }

    /// A process of server `id` wrote `path` within [`WRITTEN_WINDOW_NS`]
    /// before `now`.
    pub fn written_lately(&self, id: u32, path: &str, now: u64) -> bool {
        self.servers
            .get(&id)
            .and_then(|s| s.written.get(path))
            .is_some_and(|&(t, _)| t <= now && now - t <= WRITTEN_WINDOW_NS)
    }

    /// Server `id` ran `name`. When it is a discovery command, returns the
    /// distinct discovery commands the server ran in the last
    /// [`RECON_WINDOW_NS`], this one included, sorted.
    pub fn ran(&mut self, id: u32, name: &str, now: u64) -> Option<Vec<String>> {
        if !self.discovery.contains(name) {
            return None;
        }
        let s = self.server(id, now);
        while s
            .recon
            .front()
            .is_some_and(|(_, t)| now.saturating_sub(*t) > RECON_WINDOW_NS)
        {
            s.recon.pop_front();
        }
        // One entry per name: a repeat only refreshes its time.
        s.recon.retain(|(n, _)| n != name);
        s.recon.push_back((name.to_owned(), now));
        while s.recon.len() > MAX_RECON {
            s.recon.pop_front();
        }
        let mut names: Vec<String> = s.recon.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        Some(names)
    }

    /// A process of server `id` started with pipe `inode` as its stdout.
    pub fn pipe_writer(&mut self, id: u32, writer: PipeWriter, now: u64) {
        let s = self.server(id, now);
        s.pipes
            .retain(|p| p.inode != writer.inode || p.pid != writer.pid);
        s.pipes.push_back(writer);
        while s.pipes.len() > MAX_PIPES {
            s.pipes.pop_front();
        }
    }

    /// The latest process of server `id` known to write pipe `inode`, other
    /// than `reader`.
    pub fn writer_of(&self, id: u32, inode: u64, reader: u32) -> Option<&PipeWriter> {
        self.servers
            .get(&id)?
            .pipes
            .iter()
            .rev()
            .find(|p| p.inode == inode && p.pid != reader)
    }

    /// Forgets a server (it ended).
    pub fn forget(&mut self, id: u32) {
        self.servers.remove(&id);
    }
}

/// The file an interpreter was asked to run: its first argument that is not
/// an option (`bash -e x.sh`, `python3 -u x.py`, `node --inspect x.js`), or
/// the one after `--`. The values of options that take one (`-o opt`,
/// `-W arg`, `-r module`) are skipped. With `-c` or `-e` the first such
/// argument is the code itself, which names a file only when the code is
/// just that file's path (`sh -c ./x.sh`).
pub fn script_argument(argv: &[String]) -> Option<&str> {
    const TAKES_VALUE: &[&str] = &[
        "-o",
        "+o",
        "-O",
        "+O",
        "-W",
        "-X",
        "-r",
        "--require",
        "--import",
        "--loader",
        "--experimental-loader",
        "-I",
        "-M",
        "--rcfile",
        "--init-file",
    ];
    let mut args = argv.iter().skip(1).take(32);
    while let Some(a) = args.next() {
        if a == "--" {
            return args.next().map(String::as_str);
        }
        if TAKES_VALUE.contains(&a.as_str()) {
            args.next();
            continue;
        }
        if a.starts_with('-') || a.starts_with('+') || a.is_empty() {
            continue;
        }
        return Some(a);
    }
    None
}

/// `path` made absolute against `cwd`, with `.` and `..` components and
/// repeated slashes folded away (lexically: symlinks are not followed).
pub fn absolute_path(path: &str, cwd: &str) -> String {
    let joined;
    let full = if path.starts_with('/') {
        path
    } else {
        joined = format!("{cwd}/{path}");
        &joined
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in full.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::with_capacity(full.len());
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The inode of the pipe `link` (a `/proc/PID/fd/N` link's text) names.
pub fn pipe_inode(link: &str) -> Option<u64> {
    link.strip_prefix("pipe:[")?.strip_suffix(']')?.parse().ok()
}

/// The pipe inode of `fd` of `pid`, read from procfs now.
pub fn pipe_of(pid: u32, fd: i32) -> Option<u64> {
    pipe_inode(&super::scan::fd_path(pid, fd)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn written_paths_count_for_ten_minutes_per_server() {
        let mut a = Activity::default();
        a.wrote(1, "/tmp/x.sh", 100 * S);
        assert!(a.written_lately(1, "/tmp/x.sh", 100 * S));
        assert!(a.written_lately(1, "/tmp/x.sh", 100 * S + WRITTEN_WINDOW_NS));
        assert!(!a.written_lately(1, "/tmp/x.sh", 101 * S + WRITTEN_WINDOW_NS));
        // Another server's writes are not this one's.
        assert!(!a.written_lately(2, "/tmp/x.sh", 100 * S));
        assert!(!a.written_lately(1, "/tmp/y.sh", 100 * S));
        // A later write restarts the clock.
        a.wrote(1, "/tmp/x.sh", 700 * S);
        assert!(a.written_lately(1, "/tmp/x.sh", 700 * S + WRITTEN_WINDOW_NS));
        a.forget(1);
        assert!(!a.written_lately(1, "/tmp/x.sh", 700 * S));
    }

    #[test]
    fn written_paths_are_bounded_oldest_first() {
        let mut a = Activity::default();
        a.wrote(1, "/w/first", S);
        for i in 0..MAX_WRITTEN {
            a.wrote(1, &format!("/w/{i}"), 2 * S);
        }
        assert!(!a.written_lately(1, "/w/first", 2 * S));
        assert!(a.written_lately(1, "/w/0", 2 * S));
        assert!(a.written_lately(1, &format!("/w/{}", MAX_WRITTEN - 1), 2 * S));
        // Rewriting a path keeps it however many duplicates the order holds.
        for _ in 0..MAX_WRITTEN * 2 {
            a.wrote(1, "/w/hot", 3 * S);
        }
        assert!(a.written_lately(1, "/w/hot", 3 * S));
        let s = &a.servers[&1];
        assert!(s.written.len() <= MAX_WRITTEN && s.written_order.len() <= MAX_WRITTEN);
    }

    #[test]
    fn servers_are_bounded_idle_first() {
        let mut a = Activity::default();
        for id in 0..MAX_SERVERS as u32 {
            a.wrote(id, "/x", u64::from(id) + 10);
        }
        a.wrote(5000, "/x", 5000);
        assert_eq!(a.servers.len(), MAX_SERVERS);
        assert!(!a.written_lately(0, "/x", 10));
        assert!(a.written_lately(1, "/x", 11));
    }

    #[test]
    fn distinct_discovery_commands_in_the_window() {
        let mut a = Activity::default();
        a.set_discovery_commands(["id", "uname", "ss", "whoami"].map(String::from));
        assert_eq!(a.ran(1, "ls", S), None);
        assert_eq!(a.ran(1, "id", S).unwrap(), ["id"]);
        // A repeat is not a new command.
        assert_eq!(a.ran(1, "id", 2 * S).unwrap(), ["id"]);
        assert_eq!(a.ran(1, "uname", 3 * S).unwrap(), ["id", "uname"]);
        assert_eq!(a.ran(2, "ss", 3 * S).unwrap(), ["ss"]);
        assert_eq!(a.ran(1, "ss", 4 * S).unwrap(), ["id", "ss", "uname"]);
        assert_eq!(a.ran(1, "whoami", 5 * S).unwrap().len(), 4);
        // Ten seconds after the last id (at 2 s), it has left the window.
        assert_eq!(
            a.ran(1, "whoami", 13 * S).unwrap(),
            ["ss", "uname", "whoami"]
        );
        assert_eq!(a.ran(1, "id", 40 * S).unwrap(), ["id"]);
    }

    #[test]
    fn pipe_writers_are_found_by_inode_in_their_server() {
        let mut a = Activity::default();
        let w = |inode, pid, name: &str| PipeWriter {
            inode,
            pid,
            name: name.into(),
        };
        a.pipe_writer(1, w(77, 10, "curl"), S);
        a.pipe_writer(1, w(78, 11, "cat"), S);
        assert_eq!(a.writer_of(1, 77, 12).unwrap().name, "curl");
        assert!(a.writer_of(1, 77, 10).is_none(), "not its own writer");
        assert!(a.writer_of(2, 77, 12).is_none(), "another server's pipe");
        for i in 0..MAX_PIPES as u64 {
            a.pipe_writer(1, w(1000 + i, 20, "x"), S);
        }
        assert!(a.writer_of(1, 77, 12).is_none());
        assert_eq!(pipe_inode("pipe:[4026532]"), Some(4026532));
        assert_eq!(pipe_inode("socket:[4026532]"), None);
        assert_eq!(pipe_inode("/dev/null"), None);
    }

    #[test]
    fn the_script_an_interpreter_runs() {
        let s = |a: &[&str]| script_argument(&argv(a)).map(str::to_owned);
        assert_eq!(s(&["bash", "x.sh", "arg"]).as_deref(), Some("x.sh"));
        assert_eq!(
            s(&["sh", "-e", "-x", "/tmp/x.sh"]).as_deref(),
            Some("/tmp/x.sh")
        );
        assert_eq!(
            s(&["bash", "-o", "pipefail", "x.sh"]).as_deref(),
            Some("x.sh")
        );
        assert_eq!(
            s(&["python3", "-u", "-W", "ignore", "x.py"]).as_deref(),
            Some("x.py")
        );
        assert_eq!(
            s(&["node", "-r", "dotenv/config", "x.js"]).as_deref(),
            Some("x.js")
        );
        assert_eq!(s(&["perl", "--", "-x.pl"]).as_deref(), Some("-x.pl"));
        assert_eq!(s(&["sh", "-c", "./x.sh"]).as_deref(), Some("./x.sh"));
        assert_eq!(s(&["bash"]), None);
        assert_eq!(s(&["bash", "-i"]), None);
        assert_eq!(absolute_path("x.sh", "/work/dir"), "/work/dir/x.sh");
        assert_eq!(
            absolute_path("./a/../x.sh", "/work//dir/"),
            "/work/dir/x.sh"
        );
        assert_eq!(absolute_path("/tmp/./x", "/ignored"), "/tmp/x");
        assert_eq!(absolute_path("../../..", "/a"), "/");
    }
}
