use std::{cell::RefCell, rc::Rc, time::Duration};

use super::*;
use crate::procs::table::ProcInfo;

/// Records the pids it is asked to kill; fails for those in `fail`.
struct Recorder {
    killed: Rc<RefCell<Vec<u32>>>,
    fail: Vec<u32>,
}

impl Killer for Recorder {
    fn kill(&mut self, pid: u32, _verify: &dyn Fn() -> Result<(), String>) -> Result<(), String> {
        if self.fail.contains(&pid) {
            return Err("process already gone".into());
        }
        self.killed.borrow_mut().push(pid);
        Ok(())
    }
}

const SERVER: u32 = 7;
const HOST: u32 = 50;
const ROOT: u32 = 100;
const MONITOR: u32 = 900;

fn config(enabled: bool, max_actions: u32) -> EnforcementConfig {
    EnforcementConfig {
        enabled,
        max_actions,
        window: crate::units::HumanDuration(Duration::from_secs(10)),
    }
}

fn actor(enabled: bool, max_actions: u32) -> (Actor, Rc<RefCell<Vec<u32>>>) {
    let killed = Rc::new(RefCell::new(Vec::new()));
    let a = Actor::with(
        &config(enabled, max_actions),
        Safety::protecting([MONITOR]),
        Box::new(Recorder {
            killed: killed.clone(),
            fail: vec![103],
        }),
    );
    (a, killed)
}

/// Host 50 → root 100 → 101, 102 of server 7; 200 of server 8; 300 untagged.
fn table() -> ProcessTable {
    let mut t = ProcessTable::default();
    for (pid, ppid, server_id) in [
        (HOST, 1, 0),
        (ROOT, HOST, SERVER),
        (101, ROOT, SERVER),
        (102, 101, SERVER),
        (200, 1, 8),
        (300, 1, 0),
        (MONITOR, 1, SERVER),
    ] {
        t.upsert(ProcInfo {
            pid,
            ppid,
            server_id,
            ..Default::default()
        });
    }
    t
}

fn tag_of(pid: u32) -> Option<u32> {
    match pid {
        ROOT | 101 | 102 | 103 | 104 | MONITOR => Some(SERVER),
        200 => Some(8),
        _ => None,
    }
}

/// What the kernel's tag map holds for server 7: 103 and 104 are children
/// the table has not seen (forked a moment ago); 103 is gone by the time of
/// the kill.
fn tagged() -> Vec<u32> {
    vec![ROOT, 101, 102, 103, 104, MONITOR]
}

fn scene(table: &ProcessTable, enforce: bool) -> Scene<'_> {
    Scene {
        server_id: SERVER,
        server: "fs",
        root_pid: ROOT,
        host_pid: Some(HOST),
        enforce,
        table,
        tag_of: &tag_of,
        tagged: &tagged,
    }
}

fn event(pid: u32) -> Event {
    Event {
        pid,
        ..Default::default()
    }
}

fn result(o: &Outcome) -> (&str, Option<&str>, Option<&str>) {
    (
        o.action,
        o.result.as_deref(),
        o.latency.map(Latency::as_str),
    )
}

#[test]
fn dry_run_says_what_it_would_do_and_does_nothing() {
    let (mut a, killed) = actor(false, 10);
    let t = table();
    let now = Instant::now();
    for (action, word) in [
        (Action::Kill, "would-kill"),
        (Action::KillServer, "would-kill-server"),
        (Action::Deny, "would-deny"),
    ] {
        let o = a.act("r", action, &event(101), &scene(&t, true), now);
        assert_eq!(result(&o), (word, None, None));
    }
    assert!(killed.borrow().is_empty());
    // Nothing to warn about either: deny does nothing in dry run.
    assert!(a.warnings([("r", Action::Deny)]).is_empty());
}

