//! Prevent mode decided in the kernel, with the real probes against real
//! processes: the secret read, the metadata connect and the dropped payload
//! are stopped at the call (`run --enforce`), and the same actions without
//! `--enforce` run to completion with alerts that say what would have been
//! done. Each pair shows the action can fail: the dry run sees the key's
//! bytes, the listener's connection and the payload's marker.
use std::{
    io::BufRead as _,
    os::unix::process::ExitStatusExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use e2e::{Daemon, TempDir, privileged, s};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);
/// Written into the planted key: no byte of it may reach a killed reader.
const KEY_TEXT: &str = "not-a-key-but-the-bytes-a-test-must-never-see";

fn scn_action() -> &'static str {
    env!("CARGO_BIN_EXE_scn-action")
}

/// A planted home under /home with a private key in `.ssh`.
fn home_with_key(tag: &str) -> (TempDir, PathBuf) {
    let home = TempDir::home(tag);
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    let key = home.path().join(".ssh/id_rsa");
    std::fs::write(&key, format!("{KEY_TEXT}\n")).unwrap();
    (home, key)
}

/// The alert of `rule` for server `server`.
fn alert_of(daemon: &Daemon, server: &str, rule: &str) -> Value {
    daemon
        .wait_for_alert(WAIT, |a| a["mcp"]["server"] == server && a["rule"] == rule)
        .unwrap_or_else(|| panic!("no alert {rule:?} for {server}:\n{:#?}", daemon.alerts()))
}

fn action_of(alert: &Value) -> (&str, &str, &str) {
    (
        s(alert, "action"),
        s(alert, "action.result"),
        s(alert, "action.latency"),
    )
}

#[test]
fn a_secret_read_is_killed_before_the_read_and_the_dry_run_says_would_kill() {
    if !privileged("prevent mode") {
        return;
    }
    let (_home, key) = home_with_key("prevent-key");
    let key = key.to_str().unwrap();
    let rule = "MCP server read SSH keys or configuration";

    let daemon = Daemon::start(&["--enforce"]);
    let out = daemon.launch("key-thief", &["cat", key]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains(KEY_TEXT),
        "the key reached the killed reader's stdout: {stdout:?}"
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "the reader ended otherwise: {out:?}"
    );
    let alert = alert_of(&daemon, "key-thief", rule);
    assert_eq!(action_of(&alert), ("kill", "killed", "kernel"), "{alert:#}");
    let ev = daemon
        .wait_for(WAIT, |e| {
            e["mcp.server"] == "key-thief" && e["evt.enforced"] == "killed"
        })
        .expect("the open's event says the probe killed");
    assert_eq!(s(&ev, "evt.enforced_by"), rule);
    assert_eq!(s(&ev, "fd.name"), key);
    // ssh itself may read ~/.ssh: the exemption holds in the kernel too.
    let ssh_like = TempDir::new("prevent-ssh");
    let ssh = ssh_like.path().join("ssh");
    std::fs::copy("/bin/cat", &ssh).unwrap();
    let out = daemon
        .launch("ssh-client", &[ssh.to_str().unwrap(), key])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a process named ssh was stopped: {out:?}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(KEY_TEXT));
    assert!(daemon.stop().success());

    let dry = Daemon::start(&[]);
    let out = dry.launch("key-reader", &["cat", key]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(KEY_TEXT));
    let alert = alert_of(&dry, "key-reader", rule);
    assert_eq!(s(&alert, "action"), "would-kill", "{alert:#}");
    assert!(alert.get("action.result").is_none(), "{alert:#}");
    assert!(dry.stop().success());
}

/// A network namespace whose `lo` carries the metadata address, with a
/// listener there that reports every connection it accepts.
struct MetadataHost {
    name: String,
    listener: Child,
    accepted: Arc<Mutex<Vec<String>>>,
}

