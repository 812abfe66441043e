use monitor_common::TagSource;

use super::*;
use crate::procs::{lifecycle::HostProcess, table::ProcInfo};

fn note(what: Happened) -> Note {
    Note {
        server: server(),
        root: RootProcess {
            info: ProcInfo {
                pid: 42,
                ppid: 9,
                comm: "sleep".into(),
                argv: vec!["sleep".into(), "30".into()].into(),
                ..Default::default()
            },
            ancestors: vec![(9, "sh".into())],
        },
        what,
    }
}

fn server() -> ServerInfo {
    ServerInfo {
        id: 1,
        name: "orphan".into(),
        host: None,
        source: TagSource::Wrapper,
        root_pid: 42,
        roots: vec![],
        destinations: vec![],
    }
}

#[test]
fn lifecycle_alerts_name_the_server() {
    let a = from_note(
        &note(Happened::Exited {
            status: Some(3 << 8),
            lifetime: Duration::from_millis(1500),
            events: 7,
        }),
        "h",
    );
    let p = a.process.as_ref().expect("the root process");
    assert_eq!((p.pid, p.name.as_str()), (42, "sleep"));
    assert_eq!(p.cmdline, "sleep 30");
    assert_eq!(p.ancestors[0].name, "sh");
    assert_eq!(a.rule, rule::SERVER_EXITED);
    assert_eq!(a.priority, Priority::Informational);
    assert_eq!(a.mcp.server.as_deref(), Some("orphan"));
    assert_eq!(a.output_fields["mcp.exit_code"], 3);
    assert_eq!(a.output_fields["mcp.events"], 7);
    assert!(a.output.contains("exit code 3"), "{}", a.output);
    let o = from_note(
        &note(Happened::OutlivedHost {
            host_process: HostProcess {
                pid: 9,
                name: "sh".into(),
                start_time: 1,
            },
            running: vec![42],
        }),
        "h",
    );
    assert_eq!(o.rule, rule::SERVER_OUTLIVED_HOST);
    assert_eq!(o.priority, Priority::Warning);
    assert_eq!(o.output_fields["mcp.host_pid"], 9);
    assert!(o.tags.contains(&"slowmist.11".to_string()));
}

#[test]
fn a_wrapped_server_is_shown_with_the_command_it_runs() {
    let mut n = note(Happened::Started {
        host_process: None,
        at_start: false,
    });
    n.root.info.argv = [
        "/usr/bin/mcp-monitor",
        "launch",
        "--name",
        "fs",
        "--",
        "npx",
        "-y",
        "pkg",
    ]
    .map(String::from)
    .to_vec()
    .into();
    let a = from_note(&n, "h");
    assert_eq!(a.output_fields["mcp.command"], "npx -y pkg");
    assert!(a.output.contains("cmdline=npx -y pkg)"), "{}", a.output);
    assert_eq!(
        a.output_fields["proc.cmdline"],
        "/usr/bin/mcp-monitor launch --name fs -- npx -y pkg"
    );
    assert!(wrapped_command(&["node".into(), "--".into(), "x".into()]).is_none());
}

#[test]
fn summaries_carry_the_rule_count_and_key() {
    let a = from_notice(
        &Notice::Summary(Box::new(Summary {
            rule: "Marker".into(),
            priority: Priority::Critical,
            tags: vec!["t".into()],
            mcp: mcp_of(&server()),
            process: None,
            fields: fields([("fd.name", "/m".into())]),
            count: 199,
            window: Duration::from_secs(60),
        })),
        "h",
    );
    assert_eq!(a.rule, rule::ALERTS_SUPPRESSED);
    assert_eq!(a.priority, Priority::Critical);
    assert!(
        a.output
            .starts_with("suppressed 199 similar alerts in the last 60 s"),
        "{}",
        a.output
    );
    assert_eq!(a.output_fields["suppressed.rule"], "Marker");
    assert_eq!(a.output_fields["suppressed.count"], 199);
    assert_eq!(a.output_fields["fd.name"], "/m");
    assert_eq!(a.tags, ["t", FLOOD]);
}

#[test]
fn reload_and_probe_alerts_say_what_and_where() {
    use crate::rules::{RuleSet, diag::RuleSource};
    let broken = RuleSet::load(&[RuleSource::new(
        "my.yaml",
        "- rule: Broken\n  desc: d\n  condition: evt.type = open and (\n  output: o\n  priority: WARNING\n",
    )])
    .unwrap_err();
    let a = rules_rejected("SIGHUP", &broken, "h");
    assert_eq!(a.rule, rule::RULES_REJECTED);
    assert_eq!(a.priority, Priority::Error);
    let at = a.output_fields["rules.error_location"].as_str().unwrap();
    assert!(at.starts_with("my.yaml:3:"), "{at}");
    assert!(
        a.output.contains(at) && a.output.contains("rules check"),
        "{}",
        a.output
    );

    let summary = ReloadSummary {
        added: vec!["A".into()],
        removed: vec![],
        changed: vec!["B".into(), "C".into()],
    };
    let r = rules_reloaded("SIGHUP", 5, &summary, "h");
    assert_eq!(r.priority, Priority::Informational);
    assert_eq!(r.output_fields["rules.added"], 1);
    assert_eq!(r.output_fields["rules.changed"], 2);
    assert_eq!(r.output_fields["rules.changed_names"][1], "C");

    let p = probes_unavailable(&["tracepoint syscalls:sys_enter_openat2".into()], "h");
    assert_eq!(p.priority, Priority::Notice);
    assert!(p.output.contains("sys_enter_openat2"), "{}", p.output);
    assert!(p.tags.contains(&HEALTH.to_string()));
}

#[test]
fn health_alerts_are_rate_limited_but_never_lost() {
    let t0 = Instant::now();
    let mut l = HealthLimiter::new(Duration::from_secs(10));
    let mk = |n: u32| {
        Alert::health(
            rule::EVENTS_LOST,
            Priority::Warning,
            format!("lost {n}"),
            BTreeMap::new(),
            "h",
        )
    };
    assert!(l.offer(mk(1), t0).is_some());
    assert!(l.offer(mk(2), t0 + Duration::from_secs(1)).is_none());
    assert!(l.offer(mk(3), t0 + Duration::from_secs(2)).is_none());
    // Another rule is not held back by this one.
    let other = Alert::health(
        rule::RULES_RELOADED,
        Priority::Informational,
        "r".into(),
        BTreeMap::new(),
        "h",
    );
    assert!(l.offer(other, t0).is_some());
    assert!(l.tick(t0 + Duration::from_secs(9)).is_empty());
    let out = l.tick(t0 + Duration::from_secs(10));
    assert_eq!(out.len(), 1);
    assert!(out[0].output.starts_with("lost 3"));
    assert_eq!(out[0].output_fields["monitor.coalesced"], 2);
    assert!(l.tick(t0 + Duration::from_secs(30)).is_empty());
    // At shutdown what is held goes out at once.
    assert!(l.offer(mk(4), t0 + Duration::from_secs(31)).is_some());
    assert!(l.offer(mk(5), t0 + Duration::from_secs(32)).is_none());
    let out = l.finish(t0 + Duration::from_secs(33));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].output_fields["monitor.coalesced"], 1);
}
