//! Alerts as the code builds them validate against `docs/alert.schema.json`,
//! the contract the sinks' readers rely on (the end-to-end tests check the
//! daemon's real alerts against it too).
use super::*;
use crate::{
    event::Event,
    priority::Priority,
    rules::{self, LoadOptions},
    sinks::{Losses, SinkKind},
};

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/alert.schema.json")).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(v: &jsonschema::Validator, alert: &Alert) {
    let json: serde_json::Value = serde_json::from_str(&alert.to_json_line()).unwrap();
    let errors: Vec<String> = v
        .iter_errors(&json)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{json}\n{errors:#?}");
}

/// The default rules, as the daemon loads them without a rules directory.
fn default_rules() -> rules::RuleSet {
    rules::load_configured(&LoadOptions {
        rules_dir: None,
        ..LoadOptions::default()
    })
    .unwrap()
    .0
}

/// A server's process reading an SSH key, which default rules alert on.
fn key_read() -> Event {
    Event {
        evt_type: "openat".into(),
        category: "file".into(),
        time_ns: 1_795_586_988_159_473_973,
        pid: 10,
        ppid: 9,
        name: "node".into(),
        exepath: "/usr/bin/node".into(),
        cmdline: "node server.js".into(),
        argv: vec!["node".into(), "server.js".into()].into(),
        pname: "npm exec".into(),
        anames: vec!["npm exec".into(), "claude".into()].into(),
        apids: vec![9, 1].into(),
        fd_name: Some("/root/.ssh/id_rsa".into()),
        fd_typechar: Some("f".into()),
        fd_num: Some(3),
        res: Some("SUCCESS".into()),
        rawres: Some(3),
        is_open_read: Some(true),
        is_open_write: Some(false),
        mcp_server: Some("fs".into()),
        mcp_host: Some("claude-code".into()),
        mcp_tag_source: Some("config".into()),
        mcp_root_pid: Some(9),
        mcp_roots: vec!["/srv".into()],
        ..Default::default()
    }
}

#[test]
fn rule_alerts_from_the_default_rules_match_the_schema() {
    let v = validator();
    let set = default_rules();
    let ev = key_read();
    let mut n = 0;
    set.evaluate(&ev, |m| {
        n += 1;
        assert_valid(&v, &Alert::new(&m, &ev, "host"));
    });
    assert!(n > 0, "an SSH key read raises an alert");
}

#[test]
fn health_alerts_match_the_schema() {
    let v = validator();
    let losses = Losses {
        by_sink: vec![(SinkKind::Webhook, 3, 1)],
    };
    assert_valid(
        &v,
        &Alert::health(
            "Alert delivery failed",
            Priority::Error,
            losses.text(),
            losses.fields(),
            "host",
        ),
    );
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("monitor.lost".to_owned(), 12.into());
    assert_valid(
        &v,
        &Alert::health(
            "Kernel events lost",
            Priority::Warning,
            "x".into(),
            fields,
            "host",
        ),
    );
}