#[test]
fn kill_hits_the_process_of_the_event_from_user_space() {
    let (mut a, killed) = actor(true, 10);
    let t = table();
    let o = a.act(
        "r",
        Action::Kill,
        &event(102),
        &scene(&t, true),
        Instant::now(),
    );
    assert_eq!(result(&o), ("kill", Some("killed"), Some("user")));
    assert_eq!(*killed.borrow(), [102]);
    // A child's death is not the server's: its exit names no rule.
    assert_eq!(a.killed_by(SERVER), None);
    let o = a.act(
        "r",
        Action::Kill,
        &event(ROOT),
        &scene(&t, true),
        Instant::now(),
    );
    assert_eq!(o.result.as_deref(), Some("killed"));
    assert_eq!(a.killed_by(SERVER), Some("r"));
    // A process that is gone is a failure that says why.
    let o = a.act(
        "r",
        Action::Kill,
        &event(103),
        &scene(&t, true),
        Instant::now(),
    );
    assert_eq!(o.result.as_deref(), Some("failed: process already gone"));
}

#[test]
fn never_untagged_host_monitor_or_init() {
    let (mut a, killed) = actor(true, 10);
    let t = table();
    let now = Instant::now();
    for (pid, why) in [
        (300, "skipped: untagged process"),
        (200, "skipped: untagged process"),
        (HOST, "skipped: the host that started the server"),
        (MONITOR, "skipped: the monitor or its ancestor"),
        (1, "skipped: pid 1"),
    ] {
        let o = a.act("r", Action::Kill, &event(pid), &scene(&t, true), now);
        assert_eq!(o.result.as_deref(), Some(why), "pid {pid}");
    }
    assert!(killed.borrow().is_empty());
}

#[test]
fn kill_server_ends_the_tagged_tree_and_nothing_else() {
    let (mut a, killed) = actor(true, 10);
    let t = table();
    let o = a.act(
        "r",
        Action::KillServer,
        &event(102),
        &scene(&t, true),
        Instant::now(),
    );
    assert_eq!(result(&o), ("kill-server", Some("killed"), Some("user")));
    // The root first; the child only the kernel knows of too; not the
    // host, not the monitor (tagged here on purpose), not another server's
    // process, not an untagged one.
    assert_eq!(*killed.borrow(), [ROOT, 101, 102, 104]);
    assert_eq!(a.killed_by(SERVER), Some("r"));
}

#[test]
fn server_policy_off_does_nothing() {
    let (mut a, killed) = actor(true, 10);
    let t = table();
    for action in Action::ALL {
        let o = a.act("r", action, &event(101), &scene(&t, false), Instant::now());
        assert_eq!(o.result.as_deref(), Some("skipped: server policy"));
    }
    assert!(killed.borrow().is_empty());
}

#[test]
fn what_the_kernel_did_is_reported_and_kill_server_finishes_the_tree() {
    let (mut a, killed) = actor(true, 10);
    let t = table();
    let mut ev = event(102);
    ev.enforced = Some("killed".into());
    ev.enforced_by = Some("r".into());
    let o = a.act("r", Action::Kill, &ev, &scene(&t, true), Instant::now());
    assert_eq!(result(&o), ("kill", Some("killed"), Some("kernel")));
    assert!(killed.borrow().is_empty());
    let o = a.act(
        "r",
        Action::KillServer,
        &ev,
        &scene(&t, true),
        Instant::now(),
    );
    assert_eq!(result(&o), ("kill-server", Some("killed"), Some("kernel")));
    assert_eq!(*killed.borrow(), [ROOT, 101, 104], "the rest of the tree");
    // Denied in the kernel.
    ev.enforced = Some("denied".into());
    let o = a.act("r", Action::Deny, &ev, &scene(&t, true), Instant::now());
    assert_eq!(result(&o), ("deny", Some("denied"), Some("kernel")));
    // Another rule's kill in the kernel: this rule's kill has nothing left to do.
    ev.enforced = Some("killed".into());
    ev.enforced_by = Some("other".into());
    let o = a.act("r", Action::Kill, &ev, &scene(&t, true), Instant::now());
    assert_eq!(
        o.result.as_deref(),
        Some("skipped: killed in the kernel by rule other")
    );
    // The probe killed the root itself: the server's exit names the rule.
    let (mut a, _) = actor(true, 10);
    assert_eq!(a.killed_by(SERVER), None);
    let mut ev = event(ROOT);
    ev.enforced = Some("killed".into());
    ev.enforced_by = Some("r".into());
    a.act("r", Action::Kill, &ev, &scene(&t, true), Instant::now());
    assert_eq!(a.killed_by(SERVER), Some("r"));
}

