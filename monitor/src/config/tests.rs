use std::time::Duration;

use clap::Parser as _;

use super::*;

/// The `run` flags, as clap parses them.
#[derive(clap::Parser)]
struct Cmd {
    #[command(flatten)]
    flags: Flags,
}

fn flags(args: &[&str]) -> Flags {
    Cmd::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
        .unwrap()
        .flags
}

fn error(text: &str) -> (usize, usize, String) {
    match Config::parse("/etc/x/config.yaml", text).unwrap_err() {
        ConfigError::File(d) => {
            assert_eq!(&*d.location.file, "/etc/x/config.yaml");
            (d.location.line, d.location.col, d.message)
        }
        ConfigError::Other(m) => panic!("no location: {m}"),
    }
}

#[test]
fn an_empty_file_is_the_defaults() {
    assert_eq!(Config::parse("c", "").unwrap(), Config::default());
    assert_eq!(
        Config::parse("c", "# nothing\n").unwrap(),
        Config::default()
    );
    assert_eq!(Config::parse("c", "sinks:\n").unwrap(), Config::default());
    let d = Config::default();
    assert!(d.sinks.stdout.enabled && d.sinks.log.enabled && d.sinks.socket.enabled);
    assert!(d.sinks.webhook.url.is_none());
    assert_eq!(d.sinks.log.keep, 5);
    assert_eq!(
        d.sinks.summary(),
        "stdout (auto), log /var/log/mcp-monitor/alerts.jsonl, socket /run/mcp-monitor/alerts.sock"
    );
}

#[test]
fn every_section_parses() {
    let c = Config::parse(
        "c",
        r#"
rules:
  defaults: false
  dir: /srv/rules.d
  files: [/a.yaml, /b]
servers:
  patterns: ["uvx my-*"]
  default_patterns: false
  cgroups: [/system.slice/x.scope=x]
  homes: [/home/me]
  policy_dir: /srv/servers.d
kernel:
  ring_buffer_size: 16MiB
control:
  socket: /tmp/c.sock
sinks:
  queue_size: 64
  stdout: {enabled: false, format: json, events: true}
  log:
    path: /tmp/a.jsonl
    max_size: 1MiB
    keep: 2
    fsync_interval: 250ms
    fsync_batch: 10
  socket: {path: /tmp/a.sock, group: mcpmon}
  webhook:
    url: http://127.0.0.1:2801/alerts
    timeout: 2s
    retries: 5
    backoff: 100ms
    headers: {Authorization: Bearer x}
"#,
    )
    .unwrap();
    assert!(!c.rules.defaults);
    assert_eq!(c.rules.files.len(), 2);
    assert_eq!(c.servers.cgroups[0].0.name, "x");
    assert_eq!(c.kernel.ring_buffer_size, Some(ByteSize(16 << 20)));
    assert_eq!(c.sinks.stdout.format, AlertFormat::Json);
    assert_eq!(c.sinks.log.max_size, ByteSize(1 << 20));
    assert_eq!(c.sinks.log.fsync_interval.0, Duration::from_millis(250));
    assert_eq!(c.sinks.socket.group.as_deref(), Some("mcpmon"));
    let url = c.sinks.webhook.url.as_ref().unwrap();
    assert_eq!(
        (url.host.as_str(), url.port, url.path.as_str()),
        ("127.0.0.1", 2801, "/alerts")
    );
    assert_eq!(c.sinks.webhook.headers["Authorization"], "Bearer x");
}

#[test]
fn errors_name_file_line_column_and_what_was_expected() {
    let (line, col, msg) = error("sinks:\n  log:\n    max_sise: 1MiB\n");
    assert_eq!((line, col), (3, 5));
    assert!(msg.contains("unknown key `max_sise`"), "{msg}");
    assert!(msg.contains("`max_size`"), "the keys it could be: {msg}");

    let (line, col, msg) = error("colour: red\n");
    assert_eq!((line, col), (1, 1));
    assert!(msg.contains("`colour`") && msg.contains("`sinks`"), "{msg}");

    let (line, col, msg) = error("sinks:\n  log: {max_size: lots}\n");
    assert_eq!((line, col), (2, 19));
    assert!(msg.contains("is not a size"), "{msg}");

    let (line, col, msg) = error("sinks:\n  stdout:\n    format: xml\n");
    assert_eq!((line, col), (3, 13));
    assert!(
        msg.contains("unknown variant `xml`") && msg.contains("`json`"),
        "{msg}"
    );

    let (line, _, msg) = error("sinks:\n  webhook:\n    url: https://example.com/x\n");
    assert_eq!(line, 3);
    assert!(msg.contains("http://"), "{msg}");

    let (line, col, msg) = error("kernel:\n  ring_buffer_size: 5000\n");
    assert_eq!((line, col), (2, 21));
    assert!(msg.contains("power of two"), "{msg}");

    let (line, _, msg) = error("sinks: [\n");
    assert!(line >= 1 && !msg.is_empty());

    let (line, col, msg) = error("sinks:\n  queue_size: -3\n");
    assert_eq!((line, col), (2, 15));
    assert!(msg.contains("expected usize"), "{msg}");

    let (_, _, msg) = error("servers:\n  cgroups: [/]\n");
    assert!(msg.contains("root cgroup"), "{msg}");

    // The rendered form has the line and a caret under the column.
    let e = Config::parse("c.yaml", "sinks:\n  lg: {}\n").unwrap_err();
    let shown = e.render(false);
    assert!(
        shown.starts_with("c.yaml:2:3: error: unknown key `lg`"),
        "{shown}"
    );
    assert!(shown.contains("2 |   lg: {}\n  |   ^"), "{shown}");
}

