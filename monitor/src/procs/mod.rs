//! Processes and MCP servers: the process table, the server registry, tagging
//! (which writes the kernel's tag map) and the enrichment of kernel records into
//! [`Event`]s.
pub mod activity;
pub mod cgroups;
pub mod hosts;
pub mod lifecycle;
pub mod patterns;
pub mod policy;
pub mod procnet;
pub mod recognise;
pub mod scan;
pub mod servers;
pub mod sockets;
mod syscalls;
pub mod table;
mod users;

use monitor_common::{OpenSyscall, Tag, TagSource, flags};

use crate::{
    decode::{Endpoint, Header, Record},
    event::{Event, open_flags_to_string, result_name},
    names, paths,
};
use recognise::Recogniser;
use servers::{ServerInfo, Servers, roots_from_argv, source_name};
use table::{ProcInfo, ProcessTable};

/// Where tags live. The daemon's is the kernel map; tests use a plain map.
pub trait TagStore {
    fn get(&self, tgid: u32) -> Option<Tag>;
    fn insert(&mut self, tgid: u32, tag: Tag) -> anyhow::Result<()>;
    fn remove(&mut self, tgid: u32);
    /// Keeps a server's name where a restarted daemon finds it with the tags.
    fn remember_server(&mut self, _server: &ServerInfo) {}
}

impl TagStore for crate::probes::TagMap {
    fn get(&self, tgid: u32) -> Option<Tag> {
        crate::probes::TagMap::get(self, tgid)
    }
    fn insert(&mut self, tgid: u32, tag: Tag) -> anyhow::Result<()> {
        crate::probes::TagMap::insert(self, tgid, tag)
    }
    fn remove(&mut self, tgid: u32) {
        crate::probes::TagMap::remove(self, tgid)
    }
    fn remember_server(&mut self, server: &ServerInfo) {
        let record = monitor_common::ServerRecord {
            root_tgid: server.root_pid,
            source: server.source as u32,
            name: crate::probes::record_text(&server.name),
            host: crate::probes::record_text(server.host.as_deref().unwrap_or("")),
        };
        crate::probes::TagMap::remember_server(self, server.id, &record);
    }
}

impl TagStore for std::collections::HashMap<u32, Tag> {
    fn get(&self, tgid: u32) -> Option<Tag> {
        std::collections::HashMap::get(self, &tgid).copied()
    }
    fn insert(&mut self, tgid: u32, tag: Tag) -> anyhow::Result<()> {
        std::collections::HashMap::insert(self, tgid, tag);
        Ok(())
    }
    fn remove(&mut self, tgid: u32) {
        std::collections::HashMap::remove(self, &tgid);
    }
}

/// Why a process could not be tagged.
#[derive(Debug, PartialEq, Eq)]
pub enum TagError {
    /// It already belongs to a server (named).
    AlreadyTagged(String),
    /// It does not exist (any more).
    NoSuchProcess(u32),
    /// The kernel map refused the entry.
    Map(String),
}

impl std::fmt::Display for TagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TagError::AlreadyTagged(name) => write!(f, "already tagged as MCP server {name:?}"),
            TagError::NoSuchProcess(pid) => write!(f, "no process with pid {pid}"),
            TagError::Map(e) => write!(f, "the kernel tag map refused the entry: {e}"),
        }
    }
}

impl std::error::Error for TagError {}

/// Who asks for a tag and under which name.
#[derive(Clone, Debug)]
pub struct TagRequest {
    pub pid: u32,
    pub name: String,
    pub host: Option<String>,
    pub source: TagSource,
}

/// Converts kernel boot-time stamps to wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    boot_to_epoch_ns: i128,
}

impl Clock {
    pub fn now() -> Self {
        fn ns(clock: libc::clockid_t) -> i128 {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: valid clock id and out-pointer.
            unsafe { libc::clock_gettime(clock, &mut ts) };
            ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
        }
        Clock {
            boot_to_epoch_ns: ns(libc::CLOCK_REALTIME) - ns(libc::CLOCK_BOOTTIME),
        }
    }

    pub fn epoch_ns(&self, boot_ns: u64) -> u64 {
        (boot_ns as i128 + self.boot_to_epoch_ns).max(0) as u64
    }
}

/// The user-space half of tagging and the enrichment of records.
pub struct Tracker {
    pub table: ProcessTable,
    pub servers: Servers,
    recogniser: Recogniser,
    policies: policy::Policies,
    containers: cgroups::ContainerLaunches,
    /// What the socket fds of tagged processes are.
    sockets: sockets::SocketMemory,
    clock: Clock,
    /// Servers' lives: started, exited, outlived their host.
    pub lifecycle: lifecycle::Lifecycle,
    /// Daemons that ran before this one on the same kernel state (a signal
    /// recorded while none ran may be aimed at them).
    monitor_pids: Vec<u32>,
    /// `user.name` by uid.
    users: users::UserNames,
    /// What each server did lately: files written, discovery commands run,
    /// pipes written.
    pub activity: activity::Activity,
}

