//! The generically paired syscalls (`monitor_common::for_each_syscall!`): enter
//! keeps the raw arguments per thread, exit reads what they point to and emits
//! a `CallEvent`, `PathEvent` or `SockEvent` with the result, failed calls
//! included (a refused mount is still an escape attempt).
//!
//! Every enter and exit program is one of two small inlined functions called
//! with a constant [`Syscall`]; the exit hands the record's construction to a
//! shared handler (`handle_path`, `handle_sock`, `handle_call`, see
//! `handoff`), which the kernel verifies once.
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_probe_read_user, bpf_probe_read_user_buf,
        bpf_probe_read_user_str_bytes,
    },
    macros::tracepoint,
    programs::TracePointContext,
};
use monitor_common::{
    AT_CWD, AT_FDCWD, CALL_DATA_LEN, CallEvent, KernelFailure, NO_ARG, PathEvent, Record as _,
    SockEvent, Syscall, SyscallArgs, Tag, flags,
};

use crate::{
    emit::{count_failure, current_is_tagged, current_tag, emit, emit_trimmed},
    file::arg,
    handoff::{Handoff, hand_over_call, slot},
    kpath::{KPath, base_path, walk},
    maps::PENDING_CALL,
    net::{empty_sockaddr, read_sockaddr},
};

#[inline(always)]
fn enter(ctx: &TracePointContext, syscall: Syscall) -> u32 {
    if !current_is_tagged() {
        return 0;
    }
    let n = syscall.nargs();
    let mut call = SyscallArgs {
        syscall: syscall as u32,
        _pad: 0,
        args: [0; 6],
    };
    let mut i = 0;
    while i < 6 {
        if i < n {
            call.args[i] = arg(ctx, i);
        }
        i += 1;
    }
    // A constant per program: the check exists only where it filters.
    if !syscall.reported(&call.args) {
        return 0;
    }
    if let Syscall::Ioctl = syscall {
        // The attributes being set: the int (FS_IOC_SETFLAGS) or the first
        // member of struct fsxattr (fsx_xflags) the argument points to, read
        // before the call; carried in the unused fourth argument.
        call.args[3] =
            unsafe { bpf_probe_read_user(call.args[2] as *const u32) }.unwrap_or(0) as u64;
    }
    if PENDING_CALL
        .insert(&bpf_get_current_pid_tgid(), &call, 0)
        .is_err()
    {
        count_failure(KernelFailure::PendingFull);
    }
    0
}

/// The exit program of every generic syscall: a tag check, then the handler
/// of its record (see `handoff`).
#[inline(always)]
fn exit(ctx: &TracePointContext, syscall: Syscall) -> u32 {
    if current_is_tagged() {
        hand_over_call(ctx, syscall, arg(ctx, 0) as i64);
    }
    0
}

/// The call the current thread's exit completes, paired with its enter and
/// copied into the hand-off slot, and the caller's tag; `None` when there is
/// nothing to report (an enter whose exit never came is not this call's).
#[inline(always)]
fn take_call() -> Option<(*mut Handoff, Tag)> {
    let h = slot()?;
    let key = bpf_get_current_pid_tgid();
    let call = unsafe { PENDING_CALL.get(&key).copied() }?;
    let _ = PENDING_CALL.remove(&key);
    // SAFETY: this CPU's hand-off slot, written by the exit program.
    unsafe {
        if call.syscall != (*h).syscall {
            return None;
        }
        (*h).call = call;
    }
    Some((h, current_tag()?))
}

/// Reports in `header` what prevent mode did at the call in slot `h`.
#[inline(always)]
unsafe fn report_enforced(h: *const Handoff, header: &mut monitor_common::EventHeader) {
    let v = unsafe { (*h).enforced };
    header.enforced = v;
    if v != 0 {
        header.flags |= flags::ENFORCED;
    }
}

/// Argument `i` of the call in the hand-off slot (0 for an index out of range).
#[inline(always)]
unsafe fn call_arg(h: *const Handoff, i: u8) -> u64 {
    unsafe { (*h).call.args.get(i as usize).copied().unwrap_or(0) }
}

/// Completes a call with paths: the strings its arguments point to and, for
/// a relative path, the directory it starts from as the kernel sees it now.
/// `WALK` is false for kernels without `bpf_loop` (user space resolves).
#[inline(always)]
fn complete_path<const WALK: bool>() -> u32 {
    let Some((h, tag)) = take_call() else {
        return 0;
    };
    emit_trimmed(Some(tag), |ev: &mut PathEvent| unsafe {
        ev.call = (*h).call;
        ev.ret = (*h).ret;
        let [first, second, short] = (*h).strings;
        let mut fl = 0;
        let (len, f) = read_str(h, first, &mut ev.path);
        ev.lens[0] = len;
        fl |= f;
        let (len, f) = read_str(h, second, &mut ev.path2);
        ev.lens[1] = len;
        if f & flags::PATH_TRUNCATED != 0 {
            fl |= flags::PATH2_TRUNCATED;
        }
        if f & flags::PATH_UNREADABLE != 0 {
            fl |= flags::PATH2_UNREADABLE;
        }
        let (len, f) = read_str(h, short, &mut ev.short);
        ev.lens[2] = len;
        if f & flags::PATH_UNREADABLE != 0 {
            fl |= flags::SHORT_UNREADABLE;
        }
        ev.base_len = 0;
        if WALK && let Some((path, of_path2)) = base_dir(h, &*ev, fl) {
            let (len, walk_flags) = walk(path, &mut ev.base);
            ev.base_len = len;
            fl |= flags::RESOLVED_BASE | walk_flags;
            if of_path2 {
                fl |= flags::BASE_OF_PATH2;
            }
        }
        ev.header.flags = fl;
        report_enforced(h, &mut ev.header);
        PathEvent::MIN_LEN + ev.base_len as usize
    });
    0
}

