//! Types shared by the kernel programs (`monitor-ebpf`) and user space (`monitor`).
//!
//! Every record the kernel writes into the ring buffer starts with an [`EventHeader`];
//! its `kind` says which of the structs below follows. All structs are `#[repr(C)]`
//! with explicit padding so both sides agree on the layout byte for byte.
#![no_std]

/// Length of a task's `comm`.
pub const COMM_LEN: usize = 16;
/// Bytes of a path copied from a syscall argument or tracepoint (including the NUL).
pub const PATH_LEN: usize = 512;
/// Bytes of the NUL-separated argument vector copied at exec.
pub const ARGS_LEN: usize = 2048;
/// Bytes of the dynamic-loader variables (`LD_PRELOAD=…`) kept from an exec's
/// environment (a power of two).
pub const LOADER_ENV_LEN: usize = 512;
/// Bytes read of one loader variable.
pub const LOADER_VAR_READ: usize = 256;
/// Bytes of one environment variable the kernel scan reads to find the next:
/// a longer one makes the scan resume inside it.
pub const ENV_VAR_READ: usize = 4096;
/// Environment variables the kernel scan looks at, at most.
pub const ENV_VARS_MAX: u32 = 512;
/// Bytes of a path resolved in the kernel: its components, leaf first, each
/// NUL-terminated (user space puts them in order). A component starts below
/// [`RESOLVED_COMPONENTS`]; the rest is room for the last one's name.
pub const RESOLVED_LEN: usize = RESOLVED_COMPONENTS + NAME_READ;
/// Where the last component of a resolved path may start (a power of two).
pub const RESOLVED_COMPONENTS: usize = 1024;
/// Bytes read for one component's name (NAME_MAX + NUL).
pub const NAME_READ: usize = 256;
/// Components (and mount crossings) a kernel path walk goes through at most.
pub const RESOLVE_DEPTH: u32 = 64;
/// Bytes of a `sockaddr_un.sun_path`.
pub const UNIX_PATH_LEN: usize = 108;

/// `AT_FDCWD`: a dirfd meaning "relative to the current directory".
pub const AT_FDCWD: i32 = -100;

/// Capacity of the tagged-process map. Threads of tagged processes may occupy
/// entries too (see `monitor-ebpf`'s process module), so it is generous.
pub const MAX_TAGGED: u32 = 65_536;
/// Words of the tagged-process bitmap: one bit per pid up to the kernel's
/// PID_MAX_LIMIT (4 194 304), 512 KiB.
pub const TAG_BITMAP_WORDS: u32 = 4_194_304 / 64;
/// `BPF_F_MMAPABLE`: user space maps the bitmap and flips bits atomically.
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

/// Slots of the lock-free array that pairs open enter and exit, indexed by
/// thread id modulo this (a power of two); a thread whose slot is taken by
/// another falls back to the hash map.
pub const OPEN_SLOTS: u32 = 32_768;

/// Capacity of the per-thread maps that pair syscall enter and exit.
pub const MAX_PENDING: u32 = 16_384;
/// Ring buffer size in bytes (a power of two, a multiple of the page size).
pub const RING_BUF_BYTES: u32 = 8 * 1024 * 1024;
/// Ordinary records leave the last 1/2^RESERVE_SHIFT of the ring buffer (1
/// MiB of the default 8) to priority ones: reads of sensitive files and
/// privileged syscalls, which a storm of ordinary records must not crowd out.
pub const RESERVE_SHIFT: u32 = 3;
/// Capacity of the sensitive-inode set (`SENSITIVE`).
pub const MAX_SENSITIVE: u32 = 8192;
/// A file is sensitive when it, or one of this many directories above it, is
/// in the sensitive-inode set (`~/.config/gcloud/legacy_credentials/x/adc.json`
/// is three levels below `.config/gcloud`).
pub const SENSITIVE_DEPTH: u64 = 4;
/// Offsets of `req` (a pointer) and `res` (an int) in the
/// `io_uring:io_uring_complete` record since Linux 5.19; user space checks
/// them against tracefs before it lets the kernel read them.
pub const URING_COMPLETE_REQ: usize = 16;
pub const URING_COMPLETE_RES: usize = 32;
/// The io_uring opcodes that open a file (`IORING_OP_OPENAT`, `_OPENAT2`):
/// their result is the new fd.
pub const IORING_OPEN_OPS: [u8; 2] = [18, 28];

