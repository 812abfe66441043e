//! The open family (`open`, `openat`, `openat2`, `creat`) of tagged processes.
//! Enter stores the arguments per thread; exit pairs them with the result.
use aya_ebpf::{
    EbpfContext as _,
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user, bpf_probe_read_user_str_bytes},
    macros::tracepoint,
    programs::TracePointContext,
};
use core::intrinsics::{AtomicOrdering, atomic_cxchg, atomic_xchg};

use monitor_common::{
    AT_FDCWD, EventKind, Handler, KernelFailure, OPEN_SLOTS, OpenEvent, OpenSlot, OpenSyscall,
    PATH_LEN, PendingOpen, Record as _, flags,
};

use crate::{
    emit::{count_failure, current_is_tagged, current_tag, emit_trimmed},
    handoff::{hand_over, slot},
    kpath::{S_IFDIR, base_path, fd_path, file_path, file_type, walk},
    maps::{OPEN_SLOTS_MAP, PENDING_OPEN, offsets},
};

/// Offset of syscall argument `n` in a `syscalls:sys_enter_*` record. The layout
/// (8-byte common header, syscall nr, then six 8-byte arguments) is the same on
/// every kernel.
#[inline(always)]
pub const fn arg_offset(n: usize) -> usize {
    16 + 8 * n
}

/// Syscall argument `n` of a `sys_enter_*` record (or the return value of a
/// `sys_exit_*` record for n = 0): a direct load from the context, which the
/// verifier allows for tracepoint records, rather than a helper call.
#[inline(always)]
pub fn arg(ctx: &TracePointContext, n: usize) -> u64 {
    // SAFETY: within the record, 8-byte aligned.
    unsafe { core::ptr::read((ctx.as_ptr() as *const u8).add(arg_offset(n)) as *const u64) }
}

/// Callers check `current_is_tagged()` first, before reading any argument, so
/// that untagged processes pay for that check alone.
#[inline(always)]
pub fn remember(syscall: OpenSyscall, dirfd: i32, filename: u64, flags: u64, mode: u64) {
    let pending = PendingOpen {
        syscall: syscall as u32,
        dirfd,
        flags,
        mode,
        filename,
    };
    let pid_tgid = bpf_get_current_pid_tgid();
    if let Some(slot) = claim_slot(pid_tgid) {
        // SAFETY: the slot is ours until exit releases it.
        unsafe { (*slot).open = pending };
    } else {
        if PENDING_OPEN.insert(&pid_tgid, &pending, 0).is_err() {
            count_failure(KernelFailure::PendingFull);
        }
    }
}

/// The thread's slot in `OPEN_SLOTS_MAP`, claimed for it; `None` if another
/// thread holds it, or on kernels without compare-and-swap (before 5.12),
/// where every open pairs through the hash map.
#[inline(always)]
fn claim_slot(pid_tgid: u64) -> Option<*mut OpenSlot> {
    if !crate::ATOMICS {
        return None;
    }
    let tid = pid_tgid as u32;
    let slot = OPEN_SLOTS_MAP.get_ptr_mut(tid & (OPEN_SLOTS - 1))?;
    let owner = unsafe { &raw mut (*slot).owner };
    let me = pid_tgid;
    // SAFETY: an aligned u64 inside a live map value.
    let (previous, _) = unsafe {
        atomic_cxchg::<u64, { AtomicOrdering::Relaxed }, { AtomicOrdering::Relaxed }>(owner, 0, me)
    };
    // Free, or already ours (an exit that never came).
    (previous == 0 || previous == me).then_some(slot)
}

/// Takes the thread's pending open from its slot, or from the hash map.
#[inline(always)]
fn take_pending(pid_tgid: u64) -> Option<PendingOpen> {
    let tid = pid_tgid as u32;
    if crate::ATOMICS
        && let Some(slot) = OPEN_SLOTS_MAP.get_ptr_mut(tid & (OPEN_SLOTS - 1))
    {
        // SAFETY: a live map value; only its owner writes `open`.
        unsafe {
            if core::ptr::read_volatile(&raw const (*slot).owner) == pid_tgid {
                let open = (*slot).open;
                atomic_xchg::<u64, { AtomicOrdering::Relaxed }>(&raw mut (*slot).owner, 0);
                return Some(open);
            }
        }
    }
    let pending = unsafe { PENDING_OPEN.get(&pid_tgid).copied() }?;
    let _ = PENDING_OPEN.remove(&pid_tgid);
    Some(pending)
}

#[tracepoint]
pub fn sys_enter_openat(ctx: TracePointContext) -> u32 {
    if !current_is_tagged() {
        return 0;
    }
    remember(
        OpenSyscall::OpenAt,
        arg(&ctx, 0) as i32,
        arg(&ctx, 1),
        arg(&ctx, 2),
        arg(&ctx, 3),
    );
    0
}

#[tracepoint]
pub fn sys_enter_open(ctx: TracePointContext) -> u32 {
    if !current_is_tagged() {
        return 0;
    }
    remember(
        OpenSyscall::Open,
        AT_FDCWD,
        arg(&ctx, 0),
        arg(&ctx, 1),
        arg(&ctx, 2),
    );
    0
}

#[tracepoint]
pub fn sys_enter_creat(ctx: TracePointContext) -> u32 {
    // creat(path, mode) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode).
    const CREAT_FLAGS: u64 = 0o100 | 0o1 | 0o1000;
    if !current_is_tagged() {
        return 0;
    }
    remember(
        OpenSyscall::Creat,
        AT_FDCWD,
        arg(&ctx, 0),
        CREAT_FLAGS,
        arg(&ctx, 1),
    );
    0
}

