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
    macros::{cgroup_sock_addr, lsm, map},
    maps::{Array, HashMap, LpmTrie, LruHashMap, lpm_trie::Key},
    programs::{LsmContext, SockAddrContext},
};
use monitor_common::{
    KernelOffsets, Syscall, Tag,
    enforce::{
        CommRules, IDENTITY_DEPTH, InodeKey, InodeRules, KernelRule, MAX_CANDIDATES,
        MAX_ENFORCE_COMMS, MAX_ENFORCE_INODES, MAX_ENFORCE_NETS, MAX_KERNEL_RULES, MAX_VERDICTS,
        action, class, config, enforced, rule_flags,
    },
};

use crate::{
    emit::{current_is_tagged, current_tag, current_task, current_tgid},
    kpath::{read_ptr, read_u32},
    maps::offsets,
};

const SIGKILL: u32 = 9;
/// `BPF_F_NO_PREALLOC`, which an LPM trie requires.
const NO_PREALLOC: u32 = 1;

/// The compiled rules, by slot.
#[map]
pub static ENFORCE_RULES: Array<KernelRule> = Array::with_max_entries(MAX_KERNEL_RULES, 0);

/// `config::ACTIVE` and friends.
#[map]
pub static ENFORCE_CONFIG: Array<u32> = Array::with_max_entries(config::LEN, 0);

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

/// The slots the file at `dentry` stands for: as itself, and as the file or
/// one of the directories above it.
#[inline(always)]
pub fn identity(off: &KernelOffsets, dentry: u64) -> u32 {
    let mut mask = 0u32;
    let mut d = dentry;
    let mut i = 0;
    while i < IDENTITY_DEPTH {
        if d == 0 {
            break;
        }
        unsafe {
            let inode = read_ptr(d as *const u8, off.dentry_d_inode) as *const u8;
            if !inode.is_null() {
                let sb = read_ptr(inode, off.inode_i_sb) as *const u8;
                let key = InodeKey {
                    ino: read_ptr(inode, off.inode_i_ino),
                    dev: read_u32(sb, off.super_block_s_dev),
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

#[inline(always)]
fn has_prefix(comm: &[u8; 16], prefix: &[u8; 16], len: u8) -> bool {
    let mut i = 0;
    while i < 16 {
        if i >= len as usize {
            return true;
        }
        if comm[i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
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

/// Decides among `candidates` (slots of rules of `call.class`) for the
/// current process with tag `tag`; on a match, acts (a kill is sent here; a
/// deny is the caller's to return) and returns the header value that
/// reports it (`enforce::enforced`), else 0.
#[inline(always)]
pub fn decide(candidates: u32, call: &Call, tag: &Tag, tgid: u32, hook: Hook) -> u32 {
    let off = offsets();
    if candidates == 0 || off.identity == 0 {
        return 0;
    }
    let mut mask = candidates;
    if let Some(skip) = unsafe { ENFORCE_SKIP.get(&tag.server_id) } {
        mask &= !*skip;
    }
    if mask == 0 {
        return 0;
    }
    let own = bpf_get_current_comm().unwrap_or([0; 16]);
    let parent = parent_comm(&off);
    if let Some(c) = unsafe { ENFORCE_COMMS.get(&own) } {
        mask &= !c.own;
    }
    if let Some(c) = unsafe { ENFORCE_COMMS.get(&parent) } {
        mask &= !c.parent;
    }
    let mut n = 0;
    while n < MAX_CANDIDATES {
        if mask == 0 {
            return 0;
        }
        let low = mask & mask.wrapping_neg();
        mask &= !low;
        let slot = bit_index(low);
        n += 1;
        let Some(rule) = ENFORCE_RULES.get(slot) else {
            continue;
        };
        if rule.class != call.class {
            continue;
        }
        if rule.access != 0 && rule.access & call.access == 0 {
            continue;
        }
        if call.class == class::FILE && rule.open_types & call.open_type == 0 {
            continue;
        }
        if rule.flags & rule_flags::NOT_DIR != 0 && call.is_dir {
            continue;
        }
        if rule.flags & rule_flags::NOT_ROOT != 0 && tag.root_tgid == tgid {
            continue;
        }
        if rule.comm_prefix_len[0] != 0
            && has_prefix(&own, &rule.comm_prefix[0], rule.comm_prefix_len[0])
        {
            continue;
        }
        if rule.comm_prefix_len[1] != 0
            && has_prefix(&parent, &rule.comm_prefix[1], rule.comm_prefix_len[1])
        {
            continue;
        }
        if rule.nports != 0 && !port_in(rule, call.port) {
            continue;
        }
        // A deny slot exists only where some hook can fail the call (user
        // space compiles deny as kill elsewhere); other hooks leave it be.
        if rule.action == action::DENY {
            if hook == Hook::Kill {
                continue;
            }
            return enforced(action::DENY, slot);
        }
        if hook == Hook::Deny {
            continue;
        }
        // SAFETY: a helper call; the signal goes to the current process.
        unsafe { bpf_send_signal(SIGKILL) };
        return enforced(action::KILL, slot);
    }
    0
}

#[inline(always)]
fn port_in(rule: &KernelRule, port: u16) -> bool {
    let mut i = 0;
    while i < rule.ports.len() {
        if i >= rule.nports as usize {
            return false;
        }
        if rule.ports[i] == port {
            return true;
        }
        i += 1;
    }
    false
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

/// A successful open (fd `fd`) of `open_type` (an `OpenSyscall` as bit
/// index) by the current tagged process.
#[inline(always)]
pub fn on_open(fd: i64, open_type: u32, open_flags: u64, tag: &Tag, tgid: u32) -> u32 {
    if !active() {
        return 0;
    }
    let off = offsets();
    if off.identity == 0 || off.path_walk == 0 {
        return 0;
    }
    unsafe {
        let file = crate::kpath::fd_file(&off, fd);
        if file.is_null() {
            return 0;
        }
        let dentry = file_dentry(&off, file);
        let candidates = identity(&off, dentry);
        if candidates == 0 {
            return 0;
        }
        let call = Call {
            class: class::FILE,
            access: access_of(open_flags),
            open_type: 1u8.wrapping_shl(open_type & 7),
            is_dir: is_dir(&off, dentry),
            port: 0,
        };
        decide(candidates, &call, tag, tgid, Hook::Kill)
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
        let call = Call {
            class: class::EXEC,
            access: 0,
            open_type: 0,
            is_dir: false,
            port: 0,
        };
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
        class: class::CONNECT,
        access: 0,
        open_type: 0,
        is_dir: false,
        port,
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
    let call = Call {
        class: class::CALL,
        access: 0,
        open_type: 0,
        is_dir: false,
        port: 0,
    };
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
    if off.identity == 0 || off.path_walk == 0 {
        return 0;
    }
    let Some(tag) = current_tag() else {
        return 0;
    };
    unsafe {
        let dentry = file_dentry(&off, file);
        let candidates = identity(&off, dentry);
        if candidates == 0 {
            return 0;
        }
        let call = Call {
            class: class::FILE,
            access: access_of(read_u32(file, off.file_f_flags) as u64),
            // Which syscall is not known here: user space compiles deny
            // only for rules that cover every open syscall.
            open_type: 0xff,
            is_dir: is_dir(&off, dentry),
            port: 0,
        };
        let v = decide(candidates, &call, &tag, current_tgid(), Hook::Deny);
        if v != 0 {
            leave_verdict(v);
            return -EPERM;
        }
    }
    0
}