#[tracepoint]
pub fn handle_path(_ctx: TracePointContext) -> u32 {
    complete_path::<true>()
}

#[tracepoint]
pub fn handle_path_raw(_ctx: TracePointContext) -> u32 {
    complete_path::<false>()
}

/// Completes bind (the address asked for) and accept (the peer).
#[tracepoint]
pub fn handle_sock(_ctx: TracePointContext) -> u32 {
    let Some((h, tag)) = take_call() else {
        return 0;
    };
    emit(Some(tag), |ev: &mut SockEvent| unsafe {
        let ret = (*h).ret;
        ev.call = (*h).call;
        ev.ret = ret;
        let (uaddr, len) = if (*h).syscall == Syscall::Bind as u32 {
            // bind(fd, addr, addrlen): the address asked for.
            (call_arg(h, 1), call_arg(h, 2) as u32)
        } else if ret >= 0 && call_arg(h, 1) != 0 {
            // accept(fd, addr, &addrlen): the peer, written by the call.
            (
                call_arg(h, 1),
                bpf_probe_read_user(call_arg(h, 2) as *const u32).unwrap_or(0),
            )
        } else {
            (0, 0)
        };
        ev.addr = empty_sockaddr(len);
        ev.header.flags = if uaddr != 0 {
            read_sockaddr(uaddr, len, &mut ev.addr).0
        } else {
            0
        };
        report_enforced(h, &mut ev.header);
    });
    0
}

/// Completes any other call: its arguments and, for a few, user memory.
#[tracepoint]
pub fn handle_call(_ctx: TracePointContext) -> u32 {
    let Some((h, tag)) = take_call() else {
        return 0;
    };
    emit(Some(tag), |ev: &mut CallEvent| unsafe {
        ev.call = (*h).call;
        ev.ret = (*h).ret;
        ev._pad = 0;
        ev.data = [0; CALL_DATA_LEN];
        ev.data_len = 0;
        ev.header.flags = 0;
        let (arg, len) = ((*h).data_arg, (*h).data_len as usize);
        if arg != NO_ARG && len <= CALL_DATA_LEN {
            let src = call_arg(h, arg) as *const u8;
            match bpf_probe_read_user_buf(src, &mut (&mut ev.data)[..len]) {
                Ok(()) => ev.data_len = len as u32,
                Err(_) => ev.header.flags = flags::DATA_UNREADABLE,
            }
        }
        report_enforced(h, &mut ev.header);
    });
    0
}

/// Reads the string argument `arg` (or nothing for [`NO_ARG`]) into `out`;
/// returns its length and `PATH_TRUNCATED` / `PATH_UNREADABLE`. Read at
/// exit from the caller's memory: a racing thread of the process could have
/// changed it since the call read it (docs/events.md says so).
#[inline(always)]
unsafe fn read_str(h: *const Handoff, arg: u8, out: &mut [u8]) -> (u32, u32) {
    if arg == NO_ARG {
        return (0, 0);
    }
    let ptr = unsafe { call_arg(h, arg) } as *const u8;
    let cap = out.len();
    match unsafe { bpf_probe_read_user_str_bytes(ptr, out) } {
        Ok(s) => {
            let truncated = s.len() + 1 >= cap;
            (
                s.len() as u32,
                if truncated { flags::PATH_TRUNCATED } else { 0 },
            )
        }
        Err(_) => (0, flags::PATH_UNREADABLE),
    }
}

macro_rules! programs {
    ($($variant:ident $name:literal $enter:ident $exit:ident;)*) => {
        $(
            #[tracepoint]
            pub fn $enter(ctx: TracePointContext) -> u32 {
                enter(&ctx, Syscall::$variant)
            }

            #[tracepoint]
            pub fn $exit(ctx: TracePointContext) -> u32 {
                exit(&ctx, Syscall::$variant)
            }
        )*
    };
}

monitor_common::for_each_syscall!(programs);

/// The directory a relative path of the call starts from, as the kernel sees
/// it now: the second path's when it is relative (it names what the call
/// creates or changes), else the first's; `true` when it is the second's.
#[inline(always)]
unsafe fn base_dir(h: *const Handoff, ev: &PathEvent, fl: u32) -> Option<(KPath, bool)> {
    let [dir1, dir2] = unsafe { (*h).dirfds };
    let relative = |dir: u8, path: &[u8], len: u32, unreadable: u32| {
        dir != NO_ARG && fl & unreadable == 0 && len > 0 && path[0] != b'/'
    };
    let (dir, of_path2) = if relative(dir2, &ev.path2, ev.lens[1], flags::PATH2_UNREADABLE) {
        (dir2, true)
    } else if relative(dir1, &ev.path, ev.lens[0], flags::PATH_UNREADABLE) {
        (dir1, false)
    } else if unsafe { (*h).strings[0] } == NO_ARG && dir1 != NO_ARG && dir1 != AT_CWD {
        // A call on an fd (fchown, ioctl): the fd's own file.
        (dir1, false)
    } else {
        return None;
    };
    let dirfd = if dir == AT_CWD {
        AT_FDCWD
    } else {
        unsafe { call_arg(h, dir) as i32 }
    };
    base_path(dirfd).map(|p| (p, of_path2))
}
