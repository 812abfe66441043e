//! One real action per run, for the scenario suite (tests/scenarios/): the
//! syscalls a rule watches, made for real so the monitor sees what it would
//! see from an attacker. Failures of the action itself (ENOENT, ECONNREFUSED)
//! are printed and do not change the exit code: the attempt is what counts.
//!
//! ```text
//! scn-action open PATH             open for reading, then close
//! scn-action write PATH            open for writing (create, append), write a line
//! scn-action try-write PATH        open for writing without creating
//! scn-action truncate PATH         open for writing with O_TRUNC, without creating
//! scn-action unlink PATH           unlink(2)
//! scn-action connect IP PORT       TCP connect (2 s timeout)
//! scn-action connect-unix PATH     unix stream connect
//! scn-action spawn CMD [ARG…]      fork, exec CMD, wait
//! scn-action memfd-exec [proc]     copy /bin/true into a memfd and exec it as
//!                                  /dev/fd/N (or /proc/self/fd/N)
//! scn-action listen IP PORT…       accept and close connections until killed
//! scn-action listen-report IP PORT accept connections until killed, printing
//!                                  `accepted PEER` for each (after `listening`)
//! scn-action rename FROM TO        rename(2)
//! scn-action symlink TARGET LINK   symlink(2)
//! scn-action chmod PATH MODE       chmod(2), MODE in octal
//! scn-action mount-tmpfs DIR       in a new mount namespace of its own: mount tmpfs on DIR
//! scn-action unshare-user          unshare(CLONE_NEWUSER)
//! scn-action setns PATH            setns to the namespace file PATH (/proc/self/ns/net)
//! scn-action pivot-root DIR        in a new mount namespace: pivot_root(DIR, DIR)
//! scn-action chroot DIR            chroot(DIR) (this process only)
//! scn-action ptrace PID            PTRACE_ATTACH to PID, then detach
//! scn-action ptrace-child          fork a child and PTRACE_ATTACH to it
//! scn-action vm-read PID           process_vm_readv from PID
//! scn-action vm-read-child         process_vm_readv from a child of its own
//! scn-action init-module           init_module with an image that is not a module
//! scn-action bpf-map               bpf(BPF_MAP_CREATE) of a one-slot array
//! scn-action bpf-map-by-id         walk map ids and open the first by id (how a
//!                                  root process reaches another's maps)
//! scn-action regain-root           setuid(65534), then setuid(0) (refused)
//! scn-action setuid UID            setuid(UID)
//! scn-action capset full|none      capset to every capability, or to none
//! scn-action listen-once IP PORT   bind and listen on IP:PORT, then exit
//! scn-action memfd-create          memfd_create, then close
//! scn-action io-uring              io_uring_setup, then close
//! scn-action io-uring-read PATH    open PATH and read it through io_uring
//! scn-action socket DOM TYPE PROTO socket(DOM, TYPE, PROTO) (numbers), then close
//! scn-action chown PATH UID GID    chown(2) (-1 keeps an id)
//! scn-action chattr PATH FLAGS     ioctl(FS_IOC_SETFLAGS) with FLAGS (a number)
//! scn-action lsattr PATH           ioctl(FS_IOC_GETFLAGS)
//! scn-action dup-socket IP PORT FD connect to IP:PORT and dup2 the socket onto FD
//! scn-action kill PID SIG          kill(PID, SIG)
//! ```
mod uring;

use std::{
    ffi::CString,
    io::Write as _,
    net::{SocketAddr, TcpListener, TcpStream},
    os::unix::{fs::OpenOptionsExt as _, net::UnixStream},
    process::Command,
    time::Duration,
};

fn usage() -> ! {
    eprintln!(
        "usage: scn-action ACTION [ARG…] (the actions are listed in tests/src/bin/scn-action/main.rs)"
    );
    std::process::exit(2)
}

