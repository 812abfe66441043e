//! Alert delivery for real: a daemon configured by file with stdout, the alert
//! log, the alert socket and a webhook; alerts provoked by a tagged `cat` of a
//! marker file arrive everywhere, the same; `tail` follows, replays, filters,
//! reconnects and is refused when it should be; SIGHUP reloads the config;
//! SIGTERM leaves every alert in the log.
use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpListener,
    os::unix::fs::PermissionsExt as _,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use e2e::{Daemon, TempDir, as_nobody, monitor_bin, privileged, s, workspace_root};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

const RULE: &str = r#"- rule: Marker file read
  desc: a tagged process opens the test's marker file
  condition: evt.type in (open, openat, openat2) and fd.filename = "marker.txt" and mcp.server exists
  output: "marker read by %proc.name (server=%mcp.server file=%fd.name)"
  priority: WARNING
  tags: [test]
"#;

/// An HTTP server on 127.0.0.1 that answers 500 to the first `fail` requests
/// and 200 after, keeping the bodies it accepted.
struct Hook {
    port: u16,
    bodies: Arc<Mutex<Vec<String>>>,
    requests: Arc<AtomicU32>,
}

impl Hook {
    fn start(fail: u32) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicU32::new(0));
        let (b, n) = (bodies.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let Some(body) = read_request(&mut s) else {
                    continue;
                };
                let answer = if n.fetch_add(1, Ordering::SeqCst) < fail {
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
                } else {
                    b.lock().unwrap().push(body);
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                };
                let _ = s.write_all(answer.as_bytes());
            }
        });
        Hook {
            port,
            bodies,
            requests,
        }
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }
}

/// The body of one POST (by its Content-Length).
fn read_request(s: &mut std::net::TcpStream) -> Option<String> {
    s.set_read_timeout(Some(WAIT)).ok()?;
    let mut req = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let k = s.read(&mut buf).ok()?;
        if k == 0 {
            return None;
        }
        req.extend_from_slice(&buf[..k]);
        let text = String::from_utf8_lossy(&req).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            assert!(head.starts_with("POST /falco HTTP/1.1"), "{head}");
            assert!(head.contains("Content-Type: application/json"), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.parse().ok())?;
            if body.len() >= len {
                return Some(body.to_owned());
            }
        }
    }
}

/// `mcp-monitor tail ARGS` with its stdout and stderr collected line by line.
struct Tail {
    child: Child,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
}

impl Tail {
    fn start(args: &[&str]) -> Tail {
        Tail::spawn(Command::new(monitor_bin()).arg("tail").args(args))
    }

    fn spawn(cmd: &mut Command) -> Tail {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting mcp-monitor tail");
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        Tail { child, out, err }
    }

    fn lines(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.err.lock().unwrap().join("\n")
    }

    fn wait_lines(&self, n: usize) -> Vec<String> {
        assert!(
            until(|| self.lines().len() >= n),
            "tail printed {} of {n} lines; stderr: {}",
            self.lines().len(),
            self.stderr()
        );
        self.lines()
    }

    /// Waits for the exit (a finite run: --no-follow, a refusal).
    fn finish(mut self) -> (i32, Vec<String>, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                start.elapsed() < WAIT,
                "tail did not end: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader threads finish with the pipes.
        std::thread::sleep(Duration::from_millis(100));
        (status.code().unwrap_or(-1), self.lines(), self.stderr())
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(r: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
    });
    lines
}