/// Whether an io_uring opcode opens a file.
#[inline(always)]
pub const fn is_uring_open(opcode: u8) -> bool {
    opcode == IORING_OPEN_OPS[0] || opcode == IORING_OPEN_OPS[1]
}

/// Capacity of the map that reports each file an io_uring request used once.
pub const MAX_URING_FILES: u32 = 4096;

/// At most one ring-buffer wake-up of user space per CPU per this many
/// nanoseconds; user space polls again shortly after every batch it drains,
/// so events submitted without a wake-up wait at most about that long.
pub const WAKEUP_INTERVAL_NS: u64 = 1_000_000;

/// Names of the maps and globals, so loader and programs cannot drift apart.
pub mod names {
    pub const EVENTS: &str = "EVENTS";
    pub const TAGGED: &str = "TAGGED";
    pub const TAG_BITMAP: &str = "TAG_BITMAP";
    pub const DROPS: &str = "DROPS";
    pub const OFFSETS: &str = "OFFSETS";
    pub const HANDLERS: &str = "HANDLERS";
    pub const SERVERS: &str = "SERVERS";
    pub const HANDOFF: &str = "HANDOFF";
    pub const DAEMON: &str = "DAEMON";
    pub const SENSITIVE: &str = "SENSITIVE";
    pub const FAILURES: &str = "FAILURES";

    /// The maps pinned when the daemon keeps its state across restarts: the
    /// tags, the records written meanwhile, the drop counters, the server
    /// names, and what pairs an enter with its exit and an exit with its
    /// handler (old and new programs share them while both are attached).
    pub const PINNED: &[&str] = &[
        EVENTS,
        SENSITIVE,
        TAGGED,
        TAG_BITMAP,
        DROPS,
        FAILURES,
        SERVERS,
        DAEMON,
        HANDLERS,
        HANDOFF,
        "OPEN_SLOTS_MAP",
        "PENDING_OPEN",
        "PENDING_CONNECT",
        "PENDING_CALL",
        // Prevent mode's: old and new programs decide from the same plan.
        "ENFORCE_CONFIG",
        "ENFORCE_MASKS",
        "ENFORCE_PORTS",
        "ENFORCE_PREFIXES",
        "ENFORCE_INODES",
        "ENFORCE_NETS",
        "ENFORCE_COMMS",
        "ENFORCE_CALLS",
        "ENFORCE_SKIP",
        "VERDICTS",
    ];
}

/// The layout of the pinned state: bump it when a pinned map's type, size or
/// value, or a record, changes, so that a new daemon does not take over maps
/// (or read records) it would misread. Pins live under `abi-N/`.
pub const STATE_ABI: u32 = 5;

/// Capacity of the server-name map (`SERVERS`).
pub const MAX_SERVERS: u32 = 4096;
/// Bytes of a server's name or host kept in a [`ServerRecord`].
pub const SERVER_NAME_LEN: usize = 64;

/// What user space keeps in the kernel about an MCP server, so that a
/// restarted daemon can name the tags it finds: the `SERVERS` map, keyed by
/// server id. No kernel program reads it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerRecord {
    pub root_tgid: u32,
    /// A [`TagSource`] as `u32`.
    pub source: u32,
    /// NUL-padded UTF-8, cut at a character boundary.
    pub name: [u8; SERVER_NAME_LEN],
    /// NUL-padded UTF-8; empty when the host is not known.
    pub host: [u8; SERVER_NAME_LEN],
}

