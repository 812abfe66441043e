//! The spine end to end: the real daemon, real probes, real process trees.
use std::{
    process::{Command, Stdio},
    time::Duration,
};

use e2e::{Daemon, TempDir, listener, monitor_bin, n, privileged, s, tree_args};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

fn tree_probe() -> &'static str {
    env!("CARGO_BIN_EXE_tree-probe")
}

fn opens_of<'a>(events: &'a [Value], path: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| s(e, "evt.category") == "file" && s(e, "fd.name") == path)
        .collect()
}

#[test]
fn launched_tree_is_followed_through_every_generation_and_siblings_are_not() {
    if !privileged("launched_tree") {
        return;
    }
    let dir = TempDir::new("tree");
    let port = listener();
    let daemon = Daemon::start(&[]);
    let prefix = dir.path().join("f");
    let untagged = dir.path().join("untagged");

    // An untagged sibling first: same program, same actions, no wrapper.
    let status = Command::new(tree_probe())
        .args(tree_args(2, &untagged, port, None))
        .status()
        .unwrap();
    assert!(status.success());

    // The tagged tree: launch → tree-probe (gen 2) → gen 1 → gen 0.
    let mut launched = daemon
        .launch(
            "tree",
            &[
                tree_probe(),
                "2",
                prefix.to_str().unwrap(),
                &port.to_string(),
            ],
        )
        .spawn()
        .unwrap();
    let root_pid = launched.id() as i64;
    assert!(launched.wait().unwrap().success());

    let gen0 = format!("{}.gen0", prefix.display());
    daemon
        .wait_for(WAIT, |e| s(e, "fd.name") == gen0)
        .unwrap_or_else(|| panic!("no open of {gen0}; stderr:\n{}", daemon.stderr_text()));
    // Let the connect of the last generation arrive too.
    daemon.wait_for(WAIT, |e| {
        s(e, "evt.type") == "procexit" && n(e, "proc.pid") == root_pid
    });
    let events = daemon.events();

    let mut pids = Vec::new();
    for g in 0..=2 {
        let path = format!("{}.gen{g}", prefix.display());
        let opens = opens_of(&events, &path);
        assert_eq!(opens.len(), 1, "one open of {path}: {opens:?}");
        let open = opens[0];
        assert_eq!(s(open, "mcp.server"), "tree");
        assert_eq!(s(open, "mcp.tag_source"), "wrapper");
        assert_eq!(n(open, "mcp.root_pid"), root_pid);
        assert_eq!(s(open, "evt.res"), "ENOENT");
        assert_eq!(s(open, "fd.name_source"), "absolute");
        assert!(s(open, "proc.cmdline").contains(&path.replace(&format!(".gen{g}"), "")));
        let pid = n(open, "proc.pid");
        pids.push(pid);
        let connect = events
            .iter()
            .find(|e| s(e, "evt.type") == "connect" && n(e, "proc.pid") == pid)
            .unwrap_or_else(|| panic!("no connect from generation {g} (pid {pid})"));
        assert_eq!(s(connect, "mcp.server"), "tree");
        assert_eq!(s(connect, "fd.dip"), "127.0.0.1");
        assert_eq!(n(connect, "fd.dport"), port as i64);
        assert_eq!(s(connect, "fd.typechar"), "4");
        assert_eq!(s(connect, "evt.res"), "SUCCESS");
    }
    // Generation 2 is the launch wrapper's own pid, exec'd in place.
    assert_eq!(pids[2], root_pid);
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 3, "three distinct processes");
    // Each child generation was announced by a clone and an execve.
    for g in 0..2 {
        let pid = n(
            opens_of(&events, &format!("{}.gen{g}", prefix.display()))[0],
            "proc.pid",
        );
        assert!(
            events
                .iter()
                .any(|e| s(e, "evt.type") == "clone" && n(e, "evt.arg.child_pid") == pid)
        );
        let exec = events
            .iter()
            .find(|e| s(e, "evt.type") == "execve" && n(e, "proc.pid") == pid)
            .expect("execve of the child");
        assert_eq!(s(exec, "proc.exepath"), tree_probe());
        assert_eq!(s(exec, "mcp.server"), "tree");
    }

    // Nothing of the untagged sibling.
    let leaked: Vec<_> = events
        .iter()
        .filter(|e| {
            s(e, "fd.name").contains("untagged") || s(e, "proc.cmdline").contains("untagged")
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "untagged sibling produced events: {leaked:?}"
    );

    let status = daemon.stop();
    assert!(status.success(), "daemon exit: {status}");
}

