//! The one event model. Kernel records are decoded into [`Event`]; everything
//! downstream (rules, outputs, tests) speaks `Event`.
//!
//! An event serialises as one flat JSON object whose keys are the field names
//! users write in rules (`evt.type`, `proc.pid`, `fd.name`, `mcp.server`, …), the
//! names Falco uses where the meaning is the same. Absent fields are left out.
//! `run --events` prints these objects, and `rules test` reads them back.
use serde::{Deserialize, Serialize};

/// One observed action of a process.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Event {
    /// Syscall-style name: `clone`, `execve`, `procexit`, `open`, `openat`,
    /// `openat2`, `creat`, `connect`.
    #[serde(rename = "evt.type")]
    pub evt_type: String,
    /// `process`, `file` or `net`.
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
    /// Open flags by name, `O_RDONLY|O_CLOEXEC`.
    #[serde(rename = "evt.arg.flags", skip_serializing_if = "Option::is_none")]
    pub arg_flags: Option<String>,
    #[serde(rename = "evt.rawarg.flags", skip_serializing_if = "Option::is_none")]
    pub rawarg_flags: Option<u64>,
    #[serde(rename = "evt.arg.mode", skip_serializing_if = "Option::is_none")]
    pub arg_mode: Option<u64>,
    /// The path exactly as the process passed it.
    #[serde(rename = "evt.arg.path", skip_serializing_if = "Option::is_none")]
    pub arg_path: Option<String>,
    #[serde(rename = "evt.is_open_read", skip_serializing_if = "Option::is_none")]
    pub is_open_read: Option<bool>,
    #[serde(rename = "evt.is_open_write", skip_serializing_if = "Option::is_none")]
    pub is_open_write: Option<bool>,

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
    #[serde(rename = "proc.cmdline", skip_serializing_if = "String::is_empty")]
    pub cmdline: String,
    /// The arguments after argv\[0\], space-joined.
    #[serde(rename = "proc.args", skip_serializing_if = "String::is_empty")]
    pub args: String,
    /// The full argument vector, argv\[0\] included.
    #[serde(rename = "proc.argv", skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    #[serde(rename = "proc.cwd", skip_serializing_if = "String::is_empty")]
    pub cwd: String,
    /// Name of the parent process.
    #[serde(rename = "proc.pname", skip_serializing_if = "String::is_empty")]
    pub pname: String,
    /// Names of the ancestors, parent first (`proc.aname[1]` is the parent).
    #[serde(rename = "proc.anames", skip_serializing_if = "Vec::is_empty")]
    pub anames: Vec<String>,
    /// Pids of the ancestors, parent first.
    #[serde(rename = "proc.apids", skip_serializing_if = "Vec::is_empty")]
    pub apids: Vec<u32>,
    #[serde(rename = "user.uid")]
    pub uid: u32,
    #[serde(rename = "user.name", skip_serializing_if = "String::is_empty")]
    pub user_name: String,
    #[serde(rename = "group.gid")]
    pub gid: u32,

    /// For opens: the absolute path. For connects: `dip:dport` or the unix path.
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
    /// `f` file, `4` IPv4 socket, `6` IPv6 socket, `u` unix socket.
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

    #[serde(rename = "container.id", skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
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
            Some("f") => self.fd_name.as_deref(),
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
            anames: vec!["node".into(), "npx".into()],
            apids: vec![2, 1],
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
