//! Paths as the kernel sees them: the file behind an fd, or a process's cwd,
//! walked up through its dentries and mounts to the process's root.
//!
//! The walk reads `struct dentry`, `struct mount` and friends through offsets
//! user space took from this kernel's BTF (`KernelOffsets`); with
//! `path_walk == 0` nothing is resolved and user space falls back to the raw
//! argument. The result is written leaf first (`name\0parent\0…`): building it
//! backwards would need variable-offset writes the verifier cannot bound.
use aya_ebpf::helpers::{
    bpf_loop, bpf_probe_read_kernel, bpf_probe_read_kernel_buf, bpf_probe_read_kernel_str_bytes,
};
use core::ffi::c_void;
use monitor_common::{
    AT_FDCWD, KernelOffsets, NAME_READ, RESOLVE_DEPTH, RESOLVED_COMPONENTS, RESOLVED_LEN,
    SENSITIVE_DEPTH, flags,
};

use crate::{
    emit::current_task,
    maps::{SENSITIVE, WALK, offsets},
};

/// A `struct path`: a mount and a dentry on it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KPath {
    vfsmount: u64,
    dentry: u64,
}

impl KPath {
    fn is_valid(&self) -> bool {
        self.vfsmount != 0 && self.dentry != 0
    }
}

/// Reads the `struct path` at `at`.
#[inline(always)]
unsafe fn read_path(off: &KernelOffsets, at: *const u8) -> KPath {
    unsafe {
        KPath {
            vfsmount: read_ptr(at, off.path_mnt),
            dentry: read_ptr(at, off.path_dentry),
        }
    }
}

/// A pointer-sized field at `base + off` (0 is a valid offset here: all path
/// offsets are known once `path_walk` is set); 0 for a null base.
#[inline(always)]
pub unsafe fn read_ptr(base: *const u8, off: u32) -> u64 {
    if base.is_null() {
        return 0;
    }
    unsafe { bpf_probe_read_kernel(base.wrapping_add(off as usize) as *const u64).unwrap_or(0) }
}

#[inline(always)]
pub unsafe fn read_u32(base: *const u8, off: u32) -> u32 {
    if base.is_null() {
        return 0;
    }
    unsafe { bpf_probe_read_kernel(base.wrapping_add(off as usize) as *const u32).unwrap_or(0) }
}

/// The `struct file` behind `fd` in the current process, null if none.
#[inline(always)]
pub unsafe fn fd_file(off: &KernelOffsets, fd: i64) -> *const u8 {
    if fd < 0 {
        return core::ptr::null();
    }
    unsafe {
        let files = read_ptr(current_task(), off.task_files) as *const u8;
        let fdt = read_ptr(files, off.files_fdt) as *const u8;
        if fdt.is_null() {
            return core::ptr::null();
        }
        let max = read_u32(fdt, off.fdtable_max_fds) as i64;
        if fd >= max {
            return core::ptr::null();
        }
        let array = read_ptr(fdt, off.fdtable_fd) as *const u8;
        read_ptr(array, (fd as u32) * 8) as *const u8
    }
}

/// The path of the file `fd` refers to in the current process.
#[inline(always)]
pub fn fd_path(fd: i64) -> Option<KPath> {
    let off = offsets();
    if off.path_walk == 0 {
        return None;
    }
    unsafe { file_path(&off, fd_file(&off, fd)) }
}

/// The path of `file` (a `struct file`), for callers that checked `path_walk`.
#[inline(always)]
pub unsafe fn file_path(off: &KernelOffsets, file: *const u8) -> Option<KPath> {
    if file.is_null() {
        return None;
    }
    unsafe { Some(read_path(off, file.add(off.file_f_path as usize))).filter(KPath::is_valid) }
}

const S_IFMT: u16 = 0o170000;

/// The file type bits (`S_IFMT`) of the inode `path` leads to, 0 if unknown.
#[inline(always)]
pub fn file_type(off: &KernelOffsets, path: &KPath) -> u16 {
    unsafe {
        let inode = read_ptr(path.dentry as *const u8, off.dentry_d_inode) as *const u8;
        if inode.is_null() {
            return 0;
        }
        bpf_probe_read_kernel(inode.wrapping_add(off.inode_i_mode as usize) as *const u16)
            .unwrap_or(0)
            & S_IFMT
    }
}