/// The shared exit handlers, one per record that needs the heavy work
/// (reading user strings, walking a path up to the root). The exit program
/// of each syscall only checks the tag and tail-calls its handler through the
/// `HANDLERS` program array, so the kernel verifies that work once per
/// handler instead of once per syscall.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    /// Completes an open-family call ([`OpenEvent`]).
    Open = 0,
    /// Completes a generic call with paths ([`PathEvent`]).
    Path = 1,
    /// Completes a generic call with a socket address ([`SockEvent`]).
    Sock = 2,
    /// Completes any other generic call ([`CallEvent`]).
    Call = 3,
    /// Completes an exec ([`ExecEvent`]).
    Exec = 4,
    /// Prevent mode's decisions, each then handing over to the handler of
    /// its record: the file an open opened, the program an exec runs, a
    /// generic syscall, and a connect's destination (at enter).
    EnforceOpen = 5,
    EnforceExec = 6,
    EnforceCall = 7,
    EnforceConnect = 8,
}

impl Handler {
    pub const ALL: [Handler; 9] = [
        Handler::Open,
        Handler::Path,
        Handler::Sock,
        Handler::Call,
        Handler::Exec,
        Handler::EnforceOpen,
        Handler::EnforceExec,
        Handler::EnforceCall,
        Handler::EnforceConnect,
    ];

    /// The program's name in the eBPF object. `walk`: the variant that
    /// resolves paths in the kernel (needs `bpf_loop`, 5.17+); the others
    /// leave that to user space. Handlers without paths have one variant.
    pub const fn program(self, walk: bool) -> &'static str {
        match (self, walk) {
            (Handler::Open, true) => "handle_open",
            (Handler::Open, false) => "handle_open_raw",
            (Handler::Path, true) => "handle_path",
            (Handler::Path, false) => "handle_path_raw",
            (Handler::Sock, _) => "handle_sock",
            (Handler::Call, _) => "handle_call",
            (Handler::Exec, true) => "handle_exec",
            (Handler::Exec, false) => "handle_exec_raw",
            (Handler::EnforceOpen, _) => "enforce_open",
            (Handler::EnforceExec, _) => "enforce_exec",
            (Handler::EnforceCall, _) => "enforce_call",
            (Handler::EnforceConnect, _) => "enforce_connect",
        }
    }

    /// The handler that completes a generic syscall's record.
    pub const fn of(record: EventKind) -> Handler {
        match record {
            EventKind::Path => Handler::Path,
            EventKind::Sock => Handler::Sock,
            _ => Handler::Call,
        }
    }
}

/// What follows the header of a ring-buffer record.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Fork = 1,
    Exec = 2,
    Exit = 3,
    Open = 4,
    Connect = 5,
    /// A [`CallEvent`]: a syscall whose arguments say it all.
    Call = 6,
    /// A [`PathEvent`]: a syscall with path or name arguments.
    Path = 7,
    /// A [`SockEvent`]: a syscall with a socket address.
    Sock = 8,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::Fork,
        EventKind::Exec,
        EventKind::Exit,
        EventKind::Open,
        EventKind::Connect,
        EventKind::Call,
        EventKind::Path,
        EventKind::Sock,
    ];

    pub fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u32 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Fork => "fork",
            EventKind::Exec => "exec",
            EventKind::Exit => "exit",
            EventKind::Open => "open",
            EventKind::Connect => "connect",
            EventKind::Call => "call",
            EventKind::Path => "path",
            EventKind::Sock => "sock",
        }
    }
}

/// What went wrong in the kernel without losing a record outright, counted
/// per CPU in the `FAILURES` map (indexed by this) so that user space can
/// say so rather than the programs ignoring it.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFailure {
    /// A tagged process's child could not be tagged: the tag map is full.
    TagMapFull = 0,
    /// An enter could not keep a call's arguments for its exit.
    PendingFull = 1,
    /// An open's or connect's exit found no arguments kept by its enter
    /// (evicted under pressure): the call went unreported.
    Unpaired = 2,
}

impl KernelFailure {
    pub const ALL: [KernelFailure; 3] = [
        KernelFailure::TagMapFull,
        KernelFailure::PendingFull,
        KernelFailure::Unpaired,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KernelFailure::TagMapFull => "tag_map_full",
            KernelFailure::PendingFull => "pending_full",
            KernelFailure::Unpaired => "unpaired",
        }
    }
}

