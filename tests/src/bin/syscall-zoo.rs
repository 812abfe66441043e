//! Makes each syscall the monitor's generic probes watch, for real and
//! harmlessly: only on files in the directory it is given, on itself, its own
//! children and namespaces it creates (in forked children, so nothing leaks).
//! Several calls are expected to fail (pivot_root, init_module, a bpf map of
//! no type): a failed attempt is an event too.
//!
//! `syscall-zoo DIR [DONE_FILE]` prints `key=value` lines the test checks
//! events against: `child` (the process it traces and signals), `port` (its
//! listener) and `client_port` (the connection it accepts). With DONE_FILE it
//! keeps its sockets open and waits until that file exists before it exits,
//! so that their addresses can still be looked up in procfs.
use std::{
    ffi::CString,
    io::Write as _,
    os::{fd::AsRawFd as _, unix::ffi::OsStrExt as _},
    path::Path,
};

use libc::{c_int, c_long, c_void};

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: syscall-zoo DIR [DONE_FILE] (DIR: an empty directory it may write in)");
        std::process::exit(2);
    };
    let done = std::env::args().nth(2);
    let dir = Path::new(&dir);
    // Fds that name things (a dirfd, a namespace, a module file) stay open
    // until the end, so that procfs can still tell what they were.
    let mut open = vec![files(dir), namespaces(dir)];
    let child = sleeper();
    println!("child={child}");
    tracing(child);
    open.push(modules_and_bpf(dir));
    credentials();
    let (port, client_port, sockets) = sockets();
    println!("port={port}");
    println!("client_port={client_port}");
    io_uring();
    signals(child);
    std::io::stdout().flush().ok();
    if let Some(done) = done {
        for _ in 0..3000 {
            if Path::new(&done).exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    drop((open, sockets));
}

fn c(p: impl AsRef<Path>) -> CString {
    CString::new(p.as_ref().as_os_str().as_bytes()).expect("no NUL in paths")
}

/// A raw syscall, so the test knows exactly which one ran (libc wrappers
/// may choose the `*at` form).
fn sys(nr: c_long, args: [usize; 6]) -> c_long {
    // SAFETY: every caller passes valid pointers or plain numbers for `nr`.
    unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]) }
}

fn ptr(s: &CString) -> usize {
    s.as_ptr() as usize
}

/// Runs `f` in a forked child and waits for it; the child never returns.
fn in_child(f: impl FnOnce()) {
    // SAFETY: the child only makes syscalls, then _exit.
    match unsafe { libc::fork() } {
        0 => {
            f();
            unsafe { libc::_exit(0) };
        }
        pid if pid > 0 => {
            let mut status = 0;
            unsafe { libc::waitpid(pid, &mut status, 0) };
        }
        _ => panic!("fork: {}", std::io::Error::last_os_error()),
    }
}

/// Returns the dirfd the `*at` calls used.
fn files(dir: &Path) -> std::fs::File {
    std::fs::write(dir.join("f"), b"zoo").expect("write DIR/f");
    std::fs::create_dir(dir.join("d")).expect("mkdir DIR/d");
    let d = std::fs::File::open(dir).expect("open DIR");
    let dfd = d.as_raw_fd() as usize;
    let at = |s: &str| c(s);
    let (f, hard, hard2, hard3, sym, sym2, sym3, renamed, dd) = (
        at("f"),
        c(dir.join("hard")),
        at("hard2"),
        at("hard3"),
        c(dir.join("sym")),
        at("sym2"),
        at("sym3"),
        c(dir.join("hard-renamed")),
        at("d"),
    );
    let abs_f = c(dir.join("f"));
    #[cfg(target_arch = "x86_64")]
    {
        sys(libc::SYS_chmod, [ptr(&abs_f), 0o600, 0, 0, 0, 0]);
        sys(libc::SYS_link, [ptr(&abs_f), ptr(&hard), 0, 0, 0, 0]);
        sys(libc::SYS_symlink, [ptr(&f), ptr(&sym), 0, 0, 0, 0]);
        sys(libc::SYS_rename, [ptr(&hard), ptr(&renamed), 0, 0, 0, 0]);
        sys(libc::SYS_unlink, [ptr(&sym), 0, 0, 0, 0, 0]);
    }
    let _ = (&abs_f, &hard, &sym, &renamed);
    sys(libc::SYS_fchmodat, [dfd, ptr(&f), 0o640, 0, 0, 0]);
    sys(libc::SYS_fchmodat2, [dfd, ptr(&f), 0o644, 0, 0, 0]);
    sys(libc::SYS_linkat, [dfd, ptr(&f), dfd, ptr(&hard2), 0, 0]);
    sys(libc::SYS_symlinkat, [ptr(&f), dfd, ptr(&sym2), 0, 0, 0]);
    sys(
        libc::SYS_renameat,
        [dfd, ptr(&hard2), dfd, ptr(&hard3), 0, 0],
    );
    let noreplace = libc::RENAME_NOREPLACE as usize;
    sys(
        libc::SYS_renameat2,
        [dfd, ptr(&sym2), dfd, ptr(&sym3), noreplace, 0],
    );
    sys(libc::SYS_unlinkat, [dfd, ptr(&sym3), 0, 0, 0, 0]);
    let removedir = libc::AT_REMOVEDIR as usize;
    sys(libc::SYS_unlinkat, [dfd, ptr(&dd), removedir, 0, 0, 0]);
    d
}

