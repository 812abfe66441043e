//! The `run` flags that mirror the config file, and how they override it.
//!
//! A flag that is given wins over the file; a list flag replaces the file's list.
use std::path::PathBuf;

use super::{AlertFormat, ByteSize, CgroupSpec, Config, HumanDuration};
use crate::sinks::config::HttpUrl;

#[derive(Clone, Debug, Default, clap::Args)]
pub struct Flags {
    /// Configuration file [default: /etc/mcp-monitor/config.yaml, which may be
    /// missing; a file named here must exist].
    #[arg(long, value_name = "PATH", env = "MCP_MONITOR_CONFIG")]
    pub config: Option<PathBuf>,

    /// Also load rules from this file or directory (repeatable; after the
    /// defaults and the rules dir, overrides applied in order) [rules.files].
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Do not load the embedded default rules [rules.defaults: false].
    #[arg(long)]
    pub no_default_rules: bool,
    /// Directory of the user's rule files [rules.dir, default /etc/mcp-monitor/rules.d].
    #[arg(long, value_name = "DIR")]
    pub rules_dir: Option<PathBuf>,

    /// Follow every process in a cgroup (a container, a systemd unit) as an MCP
    /// server: PATH[=NAME], PATH as in /proc/PID/cgroup or under /sys/fs/cgroup
    /// [servers.cgroups].
    #[arg(long = "cgroup", value_name = "PATH[=NAME]")]
    pub cgroups: Vec<CgroupSpec>,
    /// Also treat commands matching this pattern as MCP servers (space-separated
    /// globs over the program and its arguments, e.g. "my-server" or "uvx my-*")
    /// [servers.patterns].
    #[arg(long = "pattern", value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Do not use the built-in MCP launch patterns [servers.default_patterns: false].
    #[arg(long)]
    pub no_default_patterns: bool,
    /// Directory of per-server policy files (NAME.yaml: roots, destinations)
    /// [servers.policy_dir, default /etc/mcp-monitor/servers.d].
    #[arg(long, value_name = "DIR")]
    pub servers_dir: Option<PathBuf>,
    /// Directory of what the monitor keeps across runs: the tools each MCP
    /// server offered, to notice when they change [servers.state_dir, default
    /// /var/lib/mcp-monitor].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Read AI-host MCP configs from this home only (repeatable; default: /root
    /// and /home/*). Their servers are tagged by name and host when they start
    /// [servers.homes].
    #[arg(long = "home", value_name = "DIR")]
    pub homes: Vec<PathBuf>,

    /// Size of the kernel ring buffer: a power of two, at least 4KiB (default
    /// 8MiB). Larger absorbs longer bursts [kernel.ring_buffer_size].
    #[arg(long, value_name = "BYTES")]
    pub ring_buffer_size: Option<ByteSize>,

    /// BPF filesystem directory where the tags, the ring buffer and the
    /// attached programs are pinned, so that a restart (or a crash) loses
    /// nothing [kernel.pin_dir, default /sys/fs/bpf/mcp-monitor].
    #[arg(long, value_name = "DIR")]
    pub pin_dir: Option<PathBuf>,

    /// Pin nothing: the programs detach when the daemon exits, and a restart
    /// starts from nothing [kernel.pin: false].
    #[arg(long)]
    pub no_pin: bool,

    /// At a clean exit (SIGTERM, SIGINT), detach the programs and remove the
    /// pinned state, as `mcp-monitor unload` does; a crash still leaves it
    /// for the next start [kernel.unload_on_exit].
    #[arg(long)]
    pub unload_on_exit: bool,

    /// Control socket the launch wrapper talks to [control.socket, default
    /// /run/mcp-monitor/control.sock].
    #[arg(long, value_name = "PATH", env = crate::control::SOCKET_ENV)]
    pub control_socket: Option<PathBuf>,

    /// Alerts each sink may have waiting before new ones are dropped for it
    /// [sinks.queue_size, default 1024].
    #[arg(long, value_name = "N")]
    pub sink_queue_size: Option<usize>,
    /// Alert format on stdout: text (one line each, coloured on a terminal) or
    /// json (one object per line); auto is text on a terminal, json otherwise
    /// [sinks.stdout.format].
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<AlertFormat>,
    /// Do not write alerts to stdout [sinks.stdout.enabled: false].
    #[arg(long)]
    pub no_stdout: bool,
    /// Print every event of MCP server process trees as JSON lines on stdout
    /// [sinks.stdout.events].
    #[arg(long)]
    pub events: bool,

