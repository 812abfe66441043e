//! What every program needs: the caller's tag, record headers, drop accounting,
//! kernel reads through the offsets user space supplied.
use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task, bpf_get_current_uid_gid,
    bpf_ktime_get_boot_ns, bpf_probe_read_kernel,
};
use monitor_common::{
    ABSENT, EventHeader, EventKind, KernelFailure, RESERVE_SHIFT, Record, TRIMMED_RECORD_LEN, Tag,
    WAKEUP_INTERVAL_NS, drop_slot, flags,
};

use core::intrinsics::{AtomicOrdering, atomic_and, atomic_or, atomic_xadd, atomic_xsub};

use crate::maps::{
    DROPS, EVENTS, FAILURES, LAST_WAKEUP, RECORD_SCRATCH, TAG_BITMAP, TAGGED, offsets,
};

/// Thread group id of the current task.
#[inline(always)]
pub fn current_tgid() -> u32 {
    (bpf_get_current_pid_tgid() >> 32) as u32
}

/// The bitmap word holding `tgid`'s bit, and the bit.
#[inline(always)]
fn bitmap_word(tgid: u32) -> Option<(*mut u64, u64)> {
    Some((TAG_BITMAP.get_ptr_mut(tgid >> 6)?, 1u64 << (tgid & 63)))
}

/// Whether the current process is tagged: the cheap check every program makes
/// first, so untagged processes pay an array lookup and nothing else.
#[inline(always)]
pub fn current_is_tagged() -> bool {
    bitmap_word(current_tgid()).is_some_and(|(w, bit)| {
        // SAFETY: a map value lives as long as the program. An aligned 8-byte
        // load is a single instruction; writers use atomic operations.
        (unsafe { core::ptr::read_volatile(w) } & bit) != 0
    })
}

// The bpf target offers atomic read-modify-write instructions (BPF_ATOMIC,
// kernel >= 5.12) but core's atomic types do not expose them for it, so the
// intrinsics are used directly. Other CPUs and user space (through an mmap of
// the map) flip bits of the same word concurrently.
//
// Older kernels have only atomic add (BPF_XADD). There a bit is flipped by
// adding or subtracting it after checking it is not already in the wanted
// state; the check and the add are not one step, so two writers flipping
// the *same* bit at once could carry into the next one. The kernel flips a
// process's bit at its fork and at its exit, which cannot overlap. The
// object built for such kernels (`compat.rs`) has none of the instructions
// they lack.

/// Marks `tgid` tagged (after its `TAGGED` entry is written).
#[inline(always)]
pub fn set_tagged(tgid: u32) {
    if let Some((w, bit)) = bitmap_word(tgid) {
        // SAFETY: a valid, aligned map value pointer.
        unsafe {
            if crate::ATOMICS {
                atomic_or::<u64, u64, { AtomicOrdering::Relaxed }>(w, bit);
            } else if core::ptr::read_volatile(w) & bit == 0 {
                atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(w, bit);
            }
        }
    }
}

/// Marks `tgid` untagged (before its `TAGGED` entry is removed).
#[inline(always)]
pub fn clear_tagged(tgid: u32) {
    if let Some((w, bit)) = bitmap_word(tgid) {
        // SAFETY: as above.
        unsafe {
            if crate::ATOMICS {
                atomic_and::<u64, u64, { AtomicOrdering::Relaxed }>(w, !bit);
            } else if core::ptr::read_volatile(w) & bit != 0 {
                atomic_xsub::<u64, u64, { AtomicOrdering::Relaxed }>(w, bit);
            }
        }
    }
}

/// The tag of the current process, `None` for an untagged one.
#[inline(always)]
pub fn current_tag() -> Option<Tag> {
    if !current_is_tagged() {
        return None;
    }
    tag_of(current_tgid())
}

#[inline(always)]
pub fn tag_of(tgid: u32) -> Option<Tag> {
    unsafe { TAGGED.get(&tgid).copied() }
}

/// Bytes user space has not consumed yet; taken before reserving a record and
/// handed to [`submit_flags`].
#[inline(always)]
fn unconsumed() -> u64 {
    const BPF_RB_AVAIL_DATA: u64 = 0;
    EVENTS.query(BPF_RB_AVAIL_DATA)
}