fn until(cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < WAIT {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn marker_alerts(daemon: &Daemon) -> Vec<Value> {
    only_markers(daemon.alerts())
}

/// The test rule's alerts among others (the monitor's own health alerts, e.g.
/// probes this kernel lacks, go to every sink too).
fn only_markers(alerts: Vec<Value>) -> Vec<Value> {
    alerts
        .into_iter()
        .filter(|a| s(a, "rule") == "Marker file read")
        .collect()
}

fn webhook_markers(hook: &Hook) -> Vec<Value> {
    only_markers(hook.bodies().iter().map(|b| json(b)).collect())
}

fn wait_marker_alerts(daemon: &Daemon, n: usize) -> Vec<Value> {
    assert!(
        until(|| marker_alerts(daemon).len() >= n),
        "{} of {n} alerts on stdout; stderr:\n{}",
        marker_alerts(daemon).len(),
        daemon.stderr_text()
    );
    marker_alerts(daemon)
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(workspace_root().join("docs/alert.schema.json")).unwrap();
    jsonschema::validator_for(&json(&text)).unwrap()
}

fn assert_schema(v: &jsonschema::Validator, alert: &Value) {
    let errors: Vec<String> = v.iter_errors(alert).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{alert}\n{errors:#?}");
}

fn log_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(json)
        .collect()
}

/// Runs `mcp-monitor tail` as uid/gid 65534 (nobody).
fn tail_as_nobody(socket: &Path) -> Tail {
    let mut cmd = Command::new(monitor_bin());
    as_nobody(cmd.arg("tail").arg("--socket").arg(socket));
    Tail::spawn(&mut cmd)
}

#[test]
fn alerts_reach_every_sink_and_tail_follows_replays_and_reconnects() {
    if !privileged("delivery_sinks") {
        return;
    }
    let dir = TempDir::new("delivery");
    let rules = dir.path().join("rules.yaml");
    let marker = dir.path().join("marker.txt");
    std::fs::write(&rules, RULE).unwrap();
    std::fs::write(&marker, "x").unwrap();
    // The log and the socket outlive one daemon: the second one serves both.
    let log = dir.path().join("log/alerts.jsonl");
    let socket = dir.path().join("alerts.sock");
    let hook = Hook::start(2);
    // Only the marker's alerts: the servers' start and exit alerts would be
    // in every count below.
    let config = format!(
        r#"rules:
  defaults: false
  files: ["{rules}"]
sinks:
  stdout: {{format: json}}
  log:
    path: "{log}"
    max_size: 1MiB
    keep: 2
  socket: {{path: "{socket}"}}
  webhook:
    url: "http://127.0.0.1:{port}/falco"
    retries: 3
    backoff: 50ms
    timeout: 5s
lifecycle:
  started_exited: false
"#,
        rules = rules.display(),
        log = log.display(),
        socket = socket.display(),
        port = hook.port,
    );
    let sock = socket.to_str().unwrap();
    let daemon = Daemon::start_configured(&config, &["-v"]);
    let v = schema();

    // A live reader, being served before the first alert.
    let live = Tail::start(&["--socket", sock, "-o", "json"]);
    assert!(
        daemon.wait_for_stderr(WAIT, &format!("alert socket: pid {}", live.child.id())),
        "{}",
        daemon.stderr_text()
    );

    // One alert, the same everywhere.
    daemon.read_as_server(&marker);
    let first = wait_marker_alerts(&daemon, 1).remove(0);
    assert_schema(&v, &first);
    assert_eq!(first["mcp"]["server"], "reader");
    assert_eq!(json(&live.wait_lines(1)[0]), first, "live tail");
    assert!(until(|| log_lines(&log).contains(&first)), "alert log");
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the alert log is 0600");
    assert!(until(|| !webhook_markers(&hook).is_empty()), "webhook");
    assert_eq!(webhook_markers(&hook)[0], first, "webhook body");
    assert_eq!(
        hook.requests.load(Ordering::SeqCst) as usize,
        hook.bodies().len() + 2,
        "two failed attempts, then retries that got through, each body once"
    );

    // Replay of the last alert, and filters.
    let (code, lines, err) =
        Tail::start(&["--socket", sock, "-n", "1", "--no-follow", "-o", "json"]).finish();
    assert_eq!(code, 0, "{err}");
    let replayed: Vec<Value> = lines.iter().map(|l| json(l)).collect();
    assert_eq!(replayed, std::slice::from_ref(&first));
    let (_, lines, _) = Tail::start(&[
        "--socket",
        sock,
        "-n",
        "5",
        "--no-follow",
        "--rule",
        "Marker*",
        "--min-priority",
        "warning",
        "--server",
        "read*",
        "-o",
        "json",
    ])
    .finish();
    assert_eq!(lines.len(), 1);
    let (_, lines, _) = Tail::start(&[
        "--socket",
        sock,
        "-n",
        "5",
        "--no-follow",
        "--min-priority",
        "error",
    ])
    .finish();
    assert!(lines.is_empty(), "{lines:?}");
    let (code, lines, _) = Tail::start(&[
        "--socket",
        sock,
        "--since",
        "10m",
        "--no-follow",
        "--rule",
        "Marker*",
        "-o",
        "text",
    ])
    .finish();
    assert_eq!(code, 0);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("WARNING  [reader] marker read by cat"),
        "{}",
        lines[0]
    );

    // Someone who may not read alerts is told what to do: first the file mode
    // stops them, then (mode opened up) the daemon's own check does.
    let refused = |why: &str| {
        let (code, _, err) = tail_as_nobody(&socket).finish();
        assert_eq!(code, 1);
        assert!(err.contains(why) && err.contains("run as root"), "{err}");
    };
    refused("permission denied");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    refused("uid 65534 may not read alerts");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o660)).unwrap();

    // SIGHUP: a broken config keeps the running one, with the place of the error.
    let config_file = daemon.dir().join("config.yaml");
    std::fs::write(&config_file, format!("{config}  lgo: {{}}\n")).unwrap();
    daemon.signal(libc::SIGHUP);
    assert!(daemon.wait_for_stderr(WAIT, "the running configuration stays in force"));
    let bad_line = config.lines().count() + 1;
    // The error follows the line above; wait for it rather than race it.
    assert!(
        daemon.wait_for_stderr(
            WAIT,
            &format!(
                "{}:{bad_line}:3: error: unknown key `lgo`",
                config_file.display()
            )
        ),
        "{}",
        daemon.stderr_text()
    );
    // What cannot change while running is said so.
    std::fs::write(
        &config_file,
        format!("{config}kernel: {{ring_buffer_size: 1MiB}}\n"),
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    assert!(
        daemon.wait_for_stderr(WAIT, "changes to kernel in"),
        "{}",
        daemon.stderr_text()
    );

    // More alerts; SIGTERM; every one of them is in the log, and went everywhere.
    for _ in 0..4 {
        daemon.read_as_server(&marker);
    }
    let on_stdout = wait_marker_alerts(&daemon, 5);
    assert!(
        until(|| webhook_markers(&hook).len() == 5),
        "webhook got {}",
        webhook_markers(&hook).len()
    );
    assert!(until(|| only_markers(
        live.lines().iter().map(|l| json(l)).collect()
    )
    .len()
        >= 5));
    let (status, _daemon_dir) = daemon.stop_keeping_dir();
    assert!(status.success(), "exit 0 on SIGTERM");
    let logged = only_markers(log_lines(&log));
    assert_eq!(logged, on_stdout, "the log holds every alert, in order");
    for a in &logged {
        assert_schema(&v, a);
    }
    assert_eq!(webhook_markers(&hook), on_stdout);
    assert_eq!(
        only_markers(live.lines().iter().map(|l| json(l)).collect()),
        on_stdout
    );

    // The live reader notices, waits, and picks up the next daemon.
    assert!(
        until(|| live.stderr().contains("reconnecting")),
        "{}",
        live.stderr()
    );
    let daemon = Daemon::start_configured(&config, &[]);
    assert!(
        until(|| live.stderr().contains("reconnected")),
        "{}",
        live.stderr()
    );
    daemon.read_as_server(&marker);
    let sixth = wait_marker_alerts(&daemon, 1).remove(0);
    let markers = || only_markers(live.lines().iter().map(|l| json(l)).collect());
    assert!(until(|| markers().len() >= 6), "{:?}", live.lines());
    let markers = markers();
    assert_eq!(markers[5], sixth);
    assert_eq!(
        markers.len(),
        6,
        "nothing replayed twice after the reconnect"
    );
    assert!(daemon.stop().success());
}

#[test]
fn config_errors_name_the_file_line_and_column() {
    let dir = TempDir::new("badconfig");
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, "sinks:\n  log:\n    max_sise: 1MiB\n").unwrap();
    // What `run --config FILE` says as it refuses to start.
    let refused = |config: &Path| {
        let out = Command::new(monitor_bin())
            .args(["run", "--config"])
            .arg(config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = refused(&file);
    assert!(
        err.contains(&format!(
            "{}:3:5: error: unknown key `max_sise`",
            file.display()
        )),
        "{err}"
    );
    assert!(err.contains("`max_size`"), "the keys it could be: {err}");

    let err = refused(&dir.path().join("nope.yaml"));
    assert!(err.contains("no such config file"), "{err}");
}

#[test]
fn tail_without_a_daemon_says_what_to_do() {
    let dir = TempDir::new("notail");
    let (code, _, err) =
        Tail::start(&["--socket", dir.path().join("alerts.sock").to_str().unwrap()]).finish();
    assert_eq!(code, 1);
    assert!(err.contains("is the daemon running"), "{err}");
}
