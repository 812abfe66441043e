//! A minimal io_uring, by raw syscalls, for the scenario suite: open a file
//! and read it without the open or read syscalls, the way an attacker hides a
//! read from monitors that watch only syscalls.
use std::ffi::CString;

#[repr(C)]
#[derive(Default)]
struct SqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct CqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

/// `struct io_uring_params` (120 bytes).
#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqOffsets,
    cq_off: CqOffsets,
}

/// `struct io_uring_sqe` (64 bytes), the fields used here.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    off: u64,
    addr: u64,
    len: u32,
    op_flags: u32,
    user_data: u64,
    buf_index: u16,
    personality: u16,
    file_index: u32,
    addr3: u64,
    pad: u64,
}

const IORING_OP_OPENAT: u8 = 18;
const IORING_OP_READ: u8 = 22;
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const IORING_ENTER_GETEVENTS: u32 = 1;

struct Ring {
    fd: i32,
    sq: *mut u8,
    cq: *mut u8,
    sqes: *mut Sqe,
    p: Params,
}

fn map(fd: i32, len: usize, offset: i64) -> std::io::Result<*mut u8> {
    // SAFETY: a fresh shared mapping of the ring's fd.
    let m = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd,
            offset,
        )
    };
    if m == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(m.cast())
}

impl Ring {
    fn new() -> std::io::Result<Ring> {
        let mut p = Params::default();
        // SAFETY: `p` is an io_uring_params of the kernel's size.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4, &mut p as *mut Params) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = fd as i32;
        let sq = map(
            fd,
            (p.sq_off.array + p.sq_entries * 4) as usize,
            IORING_OFF_SQ_RING,
        )?;
        let cq = map(
            fd,
            (p.cq_off.cqes + p.cq_entries * 16) as usize,
            IORING_OFF_CQ_RING,
        )?;
        let sqes = map(fd, p.sq_entries as usize * 64, IORING_OFF_SQES)?.cast();
        Ok(Ring {
            fd,
            sq,
            cq,
            sqes,
            p,
        })
    }

    fn word(base: *mut u8, off: u32) -> &'static std::sync::atomic::AtomicU32 {
        // SAFETY: an aligned u32 of a ring mapping that lives as long as the process.
        unsafe { &*(base.add(off as usize) as *const std::sync::atomic::AtomicU32) }
    }

    /// Submits `sqe`, waits for its completion and returns its result.
    fn run(&mut self, sqe: Sqe) -> i32 {
        use std::sync::atomic::Ordering::{Acquire, Release};
        let tail = Self::word(self.sq, self.p.sq_off.tail).load(Acquire);
        let idx = tail & Self::word(self.sq, self.p.sq_off.ring_mask).load(Acquire);
        // SAFETY: `idx` is within the rings' entries.
        unsafe {
            *self.sqes.add(idx as usize) = sqe;
            *(self.sq.add(self.p.sq_off.array as usize) as *mut u32).add(idx as usize) = idx;
        }
        Self::word(self.sq, self.p.sq_off.tail).store(tail.wrapping_add(1), Release);
        // SAFETY: io_uring_enter on this ring.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.fd,
                1,
                1,
                IORING_ENTER_GETEVENTS,
                std::ptr::null::<u8>(),
                0,
            )
        };
        if rc < 0 {
            return -std::io::Error::last_os_error().raw_os_error().unwrap_or(1);
        }
        let head = Self::word(self.cq, self.p.cq_off.head).load(Acquire);
        let mask = Self::word(self.cq, self.p.cq_off.ring_mask).load(Acquire);
        let at = self.p.cq_off.cqes as usize + ((head & mask) as usize) * 16;
        // SAFETY: the completion at the head, which the kernel filled.
        let res = unsafe { *(self.cq.add(at + 8) as *const i32) };
        Self::word(self.cq, self.p.cq_off.head).store(head.wrapping_add(1), Release);
        res
    }
}

/// Opens `path` and reads up to 4 KiB of it, both through io_uring; returns
/// the bytes read or a negative errno.
pub fn open_and_read(path: &str) -> std::io::Result<i32> {
    let mut ring = Ring::new()?;
    let c = CString::new(path).map_err(std::io::Error::other)?;
    let fd = ring.run(Sqe {
        opcode: IORING_OP_OPENAT,
        fd: libc::AT_FDCWD,
        addr: c.as_ptr() as u64,
        op_flags: libc::O_RDONLY as u32,
        user_data: 1,
        ..Sqe::default()
    });
    if fd < 0 {
        return Err(std::io::Error::from_raw_os_error(-fd));
    }
    let mut buf = vec![0u8; 4096];
    let n = ring.run(Sqe {
        opcode: IORING_OP_READ,
        fd,
        addr: buf.as_mut_ptr() as u64,
        len: buf.len() as u32,
        user_data: 2,
        ..Sqe::default()
    });
    Ok(n)
}
