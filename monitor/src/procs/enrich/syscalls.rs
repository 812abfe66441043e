//! Enrichment of the generically paired syscalls (`Record::Call`, `Path`,
//! `Sock`) into [`Event`] fields: symbolic arguments, absolute paths, the
//! process a call acts on, and what a socket fd is.
use std::net::SocketAddr;

use monitor_common::{AT_CWD, AT_FDCWD, NO_ARG, Syscall, flags};

use super::{Context, Enricher, set_result};
use crate::procs::{procnet, procnet::FdInfo, tag_store::TagStore};
use crate::{
    decode::{Call, Endpoint, Header, KernelBase, KernelPath},
    event::Event,
    names, paths,
};

/// An id argument as given: `(uid_t)-1` ("unchanged") is -1, others are
/// unsigned.
fn id(v: u64) -> i64 {
    match v as u32 {
        u32::MAX => -1,
        n => n.into(),
    }
}

/// The dirfd a path of the call is relative to (`AT_FDCWD` for the cwd);
/// `None` for a path not looked up from a directory (a symlink's target).
fn dirfd_of(call: &Call, which: usize) -> Option<i32> {
    match call.syscall.dirfds()[which] {
        NO_ARG => None,
        AT_CWD => Some(AT_FDCWD),
        n => Some(call.int(n as usize)),
    }
}

/// Makes path `which` (0 or 1) of the call absolute, and says how
/// (`fd.name_source`): against the directory the kernel resolved at the call
/// when it is this path's (or another path's with the same dirfd), else as
/// opens are (procfs, later); an unreadable path stays raw.
fn absolute(
    pid: u32,
    call: &Call,
    which: usize,
    raw: &str,
    readable: bool,
    cwd: &str,
    base: &KernelBase,
) -> (String, &'static str) {
    if !readable {
        return (raw.to_owned(), "raw");
    }
    let dirfd = dirfd_of(call, which).unwrap_or(AT_FDCWD);
    let base_dirfd = dirfd_of(call, usize::from(base.of_path2));
    let kernel = if base_dirfd == Some(dirfd) {
        base.dir.clone()
    } else {
        KernelPath::None
    };
    paths::open_name(pid, dirfd, raw, cwd, kernel)
}