/// Slots of the `FAILURES` map.
pub const FAILURE_SLOTS: u32 = 8;

/// Number of slots in the per-CPU drop counter array: [`drop_slot`].
pub const DROP_SLOTS: u32 = 16;

/// The drop counter of a record of `kind` that did not fit in the ring
/// buffer: ordinary records' counters are indexed by kind, priority ones'
/// (which may use the reserve) follow them.
#[inline(always)]
pub const fn drop_slot(kind: EventKind, priority: bool) -> u32 {
    kind as u32 + if priority { PRIORITY_DROP_BASE } else { 0 }
}

/// Where the priority records' drop counters start.
pub const PRIORITY_DROP_BASE: u32 = 8;

/// Bits of [`EventHeader::flags`].
pub mod flags {
    /// The path did not fit in `PATH_LEN` bytes.
    pub const PATH_TRUNCATED: u32 = 1 << 0;
    /// The argument vector did not fit in `ARGS_LEN` bytes.
    pub const ARGS_TRUNCATED: u32 = 1 << 1;
    /// The path could not be read from user memory.
    pub const PATH_UNREADABLE: u32 = 1 << 2;
    /// The argument vector could not be read.
    pub const ARGS_UNREADABLE: u32 = 1 << 3;
    /// The socket address could not be read.
    pub const ADDR_UNREADABLE: u32 = 1 << 4;
    /// `resolved` is the path of the file the call opened, as the kernel
    /// reached it (symlinks followed, `..` gone), relative to the process's root.
    pub const RESOLVED_FILE: u32 = 1 << 5;
    /// `resolved` is the directory a relative path argument starts from (the
    /// dirfd's, or the cwd when the dirfd is `AT_FDCWD`), at the time of the call.
    pub const RESOLVED_BASE: u32 = 1 << 6;
    /// The kernel walk stopped before the root (too deep, too long, or a
    /// detached file): `resolved` must not be trusted.
    pub const RESOLVED_INCOMPLETE: u32 = 1 << 7;
    /// The second path of a [`PathEvent`](super::PathEvent) did not fit.
    pub const PATH2_TRUNCATED: u32 = 1 << 8;
    /// The second path of a [`PathEvent`](super::PathEvent) could not be read.
    pub const PATH2_UNREADABLE: u32 = 1 << 9;
    /// The short string of a [`PathEvent`](super::PathEvent) could not be read.
    pub const SHORT_UNREADABLE: u32 = 1 << 10;
    /// The user memory of a [`CallEvent`](super::CallEvent) could not be read.
    pub const DATA_UNREADABLE: u32 = 1 << 11;
    /// A path record's `base` is the directory of its second path (else of
    /// its first); see [`crate::Syscall::dirfds`].
    pub const BASE_OF_PATH2: u32 = 1 << 12;
    /// The file, or a directory just above it, is in the sensitive-inode set:
    /// the record could use the ring buffer's reserve.
    pub const SENSITIVE: u32 = 1 << 13;
    /// What the open opened is a directory (`RESOLVED_FILE` only).
    pub const DIRECTORY: u32 = 1 << 14;
    /// A probe acted on the call in prevent mode (`EventHeader::enforced`
    /// says what it did): the record may use the ring buffer's reserve.
    pub const ENFORCED: u32 = 1 << 15;
}

/// Start of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventHeader {
    /// An [`EventKind`] as `u32`.
    pub kind: u32,
    /// Bits from [`flags`].
    pub flags: u32,
    /// `bpf_ktime_get_boot_ns()` when the event happened.
    pub ktime_ns: u64,
    /// Process id (thread group id) of the task.
    pub tgid: u32,
    /// Thread id of the task.
    pub tid: u32,
    /// Process id of the real parent, 0 when not known.
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    /// MCP server id from the tag map; 0 for an untagged task.
    pub server_id: u32,
    /// The process the tag was first given to.
    pub root_tgid: u32,
    /// What a probe did in prevent mode (`enforce::enforced`), or 0.
    pub enforced: u32,
    pub comm: [u8; COMM_LEN],
}