impl Tracker {
    pub fn new(table: ProcessTable, recogniser: Recogniser) -> Self {
        Tracker {
            table,
            servers: Servers::default(),
            recogniser,
            policies: policy::Policies::default(),
            containers: cgroups::ContainerLaunches::default(),
            sockets: sockets::SocketMemory::default(),
            clock: Clock::now(),
            lifecycle: lifecycle::Lifecycle::default(),
            monitor_pids: Vec::new(),
            users: users::UserNames::default(),
            activity: activity::Activity::default(),
        }
    }

    /// Says which gone processes were earlier daemons of this monitor.
    pub fn set_previous_daemons(&mut self, pids: Vec<u32>) {
        self.monitor_pids = pids;
    }

    /// Tags `req.pid` and every descendant it has now. The tag is checked against
    /// the process's start time after it is written, so a pid that was reused in
    /// between is untagged again.
    pub fn tag(&mut self, store: &mut impl TagStore, req: &TagRequest) -> Result<u32, TagError> {
        if let Some(existing) = store.get(req.pid) {
            let name = self
                .servers
                .get(existing.server_id)
                .map_or_else(|| format!("#{}", existing.server_id), |s| s.name.clone());
            return Err(TagError::AlreadyTagged(name));
        }
        self.apply_tag(store, req)
    }

    /// Makes `pid` and its descendants part of the existing server `server_id`
    /// (a container that server started).
    fn join(
        &mut self,
        store: &mut impl TagStore,
        pid: u32,
        server_id: u32,
    ) -> Result<(), TagError> {
        let root = self
            .servers
            .get(server_id)
            .map(|s| s.root_pid)
            .ok_or(TagError::NoSuchProcess(pid))?;
        let tag = Tag {
            server_id,
            root_tgid: root,
        };
        for p in std::iter::once(pid).chain(descendants(pid)) {
            if store.get(p).is_none() {
                store
                    .insert(p, tag)
                    .map_err(|e| TagError::Map(format!("{e:#}")))?;
                if let Some(info) = self.table.get_mut(p) {
                    info.server_id = server_id;
                }
            }
        }
        Ok(())
    }

    /// Writes the tag for `req.pid` and its descendants, replacing any they had.
    fn apply_tag(&mut self, store: &mut impl TagStore, req: &TagRequest) -> Result<u32, TagError> {
        let info = scan::read_process(req.pid).ok_or(TagError::NoSuchProcess(req.pid))?;
        let id = self
            .servers
            .add(&req.name, req.host.clone(), req.source, req.pid);
        if let Some(server) = self.servers.get_mut(id) {
            server.roots = paths::real_dirs(roots_from_argv(&info.argv), &info.cwd);
        }
        self.apply_policy(id);
        let tag = Tag {
            server_id: id,
            root_tgid: req.pid,
        };
        let start_time = info.start_time;
        self.table.upsert(ProcInfo {
            server_id: id,
            ..info
        });
        let replaced = store.get(req.pid).map(|t| t.server_id);
        if let Err(e) = store.insert(req.pid, tag) {
            self.servers.remove(id);
            return Err(TagError::Map(format!("{e:#}")));
        }
        if scan::start_time(req.pid) != Some(start_time) {
            store.remove(req.pid);
            self.servers.remove(id);
            return Err(TagError::NoSuchProcess(req.pid));
        }
        for child in descendants(req.pid) {
            let free = store
                .get(child)
                .is_none_or(|t| Some(t.server_id) == replaced || t.server_id == id);
            if free && store.insert(child, tag).is_ok() {
                let info = scan::read_process(child).unwrap_or(ProcInfo {
                    pid: child,
                    ..Default::default()
                });
                self.table.upsert(ProcInfo {
                    server_id: id,
                    ..info
                });
            }
        }
        let host = self.host_process(req.pid, req.source);
        if let Some(server) = self.servers.get(id) {
            store.remember_server(server);
            self.lifecycle
                .started(server, self.root_process(req.pid), host);
        }
        Ok(id)
    }

    /// `pid` as the table has it, with its ancestors.
    fn root_process(&self, pid: u32) -> lifecycle::RootProcess {
        lifecycle::RootProcess {
            info: self.table.get(pid).cloned().unwrap_or_default(),
            ancestors: self
                .table
                .ancestors(pid)
                .iter()
                .map(|a| (a.pid, a.comm.clone()))
                .collect(),
        }
    }