/// Whether a record is a priority one: privileged syscalls (rare, and each
/// one matters) and opens of sensitive files. Everything else (the bulk:
/// ordinary opens, process lifecycle, sockets) is ordinary.
#[inline(always)]
fn is_priority(kind: EventKind, header_flags: u32) -> bool {
    matches!(kind, EventKind::Call) || header_flags & (flags::SENSITIVE | flags::ENFORCED) != 0
}

/// Whether an ordinary record must stay out of the ring buffer's last
/// 1/2^[`RESERVE_SHIFT`], kept for priority records: a storm of ordinary
/// records then cannot crowd out the read of a key. (One ring buffer with a
/// reserve rather than two: the records stay in the order they happened, and
/// the verifier checks one path to one map.)
#[inline(always)]
fn in_reserve(priority: bool, unconsumed: u64) -> bool {
    const BPF_RB_RING_SIZE: u64 = 1;
    if priority {
        return false;
    }
    let size = EVENTS.query(BPF_RB_RING_SIZE);
    unconsumed > size - (size >> RESERVE_SHIFT)
}

/// Flags for `bpf_ringbuf_submit`. A wake-up per record would make a busy
/// tagged process pay a cross-CPU wake-up for nearly every syscall, so a
/// record is submitted without one when user space still had records to read
/// when it was reserved (`unconsumed_before > 0`: user space is busy, and
/// looks again 2 ms after every batch) and this CPU woke it less than
/// [`WAKEUP_INTERVAL_NS`] ago. A record that finds the buffer drained always
/// may wake user space, so none is ever left behind.
#[inline(always)]
fn submit_flags(unconsumed_before: u64) -> u64 {
    const BPF_RB_NO_WAKEUP: u64 = 1;
    if unconsumed_before == 0 {
        return 0;
    }
    let Some(last) = LAST_WAKEUP.get_ptr_mut(0) else {
        return 0;
    };
    let now = unsafe { bpf_ktime_get_boot_ns() };
    // SAFETY: a per-CPU value, only this CPU touches it.
    unsafe {
        if now.wrapping_sub(*last) < WAKEUP_INTERVAL_NS {
            return BPF_RB_NO_WAKEUP;
        }
        *last = now;
    }
    0
}

/// Reserves a `T` in the ring buffer, fills its header for the current task,
/// lets `body` write the rest (through a `&mut T`: the unsafe part stays
/// here), and submits it; a full buffer is counted as a
/// drop of `T`'s kind.
#[inline(always)]
pub fn emit<T: Record + 'static>(tag: Option<Tag>, body: impl FnOnce(&mut T)) {
    let priority = is_priority(T::KIND, 0);
    let before = unconsumed();
    if in_reserve(priority, before) {
        count_lane_drop(T::KIND, priority);
        return;
    }
    let Some(mut entry) = EVENTS.reserve::<T>(0) else {
        count_lane_drop(T::KIND, priority);
        return;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: `Record` guarantees the header comes first; the reservation is
    // a `T`, ours until submitted.
    unsafe { fill_header(ev.cast::<EventHeader>(), T::KIND, tag) };
    body(unsafe { &mut *ev });
    entry.submit(submit_flags(before));
}

/// Like [`emit`], for a record whose last field is a buffer used only in part
/// (a path): the record is built in a per-CPU buffer and only the first
/// `body`'s return value bytes (at least `T::MIN_LEN`) are copied into the
/// ring buffer, so short paths take little room in it.
#[inline(always)]
pub fn emit_trimmed<T: Record + 'static>(tag: Option<Tag>, body: impl FnOnce(&mut T) -> usize) {
    const { assert!(core::mem::size_of::<T>() <= TRIMMED_RECORD_LEN) };
    let Some(buf) = RECORD_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let ev = buf.cast::<T>();
    // SAFETY: the buffer is large enough (asserted above) and 8-byte aligned.
    unsafe { fill_header(ev.cast::<EventHeader>(), T::KIND, tag) };
    // SAFETY: this CPU's buffer, large enough for a `T` (asserted above).
    let mut len = body(unsafe { &mut *ev });
    if len < T::MIN_LEN {
        len = T::MIN_LEN;
    }
    if len > core::mem::size_of::<T>() {
        len = core::mem::size_of::<T>();
    }
    // SAFETY: the header was filled above. A volatile load: the compiler
    // would otherwise carry what it knows of the flags from `body`'s branches
    // and copy the code below once per combination, each copy verified.
    let header_flags =
        unsafe { core::ptr::read_volatile(&raw const (*ev.cast::<EventHeader>()).flags) };
    let priority = is_priority(T::KIND, header_flags);
    let before = unconsumed();
    if in_reserve(priority, before) {
        count_lane_drop(T::KIND, priority);
        return;
    }
    // SAFETY: `len` bytes of the per-CPU buffer, all written by fill_header/body
    // or left from an earlier record (user space ignores bytes past the lengths).
    let bytes = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
    if EVENTS.output::<[u8]>(bytes, submit_flags(before)).is_err() {
        count_lane_drop(T::KIND, priority);
    }
}

