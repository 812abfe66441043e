//! The alert socket, for real: a socket in a temp dir, clients in this process.
use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    os::unix::{fs::PermissionsExt as _, net::UnixStream},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use super::*;
use crate::{
    config::{LogConfig, SinksConfig, SocketConfig},
    priority::Priority,
    sinks::{SinkKind, Sinks, log::LogSink, tests::wait_until},
};

struct Fixture {
    dir: PathBuf,
    cfg: SinksConfig,
    sinks: Sinks,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A socket sink, and a log sink too when `with_log`.
fn fixture(tag: &str, with_log: bool) -> Fixture {
    let dir = std::env::temp_dir().join(format!("mcpmon-sock-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = SinksConfig {
        queue_size: 4096,
        log: LogConfig {
            enabled: with_log,
            path: dir.join("alerts.jsonl"),
            ..LogConfig::default()
        },
        socket: SocketConfig {
            enabled: true,
            path: dir.join("alerts.sock"),
            group: None,
        },
        ..SinksConfig::default()
    };
    let mut parts: Vec<(SinkKind, usize, crate::sinks::MakeSink)> = Vec::new();
    if with_log {
        let c = cfg.log.clone();
        parts.push((
            SinkKind::Log,
            cfg.queue_size,
            Box::new(move |_| Ok(Box::new(LogSink::open(&c)?) as Box<dyn Sink>)),
        ));
    }
    let c = cfg.clone();
    parts.push((
        SinkKind::Socket,
        cfg.queue_size,
        Box::new(move |ctx| Ok(Box::new(SocketSink::bind(&c, ctx)?) as Box<dyn Sink>)),
    ));
    let sinks = Sinks::from_parts(parts).unwrap();
    Fixture { dir, cfg, sinks }
}

fn alert(rule: &str, n: usize, pad: usize) -> Arc<Delivery> {
    let mut a = Alert::health(
        rule,
        Priority::Warning,
        format!("#{n} {}", "x".repeat(pad)),
        Default::default(),
        "h",
    );
    a.mcp.server = Some(if n.is_multiple_of(2) { "even" } else { "odd" }.into());
    Delivery::new(a)
}

impl Fixture {
    fn send(&self, d: &Arc<Delivery>) {
        self.sinks.send(d);
    }

    /// Waits until every sink has handed on `n` alerts.
    fn settle(&self, n: u64) {
        let stats = self.sinks.stats();
        assert!(wait_until(|| {
            self.sinks
                .kinds()
                .iter()
                .all(|k| stats.of(*k).delivered.load(Ordering::Relaxed) >= n)
        }));
    }

    fn connect(&self, request: &str) -> BufReader<UnixStream> {
        let mut s = UnixStream::connect(&self.cfg.socket.path).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        s.write_all(b"\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        BufReader::new(s)
    }
}

fn read_line(r: &mut BufReader<UnixStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l.trim_end().to_owned()
}

fn outputs(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| serde_json::from_str::<Alert>(l).unwrap().output)
        .collect()
}

#[test]
fn who_may_read() {
    let a = Access {
        daemon_uid: 0,
        group: Some(("mcpmon".into(), 1234)),
    };
    assert!(a.allows(0, &[0]));
    assert!(a.allows(1000, &[1000, 1234]));
    assert!(!a.allows(1000, &[1000, 27]));
    assert!(a.refusal(1000).contains("join the group \"mcpmon\""));
    let b = Access {
        daemon_uid: 998,
        group: None,
    };
    assert!(b.allows(998, &[]));
    assert!(!b.allows(1000, &[998]), "the daemon's group is not enough");
    assert!(b.refusal(1000).contains("sinks.socket.group"));
}

#[test]
fn socket_is_0660_and_a_second_daemon_is_refused() {
    let mut f = fixture("mode", false);
    let mode = std::fs::metadata(&f.cfg.socket.path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660);
    let e = Sinks::start(&SinksConfig {
        stdout: crate::config::StdoutConfig {
            enabled: false,
            ..Default::default()
        },
        log: LogConfig {
            enabled: false,
            ..LogConfig::default()
        },
        ..f.cfg.clone()
    })
    .err()
    .unwrap();
    assert!(
        format!("{e:#}").contains("another mcp-monitor serves alerts"),
        "{e:#}"
    );
    // Stopping removes the socket.
    let sinks = std::mem::replace(&mut f.sinks, Sinks::from_parts(Vec::new()).unwrap());
    assert!(sinks.shutdown(Duration::from_secs(5)).is_empty());
    assert!(!f.cfg.socket.path.exists());
}

#[test]
fn replay_joins_the_live_stream_without_gaps_or_repeats() {
    let f = fixture("replay", true);
    for i in 0..5 {
        f.send(&alert("r", i, 0));
    }
    f.settle(5);
    let mut c = f.connect(r#"{"last":3}"#);
    let replayed: Vec<String> = (0..3).map(|_| read_line(&mut c)).collect();
    assert_eq!(outputs(&replayed), ["#2 ", "#3 ", "#4 "]);
    f.send(&alert("r", 5, 0));
    assert_eq!(outputs(&[read_line(&mut c)]), ["#5 "]);

    // Filters apply to the replay and the live stream; no_follow ends after the replay.
    let mut c = f.connect(r#"{"last":10,"no_follow":true,"filter":{"server":"odd"}}"#);
    let mut lines = Vec::new();
    loop {
        let l = read_line(&mut c);
        if l.is_empty() {
            break;
        }
        lines.push(l);
    }
    assert_eq!(outputs(&lines), ["#1 ", "#3 ", "#5 "]);

    // `since` replays by time.
    let all: Vec<String> = std::fs::read_to_string(&f.cfg.log.path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let t4 = serde_json::from_str::<Alert>(&all[4]).unwrap().time;
    let mut c = f.connect(&format!(r#"{{"since":"{t4}","no_follow":true}}"#));
    assert_eq!(
        outputs(&[read_line(&mut c), read_line(&mut c)]),
        ["#4 ", "#5 "]
    );
    assert_eq!(read_line(&mut c), "");
}

#[test]
fn replay_reaches_back_into_the_log_beyond_memory() {
    let f = fixture("deep", true);
    let n = HISTORY + 10;
    for i in 0..n {
        f.send(&alert("r", i, 0));
    }
    f.settle(n as u64);
    let mut c = f.connect(&format!(r#"{{"last":{n},"no_follow":true}}"#));
    let got: Vec<String> = (0..n).map(|_| read_line(&mut c)).collect();
    let outs = outputs(&got);
    assert_eq!(outs[0], "#0 ");
    assert_eq!(outs[n - 1], format!("#{} ", n - 1));
    assert_eq!(read_line(&mut c), "", "nothing twice");
}

#[test]
fn a_slow_client_is_dropped_and_the_others_keep_up() {
    let f = fixture("slow", false);
    // Both clients read their one-alert replay, so both are being served.
    f.send(&alert("warm-up", 0, 0));
    f.settle(1);
    let mut sleeper = f.connect(r#"{"last":1}"#);
    let mut reader = f.connect(r#"{"last":1}"#);
    assert_eq!(outputs(&[read_line(&mut sleeper)]), ["#0 "]);
    assert_eq!(outputs(&[read_line(&mut reader)]), ["#0 "]);
    // From here on the sleeper never reads. Alerts come in bursts the
    // reader keeps up with (50 × 8 KiB, well under the 1 MiB it may fall
    // behind); the sleeper falls further behind with each burst.
    let (bursts, burst) = (8, 50);
    let mut got = 0;
    for b in 0..bursts {
        for i in 0..burst {
            f.send(&alert("r", b * burst + i, 8192));
        }
        for _ in 0..burst {
            let line = read_line(&mut reader);
            assert!(
                !line.is_empty(),
                "the reader was dropped after {got} alerts"
            );
            got += 1;
        }
    }
    assert_eq!(got, bursts * burst, "the reading client got every alert");
    let failed = f
        .sinks
        .stats()
        .of(SinkKind::Socket)
        .failed
        .load(Ordering::Relaxed);
    assert_eq!(failed, 1, "the sleeping client was dropped once");
}

#[test]
fn a_bad_request_gets_a_reason() {
    let f = fixture("bad", false);
    let mut c = f.connect("{\"lines\": 3}");
    let r: Refusal = serde_json::from_str(&read_line(&mut c)).unwrap();
    assert!(
        r.error.contains("bad request") && r.error.contains("unknown field"),
        "{}",
        r.error
    );
    let mut c = f.connect(r#"{"since":"yesterday"}"#);
    let r: Refusal = serde_json::from_str(&read_line(&mut c)).unwrap();
    assert!(r.error.contains("RFC 3339"), "{}", r.error);
    let mut c = f.connect(r#"{"filter":{"min_priority":"loud"}}"#);
    let r: Refusal = serde_json::from_str(&read_line(&mut c)).unwrap();
    assert!(r.error.contains("not a priority"), "{}", r.error);
}

/// Bigger than a Unix socket's buffer (wmem_default, 208 KiB), so the socket
/// takes part of such a line and no more while nobody reads.
const HUGE: usize = 400 << 10;

#[test]
fn a_dropped_client_gets_whole_lines_then_why() {
    let f = fixture("dropped", false);
    f.send(&alert("warm-up", 0, 0));
    f.settle(1);
    let mut sleeper = f.connect(r#"{"last":1}"#);
    assert_eq!(outputs(&[read_line(&mut sleeper)]), ["#0 "]);
    // The sleeper reads nothing more until it has been dropped: the socket
    // holds part of alert #1, and the sink the rest and what follows, until
    // that is more than it keeps for a client.
    for i in 1..=3 {
        f.send(&alert("r", i, HUGE));
    }
    f.settle(3);
    f.send(&alert("r", 4, HUGE));
    let counters = f.sinks.stats();
    let failed = &counters.of(SinkKind::Socket).failed;
    assert!(wait_until(|| failed.load(Ordering::Relaxed) == 1));
    let mut rest = Vec::new();
    sleeper.read_to_end(&mut rest).unwrap();
    assert_eq!(
        rest.last(),
        Some(&b'\n'),
        "the stream ends with a whole line"
    );
    let text = String::from_utf8(rest).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (notice, alerts) = lines.split_last().unwrap();
    let outs = outputs(&alerts.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>());
    assert!(outs[0].starts_with("#1 "), "alert #1, finished");
    let d: Dropped = serde_json::from_str(notice).unwrap();
    assert!(
        d.dropped.starts_with("too slow: ") && d.dropped.ends_with(" bytes of alerts unread"),
        "{notice}"
    );
}

/// A client whose socket took part of a line and no more, and its reader.
fn client_stuck_mid_line() -> (Client, UnixStream) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let mut c = Client::new(ours, AlertFilter::default(), false, "test".into());
    let line = |n: usize| format!("{{\"n\":\"{}\"}}", "x".repeat(n));
    assert!(c.push(&line(HUGE)));
    assert!(c.flush());
    assert!(c.mid_line, "the socket took all of {HUGE} bytes");
    while c.push(&line(1000)) {}
    (c, theirs)
}

#[test]
fn a_dropped_client_gets_the_rest_of_its_line() {
    let (mut c, theirs) = client_stuck_mid_line();
    c.drop_with("too slow: test".into());
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        BufReader::new(theirs).read_to_string(&mut all).unwrap();
        all
    });
    assert!(wait_until(|| !c.flush()), "the ending was not taken");
    drop(c);
    let all = reader.join().unwrap();
    assert!(all.ends_with('\n'));
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 2, "the line in progress, then the notice");
    assert!(serde_json::from_str::<serde_json::Value>(lines[0]).is_ok());
    let d: Dropped = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(d.dropped, "too slow: test");
}

#[test]
fn a_dropped_client_that_reads_nothing_is_closed_after_the_grace() {
    let (mut c, _theirs) = client_stuck_mid_line();
    c.drop_with("too slow: test".into());
    assert!(c.flush() && !c.grace_over(), "still waiting for it");
    c.dropped_at = Some(Instant::now() - DROP_GRACE);
    assert!(c.grace_over());
}