    /// Write alerts as JSON lines to this file [sinks.log.path, default
    /// /var/log/mcp-monitor/alerts.jsonl].
    #[arg(long, value_name = "PATH")]
    pub alert_log: Option<PathBuf>,
    /// Do not write the alert log [sinks.log.enabled: false].
    #[arg(long, conflicts_with = "alert_log")]
    pub no_alert_log: bool,
    /// Rotate the alert log when it would grow past this [sinks.log.max_size, default 64MiB].
    #[arg(long, value_name = "BYTES")]
    pub alert_log_max_size: Option<ByteSize>,
    /// Rotated alert logs kept [sinks.log.keep, default 5].
    #[arg(long, value_name = "N")]
    pub alert_log_keep: Option<u32>,
    /// Longest time an alert waits in the log before fsync [sinks.log.fsync_interval, default 1s].
    #[arg(long, value_name = "DURATION")]
    pub alert_log_fsync_interval: Option<HumanDuration>,
    /// Most alerts written to the log between two fsyncs [sinks.log.fsync_batch, default 100].
    #[arg(long, value_name = "N")]
    pub alert_log_fsync_batch: Option<u32>,

    /// Serve live alerts to `mcp-monitor tail` on this socket [sinks.socket.path,
    /// default /run/mcp-monitor/alerts.sock].
    #[arg(long, value_name = "PATH")]
    pub alert_socket: Option<PathBuf>,
    /// Do not serve the alert socket [sinks.socket.enabled: false].
    #[arg(long, conflicts_with = "alert_socket")]
    pub no_alert_socket: bool,
    /// Members of this group may read the alert socket [sinks.socket.group].
    #[arg(long, value_name = "GROUP")]
    pub alert_socket_group: Option<String>,

    /// POST each alert to this http:// URL [sinks.webhook.url].
    #[arg(long, value_name = "URL")]
    pub webhook: Option<HttpUrl>,
    /// Timeout of each webhook request [sinks.webhook.timeout, default 5s].
    #[arg(long, value_name = "DURATION")]
    pub webhook_timeout: Option<HumanDuration>,
    /// Webhook attempts after the first [sinks.webhook.retries, default 3].
    #[arg(long, value_name = "N")]
    pub webhook_retries: Option<u32>,
    /// Wait before the first webhook retry, doubled each time [sinks.webhook.backoff, default 500ms].
    #[arg(long, value_name = "DURATION")]
    pub webhook_backoff: Option<HumanDuration>,
    /// Extra webhook request header, "Name: value" (repeatable) [sinks.webhook.headers].
    #[arg(long = "webhook-header", value_name = "NAME: VALUE", value_parser = parse_header)]
    pub webhook_headers: Vec<(String, String)>,

    /// Send every alert: no suppression of repeats (the per-server throttle
    /// still applies) [suppression.enabled: false].
    #[arg(long)]
    pub no_suppression: bool,
    /// How long repeats of an alert (same rule, server and key fields) are
    /// counted instead of sent [suppression.window, default 60s].
    #[arg(long, value_name = "DURATION")]
    pub suppression_window: Option<HumanDuration>,
    /// Alerts per second one MCP server may raise in the long run before its
    /// alerts are dropped and counted; 0 turns the throttle off
    /// [suppression.throttle.rate, default 20].
    #[arg(long, value_name = "RATE")]
    pub server_alert_rate: Option<f64>,
    /// Alerts one MCP server may raise at once before the rate applies
    /// [suppression.throttle.burst, default 200].
    #[arg(long, value_name = "N")]
    pub server_alert_burst: Option<u32>,
    /// A field that tells two alerts of a rule apart, for every rule without
    /// its own (repeatable) [suppression.key_fields, default: the fields the
    /// rule's output names].
    #[arg(long = "suppression-key-field", value_name = "FIELD")]
    pub suppression_key_fields: Vec<String>,
    /// The same health alert goes out at most this often; the rest are folded
    /// into the next [suppression.health_interval, default 10s].
    #[arg(long, value_name = "DURATION")]
    pub health_alert_interval: Option<HumanDuration>,

    /// No `MCP server started` and `MCP server exited` alerts
    /// [lifecycle.started_exited: false].
    #[arg(long)]
    pub no_lifecycle_alerts: bool,
    /// No `MCP server outlived its host` alerts [lifecycle.outlived_host: false].
    #[arg(long)]
    pub no_outlived_host_alert: bool,
    /// How long a server may run on after its host ended before it counts as
    /// having outlived it [lifecycle.host_grace, default 5s].
    #[arg(long, value_name = "DURATION")]
    pub host_grace: Option<HumanDuration>,

    /// Prevent mode: rules' actions act (kill, kill-server, deny); without it
    /// alerts only say what would have been done [enforcement.enabled].
    #[arg(long)]
    pub enforce: bool,
    /// Actions one MCP server may cause per window before the rest are
    /// skipped and the storm is reported [enforcement.max_actions, default 10].
    #[arg(long, value_name = "N")]
    pub enforce_max_actions: Option<u32>,
    /// The window of --enforce-max-actions [enforcement.window, default 10s].
    #[arg(long, value_name = "DURATION")]
    pub enforce_window: Option<HumanDuration>,