/// Counts a kernel-side failure (see `KernelFailure`).
#[inline(always)]
pub fn count_failure(what: KernelFailure) {
    if let Some(slot) = FAILURES.get_ptr_mut(what as u32) {
        unsafe { *slot += 1 };
    }
}

/// Counts a record whose handler could not be reached.
#[inline(always)]
pub fn count_drop(kind: EventKind) {
    count_lane_drop(kind, false);
}

/// Counts a record that did not fit in the ring buffer (an ordinary one: in
/// what the reserve leaves). Each branch looks up a constant slot: an index
/// computed from `priority` would make the verifier keep the two cases
/// apart through everything before (several times the instructions).
#[inline(always)]
fn count_lane_drop(kind: EventKind, priority: bool) {
    let slot = if priority {
        DROPS.get_ptr_mut(drop_slot(kind, true))
    } else {
        DROPS.get_ptr_mut(drop_slot(kind, false))
    };
    if let Some(slot) = slot {
        unsafe { *slot += 1 };
    }
}

/// Reads a kernel pointer-sized field at `base + off`; 0 when `off` is absent.
#[inline(always)]
pub unsafe fn read_kernel_u64(base: *const u8, off: u32) -> u64 {
    if base.is_null() || off == ABSENT {
        return 0;
    }
    unsafe { bpf_probe_read_kernel(base.add(off as usize) as *const u64).unwrap_or(0) }
}

#[inline(always)]
pub unsafe fn read_kernel_u32(base: *const u8, off: u32) -> u32 {
    if base.is_null() || off == ABSENT {
        return 0;
    }
    unsafe { bpf_probe_read_kernel(base.add(off as usize) as *const u32).unwrap_or(0) }
}

/// `task_struct.tgid` of `task`.
#[inline(always)]
pub unsafe fn task_tgid(task: *const u8) -> u32 {
    unsafe { read_kernel_u32(task, offsets().task_tgid) }
}

/// The current task's `task_struct`.
#[inline(always)]
pub fn current_task() -> *const u8 {
    unsafe { bpf_get_current_task() as *const u8 }
}

/// `current->real_parent->tgid`, 0 when unknown.
#[inline(always)]
fn current_ppid() -> u32 {
    let off = offsets();
    unsafe {
        let parent = read_kernel_u64(current_task(), off.task_real_parent) as *const u8;
        read_kernel_u32(parent, off.task_tgid)
    }
}

/// Fills the header of a record for the current task.
#[inline(always)]
unsafe fn fill_header(h: *mut EventHeader, kind: EventKind, tag: Option<Tag>) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    unsafe {
        (*h).kind = kind as u32;
        (*h).flags = 0;
        (*h).ktime_ns = bpf_ktime_get_boot_ns();
        (*h).tgid = (pid_tgid >> 32) as u32;
        (*h).tid = pid_tgid as u32;
        (*h).ppid = current_ppid();
        (*h).uid = uid_gid as u32;
        (*h).gid = (uid_gid >> 32) as u32;
        match tag {
            Some(t) => {
                (*h).server_id = t.server_id;
                (*h).root_tgid = t.root_tgid;
            }
            None => {
                (*h).server_id = 0;
                (*h).root_tgid = 0;
            }
        }
        (*h).enforced = 0;
        (*h).comm = bpf_get_current_comm().unwrap_or([0; 16]);
    }
}