#[test]
fn flags_win_over_the_file() {
    let dir = std::env::temp_dir().join(format!("mcpmon-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.yaml");
    std::fs::write(
        &file,
        "rules: {files: [/from-file.yaml]}\nsinks:\n  stdout: {format: text}\n  log: {path: /file.jsonl, keep: 9}\n  socket: {enabled: false}\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();

    let c = ConfigSource::new(flags(&["--config", f])).load().unwrap();
    assert_eq!(c.sinks.stdout.format, AlertFormat::Text);
    assert_eq!(c.sinks.log.path, Path::new("/file.jsonl"));
    assert!(!c.sinks.socket.enabled);

    let c = ConfigSource::new(flags(&[
        "--config",
        f,
        "-o",
        "json",
        "--alert-log",
        "/flag.jsonl",
        "--alert-socket",
        "/flag.sock",
        "--rules",
        "/flag.yaml",
        "--webhook",
        "http://localhost/x",
        "--webhook-header",
        "X-Token: abc",
        "--ring-buffer-size",
        "1MiB",
    ]))
    .load()
    .unwrap();
    assert_eq!(c.sinks.stdout.format, AlertFormat::Json);
    assert_eq!(c.sinks.log.path, Path::new("/flag.jsonl"));
    assert_eq!(
        c.sinks.log.keep, 9,
        "what no flag names stays from the file"
    );
    assert!(c.sinks.socket.enabled, "--alert-socket turns the socket on");
    assert_eq!(c.rules.files, [PathBuf::from("/flag.yaml")]);
    assert_eq!(c.sinks.webhook.url.as_ref().unwrap().port, 80);
    assert_eq!(c.sinks.webhook.headers["X-Token"], "abc");
    assert_eq!(c.kernel.ring_buffer_size, Some(ByteSize(1 << 20)));

    let c = ConfigSource::new(flags(&["--config", f, "--no-alert-log"]))
        .load()
        .unwrap();
    assert!(!c.sinks.log.enabled);

    // A value no file could hold is refused from a flag too, and says so.
    let e = ConfigSource::new(flags(&["--config", f, "--alert-log-max-size", "1k"]))
        .load()
        .unwrap_err();
    assert!(e.to_string().contains("sinks.log.max_size"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_file_is_fine_only_when_not_named() {
    let missing = std::env::temp_dir().join("mcpmon-no-such-config.yaml");
    let e = ConfigSource::new(flags(&["--config", missing.to_str().unwrap()]))
        .load()
        .unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("no such config file") && m.contains("--config"),
        "{m}"
    );
    assert_eq!(
        ConfigSource::new(flags(&[])).path(),
        Path::new(DEFAULT_PATH)
    );
}

#[test]
fn what_needs_a_restart() {
    let a = Config::default();
    let mut b = a.clone();
    b.sinks.log.keep = 1;
    b.rules.defaults = false;
    assert!(a.restart_needed(&b).is_empty());
    b.kernel.ring_buffer_size = Some(ByteSize(1 << 20));
    b.servers.patterns.push("x".into());
    assert_eq!(a.restart_needed(&b), ["kernel", "servers"]);
}

#[test]
fn suppression_and_metrics_sections() {
    let c = Config::parse(
        "c",
        r#"
suppression:
  window: 5m
  key_fields: [proc.exepath]
  health_interval: 30
  throttle: {rate: 2.5, burst: 10}
  rules:
    "Shell spawned by MCP server": {window: 10m, key_fields: [proc.cmdline]}
    "Marker": {enabled: false}
metrics:
  address: 127.0.0.1:9464
"#,
    )
    .unwrap();
    let s = &c.suppression;
    assert!(s.enabled);
    assert_eq!(s.window, HumanDuration(Duration::from_secs(300)));
    assert_eq!(s.health_interval, HumanDuration(Duration::from_secs(30)));
    assert_eq!((s.throttle.rate, s.throttle.burst), (2.5, 10));
    let shell = &s.rules["Shell spawned by MCP server"];
    assert_eq!(shell.window, Some(HumanDuration(Duration::from_secs(600))));
    assert_eq!(
        shell.key_fields.as_deref(),
        Some(&["proc.cmdline".to_string()][..])
    );
    assert_eq!(s.rules["Marker"].enabled, Some(false));
    assert_eq!(c.metrics.address, Some("127.0.0.1:9464".parse().unwrap()));

    // Mistakes are located, with what to do.
    let (line, _, msg) = error("suppression:\n  throttle: {burst: 0}\n");
    assert_eq!(line, 2, "{msg}");
    assert!(msg.contains("burst") && msg.contains("at least 1"), "{msg}");
    let (line, _, msg) = error("suppression:\n  key_fields: [fd.nme]\n");
    assert_eq!(line, 2, "{msg}");
    assert!(
        msg.contains("fd.nme") && msg.contains("rules fields"),
        "{msg}"
    );
    let (line, _, msg) = error("suppression:\n  windw: 5s\n");
    assert_eq!(line, 2);
    assert!(msg.contains("windw"), "{msg}");
    let (line, _, msg) = error("metrics:\n  address: 0.0.0.0:9464\n");
    assert_eq!(line, 2);
    assert!(msg.contains("only loopback addresses"), "{msg}");

    // Flags win; metrics need a restart, suppression does not.
    let mut c = Config::default();
    flags(&[
        "--no-suppression",
        "--suppression-window",
        "90s",
        "--server-alert-rate",
        "0",
        "--server-alert-burst",
        "7",
        "--metrics-address",
        "[::1]:9000",
        "--suppression-key-field",
        "proc.exepath",
        "--suppression-key-field",
        "fd.name",
        "--health-alert-interval",
        "1m",
        "--no-lifecycle-alerts",
        "--host-grace",
        "2s",
    ])
    .apply(&mut c);
    assert_eq!(c.suppression.key_fields, ["proc.exepath", "fd.name"]);
    assert_eq!(
        c.suppression.health_interval,
        HumanDuration(Duration::from_secs(60))
    );
    assert!(!c.lifecycle.started_exited && c.lifecycle.outlived_host);
    assert_eq!(
        c.lifecycle.host_grace,
        HumanDuration(Duration::from_secs(2))
    );
    assert!(!c.suppression.enabled);
    assert_eq!(c.suppression.window, HumanDuration(Duration::from_secs(90)));
    assert!(
        !c.suppression.throttle.enabled,
        "rate 0 turns the throttle off"
    );
    assert_eq!(c.suppression.throttle.burst, 7);
    assert_eq!(c.metrics.address, Some("[::1]:9000".parse().unwrap()));
    let mut other = c.clone();
    other.suppression.window = HumanDuration(Duration::from_secs(1));
    assert!(c.restart_needed(&other).is_empty());
    other.metrics.address = None;
    assert_eq!(c.restart_needed(&other), ["metrics"]);
}

#[test]
fn enforcement_is_off_unless_asked_for() {
    let d = Config::parse("c", "").unwrap();
    assert!(!d.enforcement.enabled);
    assert_eq!(d.enforcement.max_actions, 10);
    assert_eq!(d.enforcement.window.0, Duration::from_secs(10));
    let mut c = Config::parse(
        "c",
        "enforcement:\n  enabled: false\n  max_actions: 3\n  window: 30s\n",
    )
    .unwrap();
    assert_eq!(c.enforcement.max_actions, 3);
    flags(&[
        "--enforce",
        "--enforce-max-actions",
        "5",
        "--enforce-window",
        "1m",
    ])
    .apply(&mut c);
    assert!(c.enforcement.enabled);
    assert_eq!(c.enforcement.max_actions, 5);
    assert_eq!(c.enforcement.window.0, Duration::from_secs(60));
    let (line, _, msg) = error("enforcement:\n  max_actions: 0\n");
    assert_eq!(line, 2);
    assert!(msg.contains("must be more than 0"), "{msg}");
    let (_, _, msg) = error("enforcement:\n  enable: true\n");
    assert!(msg.contains("unknown key `enable`"), "{msg}");
}
