//! The generic syscall probes end to end: `syscall-zoo` makes each watched
//! syscall for real under `launch`, and every one must come out of the daemon
//! with its decoded fields; the same program untagged must produce nothing.
use std::{path::Path, process::Stdio, time::Duration};

use e2e::{Daemon, TempDir, n, privileged, s};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn zoo() -> &'static str {
    env!("CARGO_BIN_EXE_syscall-zoo")
}

/// Whether this kernel has the syscall's tracepoint (init_module needs
/// CONFIG_MODULES, fchmodat2 Linux 6.6).
fn has_tracepoint(name: &str) -> bool {
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .any(|t| Path::new(&format!("{t}/events/syscalls/sys_enter_{name}")).exists())
}

/// The `key=value` lines the zoo prints.
fn printed(stdout: &str, key: &str) -> i64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("syscall-zoo did not print {key}=: {stdout}"))
}

/// Events of one syscall.
struct Calls<'a> {
    events: &'a [Value],
}

impl<'a> Calls<'a> {
    /// The one event of `evt_type` matching `pred`; fails with the events of
    /// that type otherwise.
    fn find(&self, evt_type: &str, pred: impl Fn(&Value) -> bool) -> &'a Value {
        let of_type: Vec<&Value> = self
            .events
            .iter()
            .filter(|e| s(e, "evt.type") == evt_type)
            .collect();
        of_type
            .iter()
            .find(|e| pred(e))
            .copied()
            .unwrap_or_else(|| panic!("no matching {evt_type} event among {of_type:#?}"))
    }
}