    /// The process that started the server at `pid`: the launch wrapper's
    /// parent, or else the nearest ancestor that is a known AI host.
    fn host_process(&self, pid: u32, source: TagSource) -> Option<lifecycle::HostProcess> {
        let host_pid = if source == TagSource::Wrapper {
            self.table.get(pid).map(|p| p.ppid)
        } else {
            self.table
                .ancestors(pid)
                .into_iter()
                .find(|a| hosts::host_of(a).is_some())
                .map(|a| a.pid)
        }?;
        if host_pid <= 1 || host_pid == std::process::id() {
            return None;
        }
        let p = scan::read_process(host_pid)?;
        Some(lifecycle::HostProcess {
            pid: host_pid,
            name: p.comm,
            start_time: p.start_time,
        })
    }

    /// Once a second: servers that ended or outlived their host.
    pub fn lifecycle_tick(&mut self, now: std::time::Instant) {
        let alive = |pid: u32| std::path::Path::new(&format!("/proc/{pid}")).exists();
        self.lifecycle.tick(now, &self.servers, &self.table, &alive);
    }

    pub fn recogniser(&self) -> &Recogniser {
        &self.recogniser
    }

    pub fn recogniser_mut(&mut self) -> &mut Recogniser {
        &mut self.recogniser
    }

    /// Replaces the per-server policies and applies them to running servers.
    pub fn set_policies(&mut self, policies: policy::Policies) {
        self.policies = policies;
        let ids: Vec<u32> = self.servers.ids().collect();
        for id in ids {
            self.apply_policy(id);
        }
    }

    /// A server's roots and destinations from its policy file, if it has one.
    fn apply_policy(&mut self, id: u32) {
        let Some(server) = self.servers.get_mut(id) else {
            return;
        };
        if let Some(p) = self.policies.get(&server.name) {
            if !p.roots.is_empty() {
                server.roots = paths::real_dirs(p.roots.clone(), "/");
            }
            server.destinations = p.destinations.clone();
        }
    }

    /// Takes over what an earlier run left in the kernel: each tagged
    /// process's server, named by the record kept beside the tags. Tags of
    /// processes that are gone are dropped, and the records of servers with
    /// no process left (their names stay known here, for the records they
    /// left behind). Returns the servers resumed, as (root pid, name).
    pub fn resume(&mut self, tags: &mut crate::probes::TagMap) -> Vec<(u32, String)> {
        let mut entries = tags.entries();
        entries.retain(|(pid, _)| {
            let alive = self.table.get(*pid).is_some();
            if !alive {
                tags.remove(*pid);
            }
            alive
        });
        let mut resumed = Vec::new();
        for (id, record) in tags.servers() {
            let members: Vec<u32> = entries
                .iter()
                .filter(|(_, t)| t.server_id == id)
                .map(|(pid, _)| *pid)
                .collect();
            let name = crate::probes::text_of(&record.name);
            let host = Some(crate::probes::text_of(&record.host)).filter(|h| !h.is_empty());
            let source = TagSource::from_u32(record.source).unwrap_or(TagSource::Wrapper);
            // Known even when all its processes are gone: the records they
            // left in the ring buffer still name it.
            self.servers
                .restore(id, &name, host, source, record.root_tgid);
            if members.is_empty() {
                tags.forget_server(id);
                continue;
            }
            if let (Some(server), Some(root)) = (
                self.servers.get_mut(id),
                scan::read_process(record.root_tgid),
            ) {
                server.roots = paths::real_dirs(roots_from_argv(&root.argv), &root.cwd);
            }
            self.apply_policy(id);
            for pid in members {
                if let Some(p) = self.table.get_mut(pid) {
                    p.server_id = id;
                }
            }
            resumed.push((record.root_tgid, name));
        }
        resumed
    }

    /// Tags every running process that `launch` started (it leaves the server's
    /// name in the environment, so servers survive a daemon restart) or whose
    /// command line is recognised as an MCP server, with its descendants.
    /// Returns the servers found.
    pub fn tag_matching_processes(&mut self, store: &mut impl TagStore) -> Vec<(u32, String)> {
        let mut candidates: Vec<(u32, recognise::Recognised)> = self
            .table
            .pids()
            .filter_map(|pid| {
                let p = self.table.get(pid)?;
                let launched =
                    crate::launch::marker_of(pid).map(|(name, host)| recognise::Recognised {
                        name,
                        host,
                        source: TagSource::Wrapper,
                    });
                Some((
                    pid,
                    launched.or_else(|| self.recogniser.recognise(pid, &p.argv))?,
                ))
            })
            .collect();
        // Parents before children, so a matching child inside a matching tree is
        // part of its ancestor's server.
        candidates.sort_by_key(|(pid, _)| self.table.ancestors(*pid).len());
        let mut found = Vec::new();
        for (pid, r) in candidates {
            if store.get(pid).is_some() || pid == std::process::id() {
                continue;
            }
            let req = TagRequest {
                pid,
                name: r.name.clone(),
                host: r.host,
                source: r.source,
            };
            if self.tag(store, &req).is_ok() {
                found.push((pid, r.name));
            }
        }
        found
    }

