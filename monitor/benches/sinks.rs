//! What alert delivery costs: the event loop's share (building the JSON once
//! and handing it to every sink's queue), and what the alert log sustains with
//! batched and with per-alert fsync.
//!
//! `AYA_BUILD_SKIP=1 cargo bench -p monitor --bench sinks` (plain timed loops;
//! files go to the system temp dir).
use std::{
    collections::BTreeMap,
    hint::black_box,
    path::Path,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use mcp_monitor::{
    alerts::{Alert, AlertProcess, Ancestor},
    config::{ByteSize, HumanDuration, LogConfig, SinksConfig},
    priority::Priority,
    sinks::{Delivery, Sink, SinkKind, Sinks, log::LogSink},
};

/// An alert the size of a real one (~700 bytes of JSON).
fn alert(i: usize) -> Alert {
    let mut fields = BTreeMap::new();
    fields.insert("proc.name".into(), "node".into());
    fields.insert(
        "fd.name".into(),
        format!("/home/u/.ssh/id_ed25519.{i}").into(),
    );
    fields.insert("mcp.server".into(), "filesystem".into());
    let mut a = Alert::health(
        "MCP server read SSH keys or configuration",
        Priority::Critical,
        format!("node read /home/u/.ssh/id_ed25519.{i} (server=filesystem host=claude-code)"),
        fields,
        "build-host",
    );
    a.tags = vec![
        "mcp".into(),
        "secrets".into(),
        "T1552.004".into(),
        "slowmist.18".into(),
    ];
    a.mcp.server = Some("filesystem".into());
    a.process = Some(AlertProcess {
        pid: 4242,
        ppid: 4200,
        name: "node".into(),
        exepath: "/usr/bin/node".into(),
        cmdline:
            "node /home/u/.npm/_npx/1a2b/node_modules/.bin/mcp-server-filesystem /home/u/project"
                .into(),
        uid: 1000,
        ancestors: vec![
            Ancestor {
                pid: 4200,
                name: "npm exec".into(),
            },
            Ancestor {
                pid: 3000,
                name: "claude".into(),
            },
        ],
    });
    a
}

fn main() {
    let dir = std::env::temp_dir().join(format!("mcpmon-bench-sinks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let n = 200_000;
    let alerts: Vec<Alert> = (0..n).map(alert).collect();
    println!("alert JSON: {} bytes", alerts[0].to_json_line().len());

    // 1. The event loop's cost per alert: serialise once, try_send to each sink.
    let mut cfg = SinksConfig::default();
    cfg.stdout.enabled = false;
    cfg.log.path = dir.join("enqueue.jsonl");
    cfg.socket.path = dir.join("alerts.sock");
    let sinks = Sinks::start(&cfg).unwrap();
    let stats = sinks.stats();
    let start = Instant::now();
    for a in &alerts {
        sinks.send(black_box(&Delivery::new(a.clone())));
    }
    let per = start.elapsed() / n as u32;
    let overflow: u64 = [SinkKind::Log, SinkKind::Socket]
        .iter()
        .map(|k| stats.of(*k).overflow.load(Ordering::Relaxed))
        .sum();
    println!(
        "event loop, log + socket sinks: {per:?} per alert ({:.0} alerts/s), {overflow} of {} queue slots overflowed",
        1e9 / per.as_nanos() as f64,
        2 * n
    );
    sinks.shutdown(Duration::from_secs(10));

    // 2. The alert log on its own thread's terms: write + fsync policy.
    for (label, batch) in [("fsync every 100 alerts", 100), ("fsync every alert", 1)] {
        let path = dir.join(format!("log-{batch}.jsonl"));
        let mut log = LogSink::open(&LogConfig {
            path: path.clone(),
            max_size: ByteSize(64 << 20),
            keep: 2,
            fsync_interval: HumanDuration(Duration::from_secs(1)),
            fsync_batch: batch,
            ..LogConfig::default()
        })
        .unwrap();
        let count = if batch == 1 { 5_000 } else { n };
        let deliveries: Vec<Arc<Delivery>> =
            alerts[..count].iter().cloned().map(Delivery::new).collect();
        let start = Instant::now();
        for d in &deliveries {
            log.deliver(d).unwrap();
        }
        log.close();
        let took = start.elapsed();
        println!(
            "alert log, {label}: {:.0} alerts/s ({:?} per alert, {})",
            count as f64 / took.as_secs_f64(),
            took / count as u32,
            fs_of(&path)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The filesystem type under `p`, for the record.
fn fs_of(p: &Path) -> String {
    std::process::Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(p)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
