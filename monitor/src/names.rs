//! Symbolic names of syscall arguments: flag sets, requests, commands,
//! signals, capabilities, namespace types. Each is a table; two helpers read
//! every table, one for bit sets ([`flags`]) and one for enumerations
//! ([`value`]). The numbers are the kernel's UAPI values, the same on every
//! architecture mcp-monitor builds for (x86_64, arm64).

/// Names of values or bits, in the order they are printed.
pub type Table = &'static [(u64, &'static str)];

/// `A|B` for the bits of `v` named in `table`, with bits no entry names
/// appended as `0x…`; `0` when no bit is set.
pub fn flags(v: u64, table: Table) -> String {
    let mut out = String::new();
    let mut rest = v;
    for &(bits, name) in table {
        if bits != 0 && rest & bits == bits {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            rest &= !bits;
        }
    }
    if rest != 0 {
        if !out.is_empty() {
            out.push('|');
        }
        out.push_str(&format!("0x{rest:x}"));
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

/// The name of `v` in `table`, or the number.
pub fn value(v: u64, table: Table) -> String {
    table
        .iter()
        .find(|(n, _)| *n == v)
        .map_or_else(|| v.to_string(), |(_, name)| (*name).to_owned())
}

/// `*at` flags (unlinkat, linkat, fchmodat2).
pub const AT_FLAGS: Table = &[
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x200, "AT_REMOVEDIR"),
    (0x400, "AT_SYMLINK_FOLLOW"),
    (0x1000, "AT_EMPTY_PATH"),
];

/// renameat2.
pub const RENAME_FLAGS: Table = &[
    (1, "RENAME_NOREPLACE"),
    (2, "RENAME_EXCHANGE"),
    (4, "RENAME_WHITEOUT"),
];

/// mount(2) flags.
pub const MOUNT_FLAGS: Table = &[
    (1, "MS_RDONLY"),
    (2, "MS_NOSUID"),
    (4, "MS_NODEV"),
    (8, "MS_NOEXEC"),
    (16, "MS_SYNCHRONOUS"),
    (32, "MS_REMOUNT"),
    (64, "MS_MANDLOCK"),
    (128, "MS_DIRSYNC"),
    (256, "MS_NOSYMFOLLOW"),
    (1024, "MS_NOATIME"),
    (2048, "MS_NODIRATIME"),
    (4096, "MS_BIND"),
    (8192, "MS_MOVE"),
    (16384, "MS_REC"),
    (32768, "MS_SILENT"),
    (1 << 16, "MS_POSIXACL"),
    (1 << 17, "MS_UNBINDABLE"),
    (1 << 18, "MS_PRIVATE"),
    (1 << 19, "MS_SLAVE"),
    (1 << 20, "MS_SHARED"),
    (1 << 21, "MS_RELATIME"),
    (1 << 22, "MS_KERNMOUNT"),
    (1 << 23, "MS_I_VERSION"),
    (1 << 24, "MS_STRICTATIME"),
    (1 << 25, "MS_LAZYTIME"),
];

/// The magic number old programs put in the high half of mount flags.
pub const MS_MGC_VAL: u64 = 0xc0ed_0000;

/// mount(2) flags, without the legacy magic number.
pub fn mount_flags(v: u64) -> String {
    let v = if v & 0xffff_0000 == MS_MGC_VAL {
        v & 0xffff
    } else {
        v
    };
    flags(v, MOUNT_FLAGS)
}

/// umount2(2).
pub const UMOUNT_FLAGS: Table = &[
    (1, "MNT_FORCE"),
    (2, "MNT_DETACH"),
    (4, "MNT_EXPIRE"),
    (8, "UMOUNT_NOFOLLOW"),
];

/// unshare(2) (and clone) flags; the `CLONE_NEW*` ones are setns's nstypes.
pub const CLONE_FLAGS: Table = &[
    (0x80, "CLONE_NEWTIME"),
    (0x100, "CLONE_VM"),
    (0x200, "CLONE_FS"),
    (0x400, "CLONE_FILES"),
    (0x800, "CLONE_SIGHAND"),
    (0x10000, "CLONE_THREAD"),
    (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"),
    (0x0200_0000, "CLONE_NEWCGROUP"),
    (0x0400_0000, "CLONE_NEWUTS"),
    (0x0800_0000, "CLONE_NEWIPC"),
    (0x1000_0000, "CLONE_NEWUSER"),
    (0x2000_0000, "CLONE_NEWPID"),
    (0x4000_0000, "CLONE_NEWNET"),
];

/// setns's nstype: 0 joins whatever namespace the fd is (`ANY`).
pub fn nstype(v: u64) -> String {
    if v == 0 {
        "ANY".to_owned()
    } else {
        flags(v, CLONE_FLAGS)
    }
}

/// memfd_create(2).
pub const MFD_FLAGS: Table = &[
    (1, "MFD_CLOEXEC"),
    (2, "MFD_ALLOW_SEALING"),
    (4, "MFD_HUGETLB"),
    (8, "MFD_NOEXEC_SEAL"),
    (0x10, "MFD_EXEC"),
];

/// dup3(2).
pub const DUP3_FLAGS: Table = &[(0o2_000_000, "O_CLOEXEC")];

/// accept4(2).
pub const SOCK_FLAGS: Table = &[(0o4000, "SOCK_NONBLOCK"), (0o2_000_000, "SOCK_CLOEXEC")];

/// finit_module(2).
pub const MODULE_INIT_FLAGS: Table = &[
    (1, "MODULE_INIT_IGNORE_MODVERSIONS"),
    (2, "MODULE_INIT_IGNORE_VERMAGIC"),
    (4, "MODULE_INIT_COMPRESSED_FILE"),
];

/// io_uring_setup(2) params.flags.
pub const IORING_SETUP_FLAGS: Table = &[
    (1, "IORING_SETUP_IOPOLL"),
    (2, "IORING_SETUP_SQPOLL"),
    (4, "IORING_SETUP_SQ_AFF"),
    (8, "IORING_SETUP_CQSIZE"),
    (0x10, "IORING_SETUP_CLAMP"),
    (0x20, "IORING_SETUP_ATTACH_WQ"),
    (0x40, "IORING_SETUP_R_DISABLED"),
    (0x80, "IORING_SETUP_SUBMIT_ALL"),
    (0x100, "IORING_SETUP_COOP_TASKRUN"),
    (0x200, "IORING_SETUP_TASKRUN_FLAG"),
    (0x400, "IORING_SETUP_SQE128"),
    (0x800, "IORING_SETUP_CQE32"),
    (0x1000, "IORING_SETUP_SINGLE_ISSUER"),
    (0x2000, "IORING_SETUP_DEFER_TASKRUN"),
    (0x4000, "IORING_SETUP_NO_MMAP"),
    (0x8000, "IORING_SETUP_REGISTERED_FD_ONLY"),
    (0x10000, "IORING_SETUP_NO_SQARRAY"),
];

/// ptrace(2) requests.
/// io_uring request opcodes (`IORING_OP_*`, a stable ABI numbered in order).
pub const IORING_OPS: Table = &[
    (0, "IORING_OP_NOP"),
    (1, "IORING_OP_READV"),
    (2, "IORING_OP_WRITEV"),
    (3, "IORING_OP_FSYNC"),
    (4, "IORING_OP_READ_FIXED"),
    (5, "IORING_OP_WRITE_FIXED"),
    (6, "IORING_OP_POLL_ADD"),
    (7, "IORING_OP_POLL_REMOVE"),
    (8, "IORING_OP_SYNC_FILE_RANGE"),
    (9, "IORING_OP_SENDMSG"),
    (10, "IORING_OP_RECVMSG"),
    (11, "IORING_OP_TIMEOUT"),
    (12, "IORING_OP_TIMEOUT_REMOVE"),
    (13, "IORING_OP_ACCEPT"),
    (14, "IORING_OP_ASYNC_CANCEL"),
    (15, "IORING_OP_LINK_TIMEOUT"),
    (16, "IORING_OP_CONNECT"),
    (17, "IORING_OP_FALLOCATE"),
    (18, "IORING_OP_OPENAT"),
    (19, "IORING_OP_CLOSE"),
    (20, "IORING_OP_FILES_UPDATE"),
    (21, "IORING_OP_STATX"),
    (22, "IORING_OP_READ"),
    (23, "IORING_OP_WRITE"),
    (24, "IORING_OP_FADVISE"),
    (25, "IORING_OP_MADVISE"),
    (26, "IORING_OP_SEND"),
    (27, "IORING_OP_RECV"),
    (28, "IORING_OP_OPENAT2"),
    (29, "IORING_OP_EPOLL_CTL"),
    (30, "IORING_OP_SPLICE"),
    (31, "IORING_OP_PROVIDE_BUFFERS"),
    (32, "IORING_OP_REMOVE_BUFFERS"),
    (33, "IORING_OP_TEE"),
    (34, "IORING_OP_SHUTDOWN"),
    (35, "IORING_OP_RENAMEAT"),
    (36, "IORING_OP_UNLINKAT"),
    (37, "IORING_OP_MKDIRAT"),
    (38, "IORING_OP_SYMLINKAT"),
    (39, "IORING_OP_LINKAT"),
    (40, "IORING_OP_MSG_RING"),
    (41, "IORING_OP_FSETXATTR"),
    (42, "IORING_OP_SETXATTR"),
    (43, "IORING_OP_FGETXATTR"),
    (44, "IORING_OP_GETXATTR"),
    (45, "IORING_OP_SOCKET"),
    (46, "IORING_OP_URING_CMD"),
    (47, "IORING_OP_SEND_ZC"),
    (48, "IORING_OP_SENDMSG_ZC"),
    (49, "IORING_OP_READ_MULTISHOT"),
    (50, "IORING_OP_WAITID"),
    (51, "IORING_OP_FUTEX_WAIT"),
    (52, "IORING_OP_FUTEX_WAKE"),
    (53, "IORING_OP_FUTEX_WAITV"),
    (54, "IORING_OP_FIXED_FD_INSTALL"),
    (55, "IORING_OP_FTRUNCATE"),
    (56, "IORING_OP_BIND"),
    (57, "IORING_OP_LISTEN"),
    (58, "IORING_OP_RECV_ZC"),
    (59, "IORING_OP_EPOLL_WAIT"),
    (60, "IORING_OP_READV_FIXED"),
    (61, "IORING_OP_WRITEV_FIXED"),
];

pub const PTRACE_REQUESTS: Table = &[
    (0, "PTRACE_TRACEME"),
    (1, "PTRACE_PEEKTEXT"),
    (2, "PTRACE_PEEKDATA"),
    (3, "PTRACE_PEEKUSR"),
    (4, "PTRACE_POKETEXT"),
    (5, "PTRACE_POKEDATA"),
    (6, "PTRACE_POKEUSR"),
    (7, "PTRACE_CONT"),
    (8, "PTRACE_KILL"),
    (9, "PTRACE_SINGLESTEP"),
    (12, "PTRACE_GETREGS"),
    (13, "PTRACE_SETREGS"),
    (14, "PTRACE_GETFPREGS"),
    (15, "PTRACE_SETFPREGS"),
    (16, "PTRACE_ATTACH"),
    (17, "PTRACE_DETACH"),
    (18, "PTRACE_GETFPXREGS"),
    (19, "PTRACE_SETFPXREGS"),
    (24, "PTRACE_SYSCALL"),
    (30, "PTRACE_ARCH_PRCTL"),
    (31, "PTRACE_SYSEMU"),
    (32, "PTRACE_SYSEMU_SINGLESTEP"),
    (0x4200, "PTRACE_SETOPTIONS"),
    (0x4201, "PTRACE_GETEVENTMSG"),
    (0x4202, "PTRACE_GETSIGINFO"),
    (0x4203, "PTRACE_SETSIGINFO"),
    (0x4204, "PTRACE_GETREGSET"),
    (0x4205, "PTRACE_SETREGSET"),
    (0x4206, "PTRACE_SEIZE"),
    (0x4207, "PTRACE_INTERRUPT"),
    (0x4208, "PTRACE_LISTEN"),
    (0x4209, "PTRACE_PEEKSIGINFO"),
    (0x420a, "PTRACE_GETSIGMASK"),
    (0x420b, "PTRACE_SETSIGMASK"),
    (0x420c, "PTRACE_SECCOMP_GET_FILTER"),
    (0x420d, "PTRACE_SECCOMP_GET_METADATA"),
    (0x420e, "PTRACE_GET_SYSCALL_INFO"),
    (0x420f, "PTRACE_GET_RSEQ_CONFIGURATION"),
];

/// Socket domains (`AF_*`).
pub const SOCKET_DOMAINS: Table = &[
    (1, "AF_UNIX"),
    (2, "AF_INET"),
    (10, "AF_INET6"),
    (16, "AF_NETLINK"),
    (17, "AF_PACKET"),
];

/// Socket types (`SOCK_*`, the low 4 bits of the type argument).
pub const SOCKET_TYPES: Table = &[
    (1, "SOCK_STREAM"),
    (2, "SOCK_DGRAM"),
    (3, "SOCK_RAW"),
    (4, "SOCK_RDM"),
    (5, "SOCK_SEQPACKET"),
    (6, "SOCK_DCCP"),
    (10, "SOCK_PACKET"),
];

/// socket(2)'s type argument: the type's name, then its flags.
pub fn socket_type(v: u64) -> String {
    let base = value(v & 0xf, SOCKET_TYPES);
    let rest = v & !0xf;
    if rest == 0 {
        base
    } else {
        format!("{base}|{}", flags(rest, SOCK_FLAGS))
    }
}

/// Netlink protocols (AF_NETLINK sockets).
pub const NETLINK_PROTOCOLS: Table = &[
    (0, "NETLINK_ROUTE"),
    (9, "NETLINK_AUDIT"),
    (12, "NETLINK_NETFILTER"),
    (15, "NETLINK_KOBJECT_UEVENT"),
];

/// IP protocols (raw AF_INET/AF_INET6 sockets).
pub const IP_PROTOCOLS: Table = &[
    (0, "IPPROTO_IP"),
    (1, "IPPROTO_ICMP"),
    (6, "IPPROTO_TCP"),
    (17, "IPPROTO_UDP"),
    (58, "IPPROTO_ICMPV6"),
    (255, "IPPROTO_RAW"),
];

/// Ethernet protocols of AF_PACKET sockets (given in network byte order).
pub const ETH_PROTOCOLS: Table = &[
    (0x0003, "ETH_P_ALL"),
    (0x0800, "ETH_P_IP"),
    (0x0806, "ETH_P_ARP"),
];

/// socket(2)'s protocol argument, named after the domain's table.
pub fn socket_protocol(domain: u64, proto: u64) -> String {
    match domain {
        16 => value(proto, NETLINK_PROTOCOLS),
        2 | 10 => value(proto, IP_PROTOCOLS),
        17 => value(u64::from((proto as u16).swap_bytes()), ETH_PROTOCOLS),
        _ => proto.to_string(),
    }
}

/// ioctl(2) requests mcp-monitor reports.
pub const IOCTL_REQUESTS: Table = &[
    (0x4008_6602, "FS_IOC_SETFLAGS"),
    (0x4004_6602, "FS_IOC32_SETFLAGS"),
    (0x401c_5820, "FS_IOC_FSSETXATTR"),
];

/// Inode attribute flags (`chattr`; `FS_*_FL`).
pub const INODE_FLAGS: Table = &[
    (0x0000_0001, "FS_SECRM_FL"),
    (0x0000_0002, "FS_UNRM_FL"),
    (0x0000_0004, "FS_COMPR_FL"),
    (0x0000_0008, "FS_SYNC_FL"),
    (0x0000_0010, "FS_IMMUTABLE_FL"),
    (0x0000_0020, "FS_APPEND_FL"),
    (0x0000_0040, "FS_NODUMP_FL"),
    (0x0000_0080, "FS_NOATIME_FL"),
    (0x0000_1000, "FS_INDEX_FL"),
    (0x0000_4000, "FS_JOURNAL_DATA_FL"),
    (0x0008_0000, "FS_EXTENT_FL"),
    (0x0080_0000, "FS_NOCOW_FL"),
];

/// bpf(2) commands.
pub const BPF_COMMANDS: Table = &[
    (0, "BPF_MAP_CREATE"),
    (1, "BPF_MAP_LOOKUP_ELEM"),
    (2, "BPF_MAP_UPDATE_ELEM"),
    (3, "BPF_MAP_DELETE_ELEM"),
    (4, "BPF_MAP_GET_NEXT_KEY"),
    (5, "BPF_PROG_LOAD"),
    (6, "BPF_OBJ_PIN"),
    (7, "BPF_OBJ_GET"),
    (8, "BPF_PROG_ATTACH"),
    (9, "BPF_PROG_DETACH"),
    (10, "BPF_PROG_TEST_RUN"),
    (11, "BPF_PROG_GET_NEXT_ID"),
    (12, "BPF_MAP_GET_NEXT_ID"),
    (13, "BPF_PROG_GET_FD_BY_ID"),
    (14, "BPF_MAP_GET_FD_BY_ID"),
    (15, "BPF_OBJ_GET_INFO_BY_FD"),
    (16, "BPF_PROG_QUERY"),
    (17, "BPF_RAW_TRACEPOINT_OPEN"),
    (18, "BPF_BTF_LOAD"),
    (19, "BPF_BTF_GET_FD_BY_ID"),
    (20, "BPF_TASK_FD_QUERY"),
    (21, "BPF_MAP_LOOKUP_AND_DELETE_ELEM"),
    (22, "BPF_MAP_FREEZE"),
    (23, "BPF_BTF_GET_NEXT_ID"),
    (24, "BPF_MAP_LOOKUP_BATCH"),
    (25, "BPF_MAP_LOOKUP_AND_DELETE_BATCH"),
    (26, "BPF_MAP_UPDATE_BATCH"),
    (27, "BPF_MAP_DELETE_BATCH"),
    (28, "BPF_LINK_CREATE"),
    (29, "BPF_LINK_UPDATE"),
    (30, "BPF_LINK_GET_FD_BY_ID"),
    (31, "BPF_LINK_GET_NEXT_ID"),
    (32, "BPF_ENABLE_STATS"),
    (33, "BPF_ITER_CREATE"),
    (34, "BPF_LINK_DETACH"),
    (35, "BPF_PROG_BIND_MAP"),
    (36, "BPF_TOKEN_CREATE"),
];

/// Standard signals.
pub const SIGNALS: Table = &[
    (1, "SIGHUP"),
    (2, "SIGINT"),
    (3, "SIGQUIT"),
    (4, "SIGILL"),
    (5, "SIGTRAP"),
    (6, "SIGABRT"),
    (7, "SIGBUS"),
    (8, "SIGFPE"),
    (9, "SIGKILL"),
    (10, "SIGUSR1"),
    (11, "SIGSEGV"),
    (12, "SIGUSR2"),
    (13, "SIGPIPE"),
    (14, "SIGALRM"),
    (15, "SIGTERM"),
    (16, "SIGSTKFLT"),
    (17, "SIGCHLD"),
    (18, "SIGCONT"),
    (19, "SIGSTOP"),
    (20, "SIGTSTP"),
    (21, "SIGTTIN"),
    (22, "SIGTTOU"),
    (23, "SIGURG"),
    (24, "SIGXCPU"),
    (25, "SIGXFSZ"),
    (26, "SIGVTALRM"),
    (27, "SIGPROF"),
    (28, "SIGWINCH"),
    (29, "SIGIO"),
    (30, "SIGPWR"),
    (31, "SIGSYS"),
];

/// A signal by name: `SIGTERM`, `SIGRTMIN+3` for real-time ones, the number
/// for anything else (0, the existence probe, stays `0`).
pub fn signal(v: u64) -> String {
    const SIGRTMIN: u64 = 34;
    const SIGRTMAX: u64 = 64;
    match v {
        SIGRTMIN => "SIGRTMIN".to_owned(),
        n if n > SIGRTMIN && n <= SIGRTMAX => format!("SIGRTMIN+{}", n - SIGRTMIN),
        n => value(n, SIGNALS),
    }
}

/// Capabilities as bits of a capability set.
pub const CAPABILITIES: Table = &[
    (1 << 0, "CAP_CHOWN"),
    (1 << 1, "CAP_DAC_OVERRIDE"),
    (1 << 2, "CAP_DAC_READ_SEARCH"),
    (1 << 3, "CAP_FOWNER"),
    (1 << 4, "CAP_FSETID"),
    (1 << 5, "CAP_KILL"),
    (1 << 6, "CAP_SETGID"),
    (1 << 7, "CAP_SETUID"),
    (1 << 8, "CAP_SETPCAP"),
    (1 << 9, "CAP_LINUX_IMMUTABLE"),
    (1 << 10, "CAP_NET_BIND_SERVICE"),
    (1 << 11, "CAP_NET_BROADCAST"),
    (1 << 12, "CAP_NET_ADMIN"),
    (1 << 13, "CAP_NET_RAW"),
    (1 << 14, "CAP_IPC_LOCK"),
    (1 << 15, "CAP_IPC_OWNER"),
    (1 << 16, "CAP_SYS_MODULE"),
    (1 << 17, "CAP_SYS_RAWIO"),
    (1 << 18, "CAP_SYS_CHROOT"),
    (1 << 19, "CAP_SYS_PTRACE"),
    (1 << 20, "CAP_SYS_PACCT"),
    (1 << 21, "CAP_SYS_ADMIN"),
    (1 << 22, "CAP_SYS_BOOT"),
    (1 << 23, "CAP_SYS_NICE"),
    (1 << 24, "CAP_SYS_RESOURCE"),
    (1 << 25, "CAP_SYS_TIME"),
    (1 << 26, "CAP_SYS_TTY_CONFIG"),
    (1 << 27, "CAP_MKNOD"),
    (1 << 28, "CAP_LEASE"),
    (1 << 29, "CAP_AUDIT_WRITE"),
    (1 << 30, "CAP_AUDIT_CONTROL"),
    (1 << 31, "CAP_SETFCAP"),
    (1 << 32, "CAP_MAC_OVERRIDE"),
    (1 << 33, "CAP_MAC_ADMIN"),
    (1 << 34, "CAP_SYSLOG"),
    (1 << 35, "CAP_WAKE_ALARM"),
    (1 << 36, "CAP_BLOCK_SUSPEND"),
    (1 << 37, "CAP_AUDIT_READ"),
    (1 << 38, "CAP_PERFMON"),
    (1 << 39, "CAP_BPF"),
    (1 << 40, "CAP_CHECKPOINT_RESTORE"),
];

/// A capability set by name; the empty set is the empty string.
pub fn capabilities(set: u64) -> String {
    if set == 0 {
        return String::new();
    }
    flags(set, CAPABILITIES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_sets_by_name_with_leftovers() {
        assert_eq!(flags(0x200, AT_FLAGS), "AT_REMOVEDIR");
        assert_eq!(flags(3, RENAME_FLAGS), "RENAME_NOREPLACE|RENAME_EXCHANGE");
        assert_eq!(flags(0, RENAME_FLAGS), "0");
        assert_eq!(flags(0x1_0002, MFD_FLAGS), "MFD_ALLOW_SEALING|0x10000");
        assert_eq!(flags(0x1002_0000, CLONE_FLAGS), "CLONE_NEWNS|CLONE_NEWUSER");
        assert_eq!(mount_flags(4096 | 16384), "MS_BIND|MS_REC");
        assert_eq!(mount_flags(MS_MGC_VAL | 1), "MS_RDONLY");
        assert_eq!(flags(2, UMOUNT_FLAGS), "MNT_DETACH");
        assert_eq!(flags(0o2_000_000, DUP3_FLAGS), "O_CLOEXEC");
        assert_eq!(flags(2, IORING_SETUP_FLAGS), "IORING_SETUP_SQPOLL");
        assert_eq!(nstype(0), "ANY");
        assert_eq!(nstype(0x4000_0000), "CLONE_NEWNET");
    }

    #[test]
    fn enumerations_by_name_or_number() {
        assert_eq!(value(16, PTRACE_REQUESTS), "PTRACE_ATTACH");
        assert_eq!(value(0x4206, PTRACE_REQUESTS), "PTRACE_SEIZE");
        assert_eq!(value(0, PTRACE_REQUESTS), "PTRACE_TRACEME");
        assert_eq!(value(999, PTRACE_REQUESTS), "999");
        assert_eq!(value(18, IORING_OPS), "IORING_OP_OPENAT");
        assert_eq!(value(22, IORING_OPS), "IORING_OP_READ");
        assert_eq!(value(28, IORING_OPS), "IORING_OP_OPENAT2");
        assert_eq!(value(30, IORING_OPS), "IORING_OP_SPLICE");
        assert_eq!(socket_type(3), "SOCK_RAW");
        assert_eq!(socket_type(3 | 0o2_000_000), "SOCK_RAW|SOCK_CLOEXEC");
        assert_eq!(socket_protocol(17, 0x0300), "ETH_P_ALL");
        assert_eq!(socket_protocol(16, 12), "NETLINK_NETFILTER");
        assert_eq!(socket_protocol(2, 1), "IPPROTO_ICMP");
        assert_eq!(flags(0x30, INODE_FLAGS), "FS_IMMUTABLE_FL|FS_APPEND_FL");
        assert_eq!(value(5, BPF_COMMANDS), "BPF_PROG_LOAD");
        assert_eq!(signal(9), "SIGKILL");
        assert_eq!(signal(15), "SIGTERM");
        assert_eq!(signal(0), "0");
        assert_eq!(signal(34), "SIGRTMIN");
        assert_eq!(signal(36), "SIGRTMIN+2");
        assert_eq!(signal(65), "65");
        assert_eq!(capabilities(0), "");
        assert_eq!(
            capabilities((1 << 13) | (1 << 21)),
            "CAP_NET_RAW|CAP_SYS_ADMIN"
        );
        assert_eq!(capabilities(1 << 40), "CAP_CHECKPOINT_RESTORE");
        assert_eq!(capabilities(1 << 41), "0x20000000000");
    }

    #[test]
    fn tables_name_each_value_once() {
        for table in [
            AT_FLAGS,
            RENAME_FLAGS,
            MOUNT_FLAGS,
            UMOUNT_FLAGS,
            CLONE_FLAGS,
            MFD_FLAGS,
            SOCK_FLAGS,
            IORING_SETUP_FLAGS,
            PTRACE_REQUESTS,
            BPF_COMMANDS,
            SIGNALS,
            CAPABILITIES,
        ] {
            for (i, (v, name)) in table.iter().enumerate() {
                assert!(
                    table[i + 1..].iter().all(|(w, n)| w != v && n != name),
                    "{name}"
                );
            }
        }
        for (i, (bit, _)) in CAPABILITIES.iter().enumerate() {
            assert_eq!(*bit, 1 << i);
        }
    }
}