fn report<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) {
    if let Err(e) = r {
        eprintln!("scn-action: {what}: {e}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_else(|| usage());
    match arg(0) {
        "open" => report("open", std::fs::File::open(arg(1))),
        "write" => report(
            "write",
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(arg(1))
                .and_then(|mut f| writeln!(f, "written by a scenario")),
        ),
        "try-write" => report(
            "try-write",
            std::fs::OpenOptions::new().write(true).open(arg(1)),
        ),
        "truncate" => report(
            "truncate",
            std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(arg(1)),
        ),
        "unlink" => report("unlink", std::fs::remove_file(arg(1))),
        "connect" => {
            let addr: SocketAddr = format!("{}:{}", arg(1), arg(2))
                .parse()
                .unwrap_or_else(|_| usage());
            report(
                "connect",
                TcpStream::connect_timeout(&addr, Duration::from_secs(2)),
            );
        }
        "connect-unix" => report("connect-unix", UnixStream::connect(arg(1))),
        "spawn" => {
            let _ = arg(1);
            report("spawn", Command::new(&args[1]).args(&args[2..]).status());
        }
        "memfd-exec" => memfd_exec(args.get(1).map(String::as_str) == Some("proc")),
        "listen" => listen(arg(1), &args[2..]),
        "listen-report" => listen_report(arg(1), arg(2)),
        "rename" => report("rename", std::fs::rename(arg(1), arg(2))),
        "link" => report("link", std::fs::hard_link(arg(1), arg(2))),
        "symlink" => report("symlink", std::os::unix::fs::symlink(arg(1), arg(2))),
        "chmod" => {
            let mode = u32::from_str_radix(arg(2), 8).unwrap_or_else(|_| usage());
            report(
                "chmod",
                std::fs::set_permissions(
                    arg(1),
                    std::os::unix::fs::PermissionsExt::from_mode(mode),
                ),
            );
        }
        "mount-tmpfs" => {
            private_mounts();
            let (src, dir, fstype) = (c("tmpfs"), c(arg(1)), c("tmpfs"));
            // SAFETY: valid C strings; the mount is in this process's own namespace.
            check("mount", unsafe {
                libc::mount(
                    src.as_ptr(),
                    dir.as_ptr(),
                    fstype.as_ptr(),
                    0,
                    std::ptr::null(),
                )
            });
        }
        // SAFETY: changes only this process's namespaces.
        "unshare-user" => check("unshare", unsafe { libc::unshare(libc::CLONE_NEWUSER) }),
        "setns" => match std::fs::File::open(arg(1)) {
            Ok(f) => check("setns", unsafe {
                // SAFETY: a namespace fd this process opened.
                libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), 0)
            }),
            Err(e) => eprintln!("scn-action: {}: {e}", arg(1)),
        },
        "pivot-root" => {
            private_mounts();
            let dir = c(arg(1));
            // SAFETY: valid C strings, in a mount namespace of this process's own.
            check("pivot_root", unsafe {
                libc::syscall(libc::SYS_pivot_root, dir.as_ptr(), dir.as_ptr()) as i32
            });
        }
        // SAFETY: a valid C string; affects this process only, which then exits.
        "chroot" => check("chroot", unsafe { libc::chroot(c(arg(1)).as_ptr()) }),
        "ptrace" => attach(pid_arg(arg(1))),
        "ptrace-child" => {
            let child = sleeper();
            attach(child.id() as i32);
            finish(child);
        }
        "vm-read" => vm_read(pid_arg(arg(1))),
        "vm-read-child" => {
            let child = sleeper();
            vm_read(child.id() as i32);
            finish(child);
        }
        "init-module" => {
            let image = [0u8; 64];
            let params = c("");
            // SAFETY: a readable buffer of the given length and a C string; the
            // kernel refuses an image that is not an ELF module.
            check("init_module", unsafe {
                libc::syscall(
                    libc::SYS_init_module,
                    image.as_ptr(),
                    image.len(),
                    params.as_ptr(),
                ) as i32
            });
        }
        "bpf-map" => bpf_map(),
        "bpf-map-by-id" => bpf_map_by_id(),
        "regain-root" => {
            // SAFETY: setuid has no memory preconditions.
            check("setuid(65534)", unsafe { libc::setuid(65534) });
            // SAFETY: as above; refused once the uid is dropped.
            check("setuid(0)", unsafe { libc::setuid(0) });
        }
        // SAFETY: setuid has no memory preconditions.
        "setuid" => check("setuid", unsafe { libc::setuid(pid_arg(arg(1)) as u32) }),
        "capset" => capset(arg(1) == "full"),
        "listen-once" => {
            let l = TcpListener::bind(format!("{}:{}", arg(1), arg(2)));
            report("listen", l.map(|_| ()));
        }
        "memfd-create" => {
            // SAFETY: a valid name; the fd is closed at once.
            let fd = unsafe { libc::memfd_create(c("buffer").as_ptr(), libc::MFD_CLOEXEC) };
            check("memfd_create", fd);
            // SAFETY: closing the fd this process just made (or -1, harmless).
            unsafe { libc::close(fd) };
        }
        "io-uring" => {
            let mut params = [0u8; 120];
            // SAFETY: a zeroed io_uring_params of the kernel's size.
            let fd =
                unsafe { libc::syscall(libc::SYS_io_uring_setup, 8, params.as_mut_ptr()) as i32 };
            check("io_uring_setup", fd);
            // SAFETY: closing the ring this process just made (or -1, harmless).
            unsafe { libc::close(fd) };
        }
        "io-uring-read" => match uring::open_and_read(arg(1)) {
            Ok(n) if n >= 0 => {}
            Ok(n) => eprintln!("scn-action: io_uring read: errno {}", -n),
            Err(e) => eprintln!("scn-action: io_uring: {e}"),
        },
        "socket" => {
            let n = |i: usize| -> i32 { arg(i).parse().unwrap_or_else(|_| usage()) };
            // SAFETY: socket has no memory preconditions; the fd is closed at once.
            let fd = unsafe { libc::socket(n(1), n(2), n(3)) };
            check("socket", fd);
            unsafe { libc::close(fd) };
        }
        "chown" => {
            let id = |i: usize| -> u32 { arg(i).parse::<i64>().unwrap_or_else(|_| usage()) as u32 };
            // SAFETY: a valid C string.
            check("chown", unsafe {
                libc::chown(c(arg(1)).as_ptr(), id(2), id(3))
            });
        }
        "chattr" | "lsattr" => match std::fs::File::open(arg(1)) {
            Ok(f) => {
                const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
                const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
                let mut flags: libc::c_long = if arg(0) == "chattr" {
                    arg(2).parse().unwrap_or_else(|_| usage())
                } else {
                    0
                };
                let request = if arg(0) == "chattr" {
                    FS_IOC_SETFLAGS
                } else {
                    FS_IOC_GETFLAGS
                };
                // SAFETY: the request reads or writes one long at `flags`.
                check(arg(0), unsafe {
                    libc::ioctl(
                        std::os::fd::AsRawFd::as_raw_fd(&f),
                        request,
                        &mut flags as *mut libc::c_long,
                    )
                });
            }
            Err(e) => eprintln!("scn-action: {}: {e}", arg(1)),
        },
        "dup-socket" => {
            let addr: SocketAddr = format!("{}:{}", arg(1), arg(2))
                .parse()
                .unwrap_or_else(|_| usage());
            let newfd: i32 = arg(3).parse().unwrap_or_else(|_| usage());
            match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                Ok(s) => check("dup2", unsafe {
                    // SAFETY: both fds belong to this process, which exits next.
                    libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&s), newfd)
                }),
                Err(e) => eprintln!("scn-action: connect: {e}"),
            }
        }
        "kill" => {
            let sig: i32 = arg(2).parse().unwrap_or_else(|_| usage());
            // SAFETY: kill has no memory preconditions.
            check("kill", unsafe { libc::kill(pid_arg(arg(1)), sig) });
        }
        _ => usage(),
    }
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| usage())
}