/// A ring-buffer record type.
///
/// # Safety
/// The type is `#[repr(C)]` and starts with an [`EventHeader`] (so a pointer to
/// it is a pointer to its header), and `KIND` is the kind its header carries.
pub unsafe trait Record: Sized {
    const KIND: EventKind;
    /// Bytes every record of this type has. A record whose last field is a
    /// buffer used only in part is sent without the unused end, so it may be
    /// as short as this; user space reads the rest as zeroes.
    const MIN_LEN: usize = core::mem::size_of::<Self>();
}

/// Bytes of the per-CPU buffer records that are sent trimmed are built in
/// (at least the largest such record).
pub const TRIMMED_RECORD_LEN: usize = 4096;

/// A new process (not a thread) was created by a tagged process.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ForkEvent {
    pub header: EventHeader,
    pub child_tgid: u32,
    pub _pad: u32,
}

// SAFETY: each of these is #[repr(C)] with `header: EventHeader` first.
unsafe impl Record for ForkEvent {
    const KIND: EventKind = EventKind::Fork;
}
unsafe impl Record for ExecEvent {
    const MIN_LEN: usize = core::mem::offset_of!(ExecEvent, args);
    const KIND: EventKind = EventKind::Exec;
}
unsafe impl Record for ExitEvent {
    const KIND: EventKind = EventKind::Exit;
}
unsafe impl Record for OpenEvent {
    const KIND: EventKind = EventKind::Open;
    const MIN_LEN: usize = core::mem::offset_of!(OpenEvent, resolved);
}
unsafe impl Record for ConnectEvent {
    const KIND: EventKind = EventKind::Connect;
}
unsafe impl Record for CallEvent {
    const KIND: EventKind = EventKind::Call;
}
unsafe impl Record for PathEvent {
    const KIND: EventKind = EventKind::Path;
    const MIN_LEN: usize = core::mem::offset_of!(PathEvent, base);
}
unsafe impl Record for SockEvent {
    const KIND: EventKind = EventKind::Sock;
}

/// A successful exec (from `sched_process_exec`), for every process.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExecEvent {
    pub header: EventHeader,
    /// Bytes of `filename` used, without the NUL.
    pub filename_len: u32,
    /// Bytes of `args` used (NUL-separated arguments).
    pub args_len: u32,
    /// Bytes of `loader_env` used.
    pub loader_env_len: u32,
    pub _pad: u32,
    pub filename: [u8; PATH_LEN],
    /// The dynamic loader's variables (`LD_*=…`) of a tagged process's new
    /// environment, NUL-separated, cut at [`LOADER_ENV_LEN`] bytes.
    pub loader_env: [u8; LOADER_ENV_LEN],
    /// Last: the record is sent trimmed to the arguments used.
    pub args: [u8; ARGS_LEN],
}

/// A tagged process ended (its whole thread group).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExitEvent {
    pub header: EventHeader,
    /// `task_struct.exit_code` (wait status), or -1 when not known.
    pub exit_code: i32,
    pub _pad: u32,
}

/// Which system call an [`OpenEvent`] came from.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenSyscall {
    Open = 0,
    OpenAt = 1,
    OpenAt2 = 2,
    Creat = 3,
    /// Not a syscall: a completed io_uring request that opened or used a file
    /// (`monitor-ebpf`'s `uring` module). The record's `mode` is its opcode.
    IoUring = 4,
}

impl OpenSyscall {
    pub fn from_u32(v: u32) -> Option<Self> {
        [
            Self::Open,
            Self::OpenAt,
            Self::OpenAt2,
            Self::Creat,
            Self::IoUring,
        ]
        .into_iter()
        .find(|s| *s as u32 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            OpenSyscall::Open => "open",
            OpenSyscall::OpenAt => "openat",
            OpenSyscall::OpenAt2 => "openat2",
            OpenSyscall::Creat => "creat",
            OpenSyscall::IoUring => "io_uring",
        }
    }
}

/// An [`OPEN_SLOTS`] slot: the thread that owns it (0 when free) and its call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OpenSlot {
    pub owner: u64,
    pub open: PendingOpen,
}