    /// Turns one kernel record into an event for tagged processes, updating the
    /// process table and tagging exec'd processes that match a pattern. Returns
    /// `None` for records that concern no MCP server.
    pub fn ingest(&mut self, record: Record, store: &mut impl TagStore) -> Option<Event> {
        let mut ev = self.ingest_record(record, store)?;
        self.note_activity(&mut ev);
        Some(ev)
    }

    /// Remembers what the event tells of its server's activity, and sets the
    /// fields that depend on what came before: files written (for
    /// `proc.script_written_by_server`), discovery commands (`mcp.recon.*`),
    /// and pipes (`proc.stdin_writer`).
    fn note_activity(&mut self, ev: &mut Event) {
        let Some(id) = self
            .table
            .get(ev.pid)
            .map(|p| p.server_id)
            .filter(|&id| id != 0)
        else {
            return;
        };
        let now = ev.time_ns;
        let ok = ev.rawres.is_some_and(|r| r >= 0);
        match ev.evt_type.as_str() {
            "execve" => {
                if let Some(script) = activity::script_argument(&ev.argv) {
                    let path = activity::absolute_path(script, &ev.cwd);
                    ev.script_written_by_server =
                        Some(self.activity.written_lately(id, &path, now));
                }
                if let Some(commands) = self.activity.ran(id, &ev.name, now) {
                    ev.recon_count = Some(commands.len() as u64);
                    ev.recon_commands = commands;
                }
                // A pipeline's programs have their pipes in place when they
                // start: the writer is remembered at its own exec, since it
                // may be gone by the time its reader's exec is processed.
                if let Some(inode) = activity::pipe_of(ev.pid, 1) {
                    let writer = activity::PipeWriter {
                        inode,
                        pid: ev.pid,
                        name: ev.name.clone(),
                    };
                    self.activity.pipe_writer(id, writer, now);
                }
                if let Some(inode) = activity::pipe_of(ev.pid, 0) {
                    ev.stdin_writer = self.stdin_writer(id, inode, ev.pid);
                }
            }
            "open" | "openat" | "openat2" | "io_uring" if ok && ev.is_open_write == Some(true) => {
                if let Some(path) = &ev.fd_name {
                    self.activity.wrote(id, path, now);
                }
            }
            "creat" | "rename" | "renameat" | "renameat2" | "link" | "linkat" | "symlink"
            | "symlinkat"
                if ok =>
            {
                if let Some(path) = &ev.fd_name {
                    self.activity.wrote(id, path, now);
                }
            }
            _ => {}
        }
    }

    /// The name of the process of server `id` (other than `reader`) whose
    /// stdout is pipe `inode`: one remembered from its exec, else one found
    /// in procfs now (a writer that has not exec'd yet shows its old name).
    fn stdin_writer(&self, id: u32, inode: u64, reader: u32) -> Option<String> {
        if let Some(w) = self.activity.writer_of(id, inode, reader) {
            return Some(w.name.clone());
        }
        self.table
            .pids()
            .filter(|&pid| pid != reader)
            .filter(|&pid| self.table.get(pid).is_some_and(|p| p.server_id == id))
            .take(256)
            .find(|&pid| activity::pipe_of(pid, 1) == Some(inode))
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
            .map(|comm| comm.trim_end().to_owned())
    }

