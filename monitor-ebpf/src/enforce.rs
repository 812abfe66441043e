//! Prevent mode at the call: the probes act on the rules user space compiled
//! into maps (`monitor_common::enforce`), before the call returns to the
//! process. A SIGKILL sent here is delivered on the way back to user space,
//! so the process never runs another instruction: not the `read()` after an
//! `open()` of a key, not the first instruction of a program it exec'd.
//!
//! Every entry point first checks [`active`] (a single array read), so
//! nothing is looked up while no rule is compiled.
use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_send_signal},
    macros::{cgroup_sock_addr, lsm, map, tracepoint},
    maps::{Array, HashMap, LpmTrie, LruHashMap, lpm_trie::Key},
    programs::{LsmContext, SockAddrContext, TracePointContext},
};
use monitor_common::{
    EventKind, Handler, KernelOffsets, Syscall, Tag,
    enforce::{
        CommRules, IDENTITY_DEPTH, InodeKey, InodeRules, MAX_ENFORCE_COMMS, MAX_ENFORCE_INODES,
        MAX_ENFORCE_NETS, MAX_KERNEL_RULES, MAX_PREFIXES, MAX_VERDICTS, PrefixRule, action, class,
        config, enforced, masks, words,
    },
};

use crate::{
    emit::{current_is_tagged, current_tag, current_task, current_tgid},
    handoff::{hand_over, slot},
    kpath::{read_ptr, read_u32},
    maps::{PENDING_CONNECT, offsets},
};

const SIGKILL: u32 = 9;
/// `BPF_F_NO_PREALLOC`, which an LPM trie requires.
const NO_PREALLOC: u32 = 1;

/// `config::ACTIVE` and friends.
#[map]
pub static ENFORCE_CONFIG: Array<u32> = Array::with_max_entries(config::LEN, 0);

/// Slot masks by property of a call (`monitor_common::enforce::masks`).
#[map]
pub static ENFORCE_MASKS: Array<u32> = Array::with_max_entries(masks::LEN, 0);

/// Destination port → connect slots that name it.
#[map]
pub static ENFORCE_PORTS: HashMap<u16, u32> = HashMap::with_max_entries(1024, 0);

/// Name prefixes that exempt a process or its parent.
#[map]
pub static ENFORCE_PREFIXES: Array<PrefixRule> = Array::with_max_entries(MAX_PREFIXES, 0);

/// (device, inode) → the slots the file stands for.
#[map]
pub static ENFORCE_INODES: HashMap<InodeKey, InodeRules> =
    HashMap::with_max_entries(MAX_ENFORCE_INODES, 0);

/// Destination networks (IPv6, IPv4 mapped) → slots. User space gives each
/// prefix the slots of the shorter prefixes that contain it, so the longest
/// match carries them all.
#[map]
pub static ENFORCE_NETS: LpmTrie<[u8; 16], u32> =
    LpmTrie::with_max_entries(MAX_ENFORCE_NETS, NO_PREALLOC);

/// A task name (`comm`, NUL-padded) → the slots it exempts.
#[map]
pub static ENFORCE_COMMS: HashMap<[u8; 16], CommRules> =
    HashMap::with_max_entries(MAX_ENFORCE_COMMS, 0);

/// `Syscall` as index → the call-class slots of that syscall.
#[map]
pub static ENFORCE_CALLS: Array<u32> = Array::with_max_entries(Syscall::ALL.len() as u32, 0);

/// server id → slots not decided in the kernel for that server (its policy
/// turns enforcement off, or grants it exceptions user space applies).
#[map]
pub static ENFORCE_SKIP: HashMap<u32, u32> = HashMap::with_max_entries(MAX_KERNEL_RULES * 64, 0);

/// pid_tgid → what a hook that cannot write a record decided (the cgroup
/// connect hook, the LSM hook), for the call's exit to report.
#[map]
pub static VERDICTS: LruHashMap<u64, u32> = LruHashMap::with_max_entries(MAX_VERDICTS, 0);

/// Whether any rule is compiled.
#[inline(always)]
pub fn active() -> bool {
    ENFORCE_CONFIG.get(config::ACTIVE).is_some_and(|v| *v != 0)
}