/// Returns the namespace fd setns used.
fn namespaces(dir: &Path) -> std::fs::File {
    let mnt = dir.join("mnt");
    let root = dir.join("root");
    std::fs::create_dir(&mnt).expect("mkdir DIR/mnt");
    std::fs::create_dir_all(root.join("old")).expect("mkdir DIR/root/old");
    // A private mount namespace: the tmpfs and the pivot_root attempt stay in it.
    in_child(|| unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return;
        }
        let slash = c("/");
        sys(
            libc::SYS_mount,
            [
                0,
                ptr(&slash),
                0,
                (libc::MS_REC | libc::MS_PRIVATE) as usize,
                0,
                0,
            ],
        );
        let (src, target, fstype) = (c("zoo-tmpfs"), c(&mnt), c("tmpfs"));
        let flags = (libc::MS_NOSUID | libc::MS_NODEV) as usize;
        sys(
            libc::SYS_mount,
            [ptr(&src), ptr(&target), ptr(&fstype), flags, 0, 0],
        );
        sys(
            libc::SYS_umount2,
            [ptr(&target), libc::MNT_DETACH as usize, 0, 0, 0, 0],
        );
        // Not a mount point: EINVAL.
        let (new_root, put_old) = (c(&root), c(root.join("old")));
        sys(
            libc::SYS_pivot_root,
            [ptr(&new_root), ptr(&put_old), 0, 0, 0, 0],
        );
    });
    in_child(|| unsafe {
        libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET);
    });
    in_child(|| {
        let r = c(&root);
        sys(libc::SYS_chroot, [ptr(&r), 0, 0, 0, 0, 0]);
    });
    // Joining the namespace it is already in.
    let ns = std::fs::File::open("/proc/self/ns/net").expect("open own net namespace");
    let fd = ns.as_raw_fd() as usize;
    sys(
        libc::SYS_setns,
        [fd, libc::CLONE_NEWNET as usize, 0, 0, 0, 0],
    );
    ns
}

/// A child that sleeps until killed, ignoring SIGTERM and SIGUSR1 so that it
/// outlives the signals sent to it.
fn sleeper() -> i32 {
    // SAFETY: the child only makes async-signal-safe calls.
    unsafe {
        match libc::fork() {
            0 => {
                libc::signal(libc::SIGTERM, libc::SIG_IGN);
                libc::signal(libc::SIGUSR1, libc::SIG_IGN);
                loop {
                    libc::pause();
                }
            }
            pid if pid > 0 => pid,
            _ => panic!("fork: {}", std::io::Error::last_os_error()),
        }
    }
}

/// A writable value the child has at the same address (it is a fork).
static SHARED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0x5a00);

fn tracing(child: i32) {
    let pid = child as usize;
    // Waits for the stop a request caused, if it succeeded (under a debugger
    // it does not, and there is no stop to wait for).
    let stopped = |ret: c_long| {
        if ret == 0 {
            let mut status = 0;
            unsafe { libc::waitpid(child, &mut status, libc::__WALL) };
        }
    };
    let ptrace = |request: libc::c_uint| sys(libc::SYS_ptrace, [request as usize, pid, 0, 0, 0, 0]);
    stopped(ptrace(libc::PTRACE_ATTACH));
    ptrace(libc::PTRACE_DETACH);
    if ptrace(libc::PTRACE_SEIZE) == 0 {
        stopped(ptrace(libc::PTRACE_INTERRUPT));
        ptrace(libc::PTRACE_DETACH);
    }

    let mut buf = 0u64;
    let local = libc::iovec {
        iov_base: (&raw mut buf).cast::<c_void>(),
        iov_len: 8,
    };
    let remote = libc::iovec {
        iov_base: SHARED.as_ptr().cast::<c_void>(),
        iov_len: 8,
    };
    let (l, r) = (&raw const local as usize, &raw const remote as usize);
    sys(libc::SYS_process_vm_readv, [pid, l, 1, r, 1, 0]);
    // Writes back the value it read: the child does not change.
    sys(libc::SYS_process_vm_writev, [pid, l, 1, r, 1, 0]);
}

/// Returns the file finit_module was given.
fn modules_and_bpf(dir: &Path) -> std::fs::File {
    let garbage = [0u8; 16];
    let empty = c("");
    sys(
        libc::SYS_init_module,
        [
            garbage.as_ptr() as usize,
            garbage.len(),
            ptr(&empty),
            0,
            0,
            0,
        ],
    );
    let plain = std::fs::File::open(dir.join("f")).expect("open DIR/f");
    sys(
        libc::SYS_finit_module,
        [plain.as_raw_fd() as usize, ptr(&empty), 0, 0, 0, 0],
    );
    // BPF_MAP_CREATE with map type 0 (unspecified): EINVAL.
    let attr = [0u8; 128];
    sys(
        libc::SYS_bpf,
        [0, attr.as_ptr() as usize, attr.len(), 0, 0, 0],
    );
    let name = c("zoo-memfd");
    let flags = (libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) as usize;
    let fd = sys(libc::SYS_memfd_create, [ptr(&name), flags, 0, 0, 0, 0]);
    if fd >= 0 {
        unsafe { libc::close(fd as c_int) };
    }
    plain
}

