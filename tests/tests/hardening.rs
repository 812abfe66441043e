//! What a local user without privileges can do to the daemon, tried for real
//! as such a user (uid 65534).
use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use e2e::{Daemon, as_nobody, monitor_bin, privileged};

/// Holds `n` idle connections to the control socket at `path` until killed.
const HOLD_CONNECTIONS: &str = r#"
import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    held.append(s)
print("holding", len(held), flush=True)
time.sleep(60)
"#;

/// Runs `f` with this process's (and so the daemon's) descriptor limit at
/// systemd's default of 1 024, where the attack used to bite.
fn with_fd_limit<T>(f: impl FnOnce() -> T) -> T {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid rlimit pointers.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut old);
        let low = libc::rlimit {
            rlim_cur: 1024.min(old.rlim_max),
            rlim_max: old.rlim_max,
        };
        libc::setrlimit(libc::RLIMIT_NOFILE, &low);
    }
    let out = f();
    // SAFETY: as above.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
    out
}

#[test]
fn a_user_holding_thousands_of_control_connections_cannot_keep_a_server_unwatched() {
    if !privileged("control socket flood") {
        return;
    }
    let daemon = with_fd_limit(|| Daemon::start(&[]));
    let mut attacker = as_nobody(
        Command::new("/usr/bin/python3")
            .args(["-c", HOLD_CONNECTIONS])
            .arg(&daemon.socket)
            .arg("3000"),
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("python3 as nobody");
    let mut line = String::new();
    BufReader::new(attacker.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "holding 3000", "the attack did not get going");

    // A server started now must be tagged, and quickly: `--require-monitor`
    // refuses to start it unwatched (launch waits 3 s for the daemon).
    let started = Instant::now();
    let status = Command::new(monitor_bin())
        .args(["launch", "--require-monitor", "--name", "after-the-flood"])
        .arg("--control-socket")
        .arg(&daemon.socket)
        .args(["--", "true"])
        .status()
        .unwrap();
    let took = started.elapsed();
    let _ = attacker.kill();
    let _ = attacker.wait();
    eprintln!("launch tagged in {took:?} while another user held 3000 connections");
    assert!(
        status.success(),
        "launch refused: the server would have run unwatched"
    );
    assert!(
        daemon
            .wait_for(Duration::from_secs(10), |e| e["mcp.server"]
                == "after-the-flood")
            .is_some()
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_server_that_edits_the_monitors_own_rules_elsewhere_is_caught() {
    if !privileged("monitor's own files") {
        return;
    }
    // Rules and config outside /etc/mcp-monitor, as `--rules` and `--config` allow.
    let dir = e2e::TempDir::new("own-rules");
    let rules = dir.path().join("local.yaml");
    std::fs::write(&rules, "- list: local_things\n  items: [a]\n").unwrap();
    let daemon = Daemon::start(&["--rules", rules.to_str().unwrap()]);
    let status = daemon
        .launch(
            "rule-editor",
            &["sh", "-c", &format!("echo '# off' >> {}", rules.display())],
        )
        .status()
        .unwrap();
    assert!(status.success());
    let alert = daemon
        .wait_for_alert(Duration::from_secs(10), |a| {
            a["rule"] == "MCP server changed the monitor's configuration"
        })
        .unwrap_or_else(|| panic!("no alert:\n{:#?}", daemon.alerts()));
    assert_eq!(alert["output_fields"]["fd.name"], rules.to_str().unwrap());
    assert_eq!(alert["priority"], "Critical");
    assert!(daemon.stop().success());
}

#[test]
fn a_stopped_daemon_stops_feeding_the_watchdog() {
    if !privileged("watchdog") {
        return;
    }
    // What systemd does with Type=notify and WatchdogSec=: a datagram socket
    // in NOTIFY_SOCKET, the interval in WATCHDOG_USEC.
    let dir = e2e::TempDir::new("notify");
    let path = dir.path().join("notify.sock");
    let manager = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    manager
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let daemon = Daemon::start_with_env(
        e2e::DEFAULT_CONFIG,
        &[],
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "2000000"),
        ],
    );
    let mut buf = [0u8; 512];
    // Messages until `enough` says so, or `limit` passes: a loaded machine
    // delays the daemon's one-second tick, so the test waits for what it
    // expects rather than counting within a fixed window.
    let mut listen = |limit: Duration, enough: &dyn Fn(&[String]) -> bool| {
        let until = Instant::now() + limit;
        let mut got = Vec::new();
        while Instant::now() < until && !enough(&got) {
            if let Ok(n) = manager.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        got
    };
    let pings = |got: &[String]| got.iter().filter(|m| *m == "WATCHDOG=1").count();
    let running = listen(Duration::from_secs(30), &|got| pings(got) >= 2);
    assert!(
        running.first().is_some_and(|m| m.starts_with("READY=1\n")),
        "{running:?}"
    );
    assert!(pings(&running) >= 2, "{running:?}");
    daemon.signal(libc::SIGSTOP);
    // What was on its way before the stop is not the stopped daemon's.
    std::thread::sleep(Duration::from_millis(300));
    listen(Duration::from_millis(300), &|_| false);
    let stopped = listen(Duration::from_secs(3), &|_| false);
    daemon.signal(libc::SIGCONT);
    assert!(
        stopped.is_empty(),
        "a stopped daemon pinged the watchdog: {stopped:?}"
    );
    let resumed = listen(Duration::from_secs(30), &|got| pings(got) >= 1);
    assert!(
        pings(&resumed) >= 1,
        "pings again once continued: {resumed:?}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_user_registering_servers_in_a_loop_is_held_to_a_rate() {
    if !privileged("registration flood") {
        return;
    }
    let daemon = Daemon::start(&[]);
    let refused = (0..80)
        .filter(|i| {
            let out = as_nobody(
                Command::new(monitor_bin())
                    .args([
                        "launch",
                        "--require-monitor",
                        "--name",
                        &format!("flood-{i}"),
                    ])
                    .arg("--control-socket")
                    .arg(&daemon.socket)
                    .args(["--", "true"]),
            )
            .output()
            .unwrap();
            !out.status.success()
                && String::from_utf8_lossy(&out.stderr).contains("too many servers registered")
        })
        .count();
    // A burst of 50 passes, then 5 a second: 80 launches in a second or two
    // see about 25 refused (none at all before the limit, and every one of
    // them only if the loop took 15 s, which no machine of ours needs).
    eprintln!("{refused} of 80 registrations refused");
    assert!(
        (5..=30).contains(&refused),
        "{refused} of 80 registrations refused"
    );
    // Root (an AI host run as a service, the tests) is not held to it.
    let status = daemon
        .launch("root-server", &["true"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(daemon.stop().success());
}

/// A planted home under /home with a private key in `.ssh`.
fn home_with_key(tag: &str) -> (e2e::TempDir, std::path::PathBuf) {
    let home = e2e::TempDir::home(tag);
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    let key = home.path().join(".ssh/id_rsa");
    std::fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
    std::fs::write(home.path().join("notes.txt"), "notes\n").unwrap();
    (home, key)
}

#[test]
fn a_secret_read_through_io_uring_is_named() {
    if !privileged("io_uring reads") {
        return;
    }
    if !std::path::Path::new("/sys/kernel/tracing/events/io_uring/io_uring_complete").exists() {
        assert!(
            !e2e::in_ci(),
            "this kernel has no io_uring:io_uring_complete tracepoint"
        );
        eprintln!("skipping: no io_uring:io_uring_complete tracepoint");
        return;
    }
    let (home, key) = home_with_key("uring");
    let daemon = Daemon::start(&[]);
    let action = env!("CARGO_BIN_EXE_scn-action");
    let key_text = key.to_str().unwrap();
    let notes = home.path().join("notes.txt");
    for (name, file) in [
        ("uring-thief", key_text),
        ("uring-reader", notes.to_str().unwrap()),
    ] {
        let out = daemon
            .launch(name, &[action, "io-uring-read", file])
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("scn-action:"), "{name}: {stderr}");
    }
    let alert = daemon
        .wait_for_alert(Duration::from_secs(20), |a| {
            a["mcp"]["server"] == "uring-thief"
                && a["rule"] == "MCP server read SSH keys or configuration"
        })
        .unwrap_or_else(|| panic!("no alert for the key read:\n{:#?}", daemon.alerts()));
    assert_eq!(alert["output_fields"]["fd.name"], key_text);
    assert_eq!(alert["output_fields"]["evt.type"], "io_uring");
    // The benign twin read its notes the same way: io_uring's own Warning,
    // nothing else above Notice, and its file named once (open, not read).
    daemon
        .wait_for(Duration::from_secs(20), |e| {
            e["mcp.server"] == "uring-reader" && e["evt.type"] == "procexit"
        })
        .expect("the benign twin's exit");
    let events = daemon.events();
    let named: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["mcp.server"] == "uring-reader" && e["evt.type"] == "io_uring")
        .collect();
    assert_eq!(
        named.len(),
        1,
        "{:#?}",
        events
            .iter()
            .filter(|e| e["mcp.server"] == "uring-reader")
            .collect::<Vec<_>>()
    );
    assert_eq!(
        named[0]["evt.arg.request"], "IORING_OP_OPENAT",
        "{named:#?}"
    );
    let loud: Vec<serde_json::Value> = daemon
        .alerts()
        .into_iter()
        .filter(|a| a["mcp"]["server"] == "uring-reader")
        .filter(|a| !matches!(a["priority"].as_str(), Some("Notice" | "Informational")))
        .filter(|a| a["rule"] != "MCP server set up io_uring")
        .collect();
    assert!(loud.is_empty(), "{loud:#?}");
    assert!(daemon.stop().success());
}

#[test]
fn a_storm_of_opens_cannot_crowd_out_a_secret_read() {
    if !privileged("open storm") {
        return;
    }
    let (_home, key) = home_with_key("storm");
    // A small ring buffer, so that four storming processes fill it for sure.
    let pins = e2e::PinDir::new("storm");
    let daemon = Daemon::start_rules_only(&pins, &["--ring-buffer-size", "262144"]);
    let storm = env!("CARGO_BIN_EXE_syscall-storm");
    let stormers: Vec<std::process::Child> = (0..4)
        .map(|i| {
            daemon
                .launch(&format!("storm-{i}"), &[storm, "1000000"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(60), "ring buffer was full"),
        "the storm never filled the ring buffer: {}",
        daemon.stderr_text()
    );
    let read_at = Instant::now();
    daemon.read_as_server(&key);
    let alert = daemon.wait_for_alert(Duration::from_secs(60), |a| {
        a["mcp"]["server"] == "reader" && a["rule"] == "MCP server read SSH keys or configuration"
    });
    let delay = read_at.elapsed();
    for mut s in stormers {
        assert!(s.wait().unwrap().success());
    }
    let alert = alert.unwrap_or_else(|| {
        panic!(
            "the key read during the storm was lost:\n{}",
            daemon.stderr_text()
        )
    });
    eprintln!("secret read alerted {delay:?} after the read began, during the storm");
    assert_eq!(alert["output_fields"]["fd.name"], key.to_str().unwrap());
    let (status, text) = daemon.stop_with_stderr();
    assert!(status.success());
    let summary = text
        .lines()
        .find(|l| l.contains("lost to a full ring buffer during this run"))
        .unwrap_or_else(|| panic!("no loss summary: {text}"));
    eprintln!("{summary}");
    assert!(summary.contains("open "), "{summary}");
    assert!(!summary.contains("sensitive open"), "{summary}");
}
