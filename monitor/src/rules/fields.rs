//! The field catalogue: every field a rule may name, its type, its meaning, and
//! how it is read from an [`Event`]. Names are resolved to a [`Field`] once, when
//! rules are compiled; evaluation reads values through a `match`, never by name.
use std::net::IpAddr;

use crate::event::Event;

/// The type of a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Str,
    Int,
    Bool,
    Ip,
    /// A list of strings.
    StrList,
    /// A list of integers.
    IntList,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Str => "string",
            FieldType::Int => "int",
            FieldType::Bool => "bool",
            FieldType::Ip => "ip",
            FieldType::StrList => "list of strings",
            FieldType::IntList => "list of ints",
        }
    }
}

macro_rules! catalogue {
    ($( $variant:ident, $name:literal, $ty:ident, $index:literal, $desc:literal; )*) => {
        /// A field a rule can name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field { $( $variant, )* }

        /// Static description of a field.
        #[derive(Clone, Copy, Debug)]
        pub struct FieldInfo {
            pub field: Field,
            pub name: &'static str,
            pub ty: FieldType,
            /// Takes an argument in brackets, `proc.aname[2]`.
            pub indexable: bool,
            pub desc: &'static str,
        }

        /// Every field, in the order `rules fields` prints them.
        pub const FIELDS: &[FieldInfo] = &[
            $( FieldInfo { field: Field::$variant, name: $name, ty: FieldType::$ty, indexable: $index, desc: $desc }, )*
        ];
    };
}