#[test]
fn deny_kills_from_user_space_and_says_so_once() {
    let (mut a, killed) = actor(true, 10);
    let t = table();
    let o = a.act(
        "r",
        Action::Deny,
        &event(101),
        &scene(&t, true),
        Instant::now(),
    );
    assert_eq!(result(&o), ("deny", Some("killed"), Some("user")));
    assert_eq!(*killed.borrow(), [101]);
    assert_eq!(
        a.warnings([("d", Action::Deny), ("k", Action::Kill)]),
        [
            "rule d: deny cannot fail this call on this kernel (it needs BPF LSM for files, \
             the cgroup connect hook for connects); it kills instead"
        ]
    );
}

#[test]
fn an_action_storm_is_cut_and_reported_once() {
    let (mut a, killed) = actor(true, 2);
    let t = table();
    let now = Instant::now();
    let results: Vec<String> = (0..4)
        .map(|_| {
            a.act("r", Action::Kill, &event(101), &scene(&t, true), now)
                .result
                .unwrap()
        })
        .collect();
    assert_eq!(
        results,
        [
            "killed",
            "killed",
            "skipped: rate-limited",
            "skipped: rate-limited"
        ]
    );
    assert_eq!(killed.borrow().len(), 2);
    let storms = a.take_storms();
    assert_eq!(storms.len(), 1);
    assert_eq!((storms[0].server.as_str(), storms[0].max), ("fs", 2));
    assert!(a.take_storms().is_empty());
    // After the window, actions act again.
    let later = now + Duration::from_secs(10);
    let o = a.act("r", Action::Kill, &event(101), &scene(&t, true), later);
    assert_eq!(o.result.as_deref(), Some("killed"));
}

#[test]
fn the_pidfd_killer_checks_the_process_before_the_signal() {
    use std::process::Command;
    let mut child = Command::new("sleep").arg("300").spawn().unwrap();
    let pid = child.id();
    // The check refuses: nothing is sent.
    let refused = Pidfd.kill(pid, &|| Err("pid reused by another process".into()));
    assert_eq!(refused, Err("pid reused by another process".into()));
    assert!(child.try_wait().unwrap().is_none(), "still running");
    // A known start time that is not the process's is a reused pid.
    let tagged = |_| Some(SERVER);
    let start = crate::procs::scan::start_time(pid).unwrap();
    let now = crate::procs::lifecycle::boot_ns_now();
    assert!(same_process(pid, SERVER, &tagged, start, now).is_ok());
    assert!(same_process(pid, SERVER, &tagged, start + 1, now).is_err());
    // Started after the event: another process under a reused pid.
    assert!(same_process(pid, SERVER, &tagged, 0, 0).is_err());
    assert!(same_process(pid, SERVER, &|_| None, 0, now).is_err());
    // Accepted: SIGKILL.
    assert_eq!(Pidfd.kill(pid, &|| Ok(())), Ok(()));
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

#[test]
fn outcomes_are_counted_by_their_result_without_the_reason() {
    let (mut dry, _) = actor(false, 10);
    let (mut on, _) = actor(true, 10);
    let t = table();
    let now = Instant::now();
    let kind = |o: Outcome| o.kind().to_owned();
    assert_eq!(
        kind(dry.act("r", Action::Kill, &event(101), &scene(&t, true), now)),
        "would"
    );
    assert_eq!(
        kind(on.act("r", Action::Kill, &event(101), &scene(&t, true), now)),
        "killed"
    );
    assert_eq!(
        kind(on.act("r", Action::Kill, &event(103), &scene(&t, true), now)),
        "failed"
    );
    assert_eq!(
        kind(on.act("r", Action::Kill, &event(300), &scene(&t, true), now)),
        "skipped"
    );
}