    fn ingest_record(&mut self, record: Record, store: &mut impl TagStore) -> Option<Event> {
        match record {
            Record::Fork { header, child_tgid } => {
                let mut child = self.proc_info(&header).clone();
                child.pid = child_tgid;
                child.ppid = header.tgid;
                child.start_time = 0;
                child.server_id = header.server_id;
                self.table.upsert(child);
                self.sockets.inherit(header.tgid, child_tgid);
                let mut ev = self.base_event(&header, "clone", "process")?;
                ev.child_pid = Some(child_tgid);
                ev.res = Some(result_name(child_tgid as i64));
                ev.rawres = Some(child_tgid as i64);
                Some(ev)
            }
            Record::Exec {
                header,
                filename,
                argv,
                loader_env,
            } => {
                self.record_exec(&header, &filename, argv);
                let mut header = header;
                let server_id = self.tag_on_exec(&header, store);
                if server_id != header.server_id {
                    // Tagged, tagged again, or joined to a server at this exec.
                    header.server_id = server_id;
                    header.root_tgid = self
                        .servers
                        .get(server_id)
                        .map_or(header.tgid, |s| s.root_pid);
                }
                let mut ev = self.base_event(&header, "execve", "process")?;
                ev.env = crate::redact::text(&loader_env.join(" ")).into_owned();
                ev.truncated = header.flags & flags::ARGS_TRUNCATED != 0;
                ev.res = Some(result_name(0));
                ev.rawres = Some(0);
                Some(ev)
            }
            Record::Exit { header, exit_code } => {
                if self
                    .servers
                    .get(header.server_id)
                    .is_some_and(|s| s.root_pid == header.tgid)
                {
                    self.lifecycle.root_exited(
                        header.server_id,
                        exit_code,
                        header.ktime_ns,
                        self.table.get(header.tgid),
                    );
                }
                let mut ev = self.base_event(&header, "procexit", "process");
                if let Some(ev) = ev.as_mut() {
                    ev.exit_status = Some(exit_code);
                }
                self.table.remove(header.tgid);
                self.sockets.forget_process(header.tgid);
                ev
            }
            Record::Open {
                header,
                syscall,
                dirfd,
                flags: open_flags,
                mode,
                ret,
                path,
                resolved,
            } => {
                let mut ev = self.base_event(&header, syscall.name(), "file")?;
                let (name, source) = paths::open_name(header.tgid, dirfd, &path, &ev.cwd, resolved);
                ev.truncated = header.flags & flags::PATH_TRUNCATED != 0;
                ev.fd_name = Some(name);
                ev.fd_name_source = Some(source.into());
                // `d`: a directory opened (to list it), as the kernel saw.
                let dir = header.flags & flags::DIRECTORY != 0;
                ev.fd_typechar = Some(if dir { "d" } else { "f" }.into());
                ev.arg_flags = Some(open_flags_to_string(open_flags));
                ev.rawarg_flags = Some(open_flags);
                let access = open_flags & libc::O_ACCMODE as u64;
                ev.is_open_read = Some(access == 0 || access == 2);
                ev.is_open_write = Some(access == 1 || access == 2);
                set_result(&mut ev, ret);
                if syscall == OpenSyscall::IoUring {
                    // A request's result is an fd only for an open.
                    let op = names::value(mode, names::IORING_OPS);
                    if ret >= 0 && (op == "IORING_OP_OPENAT" || op == "IORING_OP_OPENAT2") {
                        ev.fd_num = Some(ret);
                    }
                    ev.arg_request = Some(op);
                    return Some(ev);
                }
                ev.arg_path = Some(path);
                if syscall == OpenSyscall::Creat || open_flags & libc::O_CREAT as u64 != 0 {
                    ev.arg_mode = Some(mode);
                }
                if ret >= 0 {
                    ev.fd_num = Some(ret);
                    self.sockets.forget(header.tgid, ret as i32);
                }
                Some(ev)
            }
            Record::Connect {
                header,
                fd,
                ret,
                endpoint,
            } => {
                let mut ev = self.base_event(&header, "connect", "net")?;
                ev.fd_num = Some(fd as i64);
                if ret == 0 || ret == -(libc::EINPROGRESS as i64) {
                    self.remember_connect(header.tgid, fd, &endpoint);
                }
                match endpoint {
                    Endpoint::Inet { ip, port } => {
                        ev.fd_typechar = Some(if ip.is_ipv4() { "4" } else { "6" }.into());
                        ev.fd_name = Some(match ip {
                            std::net::IpAddr::V6(_) => format!("[{ip}]:{port}"),
                            std::net::IpAddr::V4(_) => format!("{ip}:{port}"),
                        });
                        ev.fd_dip = Some(ip);
                        ev.fd_dport = Some(port);
                    }
                    Endpoint::Unix(path) => {
                        ev.fd_typechar = Some("u".into());
                        ev.fd_name = Some(path);
                    }
                    Endpoint::Unreadable => {}
                }
                set_result(&mut ev, ret);
                Some(ev)
            }
            Record::Call { header, call, data } => self.ingest_call(&header, &call, &data, store),
            Record::Path {
                header,
                call,
                path,
                path2,
                short,
                base,
            } => self.ingest_path(&header, &call, path, path2, short, &base),
            Record::Sock {
                header,
                call,
                endpoint,
            } => self.ingest_sock(&header, &call, endpoint),
        }
    }

    /// Forgets untagged processes that no longer exist (the kernel reports exits of
    /// tagged processes only).
    pub fn prune(&mut self) {
        let gone: Vec<u32> = self
            .table
            .pids()
            .filter(|pid| {
                self.table.get(*pid).is_some_and(|p| p.server_id == 0)
                    && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            })
            .collect();
        for pid in gone {
            self.table.remove(pid);
        }
    }