catalogue! {
    EvtType, "evt.type", Str, false, "Syscall-style event name: execve, clone, procexit, open, openat, openat2, creat, connect; unlink, unlinkat, rename, renameat, renameat2, link, linkat, symlink, symlinkat, chmod, fchmodat, fchmodat2, mount, umount2, unshare, setns, pivot_root, chroot, ptrace, process_vm_readv, process_vm_writev, init_module, finit_module, bpf, memfd_create, setuid, setgid, setreuid, setregid, setresuid, setresgid, capset, bind, listen, accept, accept4, dup, dup2, dup3, io_uring_setup, kill, tkill, tgkill; chown, lchown, fchownat, fchown; ioctl (FS_IOC_SETFLAGS and FS_IOC_FSSETXATTR only); socket (raw, packet and netfilter-netlink only); io_uring (a file an io_uring request opened or used: fd.name, evt.arg.request, evt.is_open_read/write from the file's access mode).";
    EvtCategory, "evt.category", Str, false, "process, file, net, or security (mount, umount2, unshare, setns, pivot_root, chroot, ptrace, process_vm_*, init_module, finit_module, bpf, setuid family, capset).";
    EvtTime, "evt.time", Int, false, "Nanoseconds since the Unix epoch.";
    EvtRes, "evt.res", Str, false, "SUCCESS or the errno name (ENOENT, EACCES, EINPROGRESS...).";
    EvtRawres, "evt.rawres", Int, false, "The raw return value: an fd, 0, or a negative errno.";
    EvtFailed, "evt.failed", Bool, false, "The call returned an error.";
    EvtTruncated, "evt.truncated", Bool, false, "A path or the arguments were cut to fit the kernel record.";
    EvtEnforced, "evt.enforced", Str, false, "Prevent mode: what the probe did at the call, `killed` (SIGKILL before the call returned to the process) or `denied` (the call failed with EPERM); absent when it did nothing.";
    EvtEnforcedBy, "evt.enforced_by", Str, false, "Prevent mode: the rule whose compiled condition the probe acted on.";
    EvtArgFlags, "evt.arg.flags", Str, false, "Flags by name, per syscall: O_RDONLY|O_CLOEXEC (opens, dup3), AT_REMOVEDIR, AT_SYMLINK_FOLLOW, RENAME_EXCHANGE|RENAME_NOREPLACE, MS_BIND|MS_REC, MNT_DETACH, CLONE_NEWNS|CLONE_NEWUSER (unshare), MFD_CLOEXEC|MFD_ALLOW_SEALING, SOCK_CLOEXEC (accept4), IORING_SETUP_*, FS_IMMUTABLE_FL|FS_APPEND_FL (ioctl: the inode flags set); unnamed bits as 0x...";
    EvtRawargFlags, "evt.rawarg.flags", Int, false, "The flags as a number.";
    EvtArgMode, "evt.arg.mode", Int, false, "Mode argument of an open, creat, chmod or fchmodat. Compared with a number it is the number (420 is 0644); with contains, startswith, endswith, glob or regex it is read as evt.arg.mode_names, as Falco renders it: evt.arg.mode contains S_ISUID.";
    EvtArgModeNames, "evt.arg.mode_names", Str, false, "evt.arg.mode by name, bits of the permission and special bits from the highest: S_ISUID|S_IRWXU style, e.g. S_ISUID|S_IRUSR|S_IWUSR|S_IXUSR|S_IRGRP|S_IXGRP|S_IROTH|S_IXOTH for 04755; 0 for none.";
    EvtArgPath, "evt.arg.path", Str, false, "The path exactly as the process passed it (may be relative).";
    EvtArgChildPid, "evt.arg.child_pid", Int, false, "For clone: the pid of the new process.";
    EvtArgStatus, "evt.arg.status", Int, false, "For procexit: the wait status.";
    EvtArgDev, "evt.arg.dev", Str, false, "mount: the source (device, bind-mounted directory, or a name such as tmpfs).";
    EvtArgDir, "evt.arg.dir", Str, false, "mount: the target directory as passed (fs.path.name is it made absolute).";
    EvtArgType, "evt.arg.type", Str, false, "mount: the filesystem type (tmpfs, proc, overlay...). socket: the type (SOCK_RAW, SOCK_DGRAM...), with |SOCK_NONBLOCK|SOCK_CLOEXEC when asked.";
    EvtArgFd, "evt.arg.fd", Int, false, "The fd argument of setns, finit_module, bind, listen, accept, accept4.";
    EvtArgNstype, "evt.arg.nstype", Str, false, "setns: the namespace type asked for (CLONE_NEWNET, CLONE_NEWNS...), or ANY for 0.";
    EvtArgDomain, "evt.arg.domain", Str, false, "socket: the domain (AF_PACKET, AF_NETLINK, AF_INET...). Only raw, packet and netfilter-netlink sockets are reported.";
    EvtArgProto, "evt.arg.proto", Str, false, "socket: the protocol (NETLINK_NETFILTER, ETH_P_ALL, IPPROTO_ICMP...), or its number.";
    EvtArgRequest, "evt.arg.request", Str, false, "ptrace: the request (PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_POKEDATA, PTRACE_TRACEME...). io_uring: the request's operation (IORING_OP_OPENAT, IORING_OP_READ...).";
    EvtArgPid, "evt.arg.pid", Int, false, "The pid argument of ptrace, process_vm_readv/writev, kill, tkill (a thread id), tgkill (the thread group).";
    EvtArgSig, "evt.arg.sig", Str, false, "kill, tkill, tgkill: the signal by name (SIGKILL, SIGTERM...), 0 for a probe.";
    EvtRawargSig, "evt.rawarg.sig", Int, false, "The signal as a number.";
    EvtArgLen, "evt.arg.len", Int, false, "init_module: bytes of the module image.";
    EvtArgCmd, "evt.arg.cmd", Str, false, "bpf: the command (BPF_PROG_LOAD, BPF_MAP_CREATE...). ioctl: the request (FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR).";
    EvtArgName, "evt.arg.name", Str, false, "memfd_create: the name given to the memfd.";
    EvtArgUid, "evt.arg.uid", Int, false, "setuid, chown family: the uid asked for (-1: unchanged).";
    EvtArgGid, "evt.arg.gid", Int, false, "setgid, chown family: the gid asked for (-1: unchanged).";
    EvtArgRuid, "evt.arg.ruid", Int, false, "setreuid, setresuid: the real uid asked for; -1 leaves it unchanged.";
    EvtArgEuid, "evt.arg.euid", Int, false, "setreuid, setresuid: the effective uid asked for; -1 leaves it unchanged.";
    EvtArgSuid, "evt.arg.suid", Int, false, "setresuid: the saved uid asked for; -1 leaves it unchanged.";
    EvtArgRgid, "evt.arg.rgid", Int, false, "setregid, setresgid: the real gid asked for; -1 leaves it unchanged.";
    EvtArgEgid, "evt.arg.egid", Int, false, "setregid, setresgid: the effective gid asked for; -1 leaves it unchanged.";
    EvtArgSgid, "evt.arg.sgid", Int, false, "setresgid: the saved gid asked for; -1 leaves it unchanged.";
    EvtArgCapEffective, "evt.arg.cap_effective", Str, false, "capset: the effective set asked for, CAP_NET_RAW|CAP_SYS_ADMIN (empty for none).";
    EvtArgCapPermitted, "evt.arg.cap_permitted", Str, false, "capset: the permitted set asked for.";
    EvtArgCapInheritable, "evt.arg.cap_inheritable", Str, false, "capset: the inheritable set asked for.";
    EvtArgBacklog, "evt.arg.backlog", Int, false, "listen: the backlog.";
    EvtArgOldfd, "evt.arg.oldfd", Int, false, "dup, dup2, dup3: the fd duplicated.";
    EvtArgNewfd, "evt.arg.newfd", Int, false, "dup2, dup3: the fd asked for (dup: the result).";
    EvtArgEntries, "evt.arg.entries", Int, false, "io_uring_setup: the queue entries asked for.";
    EvtIsOpenRead, "evt.is_open_read", Bool, false, "The open asked for read access.";
    EvtIsOpenWrite, "evt.is_open_write", Bool, false, "The open asked for write access.";
    ProcPid, "proc.pid", Int, false, "Process id (thread group id).";
    ProcTid, "proc.tid", Int, false, "Thread id.";
    ProcPpid, "proc.ppid", Int, false, "Parent process id.";
    ProcName, "proc.name", Str, false, "The task's comm (executable name, at most 15 characters).";
    ProcExe, "proc.exe", Str, false, "argv[0] as the process was started.";
    ProcExepath, "proc.exepath", Str, false, "Absolute path of the executable.";
    ProcCmdline, "proc.cmdline", Str, false, "proc.name followed by the arguments.";
    ProcArgs, "proc.args", Str, false, "The arguments after argv[0], space-joined.";
    ProcEnv, "proc.env", Str, false, "On execve events of tagged processes: the dynamic loader's variables of the new environment (LD_PRELOAD=..., LD_LIBRARY_PATH=..., LD_AUDIT=...), space-joined, redacted; the rest of the environment is not captured. Kernels with bpf_loop (5.17+).";
    ProcArgv, "proc.argv", StrList, true, "The argument vector, argv[0] included; proc.argv[n] is one argument.";
    ProcCwd, "proc.cwd", Str, false, "Working directory.";
    ProcExepathHomerel, "proc.exepath_homerel", Str, false, "proc.exepath relative to its home directory, as fd.homerel is for fd.name: .local/bin/tool. Absent outside homes.";
    ProcScriptWrittenByServer, "proc.script_written_by_server", Bool, false, "execve: the first argument that is not an option (the script of bash FILE, python3 FILE, node FILE; made absolute against proc.cwd) names a file that a process of the same MCP server opened for writing, created, or renamed or linked into place in the last 10 minutes. Absent when there is no such argument.";
    ProcStdinWriter, "proc.stdin_writer", Str, false, "execve: when the process's standard input is a pipe, the name of the process of the same MCP server that has that pipe as its standard output (curl in curl URL | sh). Read from procfs when the event is processed: a writer that already exited, or had not yet started its program, may be missed. Absent when there is none.";
    ProcPname, "proc.pname", Str, false, "Name of the parent process.";
    ProcAname, "proc.aname", StrList, true, "Ancestor names: proc.aname[0] is the process, [1] its parent, [2] the grandparent; without index, all ancestors (parent first).";
    ProcApid, "proc.apid", IntList, true, "Ancestor pids, indexed like proc.aname.";
    UserUid, "user.uid", Int, false, "Real user id.";
    UserName, "user.name", Str, false, "User name.";
    GroupGid, "group.gid", Int, false, "Real group id.";
    FsPathName, "fs.path.name", Str, false, "Absolute path of a one-path call: unlink, unlinkat, chmod, fchmodat, chroot, pivot_root (the new root), mount and umount2 (the target).";
    FsPathSource, "fs.path.source", Str, false, "rename, link: the old path, absolute; symlink: what the link points to, as given.";
    FsPathTarget, "fs.path.target", Str, false, "rename, link, symlink: the new path (the link created), absolute.";
    FsPathSourceHomerel, "fs.path.source_homerel", Str, false, "fs.path.source relative to its home directory, as fd.homerel is for fd.name: .ssh/id_rsa. Absent outside homes.";
    TargetPid, "target.pid", Int, false, "The process a ptrace, process_vm_*, kill, tkill or tgkill acts on (for tkill, the process of the thread).";
    TargetName, "target.name", Str, false, "The target process's name (comm).";
    TargetExepath, "target.exepath", Str, false, "The target process's executable.";
    TargetServer, "target.server", Str, false, "The MCP server the target belongs to; absent when it is untagged.";
    TargetInTree, "target.in_tree", Bool, false, "The target belongs to the caller's own MCP server.";
    FdName, "fd.name", Str, false, "For files the absolute path (fs.path.name, or fs.path.target of a two-path call); for sockets ip:port (the peer of a connect or dup'd socket, the local address of a bind or listen) or the unix socket path.";
    FdNameSource, "fd.name_source", Str, false, "How fd.name was obtained: file (the file the kernel opened, symlinks followed), cwd or dirfd (the argument joined with the directory the kernel named at the call), absolute (the absolute argument), proc-cwd or proc-dirfd (joined with the directory procfs shows later), raw (could not be made absolute).";
    FdDirectory, "fd.directory", Str, false, "Directory part of fd.name (files only).";
    FdFilename, "fd.filename", Str, false, "Last component of fd.name (files only).";
    FdHomerel, "fd.homerel", Str, false, "For a file in a home directory (/home/<user>/, /root/, or the home of an account in /etc/passwd that logs in), its path relative to that home: .ssh/id_rsa. Absent elsewhere.";
    FdNum, "fd.num", Int, false, "The fd: result of an open, socket of a connect, result of an accept, oldfd of a dup.";
    FdTypechar, "fd.typechar", Str, false, "f file, d directory (an open the kernel saw reach one: a listing), 4 IPv4 socket, 6 IPv6 socket, u unix socket, p pipe.";
    FdType, "fd.type", Str, false, "file, directory, ipv4, ipv6, unix or pipe.";
    FdSockfamily, "fd.sockfamily", Str, false, "ip or unix, for sockets.";
    FdL4proto, "fd.l4proto", Str, false, "tcp or udp when known.";
    FdDip, "fd.dip", Ip, false, "Destination address of a connect.";
    FdDport, "fd.dport", Int, false, "Destination port of a connect.";
    FdSip, "fd.sip", Ip, false, "Local address: of a bind, listen or accept (the server side), of a connect when known.";
    FdSport, "fd.sport", Int, false, "Local port: of a bind, listen or accept, of a connect when known.";
    FdRip, "fd.rip", Ip, false, "Remote address: fd.dip for a connect, fd.cip for an accept.";
    FdRport, "fd.rport", Int, false, "Remote port: fd.dport for a connect, fd.cport for an accept.";
    FdCip, "fd.cip", Ip, false, "accept: the client (peer) address.";
    FdCport, "fd.cport", Int, false, "accept: the client (peer) port.";
    FdLip, "fd.lip", Ip, false, "Local address (same as fd.sip for a connect).";
    FdLport, "fd.lport", Int, false, "Local port (same as fd.sport for a connect).";
    McpServer, "mcp.server", Str, false, "The MCP server the process belongs to; absent for untagged processes.";
    McpHost, "mcp.host", Str, false, "The AI host that runs the server, when known.";
    McpTagSource, "mcp.tag_source", Str, false, "How the process was tagged: wrapper, pid, pattern, config, cgroup, host-child.";
    McpRootPid, "mcp.root_pid", Int, false, "The process the server was tagged at.";
    McpIsRoot, "mcp.is_root", Bool, false, "The process is the one the server was tagged at (proc.pid = mcp.root_pid): the server itself, as its host started it, not something it spawned.";
    McpRoots, "mcp.roots", StrList, false, "Directories the server was given to work in (its arguments, or its policy file in /etc/mcp-monitor/servers.d).";
    McpDestinations, "mcp.destinations", StrList, false, "Destinations the server's policy file allows (addresses, CIDRs, host:port).";
    McpReconCount, "mcp.recon.count", Int, false, "execve of a discovery command (list mcp_discovery_binaries): how many distinct discovery commands the server ran in the last 10 seconds, this one included. Absent for other events.";
    McpReconCommands, "mcp.recon.commands", StrList, false, "execve of a discovery command: the distinct discovery commands the server ran in the last 10 seconds, sorted.";
    McpInRoots, "mcp.in_roots", Bool, false, "fd.name lies under one of mcp.roots (absent when the server has no roots or the event has no path).";
    McpCallState, "mcp.call.state", Str, false, "in_call: the event happened while the server's host had a request in flight (a tools/call, resources/read, ...); idle: outside any (background work, before the first request; start-up usually happens while initialize is in flight); unobserved: the server's conversation is not seen (it was not started through mcp-monitor launch: tagged by pid, pattern, cgroup or as a host's child, or a Streamable-HTTP server).";
    McpMethod, "mcp.method", StrList, false, "The JSON-RPC methods of the requests in flight at the event's time (tools/call, resources/read, prompts/get, ...), oldest first; = matches any of them. Absent outside calls.";
    McpToolName, "mcp.tool.name", StrList, false, "The tools of the tools/call requests in flight at the event's time (usually one: mcp.tool.name = read_text_file). Absent outside tool calls and for unobserved servers.";
    McpToolCallId, "mcp.tool.call_id", StrList, false, "The JSON-RPC ids of the requests in flight, in the order of mcp.method (a number as written, a string as is).";
    McpToolArgs, "mcp.tool.args", StrList, false, "The arguments of the requests in flight as JSON text (a resource's uri, a prompt's name), in the order of mcp.method; redacted like command lines and cut to 512 bytes (1 KiB of a message over 64 KiB).";
    McpClientName, "mcp.client.name", Str, false, "The AI host's MCP client name, as its initialize request said (clientInfo.name).";
    McpClientVersion, "mcp.client.version", Str, false, "The client's version (clientInfo.version).";
    McpProtocolVersion, "mcp.protocol_version", Str, false, "The MCP protocol version of the session (the server's initialize answer, else the client's request).";
    ContainerId, "container.id", Str, false, "Container id, when the process runs in one.";
}

