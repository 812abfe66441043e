//! `connect` of tagged processes, for AF_INET, AF_INET6 and AF_UNIX, and the
//! reading of user `sockaddr`s that bind and accept share.
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user, bpf_probe_read_user_buf},
    macros::tracepoint,
    programs::TracePointContext,
};
use monitor_common::{
    ConnectEvent, Handler, KernelFailure, PendingConnect, SockAddr, UNIX_PATH_LEN, af, flags,
};

use crate::{
    emit::{count_failure, current_is_tagged, current_tag, emit},
    file::arg,
    maps::{HANDLERS, PENDING_CONNECT},
};

/// A `SockAddr` with nothing in it but the length the process passed.
#[inline(always)]
pub fn empty_sockaddr(addr_len: u32) -> SockAddr {
    SockAddr {
        family: 0,
        port: 0,
        _pad: 0,
        addr: [0; 16],
        unix_path: [0; UNIX_PATH_LEN],
        addr_len,
        _pad2: 0,
    }
}

/// Reads the user `sockaddr` at `uaddr` (`addrlen` bytes) into `out`, which
/// holds [`empty_sockaddr`]. Returns header flags (`ADDR_UNREADABLE`) and
/// whether the family is one we decode (inet, inet6, unix).
#[inline(always)]
pub fn read_sockaddr(uaddr: u64, addrlen: u32, out: &mut SockAddr) -> (u32, bool) {
    let base = uaddr as *const u8;
    match unsafe { bpf_probe_read_user(base as *const u16) } {
        Ok(family) => out.family = family,
        Err(_) => return (flags::ADDR_UNREADABLE, false),
    }
    unsafe {
        match out.family {
            af::INET => {
                // sockaddr_in: family, port (big endian), 4-byte address.
                let port = bpf_probe_read_user(base.add(2) as *const u16).unwrap_or(0);
                out.port = u16::from_be(port);
                let a = bpf_probe_read_user(base.add(4) as *const [u8; 4]).unwrap_or([0; 4]);
                out.addr[..4].copy_from_slice(&a);
            }
            af::INET6 => {
                // sockaddr_in6: family, port, flowinfo, 16-byte address.
                let port = bpf_probe_read_user(base.add(2) as *const u16).unwrap_or(0);
                out.port = u16::from_be(port);
                out.addr = bpf_probe_read_user(base.add(8) as *const [u8; 16]).unwrap_or([0; 16]);
            }
            af::UNIX => {
                let mut n = addrlen.saturating_sub(2) as usize;
                if n > UNIX_PATH_LEN {
                    n = UNIX_PATH_LEN;
                }
                let n = n & 0x7f;
                if n > 0 && n <= UNIX_PATH_LEN {
                    let _ = bpf_probe_read_user_buf(base.add(2), &mut out.unix_path[..n]);
                }
            }
            _ => return (0, false),
        }
    }
    (0, true)
}

#[tracepoint]
pub fn sys_enter_connect(ctx: TracePointContext) -> u32 {
    if !current_is_tagged() {
        return 0;
    }
    let (fd, uaddr, addrlen) = (arg(&ctx, 0) as i32, arg(&ctx, 1), arg(&ctx, 2) as u32);
    let mut pending = PendingConnect {
        fd,
        flags: 0,
        addr: empty_sockaddr(addrlen),
    };
    let (fl, known) = read_sockaddr(uaddr, addrlen, &mut pending.addr);
    if !known {
        return 0;
    }
    pending.flags = fl;
    if PENDING_CONNECT
        .insert(&bpf_get_current_pid_tgid(), &pending, 0)
        .is_err()
    {
        count_failure(KernelFailure::PendingFull);
        return 0;
    }
    if crate::enforce::active() {
        // SAFETY: on success control never comes back.
        unsafe { HANDLERS.tail_call(&ctx, Handler::EnforceConnect as u32) };
    }
    0
}

/// Prevent mode: decides on an inet connect before the call runs, so that
/// the cgroup hook can refuse it.
#[inline(always)]
pub fn decide_connect(a: &SockAddr) {
    let addr = match a.family {
        af::INET => {
            let mut m = [0u8; 16];
            m[10] = 0xff;
            m[11] = 0xff;
            m[12] = a.addr[0];
            m[13] = a.addr[1];
            m[14] = a.addr[2];
            m[15] = a.addr[3];
            m
        }
        af::INET6 => a.addr,
        _ => return,
    };
    if let Some(tag) = current_tag() {
        crate::enforce::on_connect(addr, a.port, &tag, crate::emit::current_tgid());
    }
}

#[tracepoint]
pub fn sys_exit_connect(ctx: TracePointContext) -> u32 {
    let _ = try_exit_connect(&ctx);
    0
}

#[inline(always)]
fn try_exit_connect(ctx: &TracePointContext) -> Option<()> {
    if !current_is_tagged() {
        return None;
    }
    let key = bpf_get_current_pid_tgid();
    let pending = unsafe { PENDING_CONNECT.get(&key).copied() }?;
    // A stale entry is gone either way; nothing more to do if removal fails.
    let _ = PENDING_CONNECT.remove(&key);
    let tag = Some(current_tag()?);
    let enforced = crate::enforce::take_verdict();
    emit(tag, |ev: &mut ConnectEvent| {
        ev.header.flags = pending.flags;
        if enforced != 0 {
            ev.header.flags |= flags::ENFORCED;
        }
        ev.header.enforced = enforced;
        ev.fd = pending.fd;
        ev._pad = 0;
        ev.ret = arg(ctx, 0) as i64;
        ev.addr = pending.addr;
    });
    Some(())
}
