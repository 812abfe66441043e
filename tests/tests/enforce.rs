//! Prevent mode with the real daemon and real processes: without `--enforce`
//! a rule's action is only named (`would-kill`); with it, a rule decided in
//! user space kills the whole tree of the server that tripped it and spares
//! the host that started it; a server whose policy says `enforce: false` is
//! left alone, an `allow` exception silences the rule for that server only,
//! and a normal session of the real filesystem server is not touched.
use std::{
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use e2e::{DEFAULT_CONFIG, Daemon, McpSession, TempDir, mcp_deps, monitor_bin, privileged, s};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const SSH_RULE: &str = "MCP server read SSH keys or configuration";
const MARKER_RULE: &str = "Enforce test marker run by MCP server";

/// A rule the kernel cannot decide at the call (an exec with a command-line
/// test), killing the whole server.
const MARKER_RULES: &str = r#"
- rule: Enforce test marker run by MCP server
  desc: A process of an MCP server ran sh with the test's marker argument.
  condition: >
    mcp_process and spawned_process and proc.name = sh
    and proc.cmdline contains "enforce-marker"
  output: MCP server %mcp.server ran the marker (process=%proc.name cmdline=%proc.cmdline)
  priority: warning
  action: kill-server

- rule: Enforce test storm marker run by MCP server
  desc: A process of an MCP server ran sh with the storm test's marker argument.
  condition: >
    mcp_process and spawned_process and proc.name = sh
    and proc.cmdline contains "storm-marker"
  output: MCP server %mcp.server ran a storm marker (pid=%proc.pid cmdline=%proc.cmdline)
  priority: warning
  action: kill
"#;
const STORM_RULE: &str = "Enforce test storm marker run by MCP server";

/// A HOME under /home with a fake SSH key.
fn planted_home() -> TempDir {
    let home = TempDir::home("enforce");
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    std::fs::create_dir_all(home.path().join("project")).unwrap();
    std::fs::write(
        home.path().join(".ssh/id_rsa"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nfake key planted by the test\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(home.path().join("project/README.md"), "a project\n").unwrap();
    home
}

/// Starts the daemon with `--servers-dir` holding `policies` (name, YAML)
/// and the marker rule, enforcing when `enforce`.
fn daemon(work: &Path, enforce: bool, policies: &[(&str, String)]) -> Daemon {
    daemon_with(work, enforce, policies, &[])
}

/// [`daemon`] with more `run` arguments.
fn daemon_with(work: &Path, enforce: bool, policies: &[(&str, String)], more: &[&str]) -> Daemon {
    let servers = work.join("servers.d");
    std::fs::create_dir_all(&servers).unwrap();
    for (name, yaml) in policies {
        std::fs::write(servers.join(format!("{name}.yaml")), yaml).unwrap();
    }
    let rules = work.join("marker.yaml");
    std::fs::write(&rules, MARKER_RULES).unwrap();
    let mut args = vec![
        "--servers-dir",
        servers.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ];
    if enforce {
        args.push("--enforce");
    }
    args.extend(more);
    let d = Daemon::start_configured(DEFAULT_CONFIG, &args);
    let mode = if enforce { "enforce mode" } else { "dry run" };
    assert!(d.wait_for_stderr(WAIT, mode), "{}", d.stderr_text());
    d
}

/// A host (`sh`) that starts the server NAME through the launch wrapper,
/// then writes `host-alive` to `done` when the server has ended. The server
/// writes its background sleeper's pid to `pids`, then runs the marker (a
/// `sh` that becomes a sleeper too: the alert's process).
fn host_with_marked_server(daemon: &Daemon, name: &str, work: &Path) -> (Host, PathBuf, PathBuf) {
    let pids = work.join(format!("{name}.pids"));
    // The marker is put together at run time: the root's own command line
    // must not contain it.
    let server = format!(
        "sleep 600 & echo $! > {pids}; m=enforce; sh -c 'exec sleep 600' $m-marker; wait",
        pids = pids.display()
    );
    let (child, done) = host_running(daemon, name, &server, work);
    (child, pids, done)
}

/// A host (`sh`) that starts the server NAME running the shell script
/// `server` through the launch wrapper, then writes `host-alive` to the
/// returned file when the server has ended.
fn host_running(daemon: &Daemon, name: &str, server: &str, work: &Path) -> (Host, PathBuf) {
    let done = work.join(format!("{name}.done"));
    let host = format!(
        "'{bin}' launch --name {name} --control-socket '{sock}' -- sh -c \"$0\"; echo host-alive > '{done}'",
        bin = monitor_bin().display(),
        sock = daemon.socket.display(),
        done = done.display()
    );
    let child = Command::new("sh")
        .arg("-c")
        .arg(host)
        .arg(server)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // The host shell reports its killed child: not the test's output.
        .stderr(Stdio::null())
        // A group of its own, for the guard to end whatever a failed test
        // leaves running.
        .process_group(0)
        .spawn()
        .unwrap();
    (Host(child), done)
}

/// The host and, through its process group, the server it started: what is
/// left of them is killed when the test ends, passed or failed.
struct Host(Child);

impl Host {
    fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // SAFETY: signalling the process group this test started.
        unsafe { libc::killpg(self.0.id() as i32, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// The server's processes: the sleeper in `file` (once written), the
/// marker's process named by `alert`, and the root.
fn tree_of(file: &Path, alert: &Value) -> Vec<u32> {
    let mut pids = pids_in(file, 1);
    for p in [&alert["process"]["pid"], &alert["mcp"]["root_pid"]] {
        pids.push(p.as_u64().expect("a pid in the alert") as u32);
    }
    pids
}

/// The pids in `file`, once it has `n` of them.
fn pids_in(file: &Path, n: usize) -> Vec<u32> {
    let started = Instant::now();
    loop {
        let pids: Vec<u32> = std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.len() >= n {
            return pids;
        }
        assert!(started.elapsed() < WAIT, "{}: {pids:?}", file.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `pid` runs (a zombie does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < WAIT, "{what} within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alert_of(daemon: &Daemon, rule: &str, server: &str) -> Value {
    daemon
        .wait_for_alert(WAIT, |a| {
            s(a, "rule") == rule && a["mcp"]["server"] == server
        })
        .unwrap_or_else(|| {
            panic!(
                "no alert of {rule} for {server}; alerts: {:#?}",
                daemon.alerts()
            )
        })
}

/// Ends what a test left running (its own processes only).
fn end(pids: &[u32]) {
    for pid in pids {
        // SAFETY: signalling processes this test started.
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
}

/// `cat` of the planted key by a server NAME with HOME set; returns whether
/// the server finished successfully (`cat` reads and ends at once: only
/// for servers that must not be killed).
fn read_key_as(daemon: &Daemon, name: &str, home: &Path) -> bool {
    let key = home.join(".ssh/id_rsa");
    daemon
        .launch(name, &["cat", key.to_str().unwrap()])
        .env("HOME", home)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn without_enforce_the_alert_says_what_would_be_done() {
    if !privileged("enforce") {
        return;
    }
    let work = TempDir::new("enforce-dry");
    let home = planted_home();
    let d = daemon(work.path(), false, &[]);
    assert!(
        read_key_as(&d, "reader", home.path()),
        "the server ran to completion"
    );
    let a = alert_of(&d, SSH_RULE, "reader");
    assert_eq!(s(&a, "action"), "would-kill", "{a}");
    assert!(a.get("action.result").is_none(), "{a}");
    assert!(a.get("action.latency").is_none(), "{a}");
    // The marker rule: the server's tree is not touched either.
    let (mut host, pids, done) = host_with_marked_server(&d, "victim", work.path());
    let a = alert_of(&d, MARKER_RULE, "victim");
    assert_eq!(s(&a, "action"), "would-kill-server", "{a}");
    let pids = tree_of(&pids, &a);
    assert!(pids.iter().all(|p| running(*p)), "nothing was killed");
    end(&pids);
    assert!(host.wait().unwrap().success());
    assert!(done.exists());
}

#[test]
fn kill_server_from_user_space_ends_the_tree_and_spares_the_host() {
    if !privileged("enforce") {
        return;
    }
    let work = TempDir::new("enforce-kill");
    let d = daemon(work.path(), true, &[]);
    let (mut host, pids, done) = host_with_marked_server(&d, "victim", work.path());
    let a = alert_of(&d, MARKER_RULE, "victim");
    assert_eq!(s(&a, "action"), "kill-server", "{a}");
    assert_eq!(s(&a, "action.result"), "killed", "{a}");
    assert_eq!(s(&a, "action.latency"), "user", "{a}");
    for pid in tree_of(&pids, &a) {
        wait_until(&format!("pid {pid} of the server ended"), || !running(pid));
    }
    // The host goes on after its server is gone.
    let status = host.wait().unwrap();
    assert!(status.success(), "host: {status}");
    assert_eq!(std::fs::read_to_string(&done).unwrap().trim(), "host-alive");
    // The server's exit names the rule that killed it.
    let exit = d
        .wait_for_alert(WAIT, |a| {
            s(a, "rule") == "MCP server exited" && a["mcp"]["server"] == "victim"
        })
        .expect("an exit alert");
    assert_eq!(
        exit["output_fields"]["mcp.killed_by"], MARKER_RULE,
        "{exit}"
    );
    assert_eq!(
        exit["output_fields"]["mcp.exit_signal"],
        libc::SIGKILL,
        "{exit}"
    );
}

#[test]
fn a_server_whose_policy_says_enforce_false_is_left_alone() {
    if !privileged("enforce") {
        return;
    }
    let work = TempDir::new("enforce-policy");
    let d = daemon(
        work.path(),
        true,
        &[("spared", "enforce: false\n".to_owned())],
    );
    let (mut host, pids, _done) = host_with_marked_server(&d, "spared", work.path());
    let a = alert_of(&d, MARKER_RULE, "spared");
    assert_eq!(s(&a, "action"), "kill-server", "{a}");
    assert_eq!(s(&a, "action.result"), "skipped: server policy", "{a}");
    let pids = tree_of(&pids, &a);
    assert!(pids.iter().all(|p| running(*p)), "nothing was killed");
    end(&pids);
    assert!(host.wait().unwrap().success());
    // A rule the kernel decides at the call leaves this server alone too.
    let home = planted_home();
    assert!(
        read_key_as(&d, "spared", home.path()),
        "the key read ran to completion"
    );
    let a = alert_of(&d, SSH_RULE, "spared");
    assert_eq!(s(&a, "action"), "kill", "{a}");
    assert_eq!(s(&a, "action.result"), "skipped: server policy", "{a}");
}

#[test]
fn an_allow_exception_silences_the_rule_for_that_server_only() {
    if !privileged("enforce") {
        return;
    }
    let work = TempDir::new("enforce-allow");
    let home = planted_home();
    let key = home.path().join(".ssh/id_rsa");
    let policy = format!(
        "allow:\n  - rule: {SSH_RULE}\n    paths: [{}]\n",
        home.path().join(".ssh").display()
    );
    let d = daemon(work.path(), true, &[("deploy", policy)]);
    assert!(
        read_key_as(&d, "deploy", home.path()),
        "the excepted server ran to completion"
    );
    // Its read reached the daemon…
    d.wait_for(WAIT, |e| {
        e["mcp.server"] == "deploy" && s(e, "fd.name") == key.to_str().unwrap()
    })
    .expect("the open event of the excepted server");
    // …and another server opening the same key, later, is killed (it
    // keeps the key open and waits): by then any alert for the first would
    // have come.
    let script = format!("exec 3< '{}'; sleep 600", key.display());
    let status = d
        .launch("other", &["sh", "-c", &script])
        .env("HOME", home.path())
        .status()
        .unwrap();
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    let a = alert_of(&d, SSH_RULE, "other");
    assert_eq!(s(&a, "action"), "kill", "{a}");
    assert_eq!(s(&a, "action.result"), "killed", "{a}");
    // The process killed was the server's root: its exit names the rule,
    // wherever the kill was decided.
    let exit = d
        .wait_for_alert(WAIT, |a| {
            s(a, "rule") == "MCP server exited" && a["mcp"]["server"] == "other"
        })
        .expect("an exit alert");
    assert_eq!(exit["output_fields"]["mcp.killed_by"], SSH_RULE, "{exit}");
    let for_deploy: Vec<Value> = d
        .alerts()
        .into_iter()
        .filter(|a| a["mcp"]["server"] == "deploy" && s(a, "rule") == SSH_RULE)
        .collect();
    assert!(for_deploy.is_empty(), "{for_deploy:#?}");
}

#[test]
fn a_normal_filesystem_session_in_enforce_mode_is_not_touched() {
    if !privileged("enforce") {
        return;
    }
    let Some((python, node_dir)) = mcp_deps("enforce") else {
        return;
    };
    let work = TempDir::new("enforce-benign");
    let home = planted_home();
    let root = home.path().join("project");
    let p = |rel: &str| root.join(rel).display().to_string();
    let d = daemon(work.path(), true, &[]);
    let results = McpSession {
        python: &python,
        name: "filesystem",
        command: vec![
            "npx".into(),
            "-y".into(),
            "@modelcontextprotocol/server-filesystem".into(),
            p(""),
        ],
        calls: vec![
            ("list_allowed_directories", json!({})),
            ("list_directory", json!({ "path": p("") })),
            ("read_text_file", json!({ "path": p("README.md") })),
        ],
        cwd: &node_dir,
        env: vec![("HOME", home.path().display().to_string())],
    }
    .run(&d);
    for r in &results[1..] {
        assert_eq!(r["ok"], true, "call failed: {r}");
    }
    let first = d
        .wait_for(WAIT, |e| e["mcp.server"] == "filesystem")
        .expect("events of the server");
    let root_pid = first["mcp.root_pid"].as_u64().unwrap() as u32;
    assert!(d.wait_for_exit(root_pid, WAIT), "the server exited");
    let acted: Vec<Value> = d
        .alerts()
        .into_iter()
        .filter(|a| a["mcp"]["server"] == "filesystem" && a.get("action").is_some())
        .collect();
    assert!(acted.is_empty(), "{acted:#?}");
    let exit = d
        .wait_for_alert(WAIT, |a| {
            s(a, "rule") == "MCP server exited" && a["mcp"]["server"] == "filesystem"
        })
        .expect("an exit alert");
    assert!(
        exit["output_fields"].get("mcp.killed_by").is_none(),
        "{exit}"
    );
}

#[test]
fn an_action_storm_is_cut_at_the_limit_and_reported_once() {
    if !privileged("enforce") {
        return;
    }
    let work = TempDir::new("enforce-storm");
    let d = daemon_with(work.path(), true, &[], &["--enforce-max-actions", "3"]);
    // Five processes trip a kill rule decided in user space at once (each
    // its own command line: repeats of one alert would be suppressed).
    let server = "m=storm; for i in 1 2 3 4 5; do sh -c 'exec sleep 600' $m-marker-$i & done; wait";
    let (mut host, _done) = host_running(&d, "storm", server, work.path());
    let started = Instant::now();
    let alerts = loop {
        let alerts: Vec<Value> = d
            .alerts()
            .into_iter()
            .filter(|a| s(a, "rule") == STORM_RULE && a["mcp"]["server"] == "storm")
            .collect();
        if alerts.len() >= 5 {
            break alerts;
        }
        assert!(started.elapsed() < WAIT, "5 alerts: {alerts:#?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let results: Vec<&str> = alerts.iter().map(|a| s(a, "action.result")).collect();
    let killed = results.iter().filter(|r| **r == "killed").count();
    let limited = results
        .iter()
        .filter(|r| **r == "skipped: rate-limited")
        .count();
    assert_eq!((killed, limited), (3, 2), "{results:?}");
    let storm = d
        .wait_for_alert(WAIT, |a| s(a, "rule") == "Enforcement actions rate-limited")
        .expect("the storm reported");
    assert_eq!(storm["mcp"]["server"], "storm", "{storm}");
    assert_eq!(storm["output_fields"]["monitor.max_actions"], 3, "{storm}");
    // The ones over the limit still run; the test ends them and the server.
    let pid = |a: &Value| a["process"]["pid"].as_u64().unwrap() as u32;
    let mut left: Vec<u32> = alerts
        .iter()
        .filter(|a| s(a, "action.result") == "skipped: rate-limited")
        .map(pid)
        .collect();
    assert!(left.iter().all(|p| running(*p)), "{left:?}");
    for a in alerts.iter().filter(|a| s(a, "action.result") == "killed") {
        wait_until("a killed marker ended", || !running(pid(a)));
    }
    left.push(alerts[0]["mcp"]["root_pid"].as_u64().unwrap() as u32);
    end(&left);
    assert!(host.wait().unwrap().success());
    let reports = d
        .alerts()
        .into_iter()
        .filter(|a| s(a, "rule") == "Enforcement actions rate-limited")
        .count();
    assert_eq!(reports, 1, "one report per storm");
}

#[test]
fn enforcement_turned_on_in_the_config_file_acts_after_sighup() {
    if !privileged("enforce") {
        return;
    }
    let work = TempDir::new("enforce-sighup");
    let d = daemon(work.path(), false, &[]);
    let config = d.dir().join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}enforcement:\n  enabled: true\n")).unwrap();
    d.signal(libc::SIGHUP);
    assert!(
        d.wait_for_stderr(WAIT, "enforce mode: rules' actions act"),
        "{}",
        d.stderr_text()
    );
    let (mut host, pids, done) = host_with_marked_server(&d, "late", work.path());
    let a = alert_of(&d, MARKER_RULE, "late");
    assert_eq!(s(&a, "action"), "kill-server", "{a}");
    assert_eq!(s(&a, "action.result"), "killed", "{a}");
    for pid in tree_of(&pids, &a) {
        wait_until(&format!("pid {pid} of the server ended"), || !running(pid));
    }
    assert!(host.wait().unwrap().success());
    assert!(done.exists());
}

#[test]
fn kill_server_decided_in_the_kernel_ends_the_rest_of_the_tree_from_user_space() {
    if !privileged("enforce") {
        return;
    }
    let work = TempDir::new("enforce-kernel-tree");
    let home = planted_home();
    // The SSH rule, decided at the open, ends the whole server.
    let rules = work.path().join("tree.yaml");
    std::fs::write(
        &rules,
        format!("- rule: {SSH_RULE}\n  action: kill-server\n  override:\n    action: replace\n"),
    )
    .unwrap();
    let d = daemon_with(
        work.path(),
        true,
        &[],
        &["--rules", rules.to_str().unwrap()],
    );
    let pids = work.path().join("tree.pids");
    let server = format!(
        "sleep 600 & echo $! > {pids}; cat '{key}' > /dev/null; wait",
        pids = pids.display(),
        key = home.path().join(".ssh/id_rsa").display()
    );
    let (mut host, done) = host_running(&d, "tree", &server, work.path());
    let a = alert_of(&d, SSH_RULE, "tree");
    assert_eq!(s(&a, "action"), "kill-server", "{a}");
    assert_eq!(s(&a, "action.result"), "killed", "{a}");
    assert_eq!(s(&a, "action.latency"), "kernel", "{a}");
    for pid in tree_of(&pids, &a) {
        wait_until(&format!("pid {pid} of the server ended"), || !running(pid));
    }
    assert!(host.wait().unwrap().success());
    assert!(done.exists(), "the host went on");
}