#[tracepoint]
pub fn sys_enter_openat2(ctx: TracePointContext) -> u32 {
    if !current_is_tagged() {
        return 0;
    }
    // struct open_how { u64 flags; u64 mode; u64 resolve; }
    let how = arg(&ctx, 2);
    let (flags, mode) = unsafe {
        (
            bpf_probe_read_user(how as *const u64).unwrap_or(0),
            bpf_probe_read_user((how + 8) as *const u64).unwrap_or(0),
        )
    };
    remember(
        OpenSyscall::OpenAt2,
        arg(&ctx, 0) as i32,
        arg(&ctx, 1),
        flags,
        mode,
    );
    0
}

/// Every `sys_exit_*` of the family: a tag check, then `handle_open`
/// (through `enforce_open` in prevent mode).
#[inline(always)]
fn exit(ctx: &TracePointContext, syscall: OpenSyscall) -> u32 {
    let _ = try_exit(ctx, syscall);
    0
}

#[inline(always)]
fn try_exit(ctx: &TracePointContext, syscall: OpenSyscall) -> Option<()> {
    if !current_is_tagged() {
        return None;
    }
    let h = slot()?;
    // SAFETY: this CPU's hand-off slot.
    unsafe {
        (*h).ret = arg(ctx, 0) as i64;
        (*h).file = 0;
        (*h).syscall = syscall as u32;
        (*h).enforced = 0;
    }
    let handler = if crate::enforce::active() {
        Handler::EnforceOpen
    } else {
        Handler::Open
    };
    hand_over(ctx, handler, EventKind::Open);
    Some(())
}

/// Completes the open: the path as passed and, with `WALK` (kernels with
/// `bpf_loop`), what the kernel opened or the directory a relative path
/// that failed started from.
#[inline(always)]
fn complete<const WALK: bool>() -> u32 {
    let _ = try_complete::<WALK>();
    0
}

#[inline(always)]
fn try_complete<const WALK: bool>() -> Option<()> {
    let h = slot()?;
    let Some(pending) = take_pending(bpf_get_current_pid_tgid()) else {
        count_failure(KernelFailure::Unpaired);
        return None;
    };
    let tag = current_tag()?;
    // SAFETY: this CPU's hand-off slot; `enforced` is what `enforce_open`
    // decided, if it ran.
    let (ret, enforced) = unsafe { ((*h).ret, (*h).enforced) };
    emit_trimmed(Some(tag), |ev: &mut OpenEvent| unsafe {
        ev.syscall = pending.syscall;
        ev.dirfd = pending.dirfd;
        ev.flags = pending.flags;
        ev.mode = pending.mode;
        ev.ret = ret;
        let mut fl = 0;
        // The path as passed is read now, at exit, from the caller's memory:
        // another thread of the process could have changed it since the
        // kernel read it (docs/events.md says so). What the kernel opened is
        // `resolved`, walked from the file itself, which no thread can change.
        ev.path_len =
            match bpf_probe_read_user_str_bytes(pending.filename as *const u8, &mut ev.path) {
                Ok(s) => {
                    if s.len() >= PATH_LEN - 1 {
                        fl |= flags::PATH_TRUNCATED;
                    }
                    s.len() as u32
                }
                Err(_) => {
                    fl |= flags::PATH_UNREADABLE;
                    0
                }
            };
        // What the kernel opened (symlinks followed), or for a failed call
        // with a relative path, the directory it was relative to.
        let relative = fl & flags::PATH_UNREADABLE == 0 && ev.path[0] != b'/';
        let file = (*h).file as *const u8;
        let resolved = if !WALK {
            None
        } else if !file.is_null() {
            file_path(&offsets(), file).map(|p| (p, flags::RESOLVED_FILE))
        } else if ret >= 0 {
            fd_path(ret).map(|p| (p, flags::RESOLVED_FILE))
        } else if relative {
            base_path(pending.dirfd).map(|p| (p, flags::RESOLVED_BASE))
        } else {
            None
        };
        ev.resolved_len = match resolved {
            Some((path, kind)) => {
                // A directory opened to list it, not a file read.
                if kind == flags::RESOLVED_FILE && file_type(&offsets(), &path) == S_IFDIR {
                    fl |= flags::DIRECTORY;
                }
                let (len, walk_flags) = walk(path, &mut ev.resolved);
                fl |= kind | walk_flags;
                len
            }
            None => 0,
        };
        if enforced != 0 {
            fl |= flags::ENFORCED;
        }
        ev.header.flags = fl;
        ev.header.enforced = enforced;
        OpenEvent::MIN_LEN + ev.resolved_len as usize
    });
    Some(())
}

#[tracepoint]
pub fn sys_exit_openat(ctx: TracePointContext) -> u32 {
    exit(&ctx, OpenSyscall::OpenAt)
}

#[tracepoint]
pub fn sys_exit_open(ctx: TracePointContext) -> u32 {
    exit(&ctx, OpenSyscall::Open)
}

#[tracepoint]
pub fn sys_exit_creat(ctx: TracePointContext) -> u32 {
    exit(&ctx, OpenSyscall::Creat)
}

#[tracepoint]
pub fn sys_exit_openat2(ctx: TracePointContext) -> u32 {
    exit(&ctx, OpenSyscall::OpenAt2)
}

#[tracepoint]
pub fn handle_open(_ctx: TracePointContext) -> u32 {
    complete::<true>()
}

#[tracepoint]
pub fn handle_open_raw(_ctx: TracePointContext) -> u32 {
    complete::<false>()
}
