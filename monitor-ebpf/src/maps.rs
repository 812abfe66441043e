//! Maps and load-time globals shared by all programs.
use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, ProgramArray, RingBuf},
};
use monitor_common::{
    BPF_F_MMAPABLE, DROP_SLOTS, FAILURE_SLOTS, Handler, KernelOffsets, MAX_PENDING, MAX_SENSITIVE,
    MAX_SERVERS, MAX_TAGGED, MAX_URING_FILES, OPEN_SLOTS, OpenSlot, PendingConnect, PendingOpen,
    RING_BUF_BYTES, ServerRecord, SyscallArgs, TAG_BITMAP_WORDS, TRIMMED_RECORD_LEN, Tag,
};

use crate::{env::EnvScan, handoff::Handoff, kpath::WalkState};

/// Records for user space.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(RING_BUF_BYTES, 0);

/// Inode numbers of sensitive files and directories (`i_ino` → 1), written
/// by user space from the rules' secret lists: their records may use the
/// ring buffer's reserve (see `emit`). Keyed by inode number alone: a number
/// shared with an unrelated file on another filesystem only gives that
/// file's records the reserve too.
#[map]
pub static SENSITIVE: HashMap<u64, u8> = HashMap::with_max_entries(MAX_SENSITIVE, 0);

/// (tgid, struct file) pairs whose use by an io_uring request was reported:
/// each file once per process, not once per read.
#[map]
pub static URING_FILES: LruHashMap<[u64; 2], u8> = LruHashMap::with_max_entries(MAX_URING_FILES, 0);

/// tgid → tag of every process that belongs to an MCP server.
#[map]
pub static TAGGED: HashMap<u32, Tag> = HashMap::with_max_entries(MAX_TAGGED, 0);

/// One bit per tgid, set when the tgid is in `TAGGED`: the filter every program
/// applies first. An array lookup is a bounds check and an add, where a hash
/// lookup would be paid by every untagged syscall on the machine.
#[map]
pub static TAG_BITMAP: Array<u64> = Array::with_max_entries(TAG_BITMAP_WORDS, BPF_F_MMAPABLE);

/// Per CPU: when user space was last woken for new records (boot ns).
#[map]
pub static LAST_WAKEUP: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Ring-buffer reserve failures, per CPU, indexed by `EventKind`.
#[map]
pub static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(DROP_SLOTS, 0);

/// Kernel-side failures, per CPU, indexed by `KernelFailure`.
#[map]
pub static FAILURES: PerCpuArray<u64> = PerCpuArray::with_max_entries(FAILURE_SLOTS, 0);

/// Open-family calls in flight, one slot per thread id modulo `OPEN_SLOTS`,
/// claimed with compare-and-swap: no lock and no allocation on the path every
/// open of a tagged process takes.
#[map]
pub static OPEN_SLOTS_MAP: Array<OpenSlot> = Array::with_max_entries(OPEN_SLOTS, 0);

/// pid_tgid → arguments of an open-family call in flight, for threads whose
/// slot was taken. LRU so that a lost exit can never fill the map.
#[map]
pub static PENDING_OPEN: LruHashMap<u64, PendingOpen> =
    LruHashMap::with_max_entries(MAX_PENDING, 0);

/// pid_tgid → address of a connect in flight.
#[map]
pub static PENDING_CONNECT: LruHashMap<u64, PendingConnect> =
    LruHashMap::with_max_entries(MAX_PENDING, 0);

/// pid_tgid → arguments of a generically paired syscall in flight (see
/// `syscalls`). These calls are rare next to opens, so a hash map is enough.
#[map]
pub static PENDING_CALL: LruHashMap<u64, SyscallArgs> =
    LruHashMap::with_max_entries(MAX_PENDING, 0);

/// Per CPU: a record being built before it is sent trimmed (see `emit_trimmed`).
#[map]
pub static RECORD_SCRATCH: PerCpuArray<[u8; TRIMMED_RECORD_LEN]> =
    PerCpuArray::with_max_entries(1, 0);

/// Per CPU: the state of the path walk and the components it found (see
/// `kpath`). Kept in a map rather than on the stack so that the verifier sees
/// every step of the walk start from the same state and checks it once.
#[map]
pub static WALK: PerCpuArray<WalkState> = PerCpuArray::with_max_entries(1, 0);

/// Per CPU: the state of the environment scan at exec (see `env`).
#[map]
pub static ENV_SCAN: PerCpuArray<EnvScan> = PerCpuArray::with_max_entries(1, 0);

/// The shared exit handlers (`monitor_common::Handler`), filled by user space.
#[map]
pub static HANDLERS: ProgramArray = ProgramArray::with_max_entries(Handler::ALL.len() as u32, 0);

/// Per CPU: what an exit program hands the handler it tail-calls (see `handoff`).
#[map]
pub static HANDOFF: PerCpuArray<Handoff> = PerCpuArray::with_max_entries(1, 0);

/// server id → name, written and read by user space only: it lives here so
/// that it is pinned, and dies, with the tags that carry those ids.
#[map]
pub static SERVERS: HashMap<u32, ServerRecord> = HashMap::with_max_entries(MAX_SERVERS, 0);

/// The pid of the daemon that last ran on this state, written and read by
/// user space only: a restarted daemon knows whom a signal recorded while it
/// was down was aimed at.
#[map]
pub static DAEMON: Array<u32> = Array::with_max_entries(1, 0);

/// Kernel structure offsets, written by user space before load.
#[unsafe(no_mangle)]
pub static OFFSETS: KernelOffsets = KernelOffsets::absent();

#[inline(always)]
pub fn offsets() -> KernelOffsets {
    // Volatile: the value is patched into the object at load time, the compiler
    // must not fold the zeroed initialiser.
    unsafe { core::ptr::read_volatile(&OFFSETS) }
}