impl Field {
    pub fn info(self) -> &'static FieldInfo {
        &FIELDS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn ty(self) -> FieldType {
        self.info().ty
    }

    pub fn by_name(name: &str) -> Option<Field> {
        FIELDS.iter().find(|f| f.name == name).map(|f| f.field)
    }
}

/// A field with its optional index, as a rule names it: `proc.aname[2]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldRef {
    pub field: Field,
    pub index: Option<u32>,
}

impl FieldRef {
    /// The type of the value this reference reads: indexing a list gives an element.
    pub fn ty(self) -> FieldType {
        match (self.field.ty(), self.index) {
            (FieldType::StrList, Some(_)) => FieldType::Str,
            (FieldType::IntList, Some(_)) => FieldType::Int,
            (t, _) => t,
        }
    }

    /// `proc.aname[2]`, or the plain name.
    pub fn display_name(self) -> String {
        match self.index {
            Some(i) => format!("{}[{i}]", self.field.name()),
            None => self.field.name().to_string(),
        }
    }

    /// Reads the value from an event. Never allocates.
    #[inline]
    pub fn get<'a>(self, ev: &'a Event) -> Value<'a> {
        use Value::*;
        let s = |o: Option<&'a String>| o.map_or(Absent, |s| Str(s.as_str()));
        let ne = |s: &'a str| if s.is_empty() { Absent } else { Str(s) };
        let ip = |o: Option<IpAddr>| o.map_or(Absent, Ip);
        let int = |o: Option<i64>| o.map_or(Absent, Int);
        match self.field {
            Field::EvtType => Str(&ev.evt_type),
            Field::EvtCategory => ne(&ev.category),
            Field::EvtTime => Int(ev.time_ns as i64),
            Field::EvtRes => s(ev.res.as_ref()),
            Field::EvtRawres => int(ev.rawres),
            Field::EvtFailed => match (&ev.rawres, &ev.res) {
                (Some(r), _) => Bool(*r < 0),
                (None, Some(r)) => Bool(r != "SUCCESS"),
                (None, None) => Absent,
            },
            Field::EvtTruncated => Bool(ev.truncated),
            Field::EvtEnforced => s(ev.enforced.as_ref()),
            Field::EvtEnforcedBy => s(ev.enforced_by.as_ref()),
            Field::EvtArgFlags => s(ev.arg_flags.as_ref()),
            Field::EvtRawargFlags => int(ev.rawarg_flags.map(|v| v as i64)),
            Field::EvtArgMode => int(ev.arg_mode.map(|v| v as i64)),
            Field::EvtArgModeNames => ev.arg_mode.map_or(Absent, |m| Str(mode_names(m))),
            Field::EvtArgPath => s(ev.arg_path.as_ref()),
            Field::EvtArgChildPid => int(ev.child_pid.map(i64::from)),
            Field::EvtArgStatus => int(ev.exit_status.map(i64::from)),
            Field::EvtArgDev => s(ev.arg_dev.as_ref()),
            Field::EvtArgDir => s(ev.arg_dir.as_ref()),
            Field::EvtArgType => s(ev.arg_type.as_ref()),
            Field::EvtArgFd => int(ev.arg_fd),
            Field::EvtArgNstype => s(ev.arg_nstype.as_ref()),
            Field::EvtArgDomain => s(ev.arg_domain.as_ref()),
            Field::EvtArgProto => s(ev.arg_proto.as_ref()),
            Field::EvtArgRequest => s(ev.arg_request.as_ref()),
            Field::EvtArgPid => int(ev.arg_pid),
            Field::EvtArgSig => s(ev.arg_sig.as_ref()),
            Field::EvtRawargSig => int(ev.rawarg_sig),
            Field::EvtArgLen => int(ev.arg_len.map(|v| v as i64)),
            Field::EvtArgCmd => s(ev.arg_cmd.as_ref()),
            Field::EvtArgName => s(ev.arg_name.as_ref()),
            Field::EvtArgUid => int(ev.arg_uid),
            Field::EvtArgGid => int(ev.arg_gid),
            Field::EvtArgRuid => int(ev.arg_ruid),
            Field::EvtArgEuid => int(ev.arg_euid),
            Field::EvtArgSuid => int(ev.arg_suid),
            Field::EvtArgRgid => int(ev.arg_rgid),
            Field::EvtArgEgid => int(ev.arg_egid),
            Field::EvtArgSgid => int(ev.arg_sgid),
            Field::EvtArgCapEffective => s(ev.arg_cap_effective.as_ref()),
            Field::EvtArgCapPermitted => s(ev.arg_cap_permitted.as_ref()),
            Field::EvtArgCapInheritable => s(ev.arg_cap_inheritable.as_ref()),
            Field::EvtArgBacklog => int(ev.arg_backlog),
            Field::EvtArgOldfd => int(ev.arg_oldfd),
            Field::EvtArgNewfd => int(ev.arg_newfd),
            Field::EvtArgEntries => int(ev.arg_entries.map(|v| v as i64)),
            Field::EvtIsOpenRead => ev.is_open_read.map_or(Absent, Bool),
            Field::EvtIsOpenWrite => ev.is_open_write.map_or(Absent, Bool),
            Field::ProcPid => Int(ev.pid.into()),
            Field::ProcTid => Int(ev.tid.into()),
            Field::ProcPpid => Int(ev.ppid.into()),
            Field::ProcName => ne(&ev.name),
            Field::ProcExe => ev.argv.first().map_or(Absent, |a| Str(a.as_str())),
            Field::ProcExepath => ne(&ev.exepath),
            Field::ProcCmdline => ne(&ev.cmdline),
            Field::ProcArgs => Str(&ev.args),
            Field::ProcEnv => Str(&ev.env),
            Field::ProcArgv => match self.index {
                Some(i) => ev.argv.get(i as usize).map_or(Absent, |a| Str(a.as_str())),
                None => StrList(&ev.argv),
            },
            Field::ProcCwd => ne(&ev.cwd),
            Field::ProcPname => ne(&ev.pname),
            Field::ProcAname => match self.index {
                Some(i) => ev.aname(i as usize).map_or(Absent, Str),
                None => StrList(&ev.anames),
            },
            Field::ProcApid => match self.index {
                Some(i) => ev.apid(i as usize).map_or(Absent, |p| Int(p.into())),
                None => IntList(&ev.apids),
            },
            Field::UserUid => Int(ev.uid.into()),
            Field::UserName => ne(&ev.user_name),
            Field::GroupGid => Int(ev.gid.into()),
            Field::FsPathName => s(ev.fs_path_name.as_ref()),
            Field::ProcExepathHomerel => match home_relative(&ev.exepath) {
                Some(rel) => Str(rel),
                None => Absent,
            },
            Field::ProcScriptWrittenByServer => ev.script_written_by_server.map_or(Absent, Bool),
            Field::ProcStdinWriter => s(ev.stdin_writer.as_ref()),
            Field::McpReconCount => int(ev.recon_count.map(|n| n as i64)),
            Field::McpReconCommands => StrList(&ev.recon_commands),
            Field::FsPathSource => s(ev.fs_path_source.as_ref()),
            Field::FsPathTarget => s(ev.fs_path_target.as_ref()),
            Field::FsPathSourceHomerel => ev
                .fs_path_source
                .as_deref()
                .and_then(home_relative)
                .map_or(Absent, Str),
            Field::TargetPid => int(ev.target_pid.map(i64::from)),
            Field::TargetName => s(ev.target_name.as_ref()),
            Field::TargetExepath => s(ev.target_exepath.as_ref()),
            Field::TargetServer => s(ev.target_server.as_ref()),
            Field::TargetInTree => ev.target_in_tree.map_or(Absent, Bool),
            Field::FdName => s(ev.fd_name.as_ref()),
            Field::FdNameSource => s(ev.fd_name_source.as_ref()),
            Field::FdDirectory => ev.fd_directory().map_or(Absent, Str),
            Field::FdFilename => ev.fd_filename().map_or(Absent, Str),
            Field::FdHomerel => match ev.fd_typechar.as_deref() {
                Some("f" | "d") => ev
                    .fd_name
                    .as_deref()
                    .and_then(home_relative)
                    .map_or(Absent, Str),
                _ => Absent,
            },
            Field::FdNum => int(ev.fd_num),
            Field::FdTypechar => s(ev.fd_typechar.as_ref()),
            Field::FdType => match ev.fd_typechar.as_deref() {
                Some("f") => Str("file"),
                Some("d") => Str("directory"),
                Some("4") => Str("ipv4"),
                Some("6") => Str("ipv6"),
                Some("u") => Str("unix"),
                Some("p") => Str("pipe"),
                _ => Absent,
            },
            Field::FdSockfamily => match ev.fd_typechar.as_deref() {
                Some("4" | "6") => Str("ip"),
                Some("u") => Str("unix"),
                _ => Absent,
            },
            Field::FdL4proto => s(ev.fd_l4proto.as_ref()),
            Field::FdDip => ip(ev.fd_dip),
            Field::FdDport => int(ev.fd_dport.map(i64::from)),
            Field::FdRip => ip(ev.fd_dip.or(ev.fd_cip)),
            Field::FdRport => int(ev.fd_dport.or(ev.fd_cport).map(i64::from)),
            Field::FdCip => ip(ev.fd_cip),
            Field::FdCport => int(ev.fd_cport.map(i64::from)),
            Field::FdSip | Field::FdLip => ip(ev.fd_sip),
            Field::FdSport | Field::FdLport => int(ev.fd_sport.map(i64::from)),
            Field::McpServer => s(ev.mcp_server.as_ref()),
            Field::McpHost => s(ev.mcp_host.as_ref()),
            Field::McpTagSource => s(ev.mcp_tag_source.as_ref()),
            Field::McpRootPid => int(ev.mcp_root_pid.map(i64::from)),
            Field::McpIsRoot => match ev.mcp_root_pid {
                Some(root) => Bool(root == ev.pid),
                None => Absent,
            },
            Field::McpRoots => StrList(&ev.mcp_roots),
            Field::McpDestinations => StrList(&ev.mcp_destinations),
            Field::McpInRoots => match (ev.fd_typechar.as_deref(), ev.fd_name.as_deref()) {
                (Some("f" | "d"), Some(path)) if !ev.mcp_roots.is_empty() => {
                    Bool(ev.mcp_roots.iter().any(|r| path_under(path, r)))
                }
                _ => Absent,
            },
            Field::McpCallState => s(ev.mcp_call_state.as_ref()),
            Field::McpMethod => StrList(&ev.mcp_method),
            Field::McpToolName => StrList(&ev.mcp_tool_name),
            Field::McpToolCallId => StrList(&ev.mcp_tool_call_id),
            Field::McpToolArgs => StrList(&ev.mcp_tool_args),
            Field::McpClientName => s(ev.mcp_client_name.as_ref()),
            Field::McpClientVersion => s(ev.mcp_client_version.as_ref()),
            Field::McpProtocolVersion => s(ev.mcp_protocol_version.as_ref()),
            Field::ContainerId => s(ev.container_id.as_ref()),
        }
    }
}

