//! A restarted daemon loses nothing: the tags of running servers, their names,
//! and what they did while no daemon was running (the programs stay attached
//! and keep writing into the pinned ring buffer).
use std::{process::Stdio, time::Duration};

use e2e::{Daemon, PinDir, TempDir, privileged};
use serde_json::Value;

const SSH_RULE: &str = "MCP server read SSH keys or configuration";

/// Whether `alert` is the SSH rule's for a read of `file`.
fn reads(alert: &Value, file: &str) -> bool {
    alert["rule"] == SSH_RULE && alert["output_fields"]["fd.name"].as_str() == Some(file)
}

/// Tags a server, stops the daemon with `signal`, lets the server read one key
/// while no daemon runs, starts a new daemon on the same pins and lets the
/// server read another: both reads alert under the server's original name.
/// `second`: arguments for the second daemon.
fn survives(signal: i32, test: &str, second: &[&str]) {
    if !privileged(test) {
        return;
    }
    let pins = PinDir::new("restart");
    let home = TempDir::home("restart");
    let ssh = home.path().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    let (down, after) = (ssh.join("id_rsa"), ssh.join("id_ed25519"));
    for f in [&down, &after] {
        std::fs::write(f, "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n").unwrap();
    }
    // The server reads each key when its go file appears.
    let (go_down, go_after) = (home.path().join("go-down"), home.path().join("go-after"));
    let script = format!(
        "until [ -e {gd} ]; do sleep 0.05; done; cat {down} >/dev/null; \
         until [ -e {ga} ]; do sleep 0.05; done; cat {after} >/dev/null",
        gd = go_down.display(),
        ga = go_after.display(),
        down = down.display(),
        after = after.display(),
    );

    let first = Daemon::start_pinned(&pins, &[]);
    let mut server = first
        .launch("keeper", &["sh", "-c", &script])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        first
            .wait_for(Duration::from_secs(10), |e| e["mcp.server"] == "keeper")
            .is_some(),
        "the server was never tagged:\n{}",
        first.stderr_text()
    );
    first.stop_with(signal);

    // Nobody is watching from user space now.
    std::fs::write(&go_down, "").unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let second = Daemon::start_pinned(&pins, second);
    assert!(
        second.stderr_text().contains("took over the pinned state"),
        "{}",
        second.stderr_text()
    );
    let down_text = down.display().to_string();
    let alert = second
        .wait_for_alert(Duration::from_secs(10), |a| reads(a, &down_text))
        .unwrap_or_else(|| {
            panic!(
                "the read done while the daemon was down was not reported:\n{:#?}",
                second.alerts()
            )
        });
    assert_eq!(alert["output_fields"]["mcp.server"], "keeper", "{alert:#}");

    std::fs::write(&go_after, "").unwrap();
    let after_text = after.display().to_string();
    let alert = second
        .wait_for_alert(Duration::from_secs(10), |a| reads(a, &after_text))
        .unwrap_or_else(|| {
            panic!(
                "no alert for the read after the restart:\n{:#?}",
                second.alerts()
            )
        });
    assert_eq!(alert["output_fields"]["mcp.server"], "keeper", "{alert:#}");
    assert!(server.wait().unwrap().success());
    assert!(second.stop().success());
}

#[test]
fn a_server_keeps_its_name_and_its_reads_across_a_sigterm_restart() {
    survives(libc::SIGTERM, "restart after SIGTERM", &[]);
}

#[test]
fn a_ring_buffer_taken_over_keeps_its_size_whatever_is_asked() {
    // The first daemon made an 8 MiB ring buffer; the second maps it as it
    // is (mapped at the size asked for, it would misread every record).
    survives(
        libc::SIGTERM,
        "restart with another ring buffer size",
        &["--ring-buffer-size", "1MiB"],
    );
}

#[test]
fn a_server_keeps_its_name_and_its_reads_across_a_sigkill_restart() {
    survives(libc::SIGKILL, "restart after SIGKILL", &[]);
}

#[test]
fn a_server_that_kills_the_daemon_is_reported_by_the_next_one() {
    if !privileged("daemon killed by a server") {
        return;
    }
    let pins = PinDir::new("killed");
    let first = Daemon::start_pinned(&pins, &[]);
    let victim = first.pid();
    let status = first
        .launch("assassin", &["sh", "-c", &format!("kill -9 {victim}")])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    drop(first);

    let second = Daemon::start_pinned(&pins, &[]);
    let alert = second
        .wait_for_alert(Duration::from_secs(10), |a| {
            a["rule"] == "MCP server signalled or traced the monitor"
        })
        .unwrap_or_else(|| panic!("the kill was not reported:\n{:#?}", second.alerts()));
    assert_eq!(
        alert["output_fields"]["mcp.server"], "assassin",
        "{alert:#}"
    );
    assert_eq!(alert["output_fields"]["target.pid"], victim, "{alert:#}");
    assert!(second.stop().success());
}