#[test]
fn a_running_tree_tagged_by_pid_is_followed_with_its_existing_children() {
    if !privileged("tagged_by_pid") {
        return;
    }
    let dir = TempDir::new("bypid");
    let port = listener();
    let prefix = dir.path().join("held");
    let go = dir.path().join("go");
    // The chain exists (3 processes) and waits for the go file.
    let mut root = Command::new(tree_probe())
        .args(tree_args(2, &prefix, port, Some(&go)))
        .spawn()
        .unwrap();
    let root_pid = root.id();
    // Wait until the grandchild exists.
    let mut count = 0;
    for _ in 0..500 {
        count = all_descendants(root_pid).len();
        if count >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(count, 2, "child and grandchild started");

    let daemon = Daemon::start(&["--pid", &format!("{root_pid}=held")]);
    std::fs::write(&go, b"").unwrap();
    assert!(root.wait().unwrap().success());
    for g in 0..=2 {
        let path = format!("{}.gen{g}", prefix.display());
        let open = daemon
            .wait_for(WAIT, |e| s(e, "fd.name") == path)
            .unwrap_or_else(|| panic!("no open of {path}; stderr:\n{}", daemon.stderr_text()));
        assert_eq!(s(&open, "mcp.server"), "held");
        assert_eq!(s(&open, "mcp.tag_source"), "pid");
        assert_eq!(n(&open, "mcp.root_pid"), root_pid as i64);
        let pid = n(&open, "proc.pid");
        daemon
            .wait_for(WAIT, |e| {
                s(e, "evt.type") == "connect" && n(e, "proc.pid") == pid
            })
            .unwrap_or_else(|| panic!("no connect from generation {g}"));
    }
    assert!(daemon.stop().success());
}

fn all_descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let text =
            std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        for c in text.split_whitespace().filter_map(|c| c.parse().ok()) {
            out.push(c);
            queue.push(c);
        }
    }
    out
}

/// `fd.name` is the path as the kernel resolved it at the call: the file
/// actually opened (symlinks and `..` resolved, mounts crossed), or for a
/// failed relative open the cwd of that moment joined with the argument.
#[test]
fn paths_are_what_the_kernel_opened() {
    if !privileged("kernel_paths") {
        return;
    }
    let dir = TempDir::new("kpath");
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(root.join("here.txt"), b"x").unwrap();
    std::fs::write(outside.join("secret"), b"s").unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), root.join("link")).unwrap();
    let daemon = Daemon::start(&[]);
    // `cat` opens through `..` and through a symlink that leaves the root;
    // `sh` changes directory and fails a relative open, then exits at once (too
    // soon for procfs to tell its cwd); `cat` reads /proc/self, another mount.
    let script = "cat sub/../here.txt link; cd sub && true < missing; cat /proc/self/stat; \
                  touch made && mv made ../moved";
    // The script's exit status is its last command's; the events are what count.
    daemon
        .launch("kpath", &["sh", "-c", script])
        .current_dir(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let by_arg = |arg: &str| {
        daemon
            .wait_for(WAIT, |e| s(e, "evt.arg.path") == arg)
            .unwrap_or_else(|| panic!("no open of {arg}; stderr:\n{}", daemon.stderr_text()))
    };

    let open = by_arg("sub/../here.txt");
    assert_eq!(s(&open, "fd.name"), root.join("here.txt").to_str().unwrap());
    assert_eq!(s(&open, "fd.name_source"), "file");
    assert_eq!(s(&open, "evt.res"), "SUCCESS");
    assert_eq!(s(&open, "evt.arg.flags"), "O_RDONLY");

    let open = by_arg("link");
    assert_eq!(
        s(&open, "fd.name"),
        outside.join("secret").to_str().unwrap(),
        "the symlink's target, not the link: {open}"
    );
    assert_eq!(s(&open, "fd.name_source"), "file");

    let open = by_arg("missing");
    assert_eq!(s(&open, "evt.res"), "ENOENT");
    assert_eq!(s(&open, "proc.name"), "sh");
    assert_eq!(
        s(&open, "fd.name"),
        root.join("sub/missing").to_str().unwrap(),
        "the cwd at the call: {open}"
    );
    assert_eq!(s(&open, "fd.name_source"), "cwd");

    // A rename's relative paths, from the directory the kernel named.
    let rename = daemon
        .wait_for(WAIT, |e| {
            s(e, "evt.type").starts_with("rename") && s(e, "mcp.server") == "kpath"
        })
        .unwrap_or_else(|| panic!("no rename; stderr:\n{}", daemon.stderr_text()));
    assert_eq!(
        s(&rename, "fs.path.source"),
        root.join("sub/made").to_str().unwrap()
    );
    assert_eq!(
        s(&rename, "fs.path.target"),
        root.join("moved").to_str().unwrap()
    );
    assert_eq!(s(&rename, "fd.name_source"), "cwd");

    let open = by_arg("/proc/self/stat");
    assert_eq!(s(&open, "proc.name"), "cat");
    assert_eq!(
        s(&open, "fd.name"),
        format!("/proc/{}/stat", n(&open, "proc.pid"))
    );
    assert!(daemon.stop().success());
}