/// Names of the permission and special bits of a mode, highest first, as
/// Falco renders a mode (`S_ISUID|S_IRUSR|…`); `0` for none. Bits above the
/// permission bits (a file type) are not named. A table built once, so that
/// reading the field never allocates.
pub fn mode_names(mode: u64) -> &'static str {
    const BITS: &[(u64, &str)] = &[
        (0o4000, "S_ISUID"),
        (0o2000, "S_ISGID"),
        (0o1000, "S_ISVTX"),
        (0o400, "S_IRUSR"),
        (0o200, "S_IWUSR"),
        (0o100, "S_IXUSR"),
        (0o40, "S_IRGRP"),
        (0o20, "S_IWGRP"),
        (0o10, "S_IXGRP"),
        (0o4, "S_IROTH"),
        (0o2, "S_IWOTH"),
        (0o1, "S_IXOTH"),
    ];
    static TABLE: std::sync::OnceLock<Vec<Box<str>>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        (0..0o10000u64)
            .map(|m| crate::names::flags(m, BITS).into_boxed_str())
            .collect()
    });
    &table[(mode & 0o7777) as usize]
}

/// The part of `path` after the home directory it lies in: `/home/u/.ssh/x`
/// and `/root/.ssh/x` give `.ssh/x`, and so does a file in the home of an
/// account from the password database (`/var/lib/postgresql/.pgpass`).
pub fn home_relative(path: &str) -> Option<&str> {
    home_relative_in(path, passwd_homes())
}

