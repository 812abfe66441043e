//! The sink set: a blocked sink loses alerts (counted and reported), the
//! others get every one.
use std::{
    io::Write,
    net::TcpListener,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::{stdout::StdoutSink, webhook::WebhookSink, *};
use crate::{
    alerts::{Alert, sink::AlertSink},
    config::{AlertFormat, HumanDuration, SinksConfig, WebhookConfig},
    priority::Priority,
};

/// A writer the test can read back.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Polls `cond` for up to 30 s (a generous bound, not a timing assertion).
pub fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn a_blocked_webhook_loses_alerts_counted_and_reported_while_stdout_gets_all() {
    // A webhook that accepts connections (the kernel's backlog does) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", silent.local_addr().unwrap())
        .parse()
        .unwrap();
    let webhook = WebhookConfig {
        url: Some(url),
        timeout: HumanDuration(Duration::from_secs(2)),
        retries: 0,
        ..WebhookConfig::default()
    };
    let out = SharedBuf::default();
    let writer = out.clone();
    let queue = 4;
    let sinks = Sinks::from_parts(vec![
        (
            SinkKind::Stdout,
            1024,
            Box::new(move |_| {
                Ok(Box::new(StdoutSink::to_writer(
                    AlertFormat::Json,
                    false,
                    Box::new(writer),
                )) as Box<dyn Sink>)
            }),
        ),
        (
            SinkKind::Webhook,
            queue,
            Box::new(move |ctx: SinkContext| {
                Ok(Box::new(WebhookSink::new(&webhook, ctx.stopping)?) as Box<dyn Sink>)
            }),
        ),
    ])
    .unwrap();
    // Health alerts of one rule are rate-limited by the gate; not here, where
    // they only stand for a stream of alerts.
    let unlimited = crate::alerts::suppress::SuppressionConfig {
        health_interval: crate::units::HumanDuration(Duration::ZERO),
        ..Default::default()
    };
    let gate = crate::alerts::gate::Gate::new(unlimited, &Default::default()).0;
    let mut alerts = AlertSink::with_sinks(sinks, Default::default(), gate);
    let stats = alerts.stats();

    let n = 50;
    for i in 0..n {
        alerts.raise_health(crate::alerts::Alert::health(
            "Test alert",
            Priority::Warning,
            format!("alert {i}"),
            Default::default(),
            "h",
        ));
    }
    assert!(
        wait_until(|| out.lines().len() == n),
        "stdout got {} of {n} alerts",
        out.lines().len()
    );
    let webhook_stats = stats.of(SinkKind::Webhook);
    let overflow = webhook_stats.overflow.load(Ordering::Relaxed);
    // The queue holds `queue` alerts and the sink's thread at most one more.
    assert!(
        (n - queue - 1..=n - queue).contains(&(overflow as usize)),
        "overflow {overflow}"
    );
    assert_eq!(
        stats.of(SinkKind::Stdout).overflow.load(Ordering::Relaxed),
        0
    );
    assert_eq!(
        stats.of(SinkKind::Stdout).delivered.load(Ordering::Relaxed),
        n as u64
    );

    // The next tick reports the loss through the sinks that did not lose it.
    alerts.tick();
    assert!(wait_until(|| out.lines().len() == n + 1));
    let report: Alert = serde_json::from_str(&out.lines()[n]).unwrap();
    assert_eq!(report.rule, "Alert delivery failed");
    assert_eq!(report.priority, Priority::Error);
    assert!(report.output.contains("webhook"), "{}", report.output);
    assert_eq!(
        report.output_fields["monitor.sink.webhook.overflow"],
        serde_json::json!(overflow)
    );
    assert_eq!(
        webhook_stats.overflow.load(Ordering::Relaxed),
        overflow,
        "the report was not queued to the sink it is about"
    );

    // Rate-limited: more losses right away are not reported again yet.
    alerts.raise_health(crate::alerts::Alert::health(
        "Test alert",
        Priority::Warning,
        "more".into(),
        Default::default(),
        "h",
    ));
    alerts.tick();
    assert!(wait_until(|| out.lines().len() == n + 2));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        out.lines().len(),
        n + 2,
        "no second report within the interval"
    );

    // Shutdown waits a bounded time and says which sink did not finish.
    let started = Instant::now();
    let late = alerts.shutdown(Duration::from_millis(300));
    assert_eq!(late, [SinkKind::Webhook]);
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(silent);
}

