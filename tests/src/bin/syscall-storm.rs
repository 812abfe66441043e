//! The overhead benchmark's load.
//!
//! `syscall-storm N [PATH]` opens and closes PATH (default /etc/hostname) N
//! times; `syscall-storm --mixed N DIR` runs N rounds of the other calls the
//! monitor hooks that ordinary programs make often (dup/dup2, rename, chmod,
//! unlink, bind, kill with signal 0) on files in DIR; `syscall-storm --pipe N`
//! writes 64 bytes into a pipe and reads them back N times (the small I/O a
//! read/write hook would tax). Each prints the elapsed nanoseconds.
use std::{ffi::CString, time::Instant};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mixed = args.first().is_some_and(|a| a == "--mixed");
    let pipe = args.first().is_some_and(|a| a == "--pipe");
    if mixed || pipe {
        args.remove(0);
    }
    let n: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| {
            eprintln!(
                "usage: syscall-storm N [PATH] | syscall-storm --mixed N DIR | syscall-storm --pipe N"
            );
            std::process::exit(2)
        });
    let start = Instant::now();
    if mixed {
        let dir = args.get(1).map_or("/tmp", String::as_str);
        mixed_storm(n, dir);
    } else if pipe {
        pipe_storm(n);
    } else {
        let path = args.get(1).map_or("/etc/hostname", String::as_str);
        open_storm(n, &CString::new(path).expect("path"));
    }
    println!("{}", start.elapsed().as_nanos());
}

fn open_storm(n: u64, path: &CString) {
    for _ in 0..n {
        // SAFETY: a valid C string; the fd is closed at once.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if fd >= 0 {
                libc::close(fd);
            }
        }
    }
}

fn pipe_storm(n: u64) {
    let mut fds = [0; 2];
    let mut buf = [7u8; 64];
    // SAFETY: a valid fd array and buffer; the pipe is this process's own.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0, "pipe2");
        for _ in 0..n {
            libc::write(fds[1], buf.as_ptr().cast(), buf.len());
            libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len());
        }
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
}

fn mixed_storm(n: u64, dir: &str) {
    let c = |name: &str| CString::new(format!("{dir}/{name}")).expect("path");
    let (a, b, gone) = (c("storm-a"), c("storm-b"), c("storm-gone"));
    let me = std::process::id() as i32;
    let loopback = libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: plain syscalls on this process's own files, fds and socket.
    unsafe {
        let fd = libc::open(
            a.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
            0o600,
        );
        assert!(fd >= 0, "cannot create a file in {dir}");
        for _ in 0..n {
            let copy = libc::dup(fd);
            libc::dup2(fd, 100);
            libc::close(copy);
            libc::close(100);
            libc::rename(a.as_ptr(), b.as_ptr());
            libc::rename(b.as_ptr(), a.as_ptr());
            libc::chmod(a.as_ptr(), 0o600);
            libc::unlink(gone.as_ptr());
            let sock = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            libc::bind(
                sock,
                (&raw const loopback).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            );
            libc::close(sock);
            libc::kill(me, 0);
        }
        libc::close(fd);
        libc::unlink(a.as_ptr());
    }
}