/// Arguments of an open-family call, kept from enter until exit.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PendingOpen {
    pub syscall: u32,
    pub dirfd: i32,
    pub flags: u64,
    pub mode: u64,
    /// User pointer to the path.
    pub filename: u64,
}

/// A completed open-family call of a tagged process.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OpenEvent {
    pub header: EventHeader,
    /// An [`OpenSyscall`] as `u32`.
    pub syscall: u32,
    pub dirfd: i32,
    /// The flags asked for; for io_uring, the file's `f_flags`.
    pub flags: u64,
    /// The mode asked for; for io_uring, the request's opcode (`IORING_OP_*`).
    pub mode: u64,
    /// Return value: the new fd, or a negative errno (io_uring: the
    /// request's result).
    pub ret: i64,
    pub path_len: u32,
    /// Bytes of `resolved` used.
    pub resolved_len: u32,
    /// The path argument as the process passed it (may be relative to `dirfd`).
    pub path: [u8; PATH_LEN],
    /// The path as the kernel resolved it (see `flags::RESOLVED_*`): components
    /// leaf first, each NUL-terminated.
    pub resolved: [u8; RESOLVED_LEN],
}

/// Address families we decode.
pub mod af {
    pub const UNIX: u16 = 1;
    pub const INET: u16 = 2;
    pub const INET6: u16 = 10;
}

/// The socket address of a `connect`, read at syscall enter.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SockAddr {
    pub family: u16,
    /// Port in host byte order (0 for AF_UNIX).
    pub port: u16,
    pub _pad: u32,
    /// IPv4 in the first 4 bytes, or IPv6, in network byte order.
    pub addr: [u8; 16],
    /// AF_UNIX path; an abstract socket starts with a NUL byte.
    pub unix_path: [u8; UNIX_PATH_LEN],
    /// Bytes of the address the process passed (`addrlen`).
    pub addr_len: u32,
    pub _pad2: u32,
}

/// Arguments of a `connect`, kept from enter until exit.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PendingConnect {
    pub fd: i32,
    pub flags: u32,
    pub addr: SockAddr,
}

/// A completed `connect` of a tagged process.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ConnectEvent {
    pub header: EventHeader,
    pub fd: i32,
    pub _pad: u32,
    /// 0, or a negative errno (`-EINPROGRESS` for a non-blocking connect).
    pub ret: i64,
    pub addr: SockAddr,
}

mod syscalls;
pub use syscalls::*;
pub mod enforce;

/// How a process came to be tagged; stored in [`Tag::source`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagSource {
    /// Inherited from a tagged parent at fork.
    Inherited = 0,
    /// The `launch` wrapper registered itself.
    Wrapper = 1,
    /// Given on the command line with `--pid`.
    Pid = 2,
    /// A command-line pattern matched at exec or in the start-up scan.
    Pattern = 3,
    /// A discovered host configuration matched.
    Config = 4,
    /// A cgroup given by the user.
    Cgroup = 5,
    /// Started by a known AI host with stdio pipes: a candidate server until a
    /// configured server names it.
    HostChild = 6,
}

impl TagSource {
    pub const ALL: [TagSource; 7] = [
        TagSource::Inherited,
        TagSource::Wrapper,
        TagSource::Pid,
        TagSource::Pattern,
        TagSource::Config,
        TagSource::Cgroup,
        TagSource::HostChild,
    ];

    pub fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u32 == v)
    }
}

/// Value of the tagged-process map, keyed by tgid.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    /// MCP server id, assigned by user space; never 0.
    pub server_id: u32,
    /// The process the server was tagged at (its root).
    pub root_tgid: u32,
}

/// "Not available on this kernel" for an offset: an offset of 0 is a real
/// one (the first member of a struct), so absence has a value of its own.
pub const ABSENT: u32 = u32::MAX;