#[test]
fn losses_are_counted_per_sink() {
    let stats = SinkStats::default();
    stats
        .of(SinkKind::Log)
        .failed
        .fetch_add(2, Ordering::Relaxed);
    let snap = stats.snapshot();
    assert_eq!(snap[1], ("log", 0, 0, 2));
    let l = Losses {
        by_sink: vec![(SinkKind::Log, 0, 2), (SinkKind::Webhook, 3, 0)],
    };
    assert_eq!(
        l.text(),
        "log: 2 failed; webhook: 3 dropped on a full queue"
    );
}

/// Sinks with only the alert log, at `path`.
fn log_only(path: PathBuf) -> SinksConfig {
    let mut cfg = SinksConfig::default();
    cfg.stdout.enabled = false;
    cfg.socket.enabled = false;
    cfg.log.path = path;
    cfg
}

#[test]
fn a_sink_whose_old_settings_fail_too_is_said_to_be_stopped() {
    let dir = std::env::temp_dir().join(format!("mcpmon-rollback-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = log_only(dir.join("logs/a.jsonl"));
    let mut sinks = Sinks::start(&cfg).unwrap();
    assert_eq!(sinks.kinds(), [SinkKind::Log]);
    // The old log's directory becomes a file: restarting on it fails too.
    std::fs::remove_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("logs"), "not a directory").unwrap();
    let mut broken = cfg.clone();
    broken.log.path = PathBuf::from("/proc/mcpmon/alerts.jsonl");
    let e = sinks.reconfigure(&cfg, &broken).unwrap_err();
    let text = format!("{e:#}");
    assert!(text.contains("the log sink is stopped"), "{text}");
    assert!(sinks.kinds().is_empty(), "{:?}", sinks.kinds());
    assert!(sinks.shutdown(Duration::from_secs(5)).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reconfigure_restarts_what_changed_and_keeps_what_cannot_start() {
    let dir = std::env::temp_dir().join(format!("mcpmon-reconf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = log_only(dir.join("a.jsonl"));
    let mut sinks = Sinks::start(&cfg).unwrap();
    assert_eq!(sinks.kinds(), [SinkKind::Log]);
    let stats = sinks.stats();
    let delivered = || stats.of(SinkKind::Log).delivered.load(Ordering::Relaxed);
    let alert = || {
        Delivery::new(Alert::health(
            "T",
            Priority::Notice,
            "x".into(),
            Default::default(),
            "h",
        ))
    };

    sinks.send(&alert());
    assert!(wait_until(|| delivered() == 1));
    let mut moved = cfg.clone();
    moved.log.path = dir.join("b.jsonl");
    sinks.reconfigure(&cfg, &moved).unwrap();
    sinks.send(&alert());
    assert!(wait_until(|| delivered() == 2));

    let mut broken = moved.clone();
    broken.log.path = PathBuf::from("/proc/mcpmon/alerts.jsonl");
    let e = sinks.reconfigure(&moved, &broken).unwrap_err();
    assert!(
        format!("{e:#}").contains("keeps its previous settings"),
        "{e:#}"
    );
    sinks.send(&alert());
    assert!(wait_until(|| delivered() == 3));
    assert!(sinks.shutdown(Duration::from_secs(5)).is_empty());

    let lines = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!((lines("a.jsonl"), lines("b.jsonl")), (1, 2));
    let _ = std::fs::remove_dir_all(&dir);
}