impl MetadataHost {
    fn new(tag: &str) -> MetadataHost {
        let name = format!("mcpmon-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        for args in [
            vec!["netns", "add", &name],
            vec!["-n", &name, "link", "set", "lo", "up"],
            vec![
                "-n",
                &name,
                "addr",
                "add",
                "169.254.169.254/32",
                "dev",
                "lo",
            ],
        ] {
            let out = Command::new("ip").args(&args).output().unwrap();
            assert!(out.status.success(), "ip {args:?}: {out:?}");
        }
        let mut listener = Command::new("ip")
            .args(["netns", "exec", &name, scn_action(), "listen-report"])
            .args(["169.254.169.254", "80"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(listener.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "listening");
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let sink = accepted.clone();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        MetadataHost {
            name,
            listener,
            accepted,
        }
    }

    /// `mcp-monitor launch --name NAME -- scn-action connect …` inside the
    /// namespace, against `daemon`.
    fn connect_as_server(&self, daemon: &Daemon, server: &str) -> std::process::Output {
        let launch = daemon.launch(server, &[scn_action(), "connect", "169.254.169.254", "80"]);
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .arg(launch.get_program())
            .args(launch.get_args())
            .output()
            .unwrap()
    }

    fn accepted(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }
}

impl Drop for MetadataHost {
    fn drop(&mut self) {
        let _ = self.listener.kill();
        let _ = self.listener.wait();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

#[test]
fn a_metadata_connect_never_reaches_the_listener() {
    if !privileged("prevent mode") {
        return;
    }
    let host = MetadataHost::new("prevent-meta");
    let rule = "MCP server contacted a cloud metadata endpoint";

    let daemon = Daemon::start(&["--enforce"]);
    let out = host.connect_as_server(&daemon, "ssrf");
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{out:?}");
    let alert = alert_of(&daemon, "ssrf", rule);
    assert_eq!(action_of(&alert), ("kill", "killed", "kernel"), "{alert:#}");
    assert_eq!(s(&alert["output_fields"], "evt.res"), "EPERM", "{alert:#}");
    assert!(daemon.stop().success());

    // The dry run's connection arrives, so the listener would have seen the
    // enforced one had it left: by now it has reported nothing.
    let dry = Daemon::start(&[]);
    let out = host.connect_as_server(&dry, "fetcher");
    assert!(out.status.success(), "{out:?}");
    let alert = alert_of(&dry, "fetcher", rule);
    assert_eq!(s(&alert, "action"), "would-kill", "{alert:#}");
    let deadline = std::time::Instant::now() + WAIT;
    while host.accepted().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        host.accepted().len(),
        1,
        "the listener saw the enforced connect, or not the dry run's: {:?}",
        host.accepted()
    );
    assert!(dry.stop().success());
}

#[test]
fn a_dropped_payload_never_runs_its_first_instruction() {
    if !privileged("prevent mode") {
        return;
    }
    // A copy of `touch` in /tmp: run, it would create the marker.
    let drop_dir = TempDir::new("prevent-payload");
    let payload = drop_dir.path().join("payload");
    std::fs::copy("/usr/bin/touch", &payload).unwrap();
    let rule = "MCP server ran a binary from a temporary directory";
    let run = |daemon: &Daemon, server: &str, marker: &Path| {
        daemon
            .launch(
                server,
                &[
                    scn_action(),
                    "spawn",
                    payload.to_str().unwrap(),
                    marker.to_str().unwrap(),
                ],
            )
            .output()
            .unwrap()
    };
    let rules = drop_dir.path().join("enforce-tmp.yaml");
    std::fs::write(
        &rules,
        format!("- rule: {rule}\n  action: kill\n  override:\n    action: replace\n"),
    )
    .unwrap();
    let rules = rules.to_str().unwrap();

    let daemon = Daemon::start(&["--enforce", "--rules", rules]);
    let marker = drop_dir.path().join("enforced-marker");
    let out = run(&daemon, "dropper", &marker);
    // The server itself lives on: only the payload's process is killed.
    assert!(out.status.success(), "{out:?}");
    assert!(!marker.exists(), "the payload ran and left its marker");
    let alert = alert_of(&daemon, "dropper", rule);
    assert_eq!(action_of(&alert), ("kill", "killed", "kernel"), "{alert:#}");
    let exit = daemon
        .wait_for(WAIT, |e| {
            e["mcp.server"] == "dropper"
                && e["evt.type"] == "procexit"
                && e["proc.exepath"] == payload.to_str().unwrap()
        })
        .expect("the payload's exit");
    assert_eq!(exit["evt.arg.status"], libc::SIGKILL, "{exit:#}");
    assert!(daemon.stop().success());

    let dry = Daemon::start(&["--rules", rules]);
    let marker = drop_dir.path().join("dry-run-marker");
    let out = run(&dry, "runner", &marker);
    assert!(out.status.success(), "{out:?}");
    assert!(marker.exists(), "the payload did not run in the dry run");
    let alert = alert_of(&dry, "runner", rule);
    assert_eq!(s(&alert, "action"), "would-kill", "{alert:#}");
    assert!(dry.stop().success());
}

#[test]
fn the_filesystem_server_asked_for_a_key_never_hands_it_to_the_client() {
    if !privileged("prevent mode") {
        return;
    }
    let Some((python, node_dir)) = e2e::mcp_deps("prevent") else {
        return;
    };
    let (home, key) = home_with_key("prevent-fs");
    std::fs::write(home.path().join("notes.txt"), "notes for the benign call\n").unwrap();
    let root = home.path().to_str().unwrap().to_owned();
    let server = vec![
        "npx".to_owned(),
        "-y".to_owned(),
        "@modelcontextprotocol/server-filesystem".to_owned(),
        root.clone(),
    ];
    let session = |name: &'static str, calls| e2e::McpSession {
        python: &python,
        name,
        command: server.clone(),
        calls,
        cwd: &node_dir,
        env: vec![],
    };
    let daemon = Daemon::start(&["--enforce"]);
    // A benign session in enforce mode: every call answered, nothing acted on.
    let benign = session(
        "fs-benign",
        vec![
            ("list_directory", serde_json::json!({ "path": root })),
            (
                "read_text_file",
                serde_json::json!({ "path": format!("{root}/notes.txt") }),
            ),
        ],
    )
    .run(&daemon);
    assert!(benign[1..].iter().all(|r| r["ok"] == true), "{benign:#?}");
    assert!(benign[2]["text"].as_str().unwrap().contains("benign call"));
    // The key: the server dies at the open, the client gets no byte of it.
    let out = session(
        "fs-thief",
        vec![(
            "read_text_file",
            serde_json::json!({ "path": key.to_str().unwrap() }),
        )],
    )
    .output(&daemon);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !said.contains(KEY_TEXT),
        "the client received the key: {said}"
    );
    let alert = alert_of(
        &daemon,
        "fs-thief",
        "MCP server read SSH keys or configuration",
    );
    assert_eq!(action_of(&alert), ("kill", "killed", "kernel"), "{alert:#}");
    let acted: Vec<Value> = daemon
        .alerts()
        .into_iter()
        .filter(|a| a["mcp"]["server"] == "fs-benign" && a.get("action.result").is_some())
        .collect();
    assert!(
        acted.is_empty(),
        "the benign session was acted on: {acted:#?}"
    );
    assert!(daemon.stop().success());
}