/// The home directories `fd.homerel` knows: `/root`, every directory in
/// `/home`, and the homes of the password database's login accounts.
pub fn home_dirs() -> Vec<String> {
    let mut homes = vec!["/root".to_owned()];
    if let Ok(entries) = std::fs::read_dir("/home") {
        homes.extend(
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.path().to_str().map(str::to_owned)),
        );
    }
    homes.extend(passwd_homes().iter().cloned());
    homes
}

fn home_relative_in<'a>(path: &'a str, homes: &[String]) -> Option<&'a str> {
    let rest = match path.strip_prefix("/root/") {
        Some(r) => r,
        None => match path.strip_prefix("/home/") {
            Some(after) => &after[after.find('/')? + 1..],
            None => homes.iter().find_map(|h| {
                path.strip_prefix(h.as_str())
                    .and_then(|r| r.strip_prefix('/'))
            })?,
        },
    };
    (!rest.is_empty()).then_some(rest)
}

/// Homes outside /home and /root from /etc/passwd, read once: those of
/// accounts a person or a service logs into (a login shell, or a uid from
/// 1000), that exist and are not `/`.
fn passwd_homes() -> &'static [String] {
    static HOMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    HOMES.get_or_init(|| {
        let text = crate::textfile::read(std::path::Path::new("/etc/passwd"), 16 << 20)
            .unwrap_or_default();
        homes_from_passwd(&text, |h| std::path::Path::new(h).is_dir())
    })
}

