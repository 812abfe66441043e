//! The overhead benchmark's load: `syscall-storm N [PATH]` opens and closes PATH
//! (default /etc/hostname) N times and prints the elapsed nanoseconds.
use std::{ffi::CString, time::Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or_else(|| {
        eprintln!("usage: syscall-storm N [PATH]");
        std::process::exit(2)
    });
    let path = CString::new(args.next().unwrap_or_else(|| "/etc/hostname".into())).expect("path");
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: a valid C string; the fd is closed at once.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if fd >= 0 {
                libc::close(fd);
            }
        }
    }
    println!("{}", start.elapsed().as_nanos());
}