/// What the probe knows about the call, for the rule checks.
pub struct Call {
    pub class: u8,
    /// `access` bits of an open.
    pub access: u8,
    /// Bit of the `OpenSyscall` of an open.
    pub open_type: u8,
    pub is_dir: bool,
    pub port: u16,
}

impl Call {
    /// A call of `class` with nothing else known about it.
    #[inline(always)]
    pub fn of(class: u8) -> Call {
        Call {
            class,
            access: 0,
            open_type: 0,
            is_dir: false,
            port: 0,
        }
    }
}

/// The slots the file at `dentry` stands for: as itself, and as the file or
/// one of the directories above it.
#[inline(always)]
pub fn identity(off: &KernelOffsets, dentry: u64) -> u32 {
    let mut mask = 0u32;
    let mut d = dentry;
    // `d_parent` never leaves the filesystem: one device for the chain.
    let dev = unsafe {
        let inode = read_ptr(d as *const u8, off.dentry_d_inode) as *const u8;
        let sb = read_ptr(inode, off.inode_i_sb) as *const u8;
        read_u32(sb, off.super_block_s_dev)
    };
    let mut i = 0;
    while i < IDENTITY_DEPTH {
        if d == 0 {
            break;
        }
        unsafe {
            let inode = read_ptr(d as *const u8, off.dentry_d_inode) as *const u8;
            if !inode.is_null() {
                let key = InodeKey {
                    ino: read_ptr(inode, off.inode_i_ino),
                    dev,
                    _pad: 0,
                };
                if let Some(r) = ENFORCE_INODES.get(&key) {
                    mask |= r.below;
                    if i == 0 {
                        mask |= r.exact;
                    }
                }
            }
            let parent = read_ptr(d as *const u8, off.dentry_d_parent);
            d = if parent == d { 0 } else { parent };
        }
        i += 1;
    }
    mask
}

/// The slots of destination `addr` (16 bytes, IPv4 mapped).
#[inline(always)]
pub fn destination(addr: [u8; 16]) -> u32 {
    ENFORCE_NETS.get(Key::new(128, addr)).copied().unwrap_or(0)
}

/// The call-class slots of `syscall`.
#[inline(always)]
pub fn syscall_slots(syscall: u32) -> u32 {
    ENFORCE_CALLS.get(syscall).copied().unwrap_or(0)
}

/// The comm of the current task's real parent.
#[inline(always)]
fn parent_comm(off: &KernelOffsets) -> [u8; 16] {
    let mut comm = [0u8; 16];
    unsafe {
        let parent = read_ptr(current_task(), off.task_real_parent) as *const u8;
        if !parent.is_null() {
            let _ = aya_ebpf::helpers::bpf_probe_read_kernel_buf(
                parent.wrapping_add(off.task_comm as usize),
                &mut comm,
            );
        }
    }
    comm
}

/// What the deciding hook can do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// A tracepoint: kill slots act, deny slots are another hook's.
    Kill,
    /// The LSM hook: only deny slots, which it fails with EPERM.
    Deny,
    /// Connect's enter, whose decision the cgroup hook enforces: both.
    Both,
}

