//! Enrichment: a kernel record of a tagged process becomes an [`Event`] with
//! what rules read of it — the process (command line, cwd, ancestors, user),
//! its server (name, host, roots, policy), the record's own arguments made
//! readable (absolute paths, flags by name, addresses), and what depends on
//! the server's recent activity. The tracker updates the process table and
//! the tags first; enrichment only reads them, and keeps the state of its own:
//! the socket fds seen, the server's activity, user names.
mod shared;
mod syscalls;

use monitor_common::{
    OpenSyscall,
    enforce::{action, enforced_parts},
    flags,
};

use super::{
    activity,
    clock::Clock,
    servers::{Servers, source_name},
    sockets,
    table::ProcessTable,
    tag_store::TagStore,
    users,
};
use crate::{
    decode::{Endpoint, Header, Record},
    event::{Event, open_flags_to_string, result_name},
    names, paths,
};

/// What enrichment reads of the tracker's state: the process table and the
/// servers, both brought up to date with the record first.
pub struct Context<'a> {
    pub table: &'a ProcessTable,
    pub servers: &'a Servers,
}

/// Turns records of tagged processes into events.
pub struct Enricher {
    clock: Clock,
    /// What the socket fds of tagged processes are.
    sockets: sockets::SocketMemory,
    /// Daemons that ran before this one on the same kernel state (a signal
    /// recorded while none ran may be aimed at them).
    monitor_pids: Vec<u32>,
    /// `user.name` by uid.
    users: users::UserNames,
    /// The command lines and ancestors each process's events share.
    shared: shared::SharedByProcess,
    /// What each server did lately: files written, discovery commands run,
    /// pipes written.
    pub activity: activity::Activity,
}

impl Default for Enricher {
    fn default() -> Self {
        Enricher {
            clock: Clock::now(),
            sockets: sockets::SocketMemory::default(),
            monitor_pids: Vec::new(),
            users: users::UserNames::default(),
            shared: shared::SharedByProcess::default(),
            activity: activity::Activity::default(),
        }
    }
}

impl Enricher {
    /// The clock kernel stamps are converted with.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Says which gone processes were earlier daemons of this monitor.
    pub fn set_previous_daemons(&mut self, pids: Vec<u32>) {
        self.monitor_pids = pids;
    }

    /// A child inherits its parent's socket fds.
    pub fn process_forked(&mut self, parent: u32, child: u32) {
        self.sockets.inherit(parent, child);
    }

    /// Forgets what was known of an exited process.
    pub fn process_exited(&mut self, pid: u32) {
        self.sockets.forget_process(pid);
        self.shared.forget(pid);
    }

    /// Forgets what it keeps of processes the table no longer has.
    pub fn table_pruned(&mut self, table: &ProcessTable) {
        self.shared.retain_known(table);
    }

    /// The event of a record of a tagged process, `None` for an untagged one.
    /// The tracker has already brought the table and the tags up to date.
    pub fn event(&mut self, ctx: &Context, record: Record, store: &impl TagStore) -> Option<Event> {
        match record {
            Record::Fork { header, child_tgid } => {
                let mut ev = self.base_event(ctx, &header, "clone", "process")?;
                ev.child_pid = Some(child_tgid);
                ev.res = Some(result_name(child_tgid as i64));
                ev.rawres = Some(child_tgid as i64);
                Some(ev)
            }
            Record::Exec {
                header, loader_env, ..
            } => {
                let mut ev = self.base_event(ctx, &header, "execve", "process")?;
                ev.env = crate::redact::text(&loader_env.join(" ")).into_owned();
                ev.truncated = header.flags & flags::ARGS_TRUNCATED != 0;
                ev.res = Some(result_name(0));
                ev.rawres = Some(0);
                Some(ev)
            }
            Record::Exit { header, exit_code } => {
                let mut ev = self.base_event(ctx, &header, "procexit", "process")?;
                ev.exit_status = Some(exit_code);
                Some(ev)
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
                let mut ev = self.base_event(ctx, &header, syscall.name(), "file")?;
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
                    if ret >= 0 && monitor_common::is_uring_open(mode as u8) {
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
                let mut ev = self.base_event(ctx, &header, "connect", "net")?;
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
            Record::Call { header, call, data } => {
                self.ingest_call(ctx, &header, &call, &data, store)
            }
            Record::Path {
                header,
                call,
                path,
                path2,
                short,
                base,
            } => self.ingest_path(ctx, &header, &call, (path, path2, short), &base),
            Record::Sock {
                header,
                call,
                endpoint,
            } => self.ingest_sock(ctx, &header, &call, endpoint),
        }
    }

    /// The fields every event of a tagged process carries; `None` if untagged.
    fn base_event(
        &mut self,
        ctx: &Context,
        header: &Header,
        evt_type: &str,
        category: &str,
    ) -> Option<Event> {
        if header.server_id == 0 {
            return None;
        }
        let p = ctx.table.get(header.tgid)?;
        let shared = self.shared.of(ctx.table, p, &header.comm);
        let server = ctx.servers.get(header.server_id);
        Some(Event {
            evt_type: evt_type.into(),
            category: category.into(),
            time_ns: self.clock.epoch_ns(header.ktime_ns),
            pid: header.tgid,
            tid: header.tid,
            ppid: p.ppid,
            name: header.comm.clone(),
            exepath: p.exepath.clone(),
            cmdline: shared.cmdline,
            args: shared.args,
            argv: p.argv.clone(),
            cwd: p.cwd.clone(),
            pname: shared.anames.first().cloned().unwrap_or_default(),
            anames: shared.anames,
            apids: shared.apids,
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
            enforced: enforced_parts(header.enforced).map(|(a, _)| {
                if a == action::DENY {
                    "denied"
                } else {
                    "killed"
                }
                .to_owned()
            }),
            enforced_slot: enforced_parts(header.enforced).map(|(_, slot)| slot),
            ..Default::default()
        })
    }

    /// Remembers what the event tells of its server's activity, and sets the
    /// fields that depend on what came before: files written (for
    /// `proc.script_written_by_server`), discovery commands (`mcp.recon.*`),
    /// and pipes (`proc.stdin_writer`).
    pub fn note_activity(&mut self, table: &ProcessTable, ev: &mut Event) {
        let Some(id) = table.get(ev.pid).map(|p| p.server_id).filter(|&id| id != 0) else {
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
                    ev.stdin_writer = self.stdin_writer(table, id, inode, ev.pid);
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
    pub(super) fn stdin_writer(
        &self,
        table: &ProcessTable,
        id: u32,
        inode: u64,
        reader: u32,
    ) -> Option<String> {
        if let Some(w) = self.activity.writer_of(id, inode, reader) {
            return Some(w.name.clone());
        }
        table
            .pids()
            .filter(|&pid| pid != reader)
            .filter(|&pid| table.get(pid).is_some_and(|p| p.server_id == id))
            .take(256)
            .find(|&pid| activity::pipe_of(pid, 1) == Some(inode))
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
            .map(|comm| comm.trim_end().to_owned())
    }
}

fn set_result(ev: &mut Event, ret: i64) {
    ev.res = Some(result_name(ret));
    ev.rawres = Some(ret);
}