/// Every call asks for the ids it already has (-1 is "unchanged").
fn credentials() {
    let (uid, gid) = unsafe { (libc::getuid() as usize, libc::getgid() as usize) };
    let keep = u32::MAX as usize;
    sys(libc::SYS_setuid, [uid, 0, 0, 0, 0, 0]);
    sys(libc::SYS_setgid, [gid, 0, 0, 0, 0, 0]);
    sys(libc::SYS_setreuid, [keep, uid, 0, 0, 0, 0]);
    sys(libc::SYS_setregid, [keep, gid, 0, 0, 0, 0]);
    sys(libc::SYS_setresuid, [keep, keep, keep, 0, 0, 0]);
    sys(libc::SYS_setresgid, [keep, keep, keep, 0, 0, 0]);
    // capget then capset of the same sets.
    // _LINUX_CAPABILITY_VERSION_3, this process.
    let mut header = [0x2008_0522u32, 0];
    let mut data = [0u32; 6];
    let (h, d) = (header.as_mut_ptr() as usize, data.as_mut_ptr() as usize);
    if sys(libc::SYS_capget, [h, d, 0, 0, 0, 0]) == 0 {
        sys(libc::SYS_capset, [h, d, 0, 0, 0, 0]);
    }
}

/// A listener on 127.0.0.1, a connection to it accepted with accept4, a
/// second accepted with accept and no address, and dups of the connection.
/// Returns the ports and every socket, still open.
fn sockets() -> (u16, u16, Vec<std::os::fd::OwnedFd>) {
    let listener = fixed_port_listener();
    let port = listener.local_addr().expect("local address").port();
    let lfd = listener.as_raw_fd() as usize;
    // std listened already (backlog 128); listening again sets the backlog.
    sys(libc::SYS_listen, [lfd, 7, 0, 0, 0, 0]);
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to itself");
    let client_port = client.local_addr().expect("client address").port();
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let (a, l) = (&raw mut addr as usize, &raw mut len as usize);
    let cloexec = libc::SOCK_CLOEXEC as usize;
    let accepted = sys(libc::SYS_accept4, [lfd, a, l, cloexec, 0, 0]);
    let second = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect again");
    let accepted2 = sys(libc::SYS_accept, [lfd, 0, 0, 0, 0, 0]);

    let cfd = client.as_raw_fd();
    let dup = sys(libc::SYS_dup, [cfd as usize, 0, 0, 0, 0, 0]);
    #[cfg(target_arch = "x86_64")]
    sys(libc::SYS_dup2, [cfd as usize, 100, 0, 0, 0, 0]);
    let cloexec = libc::O_CLOEXEC as usize;
    sys(libc::SYS_dup3, [cfd as usize, 101, cloexec, 0, 0, 0]);
    // The shape of a reverse shell: a socket on stdout, in a child.
    in_child(|| {
        sys(libc::SYS_dup3, [cfd as usize, 1, 0, 0, 0, 0]);
        #[cfg(target_arch = "x86_64")]
        sys(libc::SYS_dup2, [cfd as usize, 1, 0, 0, 0, 0]);
    });
    let mut open: Vec<std::os::fd::OwnedFd> = [accepted, accepted2, dup, 100, 101]
        .into_iter()
        .filter(|fd| *fd >= 0)
        // SAFETY: fds this function opened and owns.
        .map(|fd| unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as c_int) })
        .collect();
    open.extend([listener.into(), client.into(), second.into()]);
    (port, client_port, open)
}

/// A listener bound to a port asked for by number (as servers do), one that
/// was free a moment ago.
fn fixed_port_listener() -> std::net::TcpListener {
    for _ in 0..20 {
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0");
        if let Ok(l) = std::net::TcpListener::bind(free) {
            return l;
        }
    }
    panic!("no free port on 127.0.0.1");
}

fn io_uring() {
    let mut params = [0u32; 30];
    let fd = sys(
        libc::SYS_io_uring_setup,
        [4, params.as_mut_ptr() as usize, 0, 0, 0, 0],
    );
    if fd >= 0 {
        unsafe { libc::close(fd as c_int) };
    }
}

fn signals(child: i32) {
    let pid = child as usize;
    sys(libc::SYS_kill, [pid, libc::SIGTERM as usize, 0, 0, 0, 0]);
    sys(libc::SYS_tkill, [pid, libc::SIGUSR1 as usize, 0, 0, 0, 0]);
    sys(
        libc::SYS_tgkill,
        [pid, pid, libc::SIGUSR1 as usize, 0, 0, 0],
    );
    sys(libc::SYS_kill, [pid, libc::SIGKILL as usize, 0, 0, 0, 0]);
    let mut status = 0;
    unsafe { libc::waitpid(child, &mut status, 0) };
}