#[test]
fn launch_without_a_daemon_still_runs_the_server_unless_required() {
    // Needs no privileges: nothing is loaded.
    let dir = TempDir::new("nodaemon");
    let socket = dir.path().join("none.sock");
    let launch = |flags: &[&str], cmd: &[&str]| {
        Command::new(monitor_bin())
            .args(["launch", "--name", "x"])
            .args(flags)
            .arg("--control-socket")
            .arg(&socket)
            .arg("--")
            .args(cmd)
            .output()
            .unwrap()
    };
    let out = launch(&[], &["echo", "ran"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("unmonitored"),
        "{err}"
    );

    let out = launch(&["--require-monitor"], &["echo", "ran"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "the command must not run");

    let out = launch(&[], &["/nonexistent/cmd"]);
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn a_process_cannot_be_tagged_twice_and_the_daemon_stops_cleanly() {
    if !privileged("tag_twice") {
        return;
    }
    let daemon = Daemon::start(&[]);
    // launch → launch: the inner registration is refused (already tagged), the
    // command still runs, and keeps the outer name.
    let out = daemon
        .launch(
            "outer",
            &[
                monitor_bin().to_str().unwrap(),
                "launch",
                "--name",
                "inner",
                "--control-socket",
                daemon.socket.to_str().unwrap(),
                "--",
                "cat",
                "/etc/hostname",
            ],
        )
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already tagged as MCP server \"outer\""),
        "{err}"
    );
    let open = daemon
        .wait_for(WAIT, |e| s(e, "fd.name") == "/etc/hostname")
        .expect("open of /etc/hostname");
    assert_eq!(s(&open, "mcp.server"), "outer");
    let socket = daemon.socket.clone();
    assert!(daemon.stop().success());
    assert!(!socket.exists(), "control socket removed on exit");
}

/// A copy of tree-probe under a name that looks like an MCP server.
fn server_named(dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::copy(tree_probe(), &path).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn command_line_patterns_tag_servers_at_exec_and_at_start_up() {
    if !privileged("patterns") {
        return;
    }
    let dir = TempDir::new("patterns");
    let port = listener();
    let early = server_named(dir.path(), "mcp-server-early");
    let late = server_named(dir.path(), "weather-mcp");
    let go = dir.path().join("go");
    let early_prefix = dir.path().join("early");
    // Running before the daemon starts, waiting for the go file.
    let mut early_proc = Command::new(&early)
        .args(tree_args(1, &early_prefix, port, Some(&go)))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let daemon = Daemon::start(&[]);
    assert!(
        daemon.stderr_text().contains("mcp-server-early="),
        "start-up scan names the running server: {}",
        daemon.stderr_text()
    );
    std::fs::write(&go, b"").unwrap();
    assert!(early_proc.wait().unwrap().success());
    for g in 0..=1 {
        let path = format!("{}.gen{g}", early_prefix.display());
        let open = daemon
            .wait_for(WAIT, |e| s(e, "fd.name") == path)
            .unwrap_or_else(|| panic!("no open of {path}"));
        assert_eq!(s(&open, "mcp.server"), "mcp-server-early");
        assert_eq!(s(&open, "mcp.tag_source"), "pattern");
    }

    // Started while the daemon runs, through a shell, without the wrapper: the
    // exec of `weather-mcp` matches `*-mcp`. Recognition happens in user space
    // a moment after the exec, so the tree waits for a go file before acting;
    // its child, forked in that moment or after, must be part of the server.
    let late_prefix = dir.path().join("late");
    let late_go = dir.path().join("late-go");
    let mut shell = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "sleep 0.3; {late} 1 {} {port} {}",
            late_prefix.display(),
            late_go.display()
        ))
        .spawn()
        .unwrap();
    let exec = daemon
        .wait_for(WAIT, |e| {
            s(e, "evt.type") == "execve" && s(e, "proc.exepath") == late
        })
        .expect("execve of weather-mcp reported");
    assert_eq!(s(&exec, "mcp.server"), "weather-mcp");
    assert_eq!(s(&exec, "mcp.tag_source"), "pattern");
    std::fs::write(&late_go, b"").unwrap();
    assert!(shell.wait().unwrap().success());
    for g in 0..=1 {
        let path = format!("{}.gen{g}", late_prefix.display());
        let open = daemon
            .wait_for(WAIT, |e| s(e, "fd.name") == path)
            .unwrap_or_else(|| panic!("no open of {path}"));
        assert_eq!(s(&open, "mcp.server"), "weather-mcp");
    }
    // The shell that started it is not part of the server.
    assert!(
        !daemon.events().iter().any(|e| s(e, "proc.name") == "sh"),
        "the parent shell is not tagged"
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_full_ring_buffer_is_counted_and_reported() {
    if !privileged("ring_buffer_full") {
        return;
    }
    // One page of ring buffer cannot hold a burst of 20 000 opens.
    let daemon = Daemon::start(&["--ring-buffer-size", "4096"]);
    let storm = env!("CARGO_BIN_EXE_syscall-storm");
    let status = daemon
        .launch("flood", &[storm, "20000"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    daemon.wait_for_stderr(WAIT, "ring buffer was full");
    let stderr = daemon.stderr_text();
    assert!(stderr.contains("ring buffer was full"), "{stderr}");
    // The first warning may name only the kinds lost first (execs of other
    // processes, say); the report at shutdown names every kind.
    let (status, text) = daemon.stop_with_stderr();
    assert!(status.success());
    let summary = text
        .lines()
        .find(|l| l.contains("lost to a full ring buffer during this run"))
        .unwrap_or_else(|| panic!("no loss summary at shutdown: {text}"));
    assert!(
        summary.contains("open "),
        "drops are named by kind: {summary}"
    );
}

#[test]
fn without_privileges_run_fails_with_one_line_saying_what_to_do() {
    if !privileged("unprivileged_run") {
        return;
    }
    use std::os::unix::process::CommandExt as _;
    let out = Command::new(monitor_bin())
        .args(["run", "--control-socket", "/tmp/mcpmon-unpriv.sock"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("root") && err.contains("CAP_BPF"), "{err}");
}

/// A server started through `launch` is still watched after the daemon
/// restarts: the wrapper leaves the server's name in its environment and the
/// new daemon's start-up scan tags it again.
#[test]
fn launched_servers_survive_a_daemon_restart() {
    if !privileged("restart") {
        return;
    }
    let dir = TempDir::new("restart");
    let go = dir.path().join("go");
    let marker = dir.path().join("marker.txt");
    std::fs::write(&marker, b"m").unwrap();
    let first = Daemon::start(&["--no-default-patterns"]);
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; cat {}",
        go.display(),
        marker.display()
    );
    let mut server = first
        .launch("survivor", &["sh", "-c", &script])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(first.stop().success());

    let second = Daemon::start(&["--no-default-patterns"]);
    assert!(
        second.stderr_text().contains("survivor"),
        "the start-up scan names it: {}",
        second.stderr_text()
    );
    std::fs::write(&go, b"").unwrap();
    assert!(server.wait().unwrap().success());
    let open = second
        .wait_for(WAIT, |e| s(e, "fd.name") == marker.to_str().unwrap())
        .unwrap_or_else(|| panic!("no open after the restart:\n{}", second.stderr_text()));
    assert_eq!(s(&open, "mcp.server"), "survivor");
    assert_eq!(s(&open, "mcp.tag_source"), "wrapper");
    assert!(second.stop().success());
}
