//! The one event model. Kernel records are decoded into [`Event`]; everything
//! downstream (rules, outputs, tests) speaks `Event`.
//!
//! An event serialises as one flat JSON object whose keys are the field names
//! users write in rules (`evt.type`, `proc.pid`, `fd.name`, `mcp.server`, …), the
//! names Falco uses where the meaning is the same. Absent fields are left out.
//! `run --events` prints these objects, and `rules test` reads them back.
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One observed action of a process.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Event {
    /// Syscall-style name: `clone`, `execve`, `procexit`, `open`, `openat`,
    /// `openat2`, `creat`, `connect`, or the name of one of the syscalls of
    /// `monitor_common::Syscall` (`mount`, `ptrace`, `bind`, `dup2`, …).
    #[serde(rename = "evt.type")]
    pub evt_type: String,
    /// `process`, `file`, `net`, or `security` (mount, namespaces, ptrace,
    /// modules, bpf, credentials).
    #[serde(rename = "evt.category")]
    pub category: String,
    /// Nanoseconds since the Unix epoch.
    #[serde(rename = "evt.time")]
    pub time_ns: u64,
    /// `SUCCESS` or the errno name (`ENOENT`, `EINPROGRESS`, …).
    #[serde(rename = "evt.res", skip_serializing_if = "Option::is_none")]
    pub res: Option<String>,
    /// The raw return value: an fd, 0, or a negative errno.
    #[serde(rename = "evt.rawres", skip_serializing_if = "Option::is_none")]
    pub rawres: Option<i64>,
    /// Something was cut to fit the kernel record (path or arguments).
    #[serde(rename = "evt.truncated", skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// Flags by name, per syscall: `O_RDONLY|O_CLOEXEC`, `AT_REMOVEDIR`,
    /// `MS_BIND|MS_REC`, `CLONE_NEWNS`, `MFD_CLOEXEC`, …
    #[serde(rename = "evt.arg.flags", skip_serializing_if = "Option::is_none")]
    pub arg_flags: Option<String>,
    #[serde(rename = "evt.rawarg.flags", skip_serializing_if = "Option::is_none")]
    pub rawarg_flags: Option<u64>,
    #[serde(rename = "evt.arg.mode", skip_serializing_if = "Option::is_none")]
    pub arg_mode: Option<u64>,
    /// The path exactly as the process passed it.
    #[serde(rename = "evt.arg.path", skip_serializing_if = "Option::is_none")]
    pub arg_path: Option<String>,
    /// mount: the source (device, directory of a bind mount, or a name).
    #[serde(rename = "evt.arg.dev", skip_serializing_if = "Option::is_none")]
    pub arg_dev: Option<String>,
    /// mount: the target directory as passed.
    #[serde(rename = "evt.arg.dir", skip_serializing_if = "Option::is_none")]
    pub arg_dir: Option<String>,
    /// mount: the filesystem type.
    #[serde(rename = "evt.arg.type", skip_serializing_if = "Option::is_none")]
    pub arg_type: Option<String>,
    /// The fd argument (setns, finit_module, bind, listen, accept).
    #[serde(rename = "evt.arg.fd", skip_serializing_if = "Option::is_none")]
    pub arg_fd: Option<i64>,
    /// setns: the namespace type asked for, `CLONE_NEWNET`…, or `ANY`.
    #[serde(rename = "evt.arg.nstype", skip_serializing_if = "Option::is_none")]
    pub arg_nstype: Option<String>,
    /// socket: the domain, `AF_PACKET`…
    #[serde(rename = "evt.arg.domain", skip_serializing_if = "Option::is_none")]
    pub arg_domain: Option<String>,
    /// socket: the protocol, by name where the domain gives one.
    #[serde(rename = "evt.arg.proto", skip_serializing_if = "Option::is_none")]
    pub arg_proto: Option<String>,
    /// ptrace: the request, `PTRACE_ATTACH`…
    #[serde(rename = "evt.arg.request", skip_serializing_if = "Option::is_none")]
    pub arg_request: Option<String>,
    /// The pid argument (ptrace, process_vm_*, kill, tkill, tgkill).
    #[serde(rename = "evt.arg.pid", skip_serializing_if = "Option::is_none")]
    pub arg_pid: Option<i64>,
    /// The signal by name, `SIGKILL`.
    #[serde(rename = "evt.arg.sig", skip_serializing_if = "Option::is_none")]
    pub arg_sig: Option<String>,
    #[serde(rename = "evt.rawarg.sig", skip_serializing_if = "Option::is_none")]
    pub rawarg_sig: Option<i64>,
    /// init_module: bytes of the module image.
    #[serde(rename = "evt.arg.len", skip_serializing_if = "Option::is_none")]
    pub arg_len: Option<u64>,
    /// bpf: the command, `BPF_PROG_LOAD`…
    #[serde(rename = "evt.arg.cmd", skip_serializing_if = "Option::is_none")]
    pub arg_cmd: Option<String>,
    /// memfd_create: the memfd's name.
    #[serde(rename = "evt.arg.name", skip_serializing_if = "Option::is_none")]
    pub arg_name: Option<String>,
    /// setuid family: ids as given; -1 ("leave unchanged") stays -1.
    #[serde(rename = "evt.arg.uid", skip_serializing_if = "Option::is_none")]
    pub arg_uid: Option<i64>,
    #[serde(rename = "evt.arg.gid", skip_serializing_if = "Option::is_none")]
    pub arg_gid: Option<i64>,
    #[serde(rename = "evt.arg.ruid", skip_serializing_if = "Option::is_none")]
    pub arg_ruid: Option<i64>,
    #[serde(rename = "evt.arg.euid", skip_serializing_if = "Option::is_none")]
    pub arg_euid: Option<i64>,
    #[serde(rename = "evt.arg.suid", skip_serializing_if = "Option::is_none")]
    pub arg_suid: Option<i64>,
    #[serde(rename = "evt.arg.rgid", skip_serializing_if = "Option::is_none")]
    pub arg_rgid: Option<i64>,
    #[serde(rename = "evt.arg.egid", skip_serializing_if = "Option::is_none")]
    pub arg_egid: Option<i64>,
    #[serde(rename = "evt.arg.sgid", skip_serializing_if = "Option::is_none")]
    pub arg_sgid: Option<i64>,
    /// capset: capability sets by name, `CAP_NET_RAW|CAP_SYS_ADMIN`.
    #[serde(
        rename = "evt.arg.cap_effective",
        skip_serializing_if = "Option::is_none"
    )]
    pub arg_cap_effective: Option<String>,
    #[serde(
        rename = "evt.arg.cap_permitted",
        skip_serializing_if = "Option::is_none"
    )]
    pub arg_cap_permitted: Option<String>,
    #[serde(
        rename = "evt.arg.cap_inheritable",
        skip_serializing_if = "Option::is_none"
    )]
    pub arg_cap_inheritable: Option<String>,
    /// listen: the backlog.
    #[serde(rename = "evt.arg.backlog", skip_serializing_if = "Option::is_none")]
    pub arg_backlog: Option<i64>,
    /// dup family: the fd duplicated and the fd asked for (dup: the result).
    #[serde(rename = "evt.arg.oldfd", skip_serializing_if = "Option::is_none")]
    pub arg_oldfd: Option<i64>,
    #[serde(rename = "evt.arg.newfd", skip_serializing_if = "Option::is_none")]
    pub arg_newfd: Option<i64>,
    /// io_uring_setup: queue entries asked for.
    #[serde(rename = "evt.arg.entries", skip_serializing_if = "Option::is_none")]
    pub arg_entries: Option<u64>,
    #[serde(rename = "evt.is_open_read", skip_serializing_if = "Option::is_none")]
    pub is_open_read: Option<bool>,
    #[serde(rename = "evt.is_open_write", skip_serializing_if = "Option::is_none")]
    pub is_open_write: Option<bool>,

    /// Absolute path of a one-path call (unlink, chmod, mount target, …).
    #[serde(rename = "fs.path.name", skip_serializing_if = "Option::is_none")]
    pub fs_path_name: Option<String>,
    /// rename/link: the old path; symlink: what the link points to, as given.
    #[serde(rename = "fs.path.source", skip_serializing_if = "Option::is_none")]
    pub fs_path_source: Option<String>,
    /// rename/link: the new path; symlink: the link created.
    #[serde(rename = "fs.path.target", skip_serializing_if = "Option::is_none")]
    pub fs_path_target: Option<String>,

    /// The process a call acts on (ptrace, process_vm_*, kill family).
    #[serde(rename = "target.pid", skip_serializing_if = "Option::is_none")]
    pub target_pid: Option<u32>,
    #[serde(rename = "target.name", skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    #[serde(rename = "target.exepath", skip_serializing_if = "Option::is_none")]
    pub target_exepath: Option<String>,
    /// The MCP server the target belongs to; absent when it is untagged.
    #[serde(rename = "target.server", skip_serializing_if = "Option::is_none")]
    pub target_server: Option<String>,
    /// The target belongs to the caller's own server.
    #[serde(rename = "target.in_tree", skip_serializing_if = "Option::is_none")]
    pub target_in_tree: Option<bool>,

    #[serde(rename = "proc.pid")]
    pub pid: u32,
    #[serde(rename = "proc.tid")]
    pub tid: u32,
    #[serde(rename = "proc.ppid")]
    pub ppid: u32,
    /// The task's `comm`.
    #[serde(rename = "proc.name")]
    pub name: String,
    /// Absolute path of the executable.
    #[serde(rename = "proc.exepath", skip_serializing_if = "String::is_empty")]
    pub exepath: String,
    /// `proc.name` followed by the arguments, as Falco writes it.
    ///
    /// This and `proc.args`, `proc.argv`, `proc.aname` and `proc.apid` are
    /// shared (`Arc`): every event of a process carries the same ones, made
    /// once per process rather than copied into each event.
    #[serde(rename = "proc.cmdline", skip_serializing_if = "str::is_empty")]
    pub cmdline: Arc<str>,
    /// The arguments after argv\[0\], space-joined.
    #[serde(rename = "proc.args", skip_serializing_if = "str::is_empty")]
    pub args: Arc<str>,
    /// At exec: the dynamic loader's variables of the new environment
    /// (`LD_PRELOAD=…`), space-joined; nothing else of the environment is kept.
    #[serde(rename = "proc.env", skip_serializing_if = "String::is_empty")]
    pub env: String,
    /// The full argument vector, argv\[0\] included.
    #[serde(rename = "proc.argv", skip_serializing_if = "no_items")]
    pub argv: Arc<[String]>,
    #[serde(rename = "proc.cwd", skip_serializing_if = "String::is_empty")]
    pub cwd: String,
    /// execve: the script argument names a file the same server wrote lately.
    #[serde(
        rename = "proc.script_written_by_server",
        skip_serializing_if = "Option::is_none"
    )]
    pub script_written_by_server: Option<bool>,
    /// execve: the process of the same server writing the pipe on stdin.
    #[serde(rename = "proc.stdin_writer", skip_serializing_if = "Option::is_none")]
    pub stdin_writer: Option<String>,
    /// Name of the parent process.
    #[serde(rename = "proc.pname", skip_serializing_if = "String::is_empty")]
    pub pname: String,
    /// Names of the ancestors, parent first (`proc.aname[1]` is the parent).
    #[serde(rename = "proc.aname", skip_serializing_if = "no_items")]
    pub anames: Arc<[String]>,
    /// Pids of the ancestors, parent first.
    #[serde(rename = "proc.apid", skip_serializing_if = "no_items")]
    pub apids: Arc<[u32]>,
    #[serde(rename = "user.uid")]
    pub uid: u32,
    #[serde(rename = "user.name", skip_serializing_if = "String::is_empty")]
    pub user_name: String,
    #[serde(rename = "group.gid")]
    pub gid: u32,

    /// For files the absolute path (the target of a rename, link or symlink);
    /// for sockets `ip:port` (the peer of a connect, the local address of a
    /// bind or listen) or the unix path.
    #[serde(rename = "fd.name", skip_serializing_if = "Option::is_none")]
    pub fd_name: Option<String>,
    /// How `fd.name` was obtained: `absolute` (the argument was absolute),
    /// `cwd` (joined with the process's cwd), `dirfd` (joined with the directory
    /// of the dirfd), or `raw` (only the argument, could not be made absolute).
    #[serde(rename = "fd.name_source", skip_serializing_if = "Option::is_none")]
    pub fd_name_source: Option<String>,
    /// The fd number (the result of an open, the socket of a connect).
    #[serde(rename = "fd.num", skip_serializing_if = "Option::is_none")]
    pub fd_num: Option<i64>,
    /// `f` file, `4` IPv4 socket, `6` IPv6 socket, `u` unix socket, `p` pipe.
    #[serde(rename = "fd.typechar", skip_serializing_if = "Option::is_none")]
    pub fd_typechar: Option<String>,
    #[serde(rename = "fd.dip", skip_serializing_if = "Option::is_none")]
    pub fd_dip: Option<std::net::IpAddr>,
    #[serde(rename = "fd.dport", skip_serializing_if = "Option::is_none")]
    pub fd_dport: Option<u16>,
    #[serde(rename = "fd.sip", skip_serializing_if = "Option::is_none")]
    pub fd_sip: Option<std::net::IpAddr>,
    #[serde(rename = "fd.sport", skip_serializing_if = "Option::is_none")]
    pub fd_sport: Option<u16>,
    /// accept: the peer's address and port.
    #[serde(rename = "fd.cip", skip_serializing_if = "Option::is_none")]
    pub fd_cip: Option<std::net::IpAddr>,
    #[serde(rename = "fd.cport", skip_serializing_if = "Option::is_none")]
    pub fd_cport: Option<u16>,
    /// `tcp`, `udp` when known.
    #[serde(rename = "fd.l4proto", skip_serializing_if = "Option::is_none")]
    pub fd_l4proto: Option<String>,

    /// For clone events: the new process.
    #[serde(rename = "evt.arg.child_pid", skip_serializing_if = "Option::is_none")]
    pub child_pid: Option<u32>,
    /// For procexit events: the wait status.
    #[serde(rename = "evt.arg.status", skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,

    /// The MCP server the process belongs to; absent for untagged processes.
    #[serde(rename = "mcp.server", skip_serializing_if = "Option::is_none")]
    pub mcp_server: Option<String>,
    /// The AI host that runs the server, when known.
    #[serde(rename = "mcp.host", skip_serializing_if = "Option::is_none")]
    pub mcp_host: Option<String>,
    /// `wrapper`, `pid`, `pattern`, `config`, `cgroup`.
    #[serde(rename = "mcp.tag_source", skip_serializing_if = "Option::is_none")]
    pub mcp_tag_source: Option<String>,
    /// The process the server was tagged at.
    #[serde(rename = "mcp.root_pid", skip_serializing_if = "Option::is_none")]
    pub mcp_root_pid: Option<u32>,
    /// Directories the server was given to work in.
    #[serde(rename = "mcp.roots", skip_serializing_if = "Vec::is_empty")]
    pub mcp_roots: Vec<String>,
    /// Destinations the server's policy file allows (addresses, CIDRs, host:port).
    #[serde(rename = "mcp.destinations", skip_serializing_if = "Vec::is_empty")]
    pub mcp_destinations: Vec<String>,
    /// Whether the event happened inside a call of the server's host
    /// (`in_call`), outside any (`idle`: start-up, background work), or for a
    /// server whose conversation is not observed (`unobserved`: not started
    /// through `mcp-monitor launch`).
    #[serde(rename = "mcp.call.state", skip_serializing_if = "Option::is_none")]
    pub mcp_call_state: Option<String>,
    /// The calls in flight at the event's time, oldest first: one method,
    /// JSON-RPC id and argument text per call (parallel lists).
    #[serde(rename = "mcp.method", skip_serializing_if = "Vec::is_empty")]
    pub mcp_method: Vec<String>,
    #[serde(rename = "mcp.tool.call_id", skip_serializing_if = "Vec::is_empty")]
    pub mcp_tool_call_id: Vec<String>,
    #[serde(rename = "mcp.tool.args", skip_serializing_if = "Vec::is_empty")]
    pub mcp_tool_args: Vec<String>,
    /// The tools of the `tools/call` calls among them.
    #[serde(rename = "mcp.tool.name", skip_serializing_if = "Vec::is_empty")]
    pub mcp_tool_name: Vec<String>,
    /// The AI host's client, as it said in `initialize`.
    #[serde(rename = "mcp.client.name", skip_serializing_if = "Option::is_none")]
    pub mcp_client_name: Option<String>,
    #[serde(rename = "mcp.client.version", skip_serializing_if = "Option::is_none")]
    pub mcp_client_version: Option<String>,
    #[serde(
        rename = "mcp.protocol_version",
        skip_serializing_if = "Option::is_none"
    )]
    pub mcp_protocol_version: Option<String>,

    /// execve of a discovery command: distinct discovery commands of the
    /// server in the last 10 seconds, and which.
    #[serde(rename = "mcp.recon.count", skip_serializing_if = "Option::is_none")]
    pub recon_count: Option<u64>,
    #[serde(rename = "mcp.recon.commands", skip_serializing_if = "Vec::is_empty")]
    pub recon_commands: Vec<String>,

    #[serde(rename = "container.id", skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,

    /// What the kernel did at the call in enforce mode: `killed` (SIGKILL
    /// sent before the call returned to the process) or `denied` (the call
    /// failed with EPERM).
    #[serde(rename = "evt.enforced", skip_serializing_if = "Option::is_none")]
    pub enforced: Option<String>,
    /// The rule whose compiled condition the kernel acted on.
    #[serde(rename = "evt.enforced_by", skip_serializing_if = "Option::is_none")]
    pub enforced_by: Option<String>,
    /// The kernel slot of `enforced_by`, until the pipeline names its rule.
    #[serde(skip)]
    pub enforced_slot: Option<u32>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn no_items<T>(items: &[T]) -> bool {
    items.is_empty()
}

