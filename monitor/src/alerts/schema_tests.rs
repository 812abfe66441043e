//! Alerts as the code builds them validate against `docs/alert.schema.json`,
//! the contract the sinks' readers rely on (the end-to-end tests check the
//! daemon's real alerts against it too).
use super::*;
use crate::{
    event::Event,
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

#[test]
fn rule_alerts_from_the_default_rules_match_the_schema() {
    let v = validator();
    let (set, _) = rules::load_configured(&LoadOptions {
        rules_dir: None,
        ..LoadOptions::default()
    })
    .unwrap();
    let ev = Event {
        evt_type: "openat".into(),
        category: "file".into(),
        time_ns: 1_795_586_988_159_473_973,
        pid: 10,
        ppid: 9,
        name: "node".into(),
        exepath: "/usr/bin/node".into(),
        cmdline: "node server.js".into(),
        argv: vec!["node".into(), "server.js".into()],
        pname: "npm exec".into(),
        anames: vec!["npm exec".into(), "claude".into()],
        apids: vec![9, 1],
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
    };
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
            "Error",
            losses.text(),
            losses.fields(),
            "host",
        ),
    );
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("monitor.lost".to_owned(), 12.into());
    assert_valid(
        &v,
        &Alert::health("Kernel events lost", "Warning", "x".into(), fields, "host"),
    );
}

#[test]
fn the_schema_rejects_what_is_not_an_alert() {
    let v = validator();
    let mut a = Alert::health("r", "Warning", "x".into(), Default::default(), "h");
    a.priority = "Loud".into();
    let json: serde_json::Value = serde_json::from_str(&a.to_json_line()).unwrap();
    assert!(!v.is_valid(&json));
    let mut json: serde_json::Value = serde_json::from_str(
        &Alert::health("r", "Warning", "x".into(), Default::default(), "h").to_json_line(),
    )
    .unwrap();
    json["tags"] = serde_json::json!(["test"]);
    assert!(!v.is_valid(&json), "a rule alert needs its process");
}
