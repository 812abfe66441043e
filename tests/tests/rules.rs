//! Rules in the running daemon: alerts from real events, hot reload on SIGHUP
//! and on file change, and a broken file that leaves the old rules firing.
use std::time::Duration;

use e2e::{Daemon, TempDir, privileged, s};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

fn rule(output: &str) -> String {
    format!(
        r#"- rule: Marker file read
  desc: a tagged process opens the test's marker file
  condition: evt.type in (open, openat, openat2) and fd.filename = "marker.txt" and mcp.server exists
  output: "marker read by %proc.name (server=%mcp.server file=%fd.name) {output}"
  priority: WARNING
  tags: [test]
"#
    )
}

fn alert_with(daemon: &Daemon, text: &str) -> Value {
    daemon
        .wait_for_alert(WAIT, |a| s(a, "output").contains(text))
        .unwrap_or_else(|| {
            panic!(
                "no alert containing {text:?}; stderr:\n{}",
                daemon.stderr_text()
            )
        })
}

#[test]
fn alerts_fire_and_rules_reload_without_losing_the_old_set_on_error() {
    if !privileged("rules_reload") {
        return;
    }
    let dir = TempDir::new("rules");
    let rules = dir.path().join("test-rules.yaml");
    let marker = dir.path().join("marker.txt");
    std::fs::write(&marker, "x").unwrap();
    std::fs::write(&rules, rule("v1")).unwrap();
    let daemon = Daemon::start(&["--no-default-rules", "--rules", rules.to_str().unwrap()]);

    // A good rule fires, Falco-shaped, with the server and the process.
    daemon.read_as_server(&marker);
    let a = alert_with(&daemon, "v1");
    assert_eq!(s(&a, "rule"), "Marker file read");
    assert_eq!(s(&a, "priority"), "Warning");
    assert_eq!(s(&a, "source"), "mcp-monitor");
    assert!(!s(&a, "hostname").is_empty());
    assert!(s(&a, "time").ends_with('Z'));
    assert_eq!(a["mcp"]["server"], "reader");
    assert_eq!(a["process"]["name"], "cat");
    assert_eq!(a["output_fields"]["fd.name"], marker.to_str().unwrap());
    assert_eq!(a["tags"][0], "test");
    assert!(s(&a, "output").contains(&format!("file={}", marker.display())));

    // A changed file on disk takes effect on the next event, without a signal.
    std::fs::write(&rules, rule("v2")).unwrap();
    assert!(
        daemon.wait_for_stderr(WAIT, "changed [\"Marker file read\"]"),
        "reload reported: {}",
        daemon.stderr_text()
    );
    daemon.read_as_server(&marker);
    alert_with(&daemon, "v2");
    let reloaded = daemon
        .wait_for_alert(WAIT, |a| s(a, "rule") == "Rules reloaded")
        .expect("a reload raises an alert");
    assert_eq!(reloaded["priority"], "Informational");
    assert_eq!(reloaded["output_fields"]["rules.changed"], 1);
    assert_eq!(
        reloaded["output_fields"]["rules.changed_names"][0],
        "Marker file read"
    );

    // A reload's warnings are said, as at start.
    std::fs::write(
        &rules,
        format!("{}- list: never_used\n  items: [a]\n", rule("v3")),
    )
    .unwrap();
    assert!(
        daemon.wait_for_stderr(WAIT, "list `never_used` is not used"),
        "reload warnings: {}",
        daemon.stderr_text()
    );

    // A broken file is rejected with its location; the old rules keep firing.
    std::fs::write(
        &rules,
        "- rule: Broken\n  condition: evt.type = open and (\n",
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    assert!(
        daemon.wait_for_stderr(WAIT, "previous rules stay in force"),
        "{}",
        daemon.stderr_text()
    );
    assert!(
        daemon.stderr_text().contains("test-rules.yaml:"),
        "the error names the file: {}",
        daemon.stderr_text()
    );
    let rejected = daemon
        .wait_for_alert(WAIT, |a| s(a, "rule") == "Rules rejected")
        .expect("a rejected reload raises an alert");
    assert_eq!(rejected["priority"], "Error");
    let at = s(&rejected["output_fields"], "rules.error_location");
    let line_col = at
        .strip_prefix(&format!("{}:", rules.display()))
        .and_then(|rest| rest.split_once(':'))
        .filter(|(l, c)| l.parse::<u32>().is_ok() && c.parse::<u32>().is_ok());
    assert!(
        line_col.is_some(),
        "the first error's file:line:col: {rejected:#}"
    );
    let before = daemon.alerts().len();
    daemon.read_as_server(&marker);
    let started = std::time::Instant::now();
    let fired = |alerts: &[Value]| {
        alerts[before..]
            .iter()
            .any(|a| s(a, "rule") == "Marker file read")
    };
    while !fired(&daemon.alerts()) && started.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    let alerts = daemon.alerts();
    // Other alerts share the stream (the rejected reload, the reader's start).
    let again = alerts[before..]
        .iter()
        .find(|a| s(a, "rule") == "Marker file read")
        .expect("the old rule still fires after a failed reload");
    assert!(s(again, "output").contains("v3"), "{again}");
    assert!(daemon.stop().success());
}