fn homes_from_passwd(text: &str, exists: impl Fn(&str) -> bool) -> Vec<String> {
    const NO_LOGIN: &[&str] = &["nologin", "false", "sync", "halt", "shutdown"];
    let mut homes: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let (uid, home, shell) = (f.get(2)?.parse::<u32>().ok()?, *f.get(5)?, *f.get(6)?);
            let shell_name = shell.rsplit('/').next().unwrap_or(shell);
            let logs_in = !shell.is_empty() && !NO_LOGIN.contains(&shell_name);
            let home = home.trim_end_matches('/');
            let usable = !home.is_empty()
                && home.starts_with('/')
                && !home.starts_with("/home/")
                && home != "/root"
                && (logs_in || (1000..65534).contains(&uid))
                && exists(home);
            usable.then(|| home.to_owned())
        })
        .collect();
    // Longest first: a home inside another's is matched as itself.
    homes.sort_by_key(|h| std::cmp::Reverse(h.len()));
    homes.dedup();
    homes
}

/// `path` is `dir` or lies below it (component-wise: `/a/bc` is not under `/a/b`).
pub fn path_under(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        return path.starts_with('/');
    }
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A field's value in one event, borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Absent,
    Str(&'a str),
    Int(i64),
    Bool(bool),
    Ip(IpAddr),
    StrList(&'a [String]),
    IntList(&'a [u32]),
}

impl Value<'_> {
    /// As JSON, for `output_fields` (absent is `null`, like Falco).
    pub fn to_json(self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Absent => J::Null,
            Value::Str(s) => J::String(s.to_string()),
            Value::Int(i) => J::from(i),
            Value::Bool(b) => J::Bool(b),
            Value::Ip(ip) => J::String(ip.to_string()),
            Value::StrList(l) => J::Array(l.iter().map(|s| J::String(s.clone())).collect()),
            Value::IntList(l) => J::Array(l.iter().map(|&i| J::from(i)).collect()),
        }
    }

    /// As text, for output templates (absent is `<NA>`, like Falco).
    pub fn write_to(self, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            Value::Absent => out.push_str("<NA>"),
            Value::Str(s) => out.push_str(s),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            Value::Ip(ip) => {
                let _ = write!(out, "{ip}");
            }
            Value::StrList(l) => out.push_str(&l.join(",")),
            Value::IntList(l) => {
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{v}");
                }
            }
        }
    }
}