impl Event {
    /// The directory part of `fd.name` (for files).
    pub fn fd_directory(&self) -> Option<&str> {
        let name = self.file_name()?;
        match name.rfind('/') {
            Some(0) => Some("/"),
            Some(i) => Some(&name[..i]),
            None => None,
        }
    }

    /// The last component of `fd.name` (for files).
    pub fn fd_filename(&self) -> Option<&str> {
        let name = self.file_name()?;
        Some(name.rsplit('/').next().unwrap_or(name))
    }

    fn file_name(&self) -> Option<&str> {
        match self.fd_typechar.as_deref() {
            Some("f" | "d") => self.fd_name.as_deref(),
            _ => None,
        }
    }

    /// `proc.aname[n]`: 0 is the process itself, 1 its parent, and so on.
    pub fn aname(&self, n: usize) -> Option<&str> {
        match n {
            0 => Some(&self.name),
            n => self.anames.get(n - 1).map(String::as_str),
        }
    }

    /// `proc.apid[n]`: 0 is the process itself, 1 its parent, and so on.
    pub fn apid(&self, n: usize) -> Option<u32> {
        match n {
            0 => Some(self.pid),
            n => self.apids.get(n - 1).copied(),
        }
    }

    /// One JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Serialising a struct of strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Symbolic names of open(2) flags, `O_RDONLY|O_CREAT|O_CLOEXEC`.
pub fn open_flags_to_string(flags: u64) -> String {
    const NAMED: &[(u64, &str)] = &[
        (libc::O_CREAT as u64, "O_CREAT"),
        (libc::O_EXCL as u64, "O_EXCL"),
        (libc::O_NOCTTY as u64, "O_NOCTTY"),
        (libc::O_TRUNC as u64, "O_TRUNC"),
        (libc::O_APPEND as u64, "O_APPEND"),
        (libc::O_NONBLOCK as u64, "O_NONBLOCK"),
        (libc::O_DSYNC as u64, "O_DSYNC"),
        (libc::O_DIRECT as u64, "O_DIRECT"),
        (libc::O_LARGEFILE as u64, "O_LARGEFILE"),
        (libc::O_DIRECTORY as u64, "O_DIRECTORY"),
        (libc::O_NOFOLLOW as u64, "O_NOFOLLOW"),
        (libc::O_NOATIME as u64, "O_NOATIME"),
        (libc::O_CLOEXEC as u64, "O_CLOEXEC"),
        (libc::O_PATH as u64, "O_PATH"),
        (
            libc::O_TMPFILE as u64 & !(libc::O_DIRECTORY as u64),
            "O_TMPFILE",
        ),
    ];
    let mut out = String::from(match flags & libc::O_ACCMODE as u64 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    });
    let mut rest = flags & !(libc::O_ACCMODE as u64);
    for &(bit, name) in NAMED {
        if rest & bit == bit && bit != 0 {
            out.push('|');
            out.push_str(name);
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push_str(&format!("|0x{rest:x}"));
    }
    out
}

/// `SUCCESS` for a non-negative result, else the errno's name (or `E<number>`).
pub fn result_name(ret: i64) -> String {
    if ret >= 0 {
        return "SUCCESS".into();
    }
    let errno = (-ret) as i32;
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ELOOP => "ELOOP",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EALREADY => "EALREADY",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::EISCONN => "EISCONN",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOSYS => "ENOSYS",
        libc::ENODEV => "ENODEV",
        libc::ENOEXEC => "ENOEXEC",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::EXDEV => "EXDEV",
        libc::ENOTBLK => "ENOTBLK",
        libc::ECHILD => "ECHILD",
        _ => return format!("E{errno}"),
    };
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_falco_field_names_and_round_trips() {
        let ev = Event {
            evt_type: "openat".into(),
            category: "file".into(),
            pid: 42,
            name: "node".into(),
            fd_name: Some("/home/u/.ssh/id_rsa".into()),
            fd_typechar: Some("f".into()),
            mcp_server: Some("fs".into()),
            fd_dip: Some("10.0.0.5".parse().unwrap()),
            ..Default::default()
        };
        let line = ev.to_json_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["evt.type"], "openat");
        assert_eq!(v["proc.pid"], 42);
        assert_eq!(v["fd.name"], "/home/u/.ssh/id_rsa");
        assert_eq!(v["fd.dip"], "10.0.0.5");
        assert_eq!(v["mcp.server"], "fs");
        assert!(v.get("mcp.host").is_none());
        let back: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back, ev);
        assert_eq!(back.fd_directory(), Some("/home/u/.ssh"));
        assert_eq!(back.fd_filename(), Some("id_rsa"));
    }

    #[test]
    fn ancestors_are_indexed_from_the_process_itself() {
        let ev = Event {
            name: "sh".into(),
            pid: 3,
            anames: vec!["node".into(), "npx".into()].into(),
            apids: vec![2, 1].into(),
            ..Default::default()
        };
        assert_eq!(ev.aname(0), Some("sh"));
        assert_eq!(ev.aname(2), Some("npx"));
        assert_eq!(ev.aname(3), None);
        assert_eq!(ev.apid(1), Some(2));
    }

    #[test]
    fn flags_and_results_by_name() {
        let f = (libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC) as u64;
        assert_eq!(open_flags_to_string(f), "O_WRONLY|O_CREAT|O_CLOEXEC");
        assert_eq!(open_flags_to_string(0), "O_RDONLY");
        assert_eq!(result_name(3), "SUCCESS");
        assert_eq!(result_name(-2), "ENOENT");
        assert_eq!(result_name(-115), "EINPROGRESS");
        assert_eq!(result_name(-4095), "E4095");
    }
}