impl Enricher {
    pub(super) fn ingest_path(
        &mut self,
        ctx: &Context,
        header: &Header,
        call: &Call,
        // The record's two paths and its short string (a name, a type).
        (path, path2, short): (String, String, String),
        base: &KernelBase,
    ) -> Option<Event> {
        use Syscall::*;
        let mut ev = self.base_event(ctx, header, call.syscall.name(), call.syscall.category())?;
        set_result(&mut ev, call.ret);
        ev.truncated = header.flags & (flags::PATH_TRUNCATED | flags::PATH2_TRUNCATED) != 0;
        let ok1 = header.flags & flags::PATH_UNREADABLE == 0;
        let ok2 = header.flags & flags::PATH2_UNREADABLE == 0;
        let pid = header.tgid;
        let a = call.args;
        let absolute = |which: usize, raw: &str, readable: bool, cwd: &str| {
            absolute(pid, call, which, raw, readable, cwd, base)
        };
        match call.syscall {
            MemfdCreate => {
                ev.arg_name = Some(short);
                ev.arg_flags = Some(names::flags(a[1], names::MFD_FLAGS));
                ev.rawarg_flags = Some(a[1]);
                if call.ret >= 0 {
                    ev.fd_num = Some(call.ret);
                    self.sockets.forget(pid, call.ret as i32);
                }
                return Some(ev);
            }
            Rename | Renameat | Renameat2 | Link | Linkat | Symlink | Symlinkat => {
                let (target, how) = absolute(1, &path2, ok2, &ev.cwd);
                ev.fs_path_source = Some(if matches!(call.syscall, Symlink | Symlinkat) {
                    // What a symlink points to is resolved when it is
                    // followed, relative to the link: it stays as given.
                    path.clone()
                } else {
                    absolute(0, &path, ok1, &ev.cwd).0
                });
                ev.fs_path_target = Some(target.clone());
                ev.fd_name = Some(target);
                ev.fd_name_source = Some(how.into());
            }
            Mount => {
                // mount(source, target, fstype, flags, data): the target is the path.
                let (dir, how) = absolute(1, &path2, ok2, &ev.cwd);
                // NULL source or fstype (remounts, propagation changes) stay absent.
                ev.arg_dev = ok1.then_some(path);
                ev.arg_dir = Some(path2);
                ev.arg_type = (header.flags & flags::SHORT_UNREADABLE == 0).then_some(short);
                ev.fs_path_name = Some(dir.clone());
                ev.fd_name = Some(dir);
                ev.fd_name_source = Some(how.into());
                ev.arg_flags = Some(names::mount_flags(a[3]));
                ev.rawarg_flags = Some(a[3]);
                return Some(ev);
            }
            Fchown | Fchmod | Ioctl => {
                // The fd's file, as the kernel resolved it at the call (else
                // procfs, if the process is still there).
                let fd = call.int(0);
                ev.arg_fd = Some(fd.into());
                ev.fd_num = Some(fd.into());
                let (name, how) = match &base.dir {
                    KernelPath::Base(file) => (Some(file.clone()), "fd"),
                    _ => (crate::procs::scan::fd_path(pid, fd), "proc-fd"),
                };
                if let Some(name) = name {
                    ev.fs_path_name = Some(name.clone());
                    ev.fd_name = Some(name);
                    ev.fd_name_source = Some(how.into());
                }
            }
            _ => {
                let (name, how) = absolute(0, &path, ok1, &ev.cwd);
                ev.fs_path_name = Some(name.clone());
                ev.fd_name = Some(name);
                ev.fd_name_source = Some(how.into());
            }
        }
        if !matches!(call.syscall, Fchown | Fchmod | Ioctl) {
            ev.arg_path = Some(path);
        }
        if call.syscall.category() == "file" {
            ev.fd_typechar = Some("f".into());
        }
        let flag_arg = match call.syscall {
            Unlinkat => Some((a[2], names::AT_FLAGS)),
            Linkat => Some((a[4], names::AT_FLAGS)),
            Fchmodat2 => Some((a[3], names::AT_FLAGS)),
            Renameat2 => Some((a[4], names::RENAME_FLAGS)),
            Umount2 => Some((a[1], names::UMOUNT_FLAGS)),
            _ => None,
        };
        if let Some((v, table)) = flag_arg {
            ev.arg_flags = Some(names::flags(v, table));
            ev.rawarg_flags = Some(v);
        }
        match call.syscall {
            Chmod | Fchmod => ev.arg_mode = Some(a[1]),
            Fchmodat | Fchmodat2 => ev.arg_mode = Some(a[2]),
            Ioctl => {
                ev.arg_cmd = Some(names::value(a[1] as u32 as u64, names::IOCTL_REQUESTS));
                ev.arg_flags = Some(names::flags(a[3], names::INODE_FLAGS));
                ev.rawarg_flags = Some(a[3]);
            }
            Chown | Lchown | Fchown => {
                ev.arg_uid = Some(id(a[1]));
                ev.arg_gid = Some(id(a[2]));
            }
            Fchownat => {
                ev.arg_uid = Some(id(a[2]));
                ev.arg_gid = Some(id(a[3]));
                ev.arg_flags = Some(names::flags(a[4], names::AT_FLAGS));
                ev.rawarg_flags = Some(a[4]);
            }
            _ => {}
        }
        Some(ev)
    }

