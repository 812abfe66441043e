//! Exit programs hand the heavy work to shared handlers.
//!
//! Each syscall's exit program is small: it checks the tag, writes what only
//! it knows (the result, and for generic syscalls the columns of the syscall
//! table) into the per-CPU [`Handoff`], and tail-calls its handler through
//! the `HANDLERS` program array. The handler reads user strings, walks paths
//! and builds the record. The kernel verifies each program on its own, so the
//! handler's work is verified once instead of once per syscall that needs it:
//! that is most of the daemon's start-up time.
//!
//! The per-CPU slot is safe because a tail call continues on the same CPU and
//! tracepoint programs do not nest (the kernel skips a tracepoint program that
//! fires while another runs on that CPU).
use aya_ebpf::programs::TracePointContext;
use monitor_common::{EventKind, Handler, Syscall, SyscallArgs};

use crate::{
    emit::count_drop,
    maps::{HANDLERS, HANDOFF},
};

/// What the exit program knows, for its handler.
#[repr(C)]
pub struct Handoff {
    /// The syscall's return value.
    pub ret: i64,
    /// For `handle_open`: the `struct file` to name instead of the file
    /// behind the fd `ret` (an io_uring request's), or 0.
    pub file: u64,
    /// For generic syscalls: the [`Syscall`] as `u32`.
    pub syscall: u32,
    /// [`Syscall::strings`], [`Syscall::dirfds`] and [`Syscall::user_data`]
    /// of `syscall`: data to the handler, so that it has one path through
    /// them rather than a branch per syscall for the verifier to explore.
    pub strings: [u8; 3],
    pub dirfds: [u8; 2],
    pub data_arg: u8,
    pub data_len: u8,
    /// What prevent mode did at the call (`EventHeader::enforced`), set by
    /// the handler before it builds the record.
    pub enforced: u32,
    /// The call's arguments, copied here by the handler: reading one by a
    /// runtime index is then a bounded map-value access, which every kernel
    /// accepts (a variable stack offset is refused by older verifiers).
    pub call: SyscallArgs,
}

/// The current CPU's hand-off slot.
#[inline(always)]
pub fn slot() -> Option<*mut Handoff> {
    HANDOFF.get_ptr_mut(0)
}

/// Tail-calls `handler`; if that fails (no program in the slot) the record
/// is counted as lost, as a full ring buffer would be.
#[inline(always)]
pub fn hand_over(ctx: &TracePointContext, handler: Handler, kind: EventKind) {
    // SAFETY: on success control never comes back; nothing is left to drop.
    unsafe { HANDLERS.tail_call(ctx, handler as u32) };
    count_drop(kind);
}

/// Hands a generic syscall's exit to the handler of its record.
#[inline(always)]
pub fn hand_over_call(ctx: &TracePointContext, syscall: Syscall, ret: i64) {
    let Some(h) = slot() else {
        return;
    };
    let (data_arg, data_len) = syscall.user_data();
    // SAFETY: a per-CPU map value, only this CPU's programs touch it.
    unsafe {
        (*h).ret = ret;
        (*h).syscall = syscall as u32;
        (*h).strings = syscall.strings();
        (*h).dirfds = syscall.dirfds();
        (*h).data_arg = data_arg;
        (*h).data_len = data_len as u8;
        (*h).enforced = 0;
    }
    let kind = syscall.record();
    let handler = if crate::enforce::active() {
        Handler::EnforceCall
    } else {
        Handler::of(kind)
    };
    hand_over(ctx, handler, kind);
}
