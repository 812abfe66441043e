//! Enrichment of the generically paired syscalls (`Record::Call`, `Path`,
//! `Sock`) into [`Event`] fields: symbolic arguments, absolute paths, the
//! process a call acts on, and what a socket fd is.
use std::net::SocketAddr;

use monitor_common::{Syscall, flags};

use super::{TagStore, Tracker, procnet, procnet::FdInfo, set_result};
use crate::{
    decode::{Call, Endpoint, Header},
    event::Event,
    names, paths,
};

/// `AT_FDCWD`: paths of the calls without a dirfd are relative to the cwd.
const AT_FDCWD: i32 = -100;

/// `evt.category` of a syscall.
pub fn category(s: Syscall) -> &'static str {
    use Syscall::*;
    match s {
        Unlink | Unlinkat | Rename | Renameat | Renameat2 | Link | Linkat | Symlink | Symlinkat
        | Chmod | Fchmodat | Fchmodat2 | MemfdCreate | Dup | Dup2 | Dup3 => "file",
        Bind | Listen | Accept | Accept4 => "net",
        Kill | Tkill | Tgkill | IoUringSetup => "process",
        Mount | Umount2 | Unshare | Setns | PivotRoot | Chroot | Ptrace | ProcessVmReadv
        | ProcessVmWritev | InitModule | FinitModule | Bpf | Setuid | Setgid | Setreuid
        | Setregid | Setresuid | Setresgid | Capset => "security",
    }
}

/// An id argument as given: `(uid_t)-1` ("unchanged") is -1, others are
/// unsigned.
fn id(v: u64) -> i64 {
    match v as u32 {
        u32::MAX => -1,
        n => n.into(),
    }
}

/// `ip:port`, `[ip6]:port`.
fn addr_name(a: SocketAddr) -> String {
    a.to_string()
}

impl Tracker {
    /// Makes a path argument absolute against `dirfd` (or the cwd), and says
    /// how (`fd.name_source`); an unreadable one stays raw.
    fn absolute(
        pid: u32,
        dirfd: i32,
        raw: &str,
        readable: bool,
        cwd: &str,
    ) -> (String, &'static str) {
        if !readable {
            return (raw.to_owned(), "raw");
        }
        paths::resolve(pid, dirfd, raw, cwd)
    }

    pub(super) fn ingest_path(
        &mut self,
        header: &Header,
        call: &Call,
        path: String,
        path2: String,
        short: String,
    ) -> Option<Event> {
        use Syscall::*;
        let mut ev = self.base_event(header, call.syscall.name(), category(call.syscall))?;
        set_result(&mut ev, call.ret);
        ev.truncated = header.flags & (flags::PATH_TRUNCATED | flags::PATH2_TRUNCATED) != 0;
        let ok1 = header.flags & flags::PATH_UNREADABLE == 0;
        let ok2 = header.flags & flags::PATH2_UNREADABLE == 0;
        let pid = header.tgid;
        let a = call.args;
        let fd = |n: usize| call.int(n);
        // The dirfds of the first and the second path, where the call has them.
        let (dir1, dir2) = match call.syscall {
            Unlinkat | Fchmodat | Fchmodat2 => (fd(0), AT_FDCWD),
            Renameat | Renameat2 | Linkat => (fd(0), fd(2)),
            Symlinkat => (AT_FDCWD, fd(1)),
            _ => (AT_FDCWD, AT_FDCWD),
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
                let (target, how) = Self::absolute(pid, dir2, &path2, ok2, &ev.cwd);
                ev.fs_path_source = Some(if matches!(call.syscall, Symlink | Symlinkat) {
                    // What a symlink points to is resolved when it is
                    // followed, relative to the link: it stays as given.
                    path.clone()
                } else {
                    Self::absolute(pid, dir1, &path, ok1, &ev.cwd).0
                });
                ev.fs_path_target = Some(target.clone());
                ev.fd_name = Some(target);
                ev.fd_name_source = Some(how.into());
            }
            Mount => {
                // mount(source, target, fstype, flags, data): the target is the path.
                let (dir, how) = Self::absolute(pid, AT_FDCWD, &path2, ok2, &ev.cwd);
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
            _ => {
                let (name, how) = Self::absolute(pid, dir1, &path, ok1, &ev.cwd);
                ev.fs_path_name = Some(name.clone());
                ev.fd_name = Some(name);
                ev.fd_name_source = Some(how.into());
            }
        }
        ev.arg_path = Some(path);
        if category(call.syscall) == "file" {
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
            Chmod => ev.arg_mode = Some(a[1]),
            Fchmodat | Fchmodat2 => ev.arg_mode = Some(a[2]),
            _ => {}
        }
        Some(ev)
    }

