//! Secrets on a command line never leave the daemon: a tagged process started
//! with fake tokens raises an alert whose output quotes its command line, and
//! neither that alert nor any event line carries the tokens.
use std::{process::Stdio, time::Duration};

use e2e::{Daemon, privileged, s};

// Fake tokens of real shapes, made up for this test.
const GITHUB: &str = "ghp_R3dact10nTestT0kenAbcdefGhijklmnopQR";
const OPENAI: &str = "sk-proj-redactiontestabcdefghijklmnop0123";
const PASSWORD: &str = "hunter2-redaction-test";

#[test]
fn alerts_and_event_lines_carry_no_trace_of_command_line_secrets() {
    if !privileged("redaction") {
        return;
    }
    let daemon = Daemon::start(&[]);
    let token_arg = format!("--api-key={OPENAI}");
    let env_arg = format!("GITHUB_TOKEN={GITHUB}");
    let url = format!("postgres://admin:{PASSWORD}@db.invalid/app");
    // perl -e: the one-liner rule fires and its output quotes the command line.
    let status = daemon
        .launch(
            "redact",
            &[
                "perl", "-e", "exit 0", "--", &token_arg, "--token", GITHUB, &env_arg, &url,
            ],
        )
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let alert = daemon
        .wait_for_alert(Duration::from_secs(20), |a| {
            a["mcp"]["server"] == "redact"
                && s(a, "rule") == "Interpreter one-liner run by MCP server"
        })
        .unwrap_or_else(|| panic!("no one-liner alert; stderr:\n{}", daemon.stderr_text()));
    assert!(
        s(&alert, "output").contains("--token <redacted>"),
        "{alert}"
    );
    let exec = daemon
        .wait_for(Duration::from_secs(20), |e| {
            s(e, "mcp.server") == "redact" && s(e, "evt.type") == "execve"
        })
        .expect("the exec event");
    assert!(s(&exec, "proc.cmdline").contains("<redacted>"), "{exec}");

    let everything: Vec<String> = daemon
        .alerts()
        .iter()
        .chain(daemon.events().iter())
        .map(|v| v.to_string())
        .collect();
    for secret in [GITHUB, OPENAI, PASSWORD] {
        let leaks: Vec<&String> = everything.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret} leaked in: {leaks:#?}");
    }
    assert!(daemon.stop().success());
}