    fn record_exec(&mut self, header: &Header, filename: &str, argv: Vec<String>) {
        let exepath = if filename.starts_with('/') {
            filename.to_owned()
        } else {
            std::fs::read_link(format!("/proc/{}/exe", header.tgid))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| filename.to_owned())
        };
        let previous = self.table.get(header.tgid).cloned().unwrap_or_default();
        self.table.upsert(ProcInfo {
            pid: header.tgid,
            ppid: if header.ppid != 0 {
                header.ppid
            } else {
                previous.ppid
            },
            comm: header.comm.clone(),
            exepath,
            argv,
            cwd: scan::cwd(header.tgid).unwrap_or(previous.cwd),
            uid: header.uid,
            gid: header.gid,
            start_time: previous.start_time,
            server_id: header.server_id,
            container_id: cgroups::container_of(&cgroups::cgroup_paths(header.tgid)),
        });
        if header.server_id != 0 {
            self.learn_roots(header.server_id, header.tgid);
        }
    }

    /// A server's roots come from the first command line in its tree that names them.
    fn learn_roots(&mut self, server_id: u32, pid: u32) {
        let Some((argv, cwd)) = self.table.get(pid).map(|p| (&p.argv, &p.cwd)) else {
            return;
        };
        if let Some(server) = self.servers.get_mut(server_id)
            && server.roots.is_empty()
            && self
                .policies
                .get(&server.name)
                .is_none_or(|p| p.roots.is_empty())
        {
            server.roots = paths::real_dirs(roots_from_argv(argv), cwd);
        }
    }

    /// Tags an exec'd process that is recognised as an MCP server: by a host
    /// config or a pattern, or as a candidate when a known AI host started it
    /// with stdio pipes. A candidate that a host config then names (after an
    /// exec of `sh -c`, `npx`, …) is tagged again under the configured name.
    /// Returns the process's server id after the exec, 0 for none.
    fn tag_on_exec(&mut self, header: &Header, store: &mut impl TagStore) -> u32 {
        if header.tgid == std::process::id() {
            return header.server_id;
        }
        let current = self.servers.get(header.server_id).map(|s| s.source);
        let Some(info) = self.table.get(header.tgid) else {
            return header.server_id;
        };
        if current.is_some() && cgroups::ContainerLaunches::is_launch(&info.argv) {
            self.containers.launched(header.server_id);
        }
        if current.is_none()
            && let Some(container) = info.container_id.clone()
            && let Some(owner) = self.containers.owner(&container)
        {
            return match self.join(store, header.tgid, owner) {
                Ok(()) => owner,
                Err(e) => {
                    log::debug!(
                        "pid {} in container {container} not tagged: {e}",
                        header.tgid
                    );
                    0
                }
            };
        }
        let recognised = match current {
            None => self.recogniser.recognise(info.pid, &info.argv).or_else(|| {
                let parent = self.table.get(info.ppid)?;
                let host = hosts::host_of(parent)?;
                hosts::looks_like_stdio_server(info).then(|| recognise::Recognised {
                    name: hosts::candidate_name(info),
                    host: Some(host.to_owned()),
                    source: TagSource::HostChild,
                })
            }),
            Some(TagSource::HostChild) => self
                .recogniser
                .recognise(info.pid, &info.argv)
                .filter(|r| r.source == TagSource::Config),
            Some(_) => None,
        };
        let Some(r) = recognised else {
            return header.server_id;
        };
        let req = TagRequest {
            pid: header.tgid,
            name: r.name,
            host: r.host,
            source: r.source,
        };
        let result = if current.is_some() {
            self.apply_tag(store, &req)
        } else {
            self.tag(store, &req)
        };
        match result {
            Ok(id) => id,
            Err(e) => {
                log::debug!("pid {} recognised but not tagged: {e}", header.tgid);
                header.server_id
            }
        }
    }

    /// The table entry for the record's process, read from procfs if unknown.
    fn proc_info(&mut self, header: &Header) -> &ProcInfo {
        if self.table.get(header.tgid).is_none() {
            let info = scan::read_process(header.tgid).unwrap_or_else(|| ProcInfo {
                pid: header.tgid,
                ppid: header.ppid,
                comm: header.comm.clone(),
                uid: header.uid,
                gid: header.gid,
                ..Default::default()
            });
            self.table.upsert(ProcInfo {
                server_id: header.server_id,
                ..info
            });
        }
        let p = self.table.get_mut(header.tgid).expect("inserted above");
        if header.ppid != 0 {
            p.ppid = header.ppid;
        }
        // A process can rename itself (npx becomes "npm exec …"): keep the
        // name the kernel reports now, as proc.name and its children's pname.
        if !header.comm.is_empty() && p.comm != header.comm {
            p.comm.clone_from(&header.comm);
        }
        p.server_id = header.server_id;
        p
    }

    /// The fields every event of a tagged process carries; `None` if untagged.
    fn base_event(&mut self, header: &Header, evt_type: &str, category: &str) -> Option<Event> {
        if header.server_id == 0 {
            return None;
        }
        self.lifecycle.event(header.server_id);
        let p = self.proc_info(header).clone();
        let ancestors = self.table.ancestors(header.tgid);
        let server = self.servers.get(header.server_id);
        let cmdline = std::iter::once(header.comm.as_str())
            .chain(p.argv.iter().skip(1).map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        Some(Event {
            evt_type: evt_type.into(),
            category: category.into(),
            time_ns: self.clock.epoch_ns(header.ktime_ns),
            pid: header.tgid,
            tid: header.tid,
            ppid: p.ppid,
            name: header.comm.clone(),
            exepath: p.exepath.clone(),
            cmdline,
            args: p.argv.iter().skip(1).cloned().collect::<Vec<_>>().join(" "),
            argv: p.argv.clone(),
            cwd: p.cwd.clone(),
            pname: ancestors
                .first()
                .map(|a| a.comm.clone())
                .unwrap_or_default(),
            anames: ancestors.iter().map(|a| a.comm.clone()).collect(),
            apids: ancestors.iter().map(|a| a.pid).collect(),
            uid: header.uid,
            user_name: self.users.name(header.uid),
            gid: header.gid,
            mcp_server: Some(
                server.map_or_else(|| format!("#{}", header.server_id), |s| s.name.clone()),
            ),
            mcp_host: server.and_then(|s| s.host.clone()),
            mcp_tag_source: server.map(|s| source_name(s.source).to_owned()),
            mcp_root_pid: Some(header.root_tgid),
            mcp_roots: server.map(|s| s.roots.clone()).unwrap_or_default(),
            mcp_destinations: server.map(|s| s.destinations.clone()).unwrap_or_default(),
            container_id: p.container_id.clone(),
            ..Default::default()
        })
    }
}