/// Declares [`KernelOffsets`] once: each field with the value it has before
/// user space fills it in ([`ABSENT`] for offsets, 0 for the flags that say
/// a group of offsets is complete).
macro_rules! kernel_offsets {
    ($( $(#[$doc:meta])* $name:ident = $init:expr, )*) => {
        /// Kernel structure and tracepoint record offsets the programs need,
        /// read from BTF and tracefs by user space and written into the
        /// programs as a global before load. [`ABSENT`] means "not available
        /// on this kernel".
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct KernelOffsets {
            $( $(#[$doc])* pub $name: u32, )*
        }

        impl KernelOffsets {
            /// Every offset absent, every flag off: what the programs see
            /// until user space fills the global in.
            pub const fn absent() -> Self {
                KernelOffsets { $( $name: $init, )* }
            }
        }
    };
}

kernel_offsets! {
    task_tgid = ABSENT,
    task_real_parent = ABSENT,
    task_mm = ABSENT,
    task_exit_code = ABSENT,
    mm_arg_start = ABSENT,
    mm_arg_end = ABSENT,
    mm_env_start = ABSENT,
    mm_env_end = ABSENT,
    /// Offset of `group_dead` in the `sched_process_exit` record (absent
    /// before 5.x kernels that had it).
    exit_group_dead = ABSENT,
    /// Offset of `filename` (a `__data_loc`) in the `sched_process_exec` record.
    exec_filename = ABSENT,
    /// 1 when every offset below was found and the kernel has `bpf_loop`:
    /// the programs can resolve paths.
    path_walk = 0,
    task_files = ABSENT,
    task_fs = ABSENT,
    files_fdt = ABSENT,
    fdtable_max_fds = ABSENT,
    fdtable_fd = ABSENT,
    file_f_path = ABSENT,
    path_mnt = ABSENT,
    path_dentry = ABSENT,
    fs_root = ABSENT,
    fs_pwd = ABSENT,
    dentry_d_parent = ABSENT,
    /// `dentry.d_name.name`: the qstr's offset plus its `name`'s.
    dentry_d_name_name = ABSENT,
    vfsmount_mnt_root = ABSENT,
    /// `struct mount` embeds the `struct vfsmount` a path points to at this offset.
    mount_mnt = ABSENT,
    mount_mnt_parent = ABSENT,
    mount_mnt_mountpoint = ABSENT,
    /// `dentry.d_inode`, `inode.i_ino` and `inode.i_mode` (0 on current
    /// kernels): the sensitive-file check and file types (part of the path
    /// walk's set).
    dentry_d_inode = ABSENT,
    inode_i_ino = ABSENT,
    inode_i_mode = ABSENT,
    /// `file.f_flags` (part of the path walk's set).
    file_f_flags = ABSENT,
    /// 1 when paths can be walked, the `io_uring:io_uring_complete` record
    /// has `req` at [`URING_COMPLETE_REQ`] and `res` at
    /// [`URING_COMPLETE_RES`] (Linux 5.19+), and every io_uring offset below
    /// was found: the `io_uring_complete` program can name the files
    /// requests used.
    uring = 0,
    /// `io_kiocb.file` (0 on current kernels), `io_kiocb.opcode`, and
    /// `io_open.file_slot` as seen from the request (non-zero for an open
    /// into a fixed-file slot, whose result is no fd).
    io_kiocb_file = ABSENT,
    io_kiocb_opcode = ABSENT,
    io_open_file_slot = ABSENT,
    /// 1 when every offset below was found: probes can tell a file's
    /// identity (device, inode), the executable and the parent's name, for
    /// prevent mode.
    identity = 0,
    task_comm = ABSENT,
    mm_exe_file = ABSENT,
    inode_i_sb = ABSENT,
    super_block_s_dev = ABSENT,
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for Tag {}
    unsafe impl aya::Pod for KernelOffsets {}
    unsafe impl aya::Pod for ServerRecord {}
    unsafe impl aya::Pod for enforce::InodeKey {}
    unsafe impl aya::Pod for enforce::InodeRules {}
    unsafe impl aya::Pod for enforce::CommRules {}
    unsafe impl aya::Pod for enforce::NetKey {}
    unsafe impl aya::Pod for enforce::PrefixRule {}
}
