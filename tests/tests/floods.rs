//! Floods, lifecycle and metrics in the running daemon: repeats of an alert
//! are summarised, servers' starts, exits and outliving their host are
//! reported, and the metrics endpoint counts what happened.
use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use e2e::{Daemon, TempDir, monitor_bin, n, privileged, s};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);
/// The suppression window the flood test runs with: long enough for 200 reads
/// on a busy machine, short enough to wait for its summary.
const WINDOW_SECS: u64 = 15;

const RULES: &str = r#"- rule: Marker file read
  desc: a tagged process opens one of the test's marker files
  condition: evt.type in (open, openat, openat2) and fd.filename in ("marker.txt", "other.txt") and mcp.server exists
  output: "marker read by %proc.name (server=%mcp.server file=%fd.name pid=%proc.pid)"
  priority: WARNING
  tags: [test]
"#;

/// The harness's sinks: the alert log and socket in the daemon's directory.
const SINKS: &str = e2e::DEFAULT_CONFIG;

fn alerts_of<'a>(alerts: &'a [Value], rule: &str, server: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| s(a, "rule") == rule && a["mcp"]["server"] == server)
        .collect()
}

fn wait_alert(
    daemon: &Daemon,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    daemon.wait_for_alert(timeout, pred).unwrap_or_else(|| {
        panic!(
            "no {what} alert; alerts: {:#?}\nstderr:\n{}",
            daemon.alerts(),
            daemon.stderr_text()
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET /metrics` with a plain socket; the body.
fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).expect("connecting to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_owned()
}

/// The value of the sample `name{labels}` in a scrape, if present.
fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let (head, _) = l.rsplit_once(' ').unwrap_or((l, ""));
            let (metric, rest) = head.split_once('{').unwrap_or((head, ""));
            metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
}

#[test]
fn repeats_are_summarised_distinct_files_alert_and_metrics_count_them() {
    if !privileged("floods_suppression") {
        return;
    }
    let dir = TempDir::new("floods");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    let marker = dir.path().join("marker.txt");
    let other = dir.path().join("other.txt");
    std::fs::write(&marker, "x\n").unwrap();
    std::fs::write(&other, "y\n").unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    // The window is the rule's own, from the config file.
    let config = format!(
        "{SINKS}suppression:\n  rules:\n    \"Marker file read\": {{window: {WINDOW_SECS}s}}\n"
    );
    let daemon = Daemon::start_configured(
        &config,
        &[
            "--no-default-rules",
            "--rules",
            rules.to_str().unwrap(),
            "--metrics-address",
            &addr.to_string(),
        ],
    );

    // One shell reads the marker 200 times (a redirection: the shell itself
    // opens it), then the other file once.
    let script = format!(
        "i=0; while [ $i -lt 200 ]; do read x < '{}'; i=$((i+1)); done; read x < '{}'",
        marker.display(),
        other.display()
    );
    let started = Instant::now();
    let status = daemon
        .launch("flood", &["sh", "-c", &script])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let loop_took = started.elapsed();
    assert!(
        loop_took < Duration::from_secs(WINDOW_SECS),
        "the reads took {loop_took:?}, longer than the window; the machine is too busy for this test"
    );

    let marker_name = marker.to_str().unwrap();
    let summary = wait_alert(
        &daemon,
        Duration::from_secs(WINDOW_SECS) + WAIT,
        "suppression summary",
        |a| s(a, "rule") == "Alerts suppressed" && a["mcp"]["server"] == "flood",
    );
    assert_eq!(
        summary["output_fields"]["suppressed.count"], 199,
        "{summary:#}"
    );
    assert_eq!(
        summary["output_fields"]["suppressed.rule"],
        "Marker file read"
    );
    assert_eq!(summary["output_fields"]["fd.name"], marker_name);
    assert_eq!(summary["priority"], "Warning");
    assert!(
        s(&summary, "output").starts_with(&format!(
            "suppressed 199 similar alerts in the last {WINDOW_SECS} s"
        )),
        "{summary:#}"
    );

    let alerts = daemon.alerts();
    let reads = alerts_of(&alerts, "Marker file read", "flood");
    let of = |file: &str| {
        reads
            .iter()
            .filter(|a| a["output_fields"]["fd.name"] == file)
            .count()
    };
    assert_eq!(of(marker_name), 1, "one alert for 200 reads: {reads:#?}");
    assert_eq!(
        of(other.to_str().unwrap()),
        1,
        "the other file has its own alert"
    );
    assert_eq!(
        alerts_of(&alerts, "Alerts suppressed", "flood").len(),
        1,
        "nothing to summarise for the other file"
    );

    // The endpoint counts the events and the alerts of this test.
    let deadline = Instant::now() + WAIT;
    let body = loop {
        let body = scrape(addr);
        let ready = sample(
            &body,
            "mcp_monitor_alerts_suppressed_total",
            &[("rule", "Marker file read")],
        ) == Some(199.0);
        if ready || Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let opens = sample(&body, "mcp_monitor_events_total", &[("type", "openat")])
        .expect("openat events counted");
    assert!(opens >= 201.0, "at least the 201 reads: {opens}\n{body}");
    assert_eq!(
        sample(
            &body,
            "mcp_monitor_alerts_total",
            &[("rule", "Marker file read"), ("priority", "Warning")]
        ),
        Some(2.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "mcp_monitor_alerts_suppressed_total",
            &[("rule", "Marker file read")]
        ),
        Some(199.0),
        "{body}"
    );
    assert_eq!(sample(&body, "mcp_monitor_rules_loaded", &[]), Some(1.0));
    // Every alert sent so far went to the log; none waits or was lost.
    let sent: f64 = body
        .lines()
        .filter(|l| l.starts_with("mcp_monitor_alerts_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    let logged = sample(
        &body,
        "mcp_monitor_sink_delivered_total",
        &[("sink", "log")],
    )
    .expect("the log sink's figures");
    assert!(
        logged >= 4.0 && logged <= sent,
        "{logged} of {sent}\n{body}"
    );
    assert_eq!(
        sample(
            &body,
            "mcp_monitor_sink_overflow_total",
            &[("sink", "stdout")]
        ),
        Some(0.0)
    );
    assert!(sample(&body, "mcp_monitor_sink_queue_depth", &[("sink", "stdout")]).is_some());
    assert!(body.contains("# TYPE mcp_monitor_events_total counter"));
    assert!(daemon.stop().success());
}

#[test]
fn a_noisy_server_is_throttled_with_start_and_stop_reported_once_and_nothing_unaccounted() {
    if !privileged("floods_throttle") {
        return;
    }
    let dir = TempDir::new("throttle");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        RULES.replace(
            r#"fd.filename in ("marker.txt", "other.txt")"#,
            r#"fd.filename startswith "noise-""#,
        ),
    )
    .unwrap();
    let files = 60;
    for i in 0..files {
        std::fs::write(dir.path().join(format!("noise-{i}")), "x\n").unwrap();
    }
    let daemon = Daemon::start_configured(
        &format!("{SINKS}suppression:\n  throttle: {{rate: 2, burst: 5}}\n"),
        &["--no-default-rules", "--rules", rules.to_str().unwrap()],
    );
    // 60 distinct files: nothing to suppress, everything to throttle.
    let script = format!(
        "i=0; while [ $i -lt {files} ]; do read x < '{}/noise-'$i; i=$((i+1)); done",
        dir.path().display()
    );
    let status = daemon
        .launch("noisy", &["sh", "-c", &script])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let start = wait_alert(&daemon, WAIT, "throttle start", |a| {
        s(a, "rule") == "MCP server alerts throttled" && a["mcp"]["server"] == "noisy"
    });
    assert_eq!(start["priority"], "Warning");
    let stop = wait_alert(&daemon, WAIT, "throttle stop", |a| {
        s(a, "rule") == "MCP server alerts no longer throttled" && a["mcp"]["server"] == "noisy"
    });
    let dropped = n(&stop["output_fields"], "throttle.dropped");
    let alerts = daemon.alerts();
    let sent = alerts_of(&alerts, "Marker file read", "noisy").len() as i64;
    assert!(sent >= 5, "the burst goes out: {sent}");
    assert_eq!(
        sent + dropped,
        files,
        "every read is either sent or counted as dropped"
    );
    for rule in [
        "MCP server alerts throttled",
        "MCP server alerts no longer throttled",
    ] {
        assert_eq!(alerts_of(&alerts, rule, "noisy").len(), 1, "{rule} once");
    }
    // A quiet server alongside is not held back by the noisy one's bucket.
    let quiet = dir.path().join("noise-quiet");
    std::fs::write(&quiet, "x\n").unwrap();
    let status = daemon
        .launch("quiet", &["cat", quiet.to_str().unwrap()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    wait_alert(&daemon, WAIT, "quiet server's alert", |a| {
        s(a, "rule") == "Marker file read" && a["mcp"]["server"] == "quiet"
    });
    assert!(daemon.stop().success());
}

#[test]
fn servers_start_exit_and_outliving_their_host_are_reported() {
    if !privileged("floods_lifecycle") {
        return;
    }
    let daemon = Daemon::start(&["--no-default-rules"]);

    // Started and exited, with the exit code and the events counted.
    let status = daemon
        .launch("life", &["sh", "-c", "cat /etc/hostname; exit 3"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    let started = wait_alert(&daemon, WAIT, "server started", |a| {
        s(a, "rule") == "MCP server started" && a["mcp"]["server"] == "life"
    });
    assert_eq!(started["priority"], "Informational");
    assert_eq!(started["mcp"]["tag_source"], "wrapper");
    assert_eq!(started["output_fields"]["mcp.already_running"], false);
    assert_eq!(
        started["output_fields"]["mcp.command"], "sh -c cat /etc/hostname; exit 3",
        "the command the wrapper runs: {started:#}"
    );
    let root = n(&started["mcp"], "root_pid");
    assert!(root > 0, "{started:#}");
    let exited = wait_alert(&daemon, WAIT, "server exited", |a| {
        s(a, "rule") == "MCP server exited" && a["mcp"]["server"] == "life"
    });
    assert_eq!(exited["priority"], "Informational");
    assert_eq!(exited["output_fields"]["mcp.exit_code"], 3, "{exited:#}");
    assert_eq!(n(&exited["mcp"], "root_pid"), root);
    assert!(
        n(&exited["output_fields"], "mcp.events") >= 3,
        "exec, open, exit at least: {exited:#}"
    );

    // A parent starts a server in the background and dies; the server runs on.
    let launch = format!(
        "'{}' launch --name orphan --control-socket '{}' -- sleep 60 & wait",
        monitor_bin().display(),
        daemon.socket.display()
    );
    let mut parent = Command::new("sh")
        .args(["-c", &launch])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let started = wait_alert(&daemon, WAIT, "orphan started", |a| {
        s(a, "rule") == "MCP server started" && a["mcp"]["server"] == "orphan"
    });
    assert_eq!(
        n(&started["output_fields"], "mcp.host_pid"),
        parent.id() as i64,
        "the wrapper's parent is the host: {started:#}"
    );
    let server_pid = n(&started["mcp"], "root_pid");
    let _ = parent.kill();
    let _ = parent.wait();
    let killed = Instant::now();
    let outlived = wait_alert(&daemon, WAIT, "outlived host", |a| {
        s(a, "rule") == "MCP server outlived its host" && a["mcp"]["server"] == "orphan"
    });
    assert!(
        killed.elapsed() >= Duration::from_secs(4),
        "reported after the grace period, not at once"
    );
    assert_eq!(outlived["priority"], "Warning");
    assert_eq!(
        n(&outlived["output_fields"], "mcp.host_pid"),
        parent.id() as i64
    );
    assert_eq!(outlived["output_fields"]["mcp.running_pids"][0], server_pid);
    assert!(s(&outlived, "output").contains("orphan"), "{outlived:#}");

    // The orphan is this test's: end it, and its exit names the signal.
    // SAFETY: killing the sleep this test started through its parent.
    unsafe { libc::kill(server_pid as i32, libc::SIGKILL) };
    let exited = wait_alert(&daemon, WAIT, "orphan exited", |a| {
        s(a, "rule") == "MCP server exited" && a["mcp"]["server"] == "orphan"
    });
    assert_eq!(exited["output_fields"]["mcp.exit_signal"], 9, "{exited:#}");
    let outlived_count = daemon
        .alerts()
        .iter()
        .filter(|a| s(a, "rule") == "MCP server outlived its host")
        .count();
    assert_eq!(outlived_count, 1, "once per server");
    assert!(daemon.stop().success());
}

#[test]
fn metrics_refuse_a_non_loopback_address() {
    // Checked before anything is loaded: no root needed.
    let out = Command::new(monitor_bin())
        .args(["run", "--metrics-address", "0.0.0.0:9464"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("only loopback addresses") && err.contains("127.0.0.1:9464"),
        "{err}"
    );
}
