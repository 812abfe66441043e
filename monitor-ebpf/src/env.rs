//! The dynamic loader's variables of a new process image: `LD_PRELOAD`,
//! `LD_LIBRARY_PATH`, `LD_AUDIT`… make every program load a library of the
//! caller's choosing (library hijack, T1574.006). At exec, the environment
//! strings of the new image (`mm->env_start..env_end`) are scanned and the
//! `LD_*` ones copied, bounded; nothing else of the environment is kept.
//!
//! The scan runs under `bpf_loop` with its state in a per-CPU map (as the
//! path walk does), so the verifier checks one step.
use aya_ebpf::helpers::{
    bpf_loop, bpf_probe_read_kernel_buf, bpf_probe_read_kernel_str_bytes,
    bpf_probe_read_user_str_bytes,
};
use core::ffi::c_void;
use monitor_common::{ENV_VAR_READ, ENV_VARS_MAX, LOADER_ENV_LEN, LOADER_VAR_READ};

use crate::maps::ENV_SCAN;

/// The state of a scan.
#[repr(C)]
pub struct EnvScan {
    /// The next variable's address in the new image, and the end.
    pos: u64,
    end: u64,
    /// Bytes of `out` used.
    used: u64,
    /// The variable being looked at.
    var: [u8; ENV_VAR_READ],
    /// The loader variables found, NUL-separated; the tail is room for the
    /// last one.
    out: [u8; LOADER_ENV_LEN + LOADER_VAR_READ],
}

/// Copies the `LD_*` variables of the environment at `start..end` (user
/// memory of the current process) into `out`; returns the bytes used.
#[inline(always)]
pub fn loader_vars(start: u64, end: u64, out: &mut [u8; LOADER_ENV_LEN]) -> u32 {
    let Some(s) = ENV_SCAN.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: this CPU's scan state; programs do not nest on a CPU.
    unsafe {
        (*s).pos = start;
        (*s).end = end;
        (*s).used = 0;
        bpf_loop(
            ENV_VARS_MAX,
            env_step as *mut c_void,
            core::ptr::null_mut(),
            0,
        );
        let used = (*s).used;
        if used == 0 {
            return 0;
        }
        let src = (&raw const (*s).out).cast::<u8>();
        if bpf_probe_read_kernel_buf(src, &mut out[..]).is_err() {
            return 0;
        }
        if used as usize > LOADER_ENV_LEN {
            LOADER_ENV_LEN as u32
        } else {
            used as u32
        }
    }
}

/// One variable: read it, keep it if it is the loader's, move past it.
/// Returns 1 to stop.
#[inline(never)]
extern "C" fn env_step(_index: u64, _ctx: *mut c_void) -> i64 {
    let Some(s) = ENV_SCAN.get_ptr_mut(0) else {
        return 1;
    };
    // SAFETY: this CPU's scan state, set up by `loader_vars`.
    let s = unsafe { &mut *s };
    if s.pos >= s.end || s.used >= LOADER_ENV_LEN as u64 {
        return 1;
    }
    let len = match unsafe { bpf_probe_read_user_str_bytes(s.pos as *const u8, &mut s.var) } {
        Ok(v) => v.len(),
        Err(_) => return 1,
    };
    if len >= 3 && s.var[0] == b'L' && s.var[1] == b'D' && s.var[2] == b'_' {
        let at = (s.used as usize) & (LOADER_ENV_LEN - 1);
        let src = s.var.as_ptr();
        match unsafe { bpf_probe_read_kernel_str_bytes(src, &mut s.out[at..at + LOADER_VAR_READ]) }
        {
            Ok(v) => s.used = (at + v.len() + 1) as u64,
            Err(_) => return 1,
        }
    }
    s.pos += len as u64 + 1;
    0
}