#[test]
fn probes_decode_every_watched_syscall_and_stay_silent_when_untagged() {
    if !privileged("probes_zoo") {
        return;
    }
    let dir = TempDir::new("zoo");
    let untagged = TempDir::new("zoo-untagged");
    let daemon = Daemon::start(&[]);

    // Untagged first: anything it caused would arrive before the tagged run's events.
    let out = std::process::Command::new(zoo())
        .arg(untagged.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "untagged zoo: {out:?}");
    let untagged_child = printed(&String::from_utf8_lossy(&out.stdout), "child");

    // The zoo waits for `done` before it closes its sockets and exits: the
    // accept without an address is completed from procfs.
    let done = dir.path().with_extension("done");
    let launched = daemon
        .launch(
            "zoo",
            &[zoo(), dir.path().to_str().unwrap(), done.to_str().unwrap()],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    daemon
        .wait_for(WAIT, |e| {
            s(e, "evt.type") == "kill" && s(e, "evt.arg.sig") == "SIGKILL"
        })
        .unwrap_or_else(|| {
            panic!(
                "no kill from the zoo; stderr:
{}",
                daemon.stderr_text()
            )
        });
    std::fs::write(&done, b"").unwrap();
    let out = launched.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&done);
    assert!(out.status.success(), "zoo under launch: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (child, port, client_port) = (
        printed(&stdout, "child"),
        printed(&stdout, "port"),
        printed(&stdout, "client_port"),
    );
    let exit = daemon
        .wait_for(WAIT, |e| {
            s(e, "evt.type") == "procexit" && s(e, "proc.name") == "syscall-zoo" && {
                let pid = n(e, "proc.pid");
                pid != child && n(e, "mcp.root_pid") == pid
            }
        })
        .unwrap_or_else(|| panic!("no exit of the zoo; stderr:\n{}", daemon.stderr_text()));
    let zoo_pid = n(&exit, "proc.pid");
    let events = daemon.events();
    let calls = Calls { events: &events };
    let d = |name: &str| format!("{}/{name}", dir.path().display());
    let mine = |e: &Value| n(e, "proc.pid") == zoo_pid;

    // Every event of the run belongs to the server.
    for e in events.iter().filter(|e| mine(e)) {
        assert_eq!(s(e, "mcp.server"), "zoo", "{e}");
    }

    // Files: absolute paths from the cwd or the dirfd, the raw argument kept.
    let ok = |e: &Value| s(e, "evt.res") == "SUCCESS" && mine(e);
    if cfg!(target_arch = "x86_64") {
        let e = calls.find("chmod", |e| s(e, "fs.path.name") == d("f"));
        assert_eq!(n(e, "evt.arg.mode"), 0o600);
        assert_eq!(s(e, "evt.category"), "file");
        assert!(ok(e));
        let e = calls.find("link", |e| s(e, "fs.path.target") == d("hard"));
        assert_eq!(s(e, "fs.path.source"), d("f"));
        let e = calls.find("symlink", |e| s(e, "fs.path.target") == d("sym"));
        assert_eq!(
            s(e, "fs.path.source"),
            "f",
            "a symlink's content stays as given"
        );
        let e = calls.find("rename", |e| s(e, "fs.path.source") == d("hard"));
        assert_eq!(s(e, "fs.path.target"), d("hard-renamed"));
        assert_eq!(s(e, "fd.name"), d("hard-renamed"));
        assert_eq!(s(e, "fd.typechar"), "f");
        assert!(ok(e));
        calls.find("unlink", |e| s(e, "fs.path.name") == d("sym") && ok(e));
    }
    let e = calls.find("fchmodat", |e| s(e, "fs.path.name") == d("f"));
    assert_eq!(n(e, "evt.arg.mode"), 0o640);
    assert_eq!(
        s(e, "fd.name_source"),
        "dirfd",
        "the dirfd's directory, from the kernel"
    );
    assert_eq!(s(e, "evt.arg.path"), "f");
    if has_tracepoint("fchmodat2") {
        let e = calls.find("fchmodat2", |e| s(e, "fs.path.name") == d("f"));
        assert_eq!(n(e, "evt.arg.mode"), 0o644);
    }
    let e = calls.find("linkat", |e| s(e, "fs.path.target") == d("hard2"));
    assert_eq!(s(e, "fs.path.source"), d("f"));
    let e = calls.find("symlinkat", |e| s(e, "fs.path.target") == d("sym2"));
    assert_eq!(s(e, "fs.path.source"), "f");
    let e = calls.find("renameat", |e| s(e, "fs.path.target") == d("hard3"));
    assert_eq!(s(e, "fs.path.source"), d("hard2"));
    let e = calls.find("renameat2", |e| s(e, "fs.path.target") == d("sym3"));
    assert_eq!(s(e, "fs.path.source"), d("sym2"));
    assert_eq!(s(e, "evt.arg.flags"), "RENAME_NOREPLACE");
    assert_eq!(n(e, "evt.rawarg.flags"), 1);
    let e = calls.find("unlinkat", |e| s(e, "fs.path.name") == d("d"));
    assert_eq!(s(e, "evt.arg.flags"), "AT_REMOVEDIR");
    assert!(ok(e));
    calls.find("unlinkat", |e| s(e, "fs.path.name") == d("sym3") && ok(e));

    // Mount and namespaces, in forked children.
    let e = calls.find("mount", |e| s(e, "evt.arg.type") == "tmpfs");
    assert_eq!(s(e, "fs.path.name"), d("mnt"));
    assert_eq!(s(e, "evt.arg.dir"), d("mnt"));
    assert_eq!(s(e, "evt.arg.dev"), "zoo-tmpfs");
    assert_eq!(s(e, "evt.arg.flags"), "MS_NOSUID|MS_NODEV");
    assert_eq!(s(e, "evt.category"), "security");
    assert_eq!(s(e, "evt.res"), "SUCCESS");
    assert_eq!(s(e, "mcp.server"), "zoo");
    assert_ne!(n(e, "proc.pid"), zoo_pid, "mounted in a child");
    let e = calls.find("mount", |e| s(e, "evt.arg.flags") == "MS_REC|MS_PRIVATE");
    assert!(
        e.get("evt.arg.type").is_none(),
        "NULL fstype is absent: {e}"
    );
    let e = calls.find("umount2", |e| s(e, "fs.path.name") == d("mnt"));
    assert_eq!(s(e, "evt.arg.flags"), "MNT_DETACH");
    assert_eq!(s(e, "evt.res"), "SUCCESS");
    let e = calls.find("pivot_root", |e| s(e, "fs.path.name") == d("root"));
    // Not a mount point (EINVAL) or busy (EBUSY): a failed attempt is reported.
    assert!(n(e, "evt.rawres") < 0, "{e}");
    assert!(s(e, "evt.res").starts_with('E'), "{e}");
    calls.find("unshare", |e| s(e, "evt.arg.flags") == "CLONE_NEWNS");
    let e = calls.find("unshare", |e| {
        s(e, "evt.arg.flags") == "CLONE_NEWUSER|CLONE_NEWNET"
    });
    assert_eq!(s(e, "evt.category"), "security");
    let e = calls.find("chroot", |e| s(e, "fs.path.name") == d("root"));
    assert_eq!(s(e, "evt.res"), "SUCCESS");
    let e = calls.find("setns", mine);
    assert_eq!(s(e, "evt.arg.nstype"), "CLONE_NEWNET");
    assert!(n(e, "evt.arg.fd") >= 0);
    assert!(s(e, "fd.name").starts_with("net:["), "{e}");
    assert_eq!(s(e, "evt.res"), "SUCCESS");

    // The child: traced, read, written, signalled; it is in the caller's tree.
    let in_tree = |e: &Value| {
        assert_eq!(n(e, "evt.arg.pid"), child, "{e}");
        assert_eq!(n(e, "target.pid"), child, "{e}");
        assert_eq!(s(e, "target.server"), "zoo", "{e}");
        assert_eq!(e["target.in_tree"], true, "{e}");
        assert_eq!(s(e, "target.name"), "syscall-zoo", "{e}");
        assert_eq!(s(e, "target.exepath"), zoo(), "{e}");
    };
    let e = calls.find("ptrace", |e| s(e, "evt.arg.request") == "PTRACE_ATTACH");
    in_tree(e);
    assert_eq!(s(e, "evt.res"), "SUCCESS");
    in_tree(calls.find("ptrace", |e| s(e, "evt.arg.request") == "PTRACE_SEIZE"));
    let e = calls.find("process_vm_readv", mine);
    in_tree(e);
    assert_eq!(n(e, "evt.rawres"), 8);
    let e = calls.find("process_vm_writev", mine);
    in_tree(e);
    assert_eq!(n(e, "evt.rawres"), 8);
    let e = calls.find("kill", |e| s(e, "evt.arg.sig") == "SIGTERM");
    in_tree(e);
    assert_eq!(n(e, "evt.rawarg.sig"), 15);
    assert_eq!(s(e, "evt.category"), "process");
    in_tree(calls.find("kill", |e| s(e, "evt.arg.sig") == "SIGKILL"));
    in_tree(calls.find("tkill", |e| s(e, "evt.arg.sig") == "SIGUSR1"));
    in_tree(calls.find("tgkill", |e| s(e, "evt.arg.sig") == "SIGUSR1"));

    // Modules (when this kernel has them) and bpf: refused, still reported.
    if has_tracepoint("init_module") {
        let e = calls.find("init_module", mine);
        assert_eq!(n(e, "evt.arg.len"), 16);
        assert_ne!(s(e, "evt.res"), "SUCCESS");
        let e = calls.find("finit_module", mine);
        assert_eq!(s(e, "fd.name"), d("f"));
        assert_ne!(s(e, "evt.res"), "SUCCESS");
    }
    let e = calls.find("bpf", mine);
    assert_eq!(s(e, "evt.arg.cmd"), "BPF_MAP_CREATE");
    assert_eq!(s(e, "evt.res"), "EINVAL");
    let e = calls.find("memfd_create", mine);
    assert_eq!(s(e, "evt.arg.name"), "zoo-memfd");
    assert_eq!(s(e, "evt.arg.flags"), "MFD_CLOEXEC|MFD_ALLOW_SEALING");
    assert!(n(e, "fd.num") >= 0);

    // Credentials: the ids it has, -1 for "unchanged".
    let (uid, gid) = unsafe { (libc::getuid() as i64, libc::getgid() as i64) };
    assert_eq!(n(calls.find("setuid", mine), "evt.arg.uid"), uid);
    assert_eq!(n(calls.find("setgid", mine), "evt.arg.gid"), gid);
    let e = calls.find("setreuid", mine);
    assert_eq!((n(e, "evt.arg.ruid"), n(e, "evt.arg.euid")), (-1, uid));
    let e = calls.find("setregid", mine);
    assert_eq!((n(e, "evt.arg.rgid"), n(e, "evt.arg.egid")), (-1, gid));
    let e = calls.find("setresuid", mine);
    assert_eq!(n(e, "evt.arg.suid"), -1);
    assert_eq!(s(e, "evt.category"), "security");
    let e = calls.find("setresgid", mine);
    assert_eq!(n(e, "evt.arg.sgid"), -1);
    let e = calls.find("capset", mine);
    assert_eq!(s(e, "evt.res"), "SUCCESS");
    // Root: the zoo's effective set includes what the test has.
    if own_capabilities() & (1 << 21) != 0 {
        assert!(
            s(e, "evt.arg.cap_effective").contains("CAP_SYS_ADMIN"),
            "{e}"
        );
        assert!(
            s(e, "evt.arg.cap_permitted").contains("CAP_SYS_ADMIN"),
            "{e}"
        );
    }
    assert!(e.get("evt.arg.cap_inheritable").is_some(), "{e}");

    // Sockets: bind, listen with the bound address, accepts with both ends.
    let local = format!("127.0.0.1:{port}");
    let e = calls.find("bind", |e| n(e, "fd.sport") == port);
    assert_eq!(s(e, "fd.sip"), "127.0.0.1");
    assert_eq!(s(e, "fd.typechar"), "4");
    assert_eq!(s(e, "fd.name"), local);
    assert_eq!(s(e, "evt.category"), "net");
    let listen_fd = n(e, "evt.arg.fd");
    let e = calls.find("listen", |e| n(e, "evt.arg.backlog") == 7);
    assert_eq!(n(e, "evt.arg.fd"), listen_fd);
    assert_eq!(s(e, "fd.sip"), "127.0.0.1");
    assert_eq!(n(e, "fd.sport"), port);
    assert_eq!(s(e, "fd.name"), local);
    let e = calls.find("accept4", mine);
    assert_eq!(s(e, "fd.cip"), "127.0.0.1");
    assert_eq!(n(e, "fd.cport"), client_port);
    assert_eq!(n(e, "fd.sport"), port);
    assert_eq!(s(e, "evt.arg.flags"), "SOCK_CLOEXEC");
    assert!(n(e, "fd.num") >= 0);
    let e = calls.find("accept", mine);
    assert_eq!(s(e, "fd.cip"), "127.0.0.1", "peer from procfs: {e}");
    assert_eq!(n(e, "fd.sport"), port);

    // dup family: what the old fd is (the connected client socket).
    let client_fd = n(calls.find("dup", mine), "evt.arg.oldfd");
    let socket = |e: &Value| {
        assert_eq!(n(e, "evt.arg.oldfd"), client_fd, "{e}");
        assert_eq!(n(e, "fd.num"), client_fd, "{e}");
        assert_eq!(s(e, "fd.typechar"), "4", "{e}");
        assert_eq!(s(e, "fd.dip"), "127.0.0.1", "{e}");
        assert_eq!(n(e, "fd.dport"), port, "{e}");
        assert_eq!(s(e, "fd.name"), local, "{e}");
    };
    socket(calls.find("dup", mine));
    let e = calls.find("dup3", |e| n(e, "evt.arg.newfd") == 101);
    socket(e);
    assert_eq!(s(e, "evt.arg.flags"), "O_CLOEXEC");
    let e = calls.find("dup3", |e| n(e, "evt.arg.newfd") == 1);
    socket(e);
    assert_ne!(n(e, "proc.pid"), zoo_pid, "in the child");
    if cfg!(target_arch = "x86_64") {
        socket(calls.find("dup2", |e| n(e, "evt.arg.newfd") == 100));
        socket(calls.find("dup2", |e| n(e, "evt.arg.newfd") == 1));
    }

    let e = calls.find("io_uring_setup", mine);
    assert_eq!(n(e, "evt.arg.entries"), 4);
    assert_eq!(s(e, "evt.res"), "SUCCESS");
    assert_eq!(s(e, "evt.arg.flags"), "0");

    // Nothing of the untagged run.
    let leaked: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e.to_string().contains(untagged.path().to_str().unwrap())
                || n(e, "target.pid") == untagged_child
                || n(e, "proc.pid") == untagged_child
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "untagged zoo produced events: {leaked:#?}"
    );
    assert!(daemon.stop().success());
}

/// This process's effective capabilities.
fn own_capabilities() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}