/// `S_IFDIR`.
pub const S_IFDIR: u16 = 0o040000;

/// Whether `file` is a regular file (not a socket, pipe or device).
#[inline(always)]
pub unsafe fn file_is_regular(off: &KernelOffsets, file: *const u8) -> bool {
    const S_IFREG: u16 = 0o100000;
    unsafe { file_path(off, file) }.is_some_and(|path| file_type(off, &path) == S_IFREG)
}

/// `file.f_flags`, 0 when unknown.
#[inline(always)]
pub unsafe fn file_flags(off: &KernelOffsets, file: *const u8) -> u32 {
    if off.path_walk == 0 {
        return 0;
    }
    unsafe { read_u32(file, off.file_f_flags) }
}

/// The current process's working directory.
#[inline(always)]
fn cwd_path() -> Option<KPath> {
    let off = offsets();
    if off.path_walk == 0 {
        return None;
    }
    unsafe {
        let fs = read_ptr(current_task(), off.task_fs) as *const u8;
        if fs.is_null() {
            return None;
        }
        Some(read_path(&off, fs.add(off.fs_pwd as usize))).filter(KPath::is_valid)
    }
}

/// The directory a relative path given with `dirfd` starts from: the cwd for
/// `AT_FDCWD`, else the directory the fd refers to.
#[inline(always)]
pub fn base_path(dirfd: i32) -> Option<KPath> {
    if dirfd == AT_FDCWD {
        cwd_path()
    } else {
        fd_path(dirfd as i64)
    }
}

/// The current process's root (its chroot, or its mount namespace's root).
#[inline(always)]
fn root_path(off: &KernelOffsets) -> KPath {
    unsafe {
        let fs = read_ptr(current_task(), off.task_fs) as *const u8;
        if fs.is_null() {
            return KPath {
                vfsmount: 0,
                dentry: 0,
            };
        }
        read_path(off, fs.add(off.fs_root as usize))
    }
}

/// The state of a walk, in the per-CPU `WALK` map rather than on the
/// caller's stack: every step then starts from values the verifier knows
/// nothing about, so it checks one step and is done. (With the state on the
/// stack, newer verifiers follow the walk step by step, tracking each value:
/// hundreds of thousands of instructions per program that walks.)
#[repr(C)]
pub struct WalkState {
    root: KPath,
    vfsmount: u64,
    dentry: u64,
    /// container_of(vfsmount, struct mount, mnt)
    mount: u64,
    /// Bytes of `buf` used.
    pos: u64,
    /// 0 while walking, [`REACHED_ROOT`] or [`STOPPED`] when done.
    end: u64,
    /// Components visited so far.
    steps: u64,
    /// `flags::SENSITIVE` once a component near the leaf is in `SENSITIVE`.
    sensitive: u64,
    /// The components found so far, leaf first, each NUL-terminated.
    buf: [u8; RESOLVED_LEN],
}

const REACHED_ROOT: u64 = 1;
const STOPPED: u64 = 2;