/// Fields of Falco's that mcp-monitor does not provide (yet). A rule that names
/// one is reported as unsupported rather than as a typo.
const FALCO_ONLY_FIELDS: &[&str] = &[
    "evt.num",
    "evt.dir",
    "evt.args",
    "evt.arg",
    "evt.rawarg",
    "evt.hostname",
    "evt.buffer",
    "evt.source",
    "evt.is_open_exec",
    "evt.rawtime",
    "evt.deltatime",
    "evt.latency",
    "evt.cpu",
    "evt.plugininfo",
    "syscall.type",
    "proc.tty",
    "proc.pcmdline",
    "proc.pexe",
    "proc.pexepath",
    "proc.sname",
    "proc.vpid",
    "proc.vpgid",
    "proc.pvpid",
    "proc.sid",
    "proc.duration",
    "proc.loginshellid",
    "proc.aexe",
    "proc.aexepath",
    "proc.acmdline",
    "proc.exeline",
    "proc.is_exe_writable",
    "proc.is_exe_upper_layer",
    "proc.is_exe_from_memfd",
    "proc.is_sid_leader",
    "proc.is_vpgid_leader",
    "proc.is_container_healthcheck",
    "proc.is_container_liveness_probe",
    "proc.is_container_readiness_probe",
    "proc.exe_ino",
    "proc.exe_ino.ctime",
    "proc.exe_ino.mtime",
    "proc.exe_ino.ctime_duration_proc_start",
    "proc.ppid.duration",
    "proc.vpgid.name",
    "proc.vpgid.exe",
    "proc.vpgid.exepath",
    "proc.stdin.name",
    "proc.stdout.name",
    "proc.stderr.name",
    "proc.fdopencount",
    "user.loginuid",
    "user.loginname",
    "user.homedir",
    "user.shell",
    "group.name",
    "fd.nameraw",
    "fd.name_changed",
    "fd.connected",
    "fd.types",
    "fd.ip",
    "fd.port",
    "fd.net",
    "fd.snet",
    "fd.cnet",
    "fd.lnet",
    "fd.rnet",
    "fd.sip.name",
    "fd.cip.name",
    "fd.rip.name",
    "fd.lip.name",
    "fd.is_server",
    "fd.uid",
    "fd.containername",
    "fd.containerdirectory",
    "fd.proto",
    "fd.dev",
    "fd.ino",
];