    /// Serve Prometheus metrics at http://ADDR/metrics; loopback only, e.g.
    /// 127.0.0.1:9464 [metrics.address].
    #[arg(long, value_name = "ADDR")]
    pub metrics_address: Option<std::net::SocketAddr>,
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: write a header as \"Name: value\""))?;
    Ok((k.trim().to_owned(), v.trim().to_owned()))
}

/// `target = value` when the flag was given.
fn set<T: Clone>(target: &mut T, value: &Option<T>) {
    if let Some(v) = value {
        *target = v.clone();
    }
}

/// The file's list replaced by the flags' when any were given.
fn replace<T: Clone>(target: &mut Vec<T>, values: &[T]) {
    if !values.is_empty() {
        *target = values.to_vec();
    }
}

impl Flags {
    /// Lays the given flags over `c`.
    pub fn apply(&self, c: &mut Config) {
        replace(&mut c.rules.files, &self.rules);
        if self.no_default_rules {
            c.rules.defaults = false;
        }
        set(&mut c.rules.dir, &self.rules_dir);

        replace(&mut c.servers.cgroups, &self.cgroups);
        replace(&mut c.servers.patterns, &self.patterns);
        if self.no_default_patterns {
            c.servers.default_patterns = false;
        }
        set(&mut c.servers.policy_dir, &self.servers_dir);
        set(&mut c.servers.state_dir, &self.state_dir);
        replace(&mut c.servers.homes, &self.homes);

        if self.ring_buffer_size.is_some() {
            c.kernel.ring_buffer_size = self.ring_buffer_size;
        }
        set(&mut c.kernel.pin_dir, &self.pin_dir);
        if self.no_pin {
            c.kernel.pin = false;
        }
        if self.unload_on_exit {
            c.kernel.unload_on_exit = true;
        }
        set(&mut c.control.socket, &self.control_socket);

        let s = &mut c.sinks;
        set(&mut s.queue_size, &self.sink_queue_size);
        set(&mut s.stdout.format, &self.output);
        if self.no_stdout {
            s.stdout.enabled = false;
        }
        if self.events {
            s.stdout.events = true;
        }

        if self.alert_log.is_some() {
            s.log.enabled = true;
        }
        if self.no_alert_log {
            s.log.enabled = false;
        }
        set(&mut s.log.path, &self.alert_log);
        set(&mut s.log.max_size, &self.alert_log_max_size);
        set(&mut s.log.keep, &self.alert_log_keep);
        set(&mut s.log.fsync_interval, &self.alert_log_fsync_interval);
        set(&mut s.log.fsync_batch, &self.alert_log_fsync_batch);

        if self.alert_socket.is_some() {
            s.socket.enabled = true;
        }
        if self.no_alert_socket {
            s.socket.enabled = false;
        }
        set(&mut s.socket.path, &self.alert_socket);
        if self.alert_socket_group.is_some() {
            s.socket.group = self.alert_socket_group.clone();
        }

        if self.webhook.is_some() {
            s.webhook.url = self.webhook.clone();
        }
        set(&mut s.webhook.timeout, &self.webhook_timeout);
        set(&mut s.webhook.retries, &self.webhook_retries);
        set(&mut s.webhook.backoff, &self.webhook_backoff);
        if !self.webhook_headers.is_empty() {
            s.webhook.headers = self.webhook_headers.iter().cloned().collect();
        }

        let f = &mut c.suppression;
        if self.no_suppression {
            f.enabled = false;
        }
        set(&mut f.window, &self.suppression_window);
        if let Some(rate) = self.server_alert_rate {
            f.throttle.enabled = rate > 0.0;
            f.throttle.rate = rate;
        }
        set(&mut f.throttle.burst, &self.server_alert_burst);
        replace(&mut f.key_fields, &self.suppression_key_fields);
        set(&mut f.health_interval, &self.health_alert_interval);

        if self.no_lifecycle_alerts {
            c.lifecycle.started_exited = false;
        }
        if self.no_outlived_host_alert {
            c.lifecycle.outlived_host = false;
        }
        set(&mut c.lifecycle.host_grace, &self.host_grace);

        if self.enforce {
            c.enforcement.enabled = true;
        }
        set(&mut c.enforcement.max_actions, &self.enforce_max_actions);
        set(&mut c.enforcement.window, &self.enforce_window);

        if self.metrics_address.is_some() {
            c.metrics.address = self.metrics_address;
        }
    }
}
