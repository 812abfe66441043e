//! The generically paired syscalls (`monitor_common::for_each_syscall!`): enter
//! keeps the raw arguments per thread, exit reads what they point to and emits
//! a `CallEvent`, `PathEvent` or `SockEvent` with the result, failed calls
//! included (a refused mount is still an escape attempt).
//!
//! Every program is one of two inlined functions called with a constant
//! [`Syscall`], so the per-syscall tables fold away and each program keeps
//! only its own branch.
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_probe_read_user, bpf_probe_read_user_buf,
        bpf_probe_read_user_str_bytes,
    },
    macros::tracepoint,
    programs::TracePointContext,
};
use monitor_common::{
    AT_CWD, CALL_DATA_LEN, CallEvent, EventKind, NO_ARG, PathEvent, Record as _, SockEvent,
    Syscall, SyscallArgs, flags,
};

use crate::{
    emit::{current_is_tagged, current_tag, emit, emit_trimmed},
    file::arg,
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
    let _ = PENDING_CALL.insert(&bpf_get_current_pid_tgid(), &call, 0);
    0
}

#[inline(always)]
fn exit(ctx: &TracePointContext, syscall: Syscall) -> u32 {
    if !current_is_tagged() {
        return 0;
    }
    let key = bpf_get_current_pid_tgid();
    let Some(call) = (unsafe { PENDING_CALL.get(&key).copied() }) else {
        return 0;
    };
    let _ = PENDING_CALL.remove(&key);
    // An enter whose exit never came (the thread exec'd or died) is not ours.
    if call.syscall != syscall as u32 {
        return 0;
    }
    let tag = current_tag();
    if tag.is_none() {
        return 0;
    }
    let ret = arg(ctx, 0) as i64;
    match syscall.record() {
        EventKind::Path => emit_trimmed(tag, |ev: *mut PathEvent| unsafe {
            (*ev).call = call;
            (*ev).ret = ret;
            let [first, second, short] = syscall.strings();
            let mut fl = 0;
            let (len, f) = read_str(&call, first, &mut (*ev).path);
            (*ev).lens[0] = len;
            fl |= f;
            let (len, f) = read_str(&call, second, &mut (*ev).path2);
            (*ev).lens[1] = len;
            if f & flags::PATH_TRUNCATED != 0 {
                fl |= flags::PATH2_TRUNCATED;
            }
            if f & flags::PATH_UNREADABLE != 0 {
                fl |= flags::PATH2_UNREADABLE;
            }
            let (len, f) = read_str(&call, short, &mut (*ev).short);
            (*ev).lens[2] = len;
            if f & flags::PATH_UNREADABLE != 0 {
                fl |= flags::SHORT_UNREADABLE;
            }
            (*ev).base_len = 0;
            if let Some((path, of_path2)) = base_dir(syscall, &call, &*ev, fl) {
                let (len, walk_flags) = walk(path, &mut (*ev).base);
                (*ev).base_len = len;
                fl |= flags::RESOLVED_BASE | walk_flags;
                if of_path2 {
                    fl |= flags::BASE_OF_PATH2;
                }
            }
            (*ev).header.flags = fl;
            PathEvent::MIN_LEN + (*ev).base_len as usize
        }),
        EventKind::Sock => emit(tag, |ev: *mut SockEvent| unsafe {
            (*ev).call = call;
            (*ev).ret = ret;
            let (uaddr, len) = match syscall {
                // bind(fd, addr, addrlen): the address asked for.
                Syscall::Bind => (call.args[1], call.args[2] as u32),
                // accept(fd, addr, &addrlen): the peer, written by the call.
                _ if ret >= 0 && call.args[1] != 0 => (
                    call.args[1],
                    bpf_probe_read_user(call.args[2] as *const u32).unwrap_or(0),
                ),
                _ => (0, 0),
            };
            (*ev).addr = empty_sockaddr(len);
            (*ev).header.flags = if uaddr != 0 {
                read_sockaddr(uaddr, len, &mut (*ev).addr).0
            } else {
                0
            };
        }),
        _ => emit(tag, |ev: *mut CallEvent| unsafe {
            (*ev).call = call;
            (*ev).ret = ret;
            (*ev)._pad = 0;
            (*ev).data = [0; CALL_DATA_LEN];
            (*ev).data_len = 0;
            (*ev).header.flags = 0;
            let (arg, len) = syscall.user_data();
            if arg != NO_ARG && len <= CALL_DATA_LEN {
                let src = call.args[arg as usize] as *const u8;
                match bpf_probe_read_user_buf(src, &mut (&mut (*ev).data)[..len]) {
                    Ok(()) => (*ev).data_len = len as u32,
                    Err(_) => (*ev).header.flags = flags::DATA_UNREADABLE,
                }
            }
        }),
    }
    0
}

/// Reads the string argument `arg` (or nothing for [`NO_ARG`]) into `out`;
/// returns its length and `PATH_TRUNCATED` / `PATH_UNREADABLE`.
#[inline(always)]
fn read_str(call: &SyscallArgs, arg: u8, out: &mut [u8]) -> (u32, u32) {
    if arg == NO_ARG {
        return (0, 0);
    }
    let ptr = call.args[(arg & 7) as usize % 6] as *const u8;
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
fn base_dir(
    syscall: Syscall,
    call: &SyscallArgs,
    ev: &PathEvent,
    fl: u32,
) -> Option<(KPath, bool)> {
    let [dir1, dir2] = syscall.dirfds();
    let relative = |dir: u8, path: &[u8], len: u32, unreadable: u32| {
        dir != NO_ARG && fl & unreadable == 0 && len > 0 && path[0] != b'/'
    };
    let (dir, of_path2) = if relative(dir2, &ev.path2, ev.lens[1], flags::PATH2_UNREADABLE) {
        (dir2, true)
    } else if relative(dir1, &ev.path, ev.lens[0], flags::PATH_UNREADABLE) {
        (dir1, false)
    } else {
        return None;
    };
    const AT_FDCWD: i32 = -100;
    let dirfd = if dir == AT_CWD {
        AT_FDCWD
    } else {
        call.args[(dir & 7) as usize % 6] as i32
    };
    base_path(dirfd).map(|p| (p, of_path2))
}