/// Decides among `candidates` (slots the call's target stands for) for the
/// current process with tag `tag`; on a match, acts (a kill is sent here; a
/// deny is the caller's to return) and returns the header value that
/// reports it (`enforce::enforced`), else 0.
///
/// Every rule is checked at once: each property of the call selects the
/// mask of the slots that allow it, and the masks are ANDed.
#[inline(always)]
pub fn decide(candidates: u32, call: &Call, tag: &Tag, tgid: u32, hook: Hook) -> u32 {
    let off = offsets();
    if candidates == 0 || off.identity == 0 {
        return 0;
    }
    // Never init, never the monitor, whatever a tag says.
    let monitor = ENFORCE_CONFIG.get(config::MONITOR).copied().unwrap_or(0);
    if tgid <= 1 || tgid == monitor {
        return 0;
    }
    let mut mask = candidates & mask_at(masks::CLASS + (call.class & 7) as u32);
    if call.class == class::FILE {
        mask &= mask_at(masks::ACCESS + (call.access & 3) as u32);
        mask &= mask_at(masks::OPEN_TYPE + (call.open_type & 7) as u32);
        if call.is_dir {
            mask &= mask_at(masks::DIR_OK);
        }
    }
    if call.class == class::CONNECT {
        let named = unsafe { ENFORCE_PORTS.get(&call.port) }
            .copied()
            .unwrap_or(0);
        mask &= mask_at(masks::ANY_PORT) | named;
    }
    if tag.root_tgid == tgid {
        mask &= mask_at(masks::ROOT_OK);
    }
    if let Some(skip) = unsafe { ENFORCE_SKIP.get(&tag.server_id) } {
        mask &= !*skip;
    }
    if mask == 0 {
        return 0;
    }
    mask &= !exempt(&off);
    let deny = mask_at(masks::DENY);
    match hook {
        Hook::Kill => mask &= !deny,
        Hook::Deny => mask &= deny,
        Hook::Both => {}
    }
    if mask == 0 {
        return 0;
    }
    let low = mask & mask.wrapping_neg();
    let slot = bit_index(low);
    if low & deny != 0 {
        return enforced(action::DENY, slot);
    }
    // SAFETY: a helper call; the signal goes to the current process.
    unsafe { bpf_send_signal(SIGKILL) };
    enforced(action::KILL, slot)
}

#[inline(always)]
fn mask_at(i: u32) -> u32 {
    ENFORCE_MASKS.get(i).copied().unwrap_or(0)
}

/// The slots the current process is exempt from by its name or its
/// parent's (exact names, then prefixes).
#[inline(always)]
fn exempt(off: &KernelOffsets) -> u32 {
    let own = bpf_get_current_comm().unwrap_or([0; 16]);
    let parent = parent_comm(off);
    let mut out = 0;
    if let Some(c) = unsafe { ENFORCE_COMMS.get(&own) } {
        out |= c.own;
    }
    if let Some(c) = unsafe { ENFORCE_COMMS.get(&parent) } {
        out |= c.parent;
    }
    let (own, parent) = (words(&own), words(&parent));
    let mut i = 0;
    while i < MAX_PREFIXES {
        if let Some(p) = ENFORCE_PREFIXES.get(i) {
            if has_prefix(&own, p) {
                out |= p.own;
            }
            if has_prefix(&parent, p) {
                out |= p.parent;
            }
        }
        i += 1;
    }
    out
}

/// Whether `name` (as two words) starts with prefix `p` (an empty entry
/// matches nothing).
#[inline(always)]
fn has_prefix(name: &[u64; 2], p: &PrefixRule) -> bool {
    p.mask[0] != 0 && name[0] & p.mask[0] == p.words[0] && name[1] & p.mask[1] == p.words[1]
}

/// The index of the one bit set in `bit` (a binary search: BPF has no
/// count-trailing-zeros instruction).
#[inline(always)]
fn bit_index(bit: u32) -> u32 {
    let mut i = 0;
    if bit & 0xffff_0000 != 0 {
        i += 16;
    }
    if bit & 0xff00_ff00 != 0 {
        i += 8;
    }
    if bit & 0xf0f0_f0f0 != 0 {
        i += 4;
    }
    if bit & 0xcccc_cccc != 0 {
        i += 2;
    }
    if bit & 0xaaaa_aaaa != 0 {
        i += 1;
    }
    i
}

/// Takes what a hook without a record decided for this thread's call.
#[inline(always)]
pub fn take_verdict() -> u32 {
    if !active() {
        return 0;
    }
    let key = bpf_get_current_pid_tgid();
    let v = unsafe { VERDICTS.get(&key).copied() }.unwrap_or(0);
    if v != 0 {
        let _ = VERDICTS.remove(&key);
    }
    v
}

/// Leaves a decision for the call's exit (and for the cgroup hook).
#[inline(always)]
pub fn leave_verdict(value: u32) {
    let _ = VERDICTS.insert(&bpf_get_current_pid_tgid(), &value, 0);
}

/// `i_mode`'s file type bits, and a directory's.
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const O_ACCMODE: u64 = 3;

/// The dentry of `file` (a `struct file`), 0 if none.
#[inline(always)]
unsafe fn file_dentry(off: &KernelOffsets, file: *const u8) -> u64 {
    unsafe { read_ptr(file.wrapping_add(off.file_f_path as usize), off.path_dentry) }
}