fn pid_arg(s: &str) -> i32 {
    s.parse().unwrap_or_else(|_| usage())
}

/// Reports a failed call (a negative result) with errno.
fn check(what: &str, rc: i32) {
    if rc < 0 {
        eprintln!("scn-action: {what}: {}", std::io::Error::last_os_error());
    }
}

/// A mount namespace of this process's own, private, so nothing it mounts or
/// pivots reaches the machine.
fn private_mounts() {
    // SAFETY: changes only this process's mount namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        eprintln!(
            "scn-action: unshare(CLONE_NEWNS): {}",
            std::io::Error::last_os_error()
        );
        std::process::exit(0);
    }
    let root = c("/");
    // SAFETY: valid C strings; makes every mount in the new namespace private.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        eprintln!(
            "scn-action: making mounts private: {}",
            std::io::Error::last_os_error()
        );
        std::process::exit(0);
    }
}

/// A child of this process that sleeps until killed.
fn sleeper() -> std::process::Child {
    Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("starting sleep")
}

fn finish(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn attach(pid: i32) {
    // SAFETY: ptrace requests with no memory arguments; detached at once.
    unsafe {
        let rc = libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0) as i32;
        check("ptrace(PTRACE_ATTACH)", rc);
        if rc == 0 {
            let mut status = 0;
            libc::waitpid(pid, &mut status, libc::__WALL);
            libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0);
        }
    }
}