fn set_result(ev: &mut Event, ret: i64) {
    ev.res = Some(result_name(ret));
    ev.rawres = Some(ret);
}

/// Every process below `pid` right now, from `/proc/PID/task/TID/children`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let path = task.path().join("children");
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            for child in text
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                if child != pid && !out.contains(&child) && out.len() < 100_000 {
                    out.push(child);
                    queue.push(child);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use monitor_common::EventHeader;

    use super::*;
    use crate::decode::KernelPath;

    #[test]
    fn tagging_a_real_tree_and_refusing_a_second_tag() {
        // A real parent with a real child: `sh -c 'sleep 30 & wait'`.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let pid = child.id();
        // Wait until the sleep exists.
        let mut kids = Vec::new();
        for _ in 0..100 {
            kids = descendants(pid);
            if !kids.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let mut store: HashMap<u32, Tag> = HashMap::new();
        let mut tracker = Tracker::new(
            ProcessTable::default(),
            Recogniser::patterns_only(patterns::PatternSet::new(true, [])),
        );
        let req = TagRequest {
            pid,
            name: "t".into(),
            host: Some("test-host".into()),
            source: TagSource::Pid,
        };
        let id = tracker.tag(&mut store, &req).unwrap();
        assert_eq!(store.get(&pid).unwrap().server_id, id);
        assert!(!kids.is_empty());
        for k in &kids {
            assert_eq!(store.get(k).unwrap().root_tgid, pid);
        }
        assert_eq!(
            tracker.tag(&mut store, &req),
            Err(TagError::AlreadyTagged("t".into()))
        );
        let _ = child.kill();
        let _ = child.wait();
        for k in kids {
            // SAFETY: killing the sleep this test started.
            unsafe { libc::kill(k as i32, libc::SIGKILL) };
        }
        assert_eq!(
            tracker.tag(
                &mut store,
                &TagRequest {
                    pid: u32::MAX - 1,
                    ..req
                }
            ),
            Err(TagError::NoSuchProcess(u32::MAX - 1))
        );
    }

    fn header(tgid: u32, server_id: u32) -> Header {
        Header {
            kernel: EventHeader {
                ktime_ns: 1,
                tgid,
                tid: tgid,
                ppid: 1,
                server_id,
                root_tgid: tgid,
                ..Default::default()
            },
            comm: "node".into(),
        }
    }

    #[test]
    fn untagged_records_give_no_event_and_tagged_ones_are_enriched() {
        let mut store: HashMap<u32, Tag> = HashMap::new();
        let mut tracker = Tracker::new(
            ProcessTable::default(),
            Recogniser::patterns_only(patterns::PatternSet::new(false, [])),
        );
        let me = std::process::id();
        let open = |server_id| Record::Open {
            header: header(me, server_id),
            syscall: OpenSyscall::OpenAt,
            dirfd: -100,
            flags: libc::O_RDONLY as u64,
            mode: 0,
            ret: -2,
            path: "sub/../file.txt".into(),
            resolved: KernelPath::None,
        };
        assert!(tracker.ingest(open(0), &mut store).is_none());
        let id = tracker.servers.add("fs", None, TagSource::Wrapper, me);
        let ev = tracker.ingest(open(id), &mut store).unwrap();
        assert_eq!(ev.evt_type, "openat");
        assert_eq!(ev.mcp_server.as_deref(), Some("fs"));
        assert_eq!(ev.mcp_tag_source.as_deref(), Some("wrapper"));
        assert_eq!(ev.res.as_deref(), Some("ENOENT"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            ev.fd_name.as_deref(),
            Some(cwd.join("file.txt").to_str().unwrap())
        );
        assert_eq!(ev.fd_name_source.as_deref(), Some("proc-cwd"));
        assert_eq!(ev.is_open_read, Some(true));
        assert_eq!(ev.is_open_write, Some(false));
        assert_eq!(ev.arg_path.as_deref(), Some("sub/../file.txt"));
    }
    #[test]
    fn a_script_written_then_run_and_a_discovery_burst_are_noted_on_the_exec() {
        let mut store: HashMap<u32, Tag> = HashMap::new();
        let mut tracker = Tracker::new(
            ProcessTable::default(),
            Recogniser::patterns_only(patterns::PatternSet::new(false, [])),
        );
        tracker
            .activity
            .set_discovery_commands(["id", "uname", "hostname"].map(String::from));
        let me = std::process::id();
        let id = tracker.servers.add("fs", None, TagSource::Wrapper, me);
        let dir = std::env::temp_dir().join(format!("mcpmon-activity-{me}"));
        let script = dir.join("fresh.sh");
        let script = script.to_str().unwrap();
        let write = Record::Open {
            header: header(me, id),
            syscall: OpenSyscall::OpenAt,
            dirfd: -100,
            flags: (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64,
            mode: 0o644,
            ret: 3,
            path: script.into(),
            resolved: KernelPath::None,
        };
        let ev = tracker.ingest(write, &mut store).unwrap();
        assert_eq!(ev.is_open_write, Some(true));
        let exec = |tracker: &mut Tracker, comm: &str, argv: &[&str]| {
            let mut h = header(me, id);
            h.comm = comm.into();
            let record = Record::Exec {
                header: h,
                filename: format!("/usr/bin/{comm}"),
                argv: argv.iter().map(|a| a.to_string()).collect(),
                loader_env: Vec::new(),
            };
            let mut store: HashMap<u32, Tag> = HashMap::new();
            tracker.ingest(record, &mut store).unwrap()
        };
        let ev = exec(&mut tracker, "sh", &["sh", "-e", script]);
        assert_eq!(ev.script_written_by_server, Some(true));
        let ev = exec(&mut tracker, "sh", &["sh", "/etc/profile"]);
        assert_eq!(ev.script_written_by_server, Some(false));
        let ev = exec(&mut tracker, "sh", &["sh"]);
        assert_eq!(ev.script_written_by_server, None);
        assert_eq!(ev.recon_count, None);
        assert_eq!(exec(&mut tracker, "id", &["id"]).recon_count, Some(1));
        assert_eq!(exec(&mut tracker, "id", &["id", "-u"]).recon_count, Some(1));
        assert_eq!(exec(&mut tracker, "uname", &["uname"]).recon_count, Some(2));
        let ev = exec(&mut tracker, "hostname", &["hostname"]);
        assert_eq!(ev.recon_count, Some(3));
        assert_eq!(ev.recon_commands, ["hostname", "id", "uname"]);
        // Another server's burst is its own.
        let other = tracker.servers.add("other", None, TagSource::Wrapper, me);
        let mut h = header(me, other);
        h.comm = "uname".into();
        let ev = tracker
            .ingest(
                Record::Exec {
                    header: h,
                    filename: "/usr/bin/uname".into(),
                    argv: vec!["uname".into()],
                    loader_env: Vec::new(),
                },
                &mut store,
            )
            .unwrap();
        assert_eq!(ev.recon_count, Some(1));
    }
    #[test]
    fn the_writer_of_a_pipe_on_stdin_is_found_in_the_same_server() {
        use std::process::{Command, Stdio};
        let mut writer = Command::new("sleep")
            .arg("30")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = writer.stdout.take().unwrap();
        let mut reader = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::from(out))
            .spawn()
            .unwrap();
        let comm = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        for _ in 0..200 {
            if comm(writer.id()).trim() == "sleep" && comm(reader.id()).trim() == "sleep" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let mut tracker = Tracker::new(
            ProcessTable::default(),
            Recogniser::patterns_only(patterns::PatternSet::new(false, [])),
        );
        let me = std::process::id();
        let id = tracker.servers.add("fs", None, TagSource::Wrapper, me);
        for pid in [writer.id(), reader.id()] {
            tracker.table.upsert(ProcInfo {
                pid,
                server_id: id,
                ..Default::default()
            });
        }
        let inode = activity::pipe_of(reader.id(), 0).unwrap();
        assert_eq!(activity::pipe_of(writer.id(), 1), Some(inode));
        // Found in procfs, then from what its exec left.
        assert_eq!(
            tracker.stdin_writer(id, inode, reader.id()).as_deref(),
            Some("sleep")
        );
        assert_eq!(tracker.stdin_writer(id + 1, inode, reader.id()), None);
        tracker.activity.pipe_writer(
            id + 1,
            activity::PipeWriter {
                inode,
                pid: writer.id(),
                name: "curl".into(),
            },
            1,
        );
        assert_eq!(
            tracker.stdin_writer(id + 1, inode, reader.id()).as_deref(),
            Some("curl")
        );
        for c in [&mut writer, &mut reader] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
