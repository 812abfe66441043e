//! Process lifecycle: tags follow fork, exec is reported for everyone, exit
//! releases the tag.
use aya_ebpf::{
    EbpfContext as _,
    helpers::{bpf_probe_read_kernel_str_bytes, bpf_probe_read_user_buf},
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use monitor_common::{
    ABSENT, ARGS_LEN, EventKind, ExecEvent, ExitEvent, ForkEvent, Handler, KernelFailure,
    Record as _, flags,
};

use crate::{
    emit::{
        clear_tagged, count_failure, current_tag, current_task, current_tgid, emit, emit_trimmed,
        read_kernel_u32, read_kernel_u64, set_tagged, task_tgid,
    },
    env::loader_vars,
    handoff::{hand_over, slot},
    maps::{TAGGED, offsets},
};

/// `sched_process_fork(parent, child)`: runs before the child is first scheduled,
/// so a tagged parent's child is tagged before it can do anything.
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> i32 {
    let Some(tag) = current_tag() else {
        return 0;
    };
    let child: *const u8 = ctx.arg(1);
    let child_tgid = unsafe { task_tgid(child) };
    // A new thread shares the parent's tgid and so its tag already.
    if child_tgid == 0 || child_tgid == current_tgid() {
        return 0;
    }
    if TAGGED.insert(&child_tgid, &tag, 0).is_ok() {
        set_tagged(child_tgid);
    } else {
        count_failure(KernelFailure::TagMapFull);
    }
    emit(Some(tag), |ev: &mut ForkEvent| {
        ev.child_tgid = child_tgid;
        ev._pad = 0;
    });
    0
}

/// `sched_process_exec`: after a successful exec. Reported for every process
/// (user space recognises servers by their command line), by `handle_exec`.
#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    let Some(h) = slot() else {
        return 0;
    };
    // SAFETY: this CPU's hand-off slot.
    unsafe { (*h).enforced = 0 };
    let handler = if crate::enforce::active() && crate::emit::current_is_tagged() {
        Handler::EnforceExec
    } else {
        Handler::Exec
    };
    hand_over(&ctx, handler, EventKind::Exec);
    0
}

/// Builds the exec record; with `SCAN` (kernels with `bpf_loop`), a tagged
/// process's loader variables too. The tail call keeps the record's context.
#[inline(always)]
fn complete_exec<const SCAN: bool>(ctx: &TracePointContext) -> u32 {
    let off = offsets();
    let tag = current_tag();
    // What `enforce_exec` decided, if it ran.
    let enforced = slot().map_or(0, |h| unsafe { (*h).enforced });
    emit_trimmed(tag, |ev: &mut ExecEvent| unsafe {
        let mut fl = 0;
        if enforced != 0 {
            fl |= flags::ENFORCED;
        }
        ev.header.enforced = enforced;

        // filename is a __data_loc: low 16 bits offset in the record, high 16 length.
        let loc: u32 = ctx.read_at(off.exec_filename as usize).unwrap_or(0);
        let src = (ctx.as_ptr() as *const u8).add((loc & 0xffff) as usize);
        ev.filename_len = match bpf_probe_read_kernel_str_bytes(src, &mut ev.filename) {
            Ok(s) => s.len() as u32,
            Err(_) => {
                fl |= flags::PATH_UNREADABLE;
                0
            }
        };

        // The argument strings as the new image sees them: mm->arg_start..arg_end.
        let mm = read_kernel_u64(current_task(), off.task_mm) as *const u8;
        let start = read_kernel_u64(mm, off.mm_arg_start);
        let end = read_kernel_u64(mm, off.mm_arg_end);
        let mut len = end.saturating_sub(start) as usize;
        if len > ARGS_LEN - 1 {
            len = ARGS_LEN - 1;
            fl |= flags::ARGS_TRUNCATED;
        }
        // Masking proves the bound to the verifier.
        let len = len & (ARGS_LEN - 1);
        ev.args_len = 0;
        if start != 0 && len > 0 {
            match bpf_probe_read_user_buf(start as *const u8, &mut (&mut ev.args)[..len]) {
                Ok(()) => ev.args_len = len as u32,
                Err(_) => fl |= flags::ARGS_UNREADABLE,
            }
        }
        ev.loader_env_len = 0;
        ev._pad = 0;
        if SCAN && tag.is_some() {
            let env_start = read_kernel_u64(mm, off.mm_env_start);
            let env_end = read_kernel_u64(mm, off.mm_env_end);
            ev.loader_env_len = loader_vars(env_start, env_end, &mut ev.loader_env);
        }
        ev.header.flags = fl;
        ExecEvent::MIN_LEN + ev.args_len as usize
    });
    0
}

#[tracepoint]
pub fn handle_exec(ctx: TracePointContext) -> u32 {
    complete_exec::<true>(&ctx)
}

#[tracepoint]
pub fn handle_exec_raw(ctx: TracePointContext) -> u32 {
    complete_exec::<false>(&ctx)
}

/// `sched_process_exit`: a task ends. When the whole thread group is gone the
/// process's tag is removed and, for a tagged process, an exit is reported.
#[tracepoint]
pub fn sched_process_exit(ctx: TracePointContext) -> u32 {
    let tgid = current_tgid();
    let Some(tag) = current_tag() else {
        return 0;
    };
    let off = offsets();
    let group_dead = if off.exit_group_dead != ABSENT {
        unsafe { ctx.read_at::<u8>(off.exit_group_dead as usize).unwrap_or(0) != 0 }
    } else {
        // Older kernels: take the leader's exit as the process's.
        let tid = aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32;
        tid == tgid
    };
    if !group_dead {
        return 0;
    }
    clear_tagged(tgid);
    let _ = TAGGED.remove(&tgid);
    emit(Some(tag), |ev: &mut ExitEvent| unsafe {
        ev.exit_code = if off.task_exit_code != ABSENT {
            read_kernel_u32(current_task(), off.task_exit_code) as i32
        } else {
            -1
        };
        ev._pad = 0;
    });
    0
}