/// Writes the components of `path` into `out` leaf first, each NUL-terminated,
/// stopping at the process's root. Returns the bytes used and `flags` bits
/// (`RESOLVED_INCOMPLETE` when the root was not reached, `SENSITIVE` when
/// the file or one of the [`SENSITIVE_DEPTH`] directories above it is in the
/// sensitive-inode set).
///
/// The steps run under `bpf_loop` (kernel 5.17+), so the verifier checks one
/// step rather than every path through a long unrolled walk, which it refuses.
#[inline(always)]
pub fn walk(path: KPath, out: &mut [u8; RESOLVED_LEN]) -> (u32, u32) {
    let off = offsets();
    let Some(w) = WALK.get_ptr_mut(0) else {
        return (0, flags::RESOLVED_INCOMPLETE);
    };
    // SAFETY: this CPU's walk state; programs do not nest on a CPU.
    unsafe {
        (*w).root = root_path(&off);
        (*w).vfsmount = path.vfsmount;
        (*w).dentry = path.dentry;
        (*w).mount = path.vfsmount.wrapping_sub(off.mount_mnt as u64);
        (*w).pos = 0;
        (*w).end = 0;
        (*w).steps = 0;
        (*w).sensitive = 0;
        bpf_loop(
            RESOLVE_DEPTH,
            walk_step as *mut c_void,
            core::ptr::null_mut(),
            0,
        );
        let pos = (*w).pos;
        let used = if pos as usize > RESOLVED_LEN {
            RESOLVED_LEN
        } else {
            pos as usize
        };
        // Copied in one of a few constant sizes, the smallest that holds
        // `used` bytes (user space reads only those): a variable length the
        // compiler spills and reloads loses its bounds on older verifiers (6.1
        // refuses it), and the whole buffer every time costs a tagged open
        // about 40 ns.
        let src = (&raw const (*w).buf).cast::<u8>();
        let copied = match used {
            0 => Ok(()),
            1..=128 => bpf_probe_read_kernel_buf(src, &mut out[..128]),
            129..=512 => bpf_probe_read_kernel_buf(src, &mut out[..512]),
            _ => bpf_probe_read_kernel_buf(src, &mut out[..]),
        };
        if copied.is_err() {
            return (0, flags::RESOLVED_INCOMPLETE);
        }
        let fl = if (*w).end == REACHED_ROOT {
            0
        } else {
            flags::RESOLVED_INCOMPLETE
        };
        (used as u32, fl | (*w).sensitive as u32)
    }
}

/// One step up: a mount crossing or one component. Returns 1 to stop the loop.
#[inline(never)]
extern "C" fn walk_step(_index: u64, _ctx: *mut c_void) -> i64 {
    let Some(w) = WALK.get_ptr_mut(0) else {
        return 1;
    };
    // SAFETY: this CPU's walk state, set up by `walk`.
    let w = unsafe { &mut *w };
    let off = offsets();
    if w.dentry == w.root.dentry && w.vfsmount == w.root.vfsmount {
        w.end = REACHED_ROOT;
        return 1;
    }
    unsafe {
        let mnt_root = read_ptr(w.vfsmount as *const u8, off.vfsmount_mnt_root);
        if w.dentry == mnt_root {
            // The top of this mount: go on from where it is mounted.
            let parent = read_ptr(w.mount as *const u8, off.mount_mnt_parent);
            if parent == w.mount || parent == 0 {
                // The namespace's root mount.
                w.end = REACHED_ROOT;
                return 1;
            }
            w.dentry = read_ptr(w.mount as *const u8, off.mount_mnt_mountpoint);
            w.mount = parent;
            w.vfsmount = parent.wrapping_add(off.mount_mnt as u64);
            return 0;
        }
        let parent = read_ptr(w.dentry as *const u8, off.dentry_d_parent);
        // A root that is no mount's (a detached or internal file), or no room.
        if parent == w.dentry || parent == 0 || w.pos >= RESOLVED_COMPONENTS as u64 {
            w.end = STOPPED;
            return 1;
        }
        if w.steps < SENSITIVE_DEPTH {
            w.steps += 1;
            let inode = read_ptr(w.dentry as *const u8, off.dentry_d_inode) as *const u8;
            let ino = read_ptr(inode, off.inode_i_ino);
            if ino != 0 && SENSITIVE.get(&ino).is_some() {
                w.sensitive = flags::SENSITIVE as u64;
            }
        }
        let name = read_ptr(w.dentry as *const u8, off.dentry_d_name_name) as *const u8;
        let at = (w.pos as usize) & (RESOLVED_COMPONENTS - 1);
        match bpf_probe_read_kernel_str_bytes(name, &mut w.buf[at..at + NAME_READ]) {
            Ok(s) => w.pos = (at + s.len() + 1) as u64,
            Err(_) => {
                w.end = STOPPED;
                return 1;
            }
        }
        w.dentry = parent;
    }
    0
}
