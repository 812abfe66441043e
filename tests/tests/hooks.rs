//! The daemon attaches only the hooks its rules need, and a reload attaches
//! what new rules need and detaches what no rule needs any more.
use std::{collections::BTreeSet, path::Path, process::Stdio, time::Duration};

use e2e::{Daemon, PinDir, TempDir, privileged};

const WAIT: Duration = Duration::from_secs(10);
const LIFECYCLE: [&str; 3] = [
    "sched_process_exec",
    "sched_process_exit",
    "sched_process_fork",
];

/// The programs whose links are pinned (attached) under `pins`.
fn attached(pins: &Path) -> BTreeSet<String> {
    let abi = std::fs::read_dir(pins)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("abi-"))
        .expect("an abi-N directory");
    let links = std::fs::read_dir(abi.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("links-"))
        .expect("a links directory");
    std::fs::read_dir(links.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn expected(extra: &[&str]) -> BTreeSet<String> {
    LIFECYCLE
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
}

fn rule(name: &str, condition: &str) -> String {
    format!(
        "- rule: {name}\n  desc: test\n  condition: {condition}\n  output: \"{name} %proc.cmdline\"\n  priority: WARNING\n"
    )
}

#[test]
fn only_the_hooks_the_rules_need_and_a_reload_changes_them() {
    if !privileged("only_the_hooks_the_rules_need") {
        return;
    }
    let dir = TempDir::new("hooks");
    let marker = dir.path().join("hooks-marker");
    std::fs::write(&marker, "x").unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        rule(
            "Marker opened",
            "evt.type = openat and fd.name endswith hooks-marker",
        ),
    )
    .unwrap();
    let pins = PinDir::new("hooks");
    let daemon = Daemon::start_rules_only(
        &pins,
        &["--no-default-rules", "--rules", rules.to_str().unwrap()],
    );
    assert!(
        daemon.stderr_text().contains("attaching 5 of"),
        "{}",
        daemon.stderr_text()
    );
    assert_eq!(
        attached(pins.path()),
        expected(&["sys_enter_openat", "sys_exit_openat"])
    );
    daemon.read_as_server(&marker);
    assert!(
        daemon
            .wait_for_alert(WAIT, |a| a["rule"] == "Marker opened")
            .is_some(),
        "{:#?}",
        daemon.alerts()
    );

    // The open rule goes, an unlink rule comes: the hooks follow.
    std::fs::write(
        &rules,
        rule(
            "Marker removed",
            "evt.type = unlinkat and fs.path.name endswith hooks-marker",
        ),
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    assert!(
        daemon.wait_for_stderr(
            WAIT,
            "hooks for the new rules: 5 attached (2 added, 2 removed)"
        ),
        "{}",
        daemon.stderr_text()
    );
    assert_eq!(
        attached(pins.path()),
        expected(&["sys_enter_unlinkat", "sys_exit_unlinkat"])
    );
    let status = daemon
        .launch("remover", &["rm", marker.to_str().unwrap()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        daemon
            .wait_for_alert(WAIT, |a| a["rule"] == "Marker removed")
            .is_some(),
        "{:#?}",
        daemon.alerts()
    );
    assert!(daemon.stop().success());
}