#[inline(always)]
unsafe fn is_dir(off: &KernelOffsets, dentry: u64) -> bool {
    unsafe {
        let inode = read_ptr(dentry as *const u8, off.dentry_d_inode) as *const u8;
        let mode = read_u32(inode, off.inode_i_mode) & 0xffff;
        mode & S_IFMT == S_IFDIR
    }
}

/// The `access` bits of open flags.
#[inline(always)]
pub fn access_of(open_flags: u64) -> u8 {
    use monitor_common::enforce::access::{READ, WRITE};
    match open_flags & O_ACCMODE {
        0 => READ,
        1 => WRITE,
        _ => READ | WRITE,
    }
}

/// A successful open (fd `fd`) of `open_type` (an `OpenSyscall`) by the
/// current tagged process.
#[inline(always)]
pub fn on_open(fd: i64, open_type: u32, tag: &Tag, tgid: u32) -> u32 {
    if !active() {
        return 0;
    }
    let off = offsets();
    if off.identity == 0 {
        return 0;
    }
    unsafe {
        let file = crate::kpath::fd_file(&off, fd);
        if file.is_null() {
            return 0;
        }
        on_file(&off, file, open_type, tag, tgid, Hook::Kill)
    }
}

/// An open of `file` (a `struct file`) by `open_type` (an `OpenSyscall`),
/// decided by `hook`: the file's identity, its access mode, whether it is a
/// directory. Callers checked `identity`.
#[inline(always)]
unsafe fn on_file(
    off: &KernelOffsets,
    file: *const u8,
    open_type: u32,
    tag: &Tag,
    tgid: u32,
    hook: Hook,
) -> u32 {
    unsafe {
        let dentry = file_dentry(off, file);
        let candidates = identity(off, dentry);
        if candidates == 0 {
            return 0;
        }
        let call = Call {
            class: class::FILE,
            access: access_of(read_u32(file, off.file_f_flags) as u64),
            open_type: open_type as u8,
            is_dir: is_dir(off, dentry),
            port: 0,
        };
        decide(candidates, &call, tag, tgid, hook)
    }
}

/// An exec by the current tagged process: its new executable.
#[inline(always)]
pub fn on_exec(tag: &Tag, tgid: u32) -> u32 {
    if !active() {
        return 0;
    }
    let off = offsets();
    if off.identity == 0 {
        return 0;
    }
    unsafe {
        let mm = read_ptr(current_task(), off.task_mm) as *const u8;
        let exe = read_ptr(mm, off.mm_exe_file) as *const u8;
        if exe.is_null() {
            return 0;
        }
        let candidates = identity(&off, file_dentry(&off, exe));
        let call = Call::of(class::EXEC);
        decide(candidates, &call, tag, tgid, Hook::Kill)
    }
}

/// A connect by the current tagged process to `addr` (IPv6 or mapped IPv4)
/// port `port`: decided at enter, so that the cgroup hook can refuse it.
#[inline(always)]
pub fn on_connect(addr: [u8; 16], port: u16, tag: &Tag, tgid: u32) -> u32 {
    if !active() {
        return 0;
    }
    let candidates = destination(addr);
    if candidates == 0 {
        return 0;
    }
    let call = Call {
        port,
        ..Call::of(class::CONNECT)
    };
    // The cgroup hook fails the call for a kill as well as a deny: a SIGKILL
    // alone lets the connection leave before the process dies.
    let v = decide(candidates, &call, tag, tgid, Hook::Both);
    if v != 0 {
        leave_verdict(v);
    }
    v
}

/// A syscall of the call class, at its exit.
#[inline(always)]
pub fn on_call(syscall: u32, tag: &Tag, tgid: u32) -> u32 {
    if !active() {
        return 0;
    }
    let candidates = syscall_slots(syscall);
    if candidates == 0 {
        return 0;
    }
    let call = Call::of(class::CALL);
    decide(candidates, &call, tag, tgid, Hook::Kill)
}