fn vm_read(pid: i32) {
    let mut buf = [0u8; 8];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // An address that is surely mapped in any process is not needed: the
    // call is the attempt, whatever it returns.
    let remote = libc::iovec {
        iov_base: 0x1000 as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: the local iovec points at a live buffer of its length.
    let rc = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    check("process_vm_readv", rc as i32);
}

fn bpf_map() {
    // union bpf_attr for BPF_MAP_CREATE: map_type, key_size, value_size, max_entries.
    let mut attr = [0u32; 32];
    attr[0] = 2; // BPF_MAP_TYPE_ARRAY
    attr[1] = 4;
    attr[2] = 4;
    attr[3] = 1;
    // SAFETY: attr is a zero-padded bpf_attr of sufficient size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            0, /* BPF_MAP_CREATE */
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        ) as i32
    };
    check("bpf(BPF_MAP_CREATE)", fd);
    // SAFETY: closing the map this process just made (or -1, harmless).
    unsafe { libc::close(fd) };
}

fn bpf_map_by_id() {
    // union bpf_attr for BPF_MAP_GET_NEXT_ID: start_id, next_id; for
    // BPF_MAP_GET_FD_BY_ID: map_id.
    let mut attr = [0u32; 32];
    let bpf = |cmd: i64, attr: &mut [u32; 32]| {
        // SAFETY: attr is a zero-padded bpf_attr of sufficient size.
        unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                attr.as_mut_ptr(),
                std::mem::size_of_val(attr),
            ) as i32
        }
    };
    check("bpf(BPF_MAP_GET_NEXT_ID)", bpf(12, &mut attr));
    attr[0] = attr[1];
    let fd = bpf(14, &mut attr);
    check("bpf(BPF_MAP_GET_FD_BY_ID)", fd);
    // SAFETY: closing the fd this process just got (or -1, harmless).
    unsafe { libc::close(fd) };
}

/// capset(2) to every capability (as root, what it already has) or to none.
fn capset(full: bool) {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and two data structs, as version 3 asks.
    unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if !full {
        data = [Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
    } else {
        for d in &mut data {
            d.effective = d.permitted;
        }
    }
    // SAFETY: as above.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) as i32 };
    check("capset", rc);
}

/// A fileless payload: /bin/true copied into an anonymous memory file and run
/// from there (`/dev/fd/N`), never touching the disk under a name.
fn memfd_exec(through_proc: bool) {
    let payload = std::fs::read("/bin/true").expect("reading /bin/true");
    let name = CString::new("payload").unwrap();
    // SAFETY: a valid name; the fd is inherited by the child on purpose.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), 0) };
    if fd < 0 {
        eprintln!(
            "scn-action: memfd_create: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    // SAFETY: fd is a fresh memfd this process owns.
    let written = unsafe { libc::write(fd, payload.as_ptr().cast(), payload.len()) };
    if written != payload.len() as isize {
        eprintln!("scn-action: writing the memfd failed");
        return;
    }
    let path = if through_proc {
        format!("/proc/self/fd/{fd}")
    } else {
        format!("/dev/fd/{fd}")
    };
    report("exec memfd", Command::new(path).status());
}

/// Accepts and closes connections on every PORT of IP, until killed.
fn listen_report(ip: &str, port: &str) {
    let l = TcpListener::bind(format!("{ip}:{port}"))
        .unwrap_or_else(|e| panic!("binding {ip}:{port}: {e}"));
    println!("listening");
    for conn in l.incoming() {
        match conn.and_then(|c| c.peer_addr()) {
            Ok(peer) => println!("accepted {peer}"),
            Err(e) => println!("accept failed: {e}"),
        }
    }
}

fn listen(ip: &str, ports: &[String]) {
    let mut handles = Vec::new();
    for port in ports {
        let l = TcpListener::bind(format!("{ip}:{port}"))
            .unwrap_or_else(|e| panic!("binding {ip}:{port}: {e}"));
        handles.push(std::thread::spawn(move || for _ in l.incoming() {}));
    }
    println!("listening");
    for h in handles {
        let _ = h.join();
    }
}