#[test]
fn lifecycle_flood_and_reload_alerts_match_the_schema() {
    use std::time::Duration;

    use monitor_common::TagSource;

    use super::{
        health,
        suppress::{Notice, Summary},
    };
    use crate::procs::{
        lifecycle::{Happened, HostProcess, Note, RootProcess},
        servers::ServerInfo,
        table::ProcInfo,
    };

    let v = validator();
    let server = ServerInfo {
        id: 1,
        name: "fs".into(),
        host: Some("claude-code".into()),
        source: TagSource::Wrapper,
        root_pid: 42,
        roots: vec!["/srv".into()],
        destinations: vec![],
    };
    let host = HostProcess {
        pid: 9,
        name: "claude".into(),
        start_time: 1,
    };
    for what in [
        Happened::Started {
            host_process: Some(host.clone()),
            at_start: false,
        },
        Happened::Exited {
            status: Some(9),
            lifetime: Duration::from_secs(3),
            events: 12,
        },
        Happened::OutlivedHost {
            host_process: host,
            running: vec![42, 43],
        },
    ] {
        let note = Note {
            server: server.clone(),
            root: RootProcess {
                info: ProcInfo {
                    pid: 42,
                    ppid: 9,
                    comm: "node".into(),
                    argv: vec!["node".into(), "x.js".into()].into(),
                    ..Default::default()
                },
                ancestors: vec![(9, "claude".into())],
            },
            what,
        };
        let mut alert = health::from_note(&note, "host");
        assert_valid(&v, &alert);
        // Killed by prevent mode: the exit alert names the rule.
        health::killed_by(&mut alert, "Read of SSH key");
        assert_valid(&v, &alert);
        if alert.rule == health::rule::SERVER_EXITED {
            assert_eq!(alert.output_fields["mcp.killed_by"], "Read of SSH key");
            assert!(alert.output.ends_with("; killed by rule Read of SSH key"));
        } else {
            assert!(!alert.output_fields.contains_key("mcp.killed_by"));
        }
    }
    let storm = crate::enforce::actor::Storm {
        server: "fs".into(),
        rule: "Read of SSH key".into(),
        max: 10,
        window: Duration::from_secs(10),
    };
    let a = health::actions_rate_limited(&storm, "host");
    assert_valid(&v, &a);
    assert!(
        a.output.contains("more than 10 actions in 10 s"),
        "{}",
        a.output
    );
    // A summary keeps the process of the alert that went out.
    let rule_alert = Alert::health("r", Priority::Warning, "x".into(), Default::default(), "h");
    let process = Some(AlertProcess {
        pid: 42,
        ppid: 9,
        name: "node".into(),
        exepath: "/usr/bin/node".into(),
        cmdline: "node x.js".into(),
        uid: 0,
        ancestors: vec![],
    });
    for n in [
        Notice::Summary(Box::new(Summary {
            rule: "MCP server read SSH keys or configuration".into(),
            priority: Priority::Critical,
            tags: vec!["mcp".into()],
            mcp: rule_alert.mcp.clone(),
            process,
            fields: [("fd.name".to_string(), "/root/.ssh/id_rsa".into())].into(),
            count: 199,
            window: Duration::from_secs(60),
        })),
        Notice::ThrottleStart {
            server: "fs".into(),
            rate: 20.0,
            burst: 200,
        },
        Notice::ThrottleStop {
            server: "fs".into(),
            dropped: 5,
            lasted: Duration::from_secs(2),
        },
    ] {
        assert_valid(&v, &health::from_notice(&n, "host"));
    }
    let summary = rules::ruleset::ReloadSummary {
        added: vec!["a".into()],
        removed: vec![],
        changed: vec!["b".into()],
    };
    assert_valid(&v, &health::rules_reloaded("SIGHUP", 3, &summary, "host"));
    let broken =
        rules::RuleSet::load(&[rules::diag::RuleSource::new("x.yaml", "- rule: x\n")]).unwrap_err();
    assert_valid(&v, &health::rules_rejected("SIGHUP", &broken, "host"));
    assert_valid(
        &v,
        &health::probes_unavailable(&["raw tracepoint sys_enter".into()], "host"),
    );
}

#[test]
fn the_schema_rejects_what_is_not_an_alert() {
    let v = validator();
    let a = Alert::health("r", Priority::Warning, "x".into(), Default::default(), "h");
    let mut json: serde_json::Value = serde_json::from_str(&a.to_json_line()).unwrap();
    json["priority"] = "Loud".into();
    assert!(!v.is_valid(&json));
    let mut json: serde_json::Value = serde_json::from_str(
        &Alert::health("r", Priority::Warning, "x".into(), Default::default(), "h").to_json_line(),
    )
    .unwrap();
    json["tags"] = serde_json::json!(["test"]);
    assert!(!v.is_valid(&json), "a rule alert needs its process");
}

#[test]
fn the_schema_names_every_priority_in_order() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/alert.schema.json")).unwrap();
    let names: Vec<&str> = Priority::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(
        schema["properties"]["priority"]["enum"],
        serde_json::json!(names)
    );
}

#[test]
fn action_fields_match_the_schema() {
    let v = validator();
    let set = default_rules();
    let ev = key_read();
    let mut acted = 0;
    set.evaluate(&ev, |m| {
        let Some(action) = m.action else { return };
        acted += 1;
        let mut a = Alert::new(&m, &ev, "host");
        for (word, result, latency) in [
            (action.would(), None, None),
            (action.as_str(), Some("killed"), Some("kernel")),
            (
                action.as_str(),
                Some("skipped: server policy"),
                Some("user"),
            ),
            (
                action.as_str(),
                Some("failed: process already gone"),
                Some("user"),
            ),
        ] {
            a.action = Some(word.into());
            a.action_result = result.map(Into::into);
            a.action_latency = latency.map(Into::into);
            assert_valid(&v, &a);
            let json: serde_json::Value = serde_json::from_str(&a.to_json_line()).unwrap();
            assert_eq!(json["action"], word);
            assert_eq!(json["action.result"].as_str(), result);
        }
        a.action_result = Some("maybe".into());
        let json: serde_json::Value = serde_json::from_str(&a.to_json_line()).unwrap();
        assert!(!v.is_valid(&json));
    });
    assert!(acted > 0, "an SSH key read kills by default");
}
