//! Files that io_uring requests of tagged processes opened or used.
//!
//! io_uring does its work without the syscalls the other programs watch: an
//! `IORING_OP_OPENAT` opens a file without `openat`, an `IORING_OP_READ`
//! reads one without `read`. Every request ends in `io_uring_complete`,
//! which fires in a task of the process that submitted it (the task itself,
//! its io-wq workers or its SQPOLL thread: all share its thread group), so the
//! tag check works as for a syscall. The program names the file as an open
//! record of type `io_uring`: what an open request opened (each time), and
//! the regular file any other request used (once per file and process, not
//! once per read). A request that opens into a fixed-file slot returns no
//! fd; the file is named when a later request uses it.
use aya_ebpf::{
    EbpfContext as _, helpers::bpf_probe_read_kernel, macros::tracepoint,
    programs::TracePointContext,
};
use monitor_common::{
    AT_FDCWD, EventKind, Handler, KernelOffsets, OpenSyscall, URING_COMPLETE_REQ,
    URING_COMPLETE_RES, is_uring_open,
};

use crate::{
    emit::{current_is_tagged, current_tgid},
    file::remember,
    handoff::{hand_over, slot},
    kpath::{fd_file, file_flags, file_is_regular},
    maps::{URING_FILES, offsets},
};

/// A field of the `io_kiocb` at `req`, read at `off`.
#[inline(always)]
unsafe fn req_field<T: Copy + Default>(req: *const u8, off: u32) -> T {
    unsafe { bpf_probe_read_kernel(req.wrapping_add(off as usize) as *const T).unwrap_or_default() }
}

/// The file the completed request opened or used, if it is one to report.
#[inline(always)]
unsafe fn file_of(off: &KernelOffsets, req: *const u8, opcode: u8, res: i32) -> *const u8 {
    unsafe {
        if is_uring_open(opcode) {
            if res < 0 || req_field::<u32>(req, off.io_open_file_slot) != 0 {
                return core::ptr::null();
            }
            let file = fd_file(off, res as i64);
            // The same file used by a later request is not news.
            let _ = URING_FILES.insert(&[current_tgid() as u64, file as u64], &1, 0);
            return file;
        }
        let file = req_field::<u64>(req, off.io_kiocb_file) as *const u8;
        if file.is_null() || !file_is_regular(off, file) {
            return core::ptr::null();
        }
        let key = [current_tgid() as u64, file as u64];
        if URING_FILES.get(&key).is_some() {
            return core::ptr::null();
        }
        let _ = URING_FILES.insert(&key, &1, 0);
        file
    }
}

#[tracepoint]
pub fn io_uring_complete(ctx: TracePointContext) -> u32 {
    let _ = try_complete(&ctx);
    0
}

#[inline(always)]
fn try_complete(ctx: &TracePointContext) -> Option<()> {
    if !current_is_tagged() {
        return None;
    }
    let off = offsets();
    if off.uring == 0 {
        return None;
    }
    let base = ctx.as_ptr() as *const u8;
    // SAFETY: within the record (user space checked its layout: `uring`).
    let (req, res) = unsafe {
        (
            core::ptr::read(base.add(URING_COMPLETE_REQ) as *const u64) as *const u8,
            core::ptr::read(base.add(URING_COMPLETE_RES) as *const i32),
        )
    };
    if req.is_null() {
        return None;
    }
    let opcode = unsafe { req_field::<u8>(req, off.io_kiocb_opcode) };
    let file = unsafe { file_of(&off, req, opcode, res) };
    if file.is_null() {
        return None;
    }
    let h = slot()?;
    let flags = unsafe { file_flags(&off, file) };
    remember(
        OpenSyscall::IoUring,
        AT_FDCWD,
        0,
        flags as u64,
        opcode as u64,
    );
    // SAFETY: this CPU's hand-off slot.
    unsafe {
        (*h).ret = res as i64;
        (*h).file = file as u64;
        // A request cannot be stopped from here: prevent mode leaves
        // io_uring to user space.
        (*h).enforced = 0;
    }
    hand_over(ctx, Handler::Open, EventKind::Open);
    Some(())
}