/// Namespaces that belong wholly to Falco and its plugins.
const FALCO_ONLY_PREFIXES: &[&str] = &[
    "container.",
    "k8s.",
    "ka.",
    "thread.",
    "fs.",
    "fdlist.",
    "span.",
    "mesos.",
    "k8smeta.",
    "evt.arg.",
    "evt.rawarg.",
    "evt.abspath",
    "proc.exe_",
];

/// How a name that is not in the catalogue should be reported.
pub enum Unknown {
    /// A Falco field we do not provide.
    Unsupported,
    /// Nobody's field; perhaps a typo of the suggested one.
    Unknown(Option<&'static str>),
}

pub fn classify_unknown(name: &str) -> Unknown {
    if FALCO_ONLY_FIELDS.contains(&name) || FALCO_ONLY_PREFIXES.iter().any(|p| name.starts_with(p))
    {
        return Unknown::Unsupported;
    }
    let best = FIELDS
        .iter()
        .map(|f| (edit_distance(name, f.name), f.name))
        .min_by_key(|(d, _)| *d);
    Unknown::Unknown(best.filter(|(d, _)| *d <= 2).map(|(_, n)| n))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_an_event_is_a_rule_field() {
        // The JSON keys of events are the names rules use: one name per fact.
        let source = include_str!("../event.rs");
        let keys: Vec<&str> = source
            .split("rename = \"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(keys.len() > 50, "{keys:?}");
        let unknown: Vec<&&str> = keys
            .iter()
            .filter(|k| Field::by_name(k).is_none())
            .collect();
        assert!(
            unknown.is_empty(),
            "event keys rules cannot name: {unknown:?}"
        );
    }

    #[test]
    fn catalogue_is_in_enum_order_and_unique() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert_eq!(f.field as usize, i, "{}", f.name);
            assert_eq!(Field::by_name(f.name), Some(f.field));
        }
    }

    #[test]
    fn values_from_an_event() {
        let ev = Event {
            name: "sh".into(),
            anames: vec!["node".into(), "npx".into()].into(),
            fd_typechar: Some("f".into()),
            fd_name: Some("/srv/data/x".into()),
            mcp_roots: vec!["/srv/data/".into()],
            ..Default::default()
        };
        let r = |field, index| FieldRef { field, index };
        assert_eq!(r(Field::ProcAname, Some(2)).get(&ev), Value::Str("npx"));
        assert_eq!(r(Field::ProcAname, Some(9)).get(&ev), Value::Absent);
        assert_eq!(r(Field::McpInRoots, None).get(&ev), Value::Bool(true));
        assert_eq!(r(Field::FdType, None).get(&ev), Value::Str("file"));
        assert_eq!(r(Field::McpServer, None).get(&ev), Value::Absent);
        assert!(!path_under("/srv/database", "/srv/data"));
        assert_eq!(home_relative("/home/u/.ssh/id_rsa"), Some(".ssh/id_rsa"));
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
                      sync:x:4:65534:sync:/bin:/bin/sync\n\
                      www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
                      postgres:x:101:104:PostgreSQL:/var/lib/postgresql:/bin/bash\n\
                      svc:x:1001:1001::/srv/svc/:/usr/sbin/nologin\n\
                      gone:x:1002:1002::/srv/gone:/bin/bash\n\
                      systemd-network:x:998:998::/:/usr/sbin/nologin\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                      broken line\n";
        let homes = homes_from_passwd(passwd, |h| h != "/srv/gone");
        assert_eq!(homes, ["/var/lib/postgresql", "/srv/svc"]);
        assert_eq!(
            home_relative_in("/var/lib/postgresql/.pgpass", &homes),
            Some(".pgpass")
        );
        assert_eq!(
            home_relative_in("/srv/svc/.aws/credentials", &homes),
            Some(".aws/credentials")
        );
        assert_eq!(home_relative_in("/var/www/html/index.html", &homes), None);
        assert_eq!(home_relative_in("/usr/sbin/sshd", &homes), None);
        assert_eq!(home_relative_in("/srv/svcx/a", &homes), None);
        assert_eq!(home_relative("/root/.kube/config"), Some(".kube/config"));
        assert_eq!(home_relative("/home/u"), None);
        assert_eq!(home_relative("/etc/passwd"), None);
    }

    #[test]
    fn unknown_names_are_classified() {
        assert!(matches!(
            classify_unknown("proc.nmae"),
            Unknown::Unknown(Some("proc.name"))
        ));
        assert!(matches!(classify_unknown("proc.tty"), Unknown::Unsupported));
        assert!(matches!(
            classify_unknown("container.image.repository"),
            Unknown::Unsupported
        ));
    }
}
