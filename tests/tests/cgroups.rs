//! Servers named by cgroup: every process in it, already running or arriving
//! later, is followed; `container.id` comes from the runtime's cgroup path.
use std::{path::PathBuf, process::Command, time::Duration};

use e2e::{Daemon, TempDir, listener, privileged, s, tree_args};

const WAIT: Duration = Duration::from_secs(20);

/// A cgroup v2 directory this test creates and removes.
struct TestCgroup(PathBuf);

impl TestCgroup {
    fn new(tag: &str) -> Option<TestCgroup> {
        let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.join("cgroup.procs").exists())?;
        let dir = root.join(format!("mcpmon-{tag}-{}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        Some(TestCgroup(dir))
    }

    /// The path `/proc/PID/cgroup` shows for it.
    fn path(&self) -> String {
        format!("/{}", self.0.file_name().unwrap().to_string_lossy())
    }

    /// A child cgroup named `name`, removed before its parent.
    fn child(&self, name: &str) -> TestCgroup {
        let dir = self.0.join(name);
        std::fs::create_dir(&dir).unwrap();
        TestCgroup(dir)
    }

    fn add(&self, pid: u32) {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

/// Starts `command` in `cg`: a shell enters the cgroup, then execs it, as a
/// container runtime's first process does.
fn exec_inside(cg: &TestCgroup, command: &str) -> std::process::Child {
    let mut shell = Command::new("sh")
        .arg("-c")
        .arg(format!("read _; exec {command}"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    cg.add(shell.id());
    drop(shell.stdin.take());
    shell
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn processes_in_a_watched_cgroup_are_followed() {
    if !privileged("cgroup") {
        return;
    }
    let Some(cg) = TestCgroup::new("cg") else {
        assert!(!e2e::in_ci(), "no writable cgroup v2 hierarchy");
        eprintln!("SKIP cgroup: no writable cgroup v2 hierarchy");
        return;
    };
    let dir = TempDir::new("cg");
    let go = dir.path().join("go");
    let prefix = dir.path().join("boxed");
    let probe = env!("CARGO_BIN_EXE_tree-probe");
    let port = listener();

    // Already in the cgroup when the daemon starts.
    let mut early = Command::new(probe)
        .args(tree_args(0, &prefix, port, Some(&go)))
        .spawn()
        .unwrap();
    cg.add(early.id());
    let daemon = Daemon::start(&["--cgroup", &format!("{}=boxed", cg.path())]);
    std::fs::write(&go, b"").unwrap();
    assert!(early.wait().unwrap().success());
    let open = daemon
        .wait_for(WAIT, |e| {
            s(e, "fd.name") == format!("{}.gen0", prefix.display())
        })
        .unwrap_or_else(|| panic!("no open from the early process; {}", daemon.stderr_text()));
    assert_eq!(s(&open, "mcp.server"), "boxed");
    assert_eq!(s(&open, "mcp.tag_source"), "cgroup");

    // A shell moved into the cgroup later: what it execs there is followed.
    // Recognition happens at the exec, so the program waits for a go file.
    let late_prefix = dir.path().join("late");
    let late_go = dir.path().join("late-go");
    let mut shell = exec_inside(
        &cg,
        &format!(
            "{probe} 0 {} {port} {}",
            late_prefix.display(),
            late_go.display()
        ),
    );
    let exec = daemon
        .wait_for(WAIT, |e| {
            s(e, "evt.type") == "execve" && s(e, "proc.exepath") == probe
        })
        .unwrap_or_else(|| panic!("exec in the cgroup not followed; {}", daemon.stderr_text()));
    assert_eq!(s(&exec, "mcp.server"), "boxed");
    std::fs::write(&late_go, b"").unwrap();
    assert!(shell.wait().unwrap().success());
    let late = format!("{}.gen0", late_prefix.display());
    let open = daemon
        .wait_for(WAIT, |e| s(e, "fd.name") == late)
        .unwrap_or_else(|| panic!("no open from the late process; {}", daemon.stderr_text()));
    assert_eq!(s(&open, "mcp.server"), "boxed");
    assert!(daemon.stop().success());
}

#[test]
fn a_container_started_by_a_server_joins_that_server() {
    if !privileged("container_join") {
        return;
    }
    // What a runtime does, without the runtime: a cgroup named as docker names
    // a container's, and a process that enters it and execs.
    let id = "4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee0";
    let Some(parent) = TestCgroup::new("runtime") else {
        assert!(!e2e::in_ci(), "no writable cgroup v2 hierarchy");
        eprintln!("SKIP container_join: no writable cgroup v2 hierarchy");
        return;
    };
    let cg = parent.child(&format!("docker-{id}.scope"));
    let dir = TempDir::new("container");
    let docker = dir.path().join("docker");
    std::fs::copy("/bin/true", &docker).unwrap();
    let probe = env!("CARGO_BIN_EXE_tree-probe");
    let prefix = dir.path().join("in-container");
    let go = dir.path().join("go");
    let daemon = Daemon::start(&[]);

    // The server runs `docker run -i image`, as a host's config would have it.
    let status = daemon
        .launch(
            "contained",
            &[docker.to_str().unwrap(), "run", "-i", "mcp/fetch"],
        )
        .status()
        .unwrap();
    assert!(status.success());
    daemon
        .wait_for(WAIT, |e| {
            s(e, "evt.type") == "execve" && s(e, "proc.exepath") == docker.to_str().unwrap()
        })
        .expect("the docker CLI is part of the server");

    // The container's first process, outside the server's process tree.
    let mut shell = exec_inside(
        &cg,
        &format!("{probe} 0 {} 1 {}", prefix.display(), go.display()),
    );
    let exec = daemon
        .wait_for(WAIT, |e| {
            s(e, "evt.type") == "execve" && s(e, "proc.exepath") == probe
        })
        .unwrap_or_else(|| {
            panic!(
                "the container's process joined no server; {}",
                daemon.stderr_text()
            )
        });
    assert_eq!(s(&exec, "mcp.server"), "contained");
    assert_eq!(s(&exec, "container.id"), &id[..12]);
    std::fs::write(&go, b"").unwrap();
    assert!(shell.wait().unwrap().success());
    let open = daemon
        .wait_for(WAIT, |e| {
            s(e, "fd.name") == format!("{}.gen0", prefix.display())
        })
        .expect("the container's open is reported");
    assert_eq!(s(&open, "mcp.server"), "contained");
    assert_eq!(s(&open, "container.id"), &id[..12]);
    assert!(daemon.stop().success());
}