/// The cgroup hook on every inet connect of the machine (attached to the
/// root cgroup only while a connect rule is compiled): refuses the connects
/// that connect's enter decided against. 1 lets a connect go on, 0 fails it
/// with EPERM before anything leaves.
#[inline(always)]
fn refuse_decided() -> i32 {
    if !active() {
        return 1;
    }
    match unsafe { VERDICTS.get(&bpf_get_current_pid_tgid()) } {
        Some(_) => 0,
        None => 1,
    }
}

#[cgroup_sock_addr(connect4)]
pub fn enforce_connect4(_ctx: SockAddrContext) -> i32 {
    refuse_decided()
}

#[cgroup_sock_addr(connect6)]
pub fn enforce_connect6(_ctx: SockAddrContext) -> i32 {
    refuse_decided()
}

const EPERM: i32 = 1;

/// BPF LSM `file_open` (kernels where BPF LSM is active): fails the open of
/// a file a deny rule protects with EPERM; the open's exit reports it.
#[lsm(hook = "file_open")]
pub fn enforce_file_open(ctx: LsmContext) -> i32 {
    // file_open's first argument: the `struct file` being opened.
    let file: *const u8 = ctx.arg(0);
    if !current_is_tagged() || !active() {
        return 0;
    }
    let off = offsets();
    if off.identity == 0 {
        return 0;
    }
    let Some(tag) = current_tag() else {
        return 0;
    };
    // Which syscall is not known here: user space compiles deny only for
    // rules that cover every open syscall, so openat's mask stands for them.
    let openat = monitor_common::OpenSyscall::OpenAt as u32;
    let v = unsafe { on_file(&off, file, openat, &tag, current_tgid(), Hook::Deny) };
    if v != 0 {
        leave_verdict(v);
        return -EPERM;
    }
    0
}

/// `enforce_open`: decides on the file an open opened, then completes the
/// record (`handle_open`). A SIGKILL sent here is delivered before the call
/// returns: the process never reads what it opened.
#[tracepoint]
pub fn enforce_open(ctx: TracePointContext) -> u32 {
    if let Some(h) = slot() {
        // SAFETY: this CPU's hand-off slot, written by the exit program.
        unsafe {
            // The LSM hook's refusal, if that is why the open failed.
            let mut v = if (*h).ret == -(EPERM as i64) {
                take_verdict()
            } else {
                0
            };
            if v == 0
                && (*h).ret >= 0
                && (*h).file == 0
                && let Some(tag) = current_tag()
            {
                v = on_open((*h).ret, (*h).syscall, &tag, current_tgid());
            }
            (*h).enforced = v;
        }
    }
    hand_over(&ctx, Handler::Open, EventKind::Open);
    0
}

/// `enforce_exec`: decides on the program a tagged process now runs, then
/// completes the record (`handle_exec`). A SIGKILL sent here is delivered
/// before the program's first instruction.
#[tracepoint]
pub fn enforce_exec(ctx: TracePointContext) -> u32 {
    if let (Some(h), Some(tag)) = (slot(), current_tag()) {
        // SAFETY: this CPU's hand-off slot.
        unsafe { (*h).enforced = on_exec(&tag, current_tgid()) };
    }
    hand_over(&ctx, Handler::Exec, EventKind::Exec);
    0
}

/// `enforce_call`: decides on a generic syscall at its exit, then
/// completes its record.
#[tracepoint]
pub fn enforce_call(ctx: TracePointContext) -> u32 {
    let Some(h) = slot() else {
        return 0;
    };
    // SAFETY: this CPU's hand-off slot, written by the exit program.
    let syscall = unsafe { (*h).syscall };
    if let Some(tag) = current_tag() {
        unsafe { (*h).enforced = on_call(syscall, &tag, current_tgid()) };
    }
    let Some(kind) = Syscall::from_u32(syscall).map(|s| s.record()) else {
        return 0;
    };
    hand_over(&ctx, Handler::of(kind), kind);
    0
}

/// `enforce_connect`: decides on a connect's destination at enter, for the
/// cgroup hook to refuse and the exit to report.
#[tracepoint]
pub fn enforce_connect(_ctx: TracePointContext) -> u32 {
    let key = bpf_get_current_pid_tgid();
    if let Some(pending) = unsafe { PENDING_CONNECT.get(&key) } {
        crate::net::decide_connect(&pending.addr);
    }
    0
}
