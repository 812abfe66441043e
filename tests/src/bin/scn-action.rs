//! One real action per run, for the scenario suite (tests/scenarios/): the
//! syscalls a rule watches, made for real so the monitor sees what it would
//! see from an attacker. Failures of the action itself (ENOENT, ECONNREFUSED)
//! are printed and do not change the exit code: the attempt is what counts.
//!
//! ```text
//! scn-action open PATH             open for reading, then close
//! scn-action write PATH            open for writing (create, append), write a line
//! scn-action try-write PATH        open for writing without creating
//! scn-action connect IP PORT       TCP connect (2 s timeout)
//! scn-action connect-unix PATH     unix stream connect
//! scn-action spawn CMD [ARG…]      fork, exec CMD, wait
//! scn-action memfd-exec            copy /bin/true into a memfd and exec it
//! scn-action listen IP PORT…       accept and close connections until killed
//! ```
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
        "usage: scn-action open|write|try-write PATH | connect IP PORT | connect-unix PATH | \
         spawn CMD [ARG…] | memfd-exec | listen IP PORT…"
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
        "memfd-exec" => memfd_exec(),
        "listen" => listen(arg(1), &args[2..]),
        _ => usage(),
    }
}

/// A fileless payload: /bin/true copied into an anonymous memory file and run
/// from there (`/dev/fd/N`), never touching the disk under a name.
fn memfd_exec() {
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
    report("exec memfd", Command::new(format!("/dev/fd/{fd}")).status());
}

/// Accepts and closes connections on every PORT of IP, until killed.
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