    pub(super) fn ingest_call(
        &mut self,
        ctx: &Context,
        header: &Header,
        call: &Call,
        data: &[u8],
        store: &impl TagStore,
    ) -> Option<Event> {
        use Syscall::*;
        let mut ev = self.base_event(ctx, header, call.syscall.name(), call.syscall.category())?;
        set_result(&mut ev, call.ret);
        let pid = header.tgid;
        let a = call.args;
        let set_flags = |ev: &mut Event, v: u64, table: names::Table| {
            ev.arg_flags = Some(names::flags(v, table));
            ev.rawarg_flags = Some(v);
        };
        match call.syscall {
            Unshare => set_flags(&mut ev, a[0], names::CLONE_FLAGS),
            Setns => {
                ev.arg_fd = Some(call.int(0).into());
                ev.arg_nstype = Some(names::nstype(a[1] as u32 as u64));
                ev.fd_name = crate::procs::scan::fd_path(pid, call.int(0));
            }
            Ptrace => {
                let request = a[0] as u32 as u64;
                ev.arg_request = Some(names::value(request, names::PTRACE_REQUESTS));
                // PTRACE_TRACEME names no process.
                if request != 0 {
                    self.set_target(ctx, &mut ev, header, call.int(1).into(), store);
                }
            }
            ProcessVmReadv | ProcessVmWritev => {
                self.set_target(ctx, &mut ev, header, call.int(0).into(), store);
                ev.rawarg_flags = Some(a[5]);
            }
            InitModule => ev.arg_len = Some(a[1]),
            FinitModule => {
                ev.arg_fd = Some(call.int(0).into());
                ev.fd_name = crate::procs::scan::fd_path(pid, call.int(0));
                set_flags(&mut ev, a[2], names::MODULE_INIT_FLAGS);
            }
            Bpf => ev.arg_cmd = Some(names::value(a[0] as u32 as u64, names::BPF_COMMANDS)),
            Socket => {
                let domain = a[0] as u32 as u64;
                ev.arg_domain = Some(names::value(domain, names::SOCKET_DOMAINS));
                ev.arg_type = Some(names::socket_type(a[1] as u32 as u64));
                ev.arg_proto = Some(names::socket_protocol(domain, a[2] as u32 as u64));
                if call.ret >= 0 {
                    ev.fd_num = Some(call.ret);
                    self.sockets.forget(pid, call.ret as i32);
                }
            }
            Setuid => ev.arg_uid = Some(id(a[0])),
            Setgid => ev.arg_gid = Some(id(a[0])),
            Setreuid | Setresuid => {
                ev.arg_ruid = Some(id(a[0]));
                ev.arg_euid = Some(id(a[1]));
                if call.syscall == Setresuid {
                    ev.arg_suid = Some(id(a[2]));
                }
            }
            Setregid | Setresgid => {
                ev.arg_rgid = Some(id(a[0]));
                ev.arg_egid = Some(id(a[1]));
                if call.syscall == Setresgid {
                    ev.arg_sgid = Some(id(a[2]));
                }
            }
            Capset => {
                // Two __user_cap_data_struct {effective, permitted,
                // inheritable}: the low and the high 32 capabilities.
                let word = |i: usize| -> u64 {
                    data.get(i * 4..i * 4 + 4)
                        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]).into())
                };
                if data.len() >= 12 {
                    let set = |i: usize| names::capabilities(word(i) | word(i + 3) << 32);
                    ev.arg_cap_effective = Some(set(0));
                    ev.arg_cap_permitted = Some(set(1));
                    ev.arg_cap_inheritable = Some(set(2));
                }
            }
            Listen => {
                let fd = call.int(0);
                ev.arg_fd = Some(fd.into());
                ev.arg_backlog = Some(call.int(1).into());
                ev.fd_num = Some(fd.into());
                // A socket bound to port 0 (or never bound) got its port from
                // the kernel: procfs knows it.
                let remembered = self
                    .sockets
                    .get(pid, fd)
                    .filter(|i| i.typechar == "u" || i.local.is_some_and(|l| l.port() != 0))
                    .cloned();
                let info = remembered.or_else(|| procnet::fd_info(pid, fd));
                if let Some(info) = info {
                    apply_fd(&mut ev, &info, Side::Local);
                    if call.ret == 0 {
                        self.sockets.remember(pid, fd, info);
                    }
                }
            }
            Dup | Dup2 | Dup3 => {
                let oldfd = call.int(0);
                let newfd = if call.syscall == Dup {
                    call.ret
                } else {
                    call.int(1).into()
                };
                ev.arg_oldfd = Some(oldfd.into());
                ev.arg_newfd = Some(newfd);
                ev.fd_num = Some(oldfd.into());
                if call.syscall == Dup3 {
                    set_flags(&mut ev, a[2], names::DUP3_FLAGS);
                }
                if let Some(info) = self.fd_info(pid, oldfd) {
                    apply_fd(&mut ev, &info, Side::Peer);
                }
                if call.ret >= 0 {
                    self.sockets.duplicate(pid, oldfd, call.ret as i32);
                }
            }
            IoUringSetup => {
                ev.arg_entries = Some(a[0] as u32 as u64);
                if let Some(b) = data.get(8..12) {
                    let f = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as u64;
                    set_flags(&mut ev, f, names::IORING_SETUP_FLAGS);
                }
                if call.ret >= 0 {
                    ev.fd_num = Some(call.ret);
                    self.sockets.forget(pid, call.ret as i32);
                }
            }
            Kill | Tkill | Tgkill => {
                let (target, sig) = match call.syscall {
                    Tgkill => (call.int(0), a[2]),
                    _ => (call.int(0), a[1]),
                };
                let sig = sig as u32 as u64;
                ev.arg_sig = Some(names::signal(sig));
                ev.rawarg_sig = Some(sig as i64);
                let target = if call.syscall == Tkill {
                    thread_group(target)
                } else {
                    target.into()
                };
                self.set_target(ctx, &mut ev, header, target, store);
                // tkill names a thread: the argument stays what was given.
                ev.arg_pid = Some(call.int(0).into());
            }
            _ => {}
        }
        Some(ev)
    }

    pub(super) fn ingest_sock(
        &mut self,
        ctx: &Context,
        header: &Header,
        call: &Call,
        endpoint: Option<Endpoint>,
    ) -> Option<Event> {
        let mut ev = self.base_event(ctx, header, call.syscall.name(), call.syscall.category())?;
        set_result(&mut ev, call.ret);
        let pid = header.tgid;
        let fd = call.int(0);
        ev.arg_fd = Some(fd.into());
        let info = match endpoint {
            Some(Endpoint::Inet { ip, port }) => Some(SocketAddr::new(ip, port)),
            _ => None,
        };
        let unix = match &endpoint {
            Some(Endpoint::Unix(p)) => Some(p.clone()),
            _ => None,
        };
        if call.syscall == Syscall::Bind {
            ev.fd_num = Some(fd.into());
            // The address as asked for (port 0 for any port: listen finds
            // the one given).
            let known = match (info, unix) {
                (Some(a), _) => Some(FdInfo::inet(Some(a), None)),
                (None, Some(path)) => Some(FdInfo::unix(path)),
                _ => None,
            };
            if let Some(known) = known {
                apply_fd(&mut ev, &known, Side::Local);
                if call.ret == 0 {
                    self.sockets.remember(pid, fd, known);
                }
            }
            return Some(ev);
        }
        // accept, accept4: the new fd, its peer, and the local side from
        // procfs or else from the listening socket's bind.
        if call.syscall == Syscall::Accept4 {
            ev.arg_flags = Some(names::flags(call.args[3], names::SOCK_FLAGS));
            ev.rawarg_flags = Some(call.args[3]);
        }
        if call.ret < 0 {
            return Some(ev);
        }
        let newfd = call.ret as i32;
        ev.fd_num = Some(call.ret);
        let mut known = procnet::fd_info(pid, newfd)
            .filter(|i| i.typechar != "f")
            .or_else(|| self.sockets.get(pid, fd).cloned())
            .unwrap_or_default();
        if info.is_some() {
            known.peer = info;
        }
        if let Some(path) = unix {
            known = FdInfo::unix(path);
        }
        if known.typechar.is_empty() || known.typechar == "f" {
            known.typechar = match known.peer.or(known.local) {
                Some(a) if a.is_ipv6() => "6",
                Some(_) => "4",
                None => "u",
            };
        }
        apply_fd(&mut ev, &known, Side::Local);
        if let Some(peer) = known.peer {
            ev.fd_cip = Some(peer.ip());
            ev.fd_cport = Some(peer.port());
            ev.fd_name = Some(peer.to_string());
        }
        self.sockets.remember(pid, newfd, known);
        Some(ev)
    }

    /// What `fd` of `pid` is: remembered, else from procfs.
    fn fd_info(&self, pid: u32, fd: i32) -> Option<FdInfo> {
        self.sockets
            .get(pid, fd)
            .cloned()
            .or_else(|| procnet::fd_info(pid, fd))
    }

    /// Learns what a connect's fd is.
    pub(super) fn remember_connect(&mut self, pid: u32, fd: i32, endpoint: &Endpoint) {
        let info = match endpoint {
            Endpoint::Inet { ip, port } => FdInfo::inet(None, Some(SocketAddr::new(*ip, *port))),
            Endpoint::Unix(path) => FdInfo::unix(path.clone()),
            Endpoint::Unreadable => return,
        };
        self.sockets.remember(pid, fd, info);
    }

    /// The `target.*` fields for a pid argument: from the process table
    /// (or its recently exited entries), else procfs and the tag store.
    /// Negative and zero pids (process groups, everyone) name no one process.
    fn set_target(
        &mut self,
        ctx: &Context,
        ev: &mut Event,
        header: &Header,
        pid: i64,
        store: &impl TagStore,
    ) {
        ev.arg_pid = Some(pid);
        if pid <= 0 || pid > u32::MAX as i64 {
            return;
        }
        let pid = pid as u32;
        ev.target_pid = Some(pid);
        let known = ctx
            .table
            .get(pid)
            .or_else(|| ctx.table.recently_gone(pid))
            .cloned()
            .or_else(|| crate::procs::scan::read_process(pid));
        let Some(info) = known else {
            // A daemon that ran before this one (a signal recorded while no
            // daemon was running): gone, but known for what it was.
            if self.monitor_pids.contains(&pid) {
                ev.target_name = Some(MONITOR_NAME.to_owned());
                ev.target_in_tree = Some(false);
            }
            return;
        };
        let server = store
            .get(pid)
            .map(|t| t.server_id)
            .filter(|id| *id != 0)
            .unwrap_or(info.server_id);
        ev.target_name = Some(info.comm.clone()).filter(|c| !c.is_empty());
        ev.target_exepath = Some(info.exepath.clone()).filter(|e| !e.is_empty());
        ev.target_server = (server != 0).then(|| {
            ctx.servers
                .get(server)
                .map_or_else(|| format!("#{server}"), |s| s.name.clone())
        });
        ev.target_in_tree = Some(server != 0 && server == header.server_id);
    }
}