    pub(super) fn ingest_call(
        &mut self,
        header: &Header,
        call: &Call,
        data: &[u8],
        store: &impl TagStore,
    ) -> Option<Event> {
        use Syscall::*;
        let mut ev = self.base_event(header, call.syscall.name(), category(call.syscall))?;
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
                    self.set_target(&mut ev, header, call.int(1).into(), store);
                }
            }
            ProcessVmReadv | ProcessVmWritev => {
                self.set_target(&mut ev, header, call.int(0).into(), store);
                ev.rawarg_flags = Some(a[5]);
            }
            InitModule => ev.arg_len = Some(a[1]),
            FinitModule => {
                ev.arg_fd = Some(call.int(0).into());
                ev.fd_name = crate::procs::scan::fd_path(pid, call.int(0));
                set_flags(&mut ev, a[2], names::MODULE_INIT_FLAGS);
            }
            Bpf => ev.arg_cmd = Some(names::value(a[0] as u32 as u64, names::BPF_COMMANDS)),
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
                let info = self.fd_info(pid, fd);
                if let Some(info) = info {
                    apply_fd(&mut ev, &info, Side::Local);
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
                self.set_target(&mut ev, header, target, store);
                // tkill names a thread: the argument stays what was given.
                ev.arg_pid = Some(call.int(0).into());
            }
            _ => {}
        }
        Some(ev)
    }

    pub(super) fn ingest_sock(
        &mut self,
        header: &Header,
        call: &Call,
        endpoint: Option<Endpoint>,
    ) -> Option<Event> {
        let mut ev = self.base_event(header, call.syscall.name(), category(call.syscall))?;
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
            let known = match (info, unix) {
                // Port 0 asks for any port: the one given is in procfs.
                (Some(a), _) if a.port() == 0 && call.ret == 0 => procnet::fd_info(pid, fd)
                    .filter(|i| i.local.is_some_and(|l| l.port() != 0))
                    .or(Some(FdInfo::inet(Some(a), None))),
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
            ev.fd_name = Some(addr_name(peer));
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
    fn set_target(&mut self, ev: &mut Event, header: &Header, pid: i64, store: &impl TagStore) {
        ev.arg_pid = Some(pid);
        if pid <= 0 || pid > u32::MAX as i64 {
            return;
        }
        let pid = pid as u32;
        ev.target_pid = Some(pid);
        let known = self
            .table
            .get(pid)
            .or_else(|| self.table.recently_gone(pid))
            .cloned()
            .or_else(|| super::scan::read_process(pid));
        let Some(info) = known else {
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
            self.servers
                .get(server)
                .map_or_else(|| format!("#{server}"), |s| s.name.clone())
        });
        ev.target_in_tree = Some(server != 0 && server == header.server_id);
    }
}

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
    ev.fd_name = shown.map(addr_name).or_else(|| info.path.clone());
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
    use super::*;

    #[test]
    fn categories_and_ids() {
        assert_eq!(category(Syscall::Mount), "security");
        assert_eq!(category(Syscall::Renameat2), "file");
        assert_eq!(category(Syscall::Accept4), "net");
        assert_eq!(category(Syscall::Kill), "process");
        assert_eq!(id(u32::MAX as u64), -1);
        assert_eq!(id(u64::MAX), -1);
        assert_eq!(id(1000), 1000);
        assert_eq!(
            thread_group(std::process::id() as i32),
            std::process::id() as i64
        );
        assert_eq!(thread_group(-3), -3);
    }
}