/// The name of a process of this monitor, as the rules know it.
const MONITOR_NAME: &str = "mcp-monitor";

/// Which address of a socket goes to `fd.sip`/`fd.dip` when only one is known.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// bind, listen, accept: the address is ours.
    Local,
    /// dup: show the peer when there is one.
    Peer,
}

/// Sets `fd.typechar`, `fd.name`, the addresses and `fd.l4proto` from `info`.
fn apply_fd(ev: &mut Event, info: &FdInfo, side: Side) {
    ev.fd_typechar = Some(info.typechar.into()).filter(|t: &String| !t.is_empty());
    if let Some(l) = info.local {
        ev.fd_sip = Some(l.ip());
        ev.fd_sport = Some(l.port());
    }
    if let Some(p) = info.peer {
        ev.fd_dip = Some(p.ip());
        ev.fd_dport = Some(p.port());
    }
    ev.fd_l4proto = info.l4proto.map(Into::into);
    let shown = match side {
        Side::Peer => info.peer.or(info.local),
        Side::Local => info.local.or(info.peer),
    };
    ev.fd_name = shown.map(|a| a.to_string()).or_else(|| info.path.clone());
}

/// The process a thread id belongs to (`Tgid:` of its status), or the id.
fn thread_group(tid: i32) -> i64 {
    if tid <= 0 {
        return tid.into();
    }
    std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(tid.into())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use monitor_common::{EventHeader, Tag, TagSource};

    use super::*;

    #[test]
    fn the_events_table_lists_every_syscall_in_its_category() {
        // docs/events.md's table of calls by evt.category follows the
        // syscall table: a new syscall, or a moved one, fails here.
        let doc = include_str!("../../../../docs/events.md");
        let mut listed: Vec<(String, String)> = Vec::new();
        for line in doc.lines() {
            let cols: Vec<&str> = line.split('|').map(str::trim).collect();
            if cols.len() < 4 || !cols[1].starts_with('`') || cols[1] == "`evt.category`" {
                continue;
            }
            let category = cols[1].trim_matches('`');
            // The first backticked word of each comma-separated item.
            for item in cols[2].split(", ") {
                if let Some(name) = item.split('`').nth(1) {
                    listed.push((category.to_owned(), name.to_owned()));
                }
            }
        }
        for s in Syscall::ALL {
            assert!(
                listed
                    .iter()
                    .any(|(c, n)| c == s.category() && n == s.name()),
                "docs/events.md does not list `{}` under `{}`",
                s.name(),
                s.category()
            );
        }
        for (c, n) in &listed {
            assert!(
                Syscall::ALL
                    .iter()
                    .any(|s| s.name() == n && s.category() == c),
                "docs/events.md lists `{n}` under `{c}`, which is not a reported call of that category"
            );
        }
    }
    use crate::{
        decode::Record,
        procs::{Tracker, patterns, recognise::Recogniser, table::ProcInfo, table::ProcessTable},
    };

    fn tracker() -> (Tracker, u32) {
        let mut t = Tracker::new(
            ProcessTable::default(),
            Recogniser::patterns_only(patterns::PatternSet::new(false, [])),
        );
        let id = t
            .tagger
            .servers
            .add("zoo", None, TagSource::Wrapper, std::process::id());
        (t, id)
    }

    fn header(server_id: u32) -> Header {
        let pid = std::process::id();
        Header {
            kernel: EventHeader {
                ktime_ns: 1,
                tgid: pid,
                tid: pid,
                ppid: 1,
                server_id,
                root_tgid: pid,
                ..Default::default()
            },
            comm: "zoo".into(),
        }
    }

    fn call(syscall: Syscall, args: [u64; 6], ret: i64) -> Call {
        Call { syscall, args, ret }
    }

    #[test]
    fn categories_and_ids() {
        assert_eq!(Syscall::Mount.category(), "security");
        assert_eq!(Syscall::Renameat2.category(), "file");
        assert_eq!(Syscall::Accept4.category(), "net");
        assert_eq!(Syscall::Kill.category(), "process");
        assert_eq!(id(u32::MAX as u64), -1);
        assert_eq!(id(u64::MAX), -1);
        assert_eq!(id(1000), 1000);
        let me = std::process::id();
        assert_eq!(thread_group(me as i32), me as i64);
        assert_eq!(thread_group(-3), -3);
    }

    #[test]
    fn paths_are_made_absolute_and_untagged_calls_give_nothing() {
        let (mut t, id) = tracker();
        let mut store: HashMap<u32, Tag> = HashMap::new();
        let cwd = std::env::current_dir().unwrap();
        let rename = |server| Record::Path {
            header: header(server),
            call: call(
                Syscall::Renameat2,
                [-100i64 as u64, 0, -100i64 as u64, 0, 1, 0],
                0,
            ),
            path: "a/../old".into(),
            path2: "/tmp//new".into(),
            short: String::new(),
            base: no_base(),
        };
        assert!(t.ingest(rename(0), &mut store).is_none());
        let ev = t.ingest(rename(id), &mut store).unwrap();
        assert_eq!(ev.evt_type, "renameat2");
        assert_eq!(ev.fs_path_source.as_deref(), cwd.join("old").to_str());
        assert_eq!(ev.fs_path_target.as_deref(), Some("/tmp/new"));
        assert_eq!(ev.fd_name.as_deref(), Some("/tmp/new"));
        assert_eq!(ev.fd_name_source.as_deref(), Some("absolute"));
        assert_eq!(ev.arg_flags.as_deref(), Some("RENAME_NOREPLACE"));
        assert_eq!(ev.arg_path.as_deref(), Some("a/../old"));

        let mut h = header(id);
        h.flags = flags::SHORT_UNREADABLE;
        let mount = Record::Path {
            header: h,
            call: call(
                Syscall::Mount,
                [0, 0, 0, 0xc0ed_0000 | 4096 | 16384, 0, 0],
                -1,
            ),
            path: "/src".into(),
            path2: "/mnt".into(),
            short: String::new(),
            base: no_base(),
        };
        let ev = t.ingest(mount, &mut store).unwrap();
        assert_eq!(ev.category, "security");
        assert_eq!(ev.res.as_deref(), Some("EPERM"));
        assert_eq!(ev.arg_flags.as_deref(), Some("MS_BIND|MS_REC"));
        assert_eq!(ev.fs_path_name.as_deref(), Some("/mnt"));
        assert_eq!(ev.arg_dev.as_deref(), Some("/src"));
        assert_eq!(ev.arg_type, None);
    }

    fn no_base() -> KernelBase {
        KernelBase {
            of_path2: false,
            dir: KernelPath::None,
        }
    }

    #[test]
    fn the_kernels_directory_serves_every_path_with_its_dirfd() {
        let (mut t, id) = tracker();
        let mut store: HashMap<u32, Tag> = HashMap::new();
        let base = |of_path2| KernelBase {
            of_path2,
            dir: KernelPath::Base("/srv/work".into()),
        };
        // renameat2(AT_FDCWD, "a/../old", AT_FDCWD, "new"): one cwd for both.
        let cwd_both = Record::Path {
            header: header(id),
            call: call(
                Syscall::Renameat2,
                [-100i64 as u64, 0, -100i64 as u64, 0, 0, 0],
                0,
            ),
            path: "a/../old".into(),
            path2: "new".into(),
            short: String::new(),
            base: base(true),
        };
        let ev = t.ingest(cwd_both, &mut store).unwrap();
        assert_eq!(ev.fs_path_source.as_deref(), Some("/srv/work/old"));
        assert_eq!(ev.fs_path_target.as_deref(), Some("/srv/work/new"));
        assert_eq!(ev.fd_name_source.as_deref(), Some("cwd"));
        // renameat(7, "old", AT_FDCWD, "new"), the kernel resolved fd 7: the
        // cwd-relative target is made absolute another way.
        let other_dirs = Record::Path {
            header: header(id),
            call: call(Syscall::Renameat, [7, 0, -100i64 as u64, 0, 0, 0], 0),
            path: "old".into(),
            path2: "new".into(),
            short: String::new(),
            base: base(false),
        };
        let ev = t.ingest(other_dirs, &mut store).unwrap();
        assert_eq!(ev.fs_path_source.as_deref(), Some("/srv/work/old"));
        assert_ne!(ev.fd_name_source.as_deref(), Some("cwd"));
        // unlinkat(3, "f"): the dirfd's directory.
        let unlink = Record::Path {
            header: header(id),
            call: call(Syscall::Unlinkat, [3, 0, 0, 0, 0, 0], 0),
            path: "f".into(),
            path2: String::new(),
            short: String::new(),
            base: base(false),
        };
        let ev = t.ingest(unlink, &mut store).unwrap();
        assert_eq!(ev.fd_name.as_deref(), Some("/srv/work/f"));
        assert_eq!(ev.fd_name_source.as_deref(), Some("dirfd"));
    }

    #[test]
    fn targets_in_and_out_of_the_tree() {
        let (mut t, id) = tracker();
        let other = t.tagger.servers.add("other", None, TagSource::Pid, 1);
        let mut store: HashMap<u32, Tag> = HashMap::new();
        // Near PID_MAX_LIMIT, where no real process is.
        let (mine, theirs, gone) = (4_194_300, 4_194_301, 4_194_302);
        for (pid, server) in [(mine, id), (theirs, other), (gone, id)] {
            t.table.upsert(ProcInfo {
                pid,
                comm: format!("p{pid}"),
                exepath: "/bin/x".into(),
                server_id: server,
                ..Default::default()
            });
        }
        t.table.remove(gone);
        let kill = |pid: u32, sig: u64| Record::Call {
            header: header(id),
            call: call(Syscall::Kill, [pid as u64, sig, 0, 0, 0, 0], 0),
            data: Vec::new(),
        };
        let ev = t.ingest(kill(mine, 15), &mut store).unwrap();
        assert_eq!(ev.arg_sig.as_deref(), Some("SIGTERM"));
        assert_eq!(ev.rawarg_sig, Some(15));
        assert_eq!(ev.target_pid, Some(mine));
        assert_eq!(ev.target_in_tree, Some(true));
        assert_eq!(ev.target_server.as_deref(), Some("zoo"));
        assert_eq!(ev.target_exepath.as_deref(), Some("/bin/x"));
        let ev = t.ingest(kill(theirs, 9), &mut store).unwrap();
        assert_eq!(ev.target_in_tree, Some(false));
        assert_eq!(ev.target_server.as_deref(), Some("other"));
        let ev = t.ingest(kill(gone, 9), &mut store).unwrap();
        assert_eq!(
            ev.target_in_tree,
            Some(true),
            "an exited target is remembered"
        );
        // kill(-1, …) and kill(0, …) name no single process.
        let ev = t.ingest(kill(u32::MAX, 9), &mut store).unwrap();
        assert_eq!((ev.arg_pid, ev.target_pid), (Some(-1), None));
        let ptrace = Record::Call {
            header: header(id),
            call: call(Syscall::Ptrace, [16, mine as u64, 0, 0, 0, 0], -1),
            data: Vec::new(),
        };
        let ev = t.ingest(ptrace, &mut store).unwrap();
        assert_eq!(ev.arg_request.as_deref(), Some("PTRACE_ATTACH"));
        assert_eq!(ev.target_name, Some(format!("p{mine}")));
    }

    #[test]
    fn credentials_and_capabilities() {
        let (mut t, id) = tracker();
        let mut store: HashMap<u32, Tag> = HashMap::new();
        let keep = u32::MAX as u64;
        let ev = t
            .ingest(
                Record::Call {
                    header: header(id),
                    call: call(Syscall::Setresuid, [keep, 1000, keep, 0, 0, 0], 0),
                    data: Vec::new(),
                },
                &mut store,
            )
            .unwrap();
        assert_eq!(
            (ev.arg_ruid, ev.arg_euid, ev.arg_suid),
            (Some(-1), Some(1000), Some(-1))
        );
        let mut data = Vec::new();
        // effective, permitted, inheritable of the low then the high word.
        for w in [1u32 << 21, 1 << 13 | 1 << 21, 0, 1 << 7, 0, 0] {
            data.extend_from_slice(&w.to_ne_bytes());
        }
        let ev = t
            .ingest(
                Record::Call {
                    header: header(id),
                    call: call(Syscall::Capset, [0; 6], 0),
                    data,
                },
                &mut store,
            )
            .unwrap();
        assert_eq!(
            ev.arg_cap_effective.as_deref(),
            Some("CAP_SYS_ADMIN|CAP_BPF")
        );
        assert_eq!(
            ev.arg_cap_permitted.as_deref(),
            Some("CAP_NET_RAW|CAP_SYS_ADMIN")
        );
        assert_eq!(ev.arg_cap_inheritable.as_deref(), Some(""));
    }

    #[test]
    fn sockets_are_remembered_from_bind_to_listen_and_dup() {
        let (mut t, id) = tracker();
        let mut store: HashMap<u32, Tag> = HashMap::new();
        let bind = Record::Sock {
            header: header(id),
            call: call(Syscall::Bind, [900, 0, 16, 0, 0, 0], 0),
            endpoint: Some(Endpoint::Inet {
                ip: "0.0.0.0".parse().unwrap(),
                port: 8080,
            }),
        };
        let ev = t.ingest(bind, &mut store).unwrap();
        assert_eq!(ev.fd_name.as_deref(), Some("0.0.0.0:8080"));
        assert_eq!(ev.fd_typechar.as_deref(), Some("4"));
        let listen = Record::Call {
            header: header(id),
            call: call(Syscall::Listen, [900, 5, 0, 0, 0, 0], 0),
            data: Vec::new(),
        };
        let ev = t.ingest(listen, &mut store).unwrap();
        assert_eq!(ev.fd_sport, Some(8080));
        assert_eq!(ev.arg_backlog, Some(5));
        let dup2 = |old: u64| Record::Call {
            header: header(id),
            call: call(Syscall::Dup2, [old, 1, 0, 0, 0, 0], 1),
            data: Vec::new(),
        };
        let ev = t.ingest(dup2(900), &mut store).unwrap();
        assert_eq!(
            (ev.arg_oldfd, ev.arg_newfd, ev.fd_num),
            (Some(900), Some(1), Some(900))
        );
        assert_eq!(ev.fd_typechar.as_deref(), Some("4"));
        assert_eq!(ev.fd_name.as_deref(), Some("0.0.0.0:8080"));
        // A bind to port 0: listen finds the port the kernel gave in procfs.
        let real = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let real_fd = std::os::fd::AsRawFd::as_raw_fd(&real) as u64;
        let bind0 = Record::Sock {
            header: header(id),
            call: call(Syscall::Bind, [real_fd, 0, 16, 0, 0, 0], 0),
            endpoint: Some(Endpoint::Inet {
                ip: "127.0.0.1".parse().unwrap(),
                port: 0,
            }),
        };
        assert_eq!(t.ingest(bind0, &mut store).unwrap().fd_sport, Some(0));
        let listen = Record::Call {
            header: header(id),
            call: call(Syscall::Listen, [real_fd, 5, 0, 0, 0, 0], 0),
            data: Vec::new(),
        };
        let ev = t.ingest(listen, &mut store).unwrap();
        assert_eq!(ev.fd_sport, Some(real.local_addr().unwrap().port()));
        assert_eq!(ev.fd_l4proto.as_deref(), Some("tcp"));
        // An accept without an address on an fd nobody knows: no panic, no peer.
        let accept = Record::Sock {
            header: header(id),
            call: call(Syscall::Accept, [77_777, 0, 0, 0, 0, 0], 77_778),
            endpoint: None,
        };
        let ev = t.ingest(accept, &mut store).unwrap();
        assert_eq!(ev.fd_num, Some(77_778));
        assert_eq!(ev.fd_cip, None);
        // The exit of the process forgets its fds.
        t.ingest(
            Record::Exit {
                header: header(id),
                exit_code: 0,
            },
            &mut store,
        );
        assert!(t.enricher.sockets.get(std::process::id(), 900).is_none());
    }
}
