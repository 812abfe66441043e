//! `mcp-monitor tail`: follows the daemon's alerts from its alert socket;
//! `mcp-monitor calls`: the records of tool calls from the same socket.
//!
//! The daemon does the work that needs privileges or order: it checks who may
//! read, replays from its alert log (0600, root's), joins the replay to the
//! live stream and filters. This side asks, prints, and when the daemon goes
//! away, waits for it and asks for what happened since the last alert it saw.
use std::{
    collections::HashSet,
    io::{BufRead, BufReader, IsTerminal as _, Write},
    os::unix::{fs::MetadataExt as _, net::UnixStream},
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::{
    alerts::{Alert, AlertFilter, CALL_RULE, render_call, render_text, rfc3339_nanos},
    config::{self, AlertFormat, HumanDuration},
    sinks::socket::{self, Dropped, Refusal, Request},
};

#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// Replay the last N alerts (that pass the filters) first.
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub last: Option<usize>,
    /// Replay the alerts of this last stretch of time first (e.g. 30s, 10m, 2h, 1d).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<HumanDuration>,
    /// Only alerts of this priority or a more severe one (e.g. warning).
    #[arg(long, value_name = "PRIORITY")]
    pub min_priority: Option<String>,
    /// Only alerts of this MCP server (a glob: "github-*").
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
    /// Only alerts of rules whose name matches this glob ("*SSH*").
    #[arg(long, value_name = "GLOB")]
    pub rule: Option<String>,
    /// text: one line each, coloured on a terminal; json: the daemon's JSON
    /// lines as they are. Default: text on a terminal, json otherwise.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<AlertFormat>,
    /// Print the replay and exit instead of following live alerts.
    #[arg(long)]
    pub no_follow: bool,
    #[command(flatten)]
    pub daemon: AlertSocketArgs,
}

/// Where `tail` and `calls` find the daemon's alert socket.
#[derive(Debug, clap::Args)]
pub struct AlertSocketArgs {
    /// The daemon's alert socket [default: sinks.socket.path of the config
    /// file, else /run/mcp-monitor/alerts.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The daemon's config file, to find its socket [default: /etc/mcp-monitor/config.yaml].
    #[arg(long, value_name = "PATH", env = "MCP_MONITOR_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `mcp-monitor calls`: what it asks for.
#[derive(Debug, clap::Args)]
pub struct CallsArgs {
    /// Replay the calls of this last stretch of time first (e.g. 30s, 10m, 2h).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<HumanDuration>,
    /// Replay the last N calls first.
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub last: Option<usize>,
    /// Only the calls of this MCP server (a glob: "github-*").
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
    /// text: each call and what it did, coloured on a terminal; json: the
    /// daemon's records as they are. Default: text on a terminal, json otherwise.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<AlertFormat>,
    /// Print the replay and exit instead of following live calls.
    #[arg(long)]
    pub no_follow: bool,
    #[command(flatten)]
    pub daemon: AlertSocketArgs,
}

/// `mcp-monitor calls`: `tail` of the call records.
pub fn run_calls(args: CallsArgs) -> anyhow::Result<i32> {
    run_filtered(
        TailArgs {
            last: args.last,
            since: args.since,
            min_priority: None,
            server: args.server,
            rule: None,
            output: args.output,
            no_follow: args.no_follow,
            daemon: args.daemon,
        },
        true,
    )
}

/// How long to wait between attempts to reach a daemon that went away.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

pub fn run(args: TailArgs) -> anyhow::Result<i32> {
    run_filtered(args, false)
}

/// Alerts, or (`calls`) the records of tool calls.
fn run_filtered(args: TailArgs, calls: bool) -> anyhow::Result<i32> {
    let filter = AlertFilter {
        min_priority: args.min_priority.clone(),
        server: args.server.clone(),
        rule: args.rule.clone(),
        calls,
    };
    filter
        .check()
        .map_err(|e| anyhow::anyhow!("--min-priority: {e}"))?;
    let path = args.daemon.path()?;
    let tty = std::io::stdout().is_terminal();
    let (json, colour) = match args.output.unwrap_or_default() {
        AlertFormat::Auto => (!tty, tty),
        AlertFormat::Text => (false, tty),
        AlertFormat::Json => (true, false),
    };
    let mut request = Request {
        last: args.last,
        since: args.since.map(|d| time_ago(d.0)),
        no_follow: args.no_follow,
        filter,
    };
    let mut seen = Seen::default();
    let mut connected_before = false;
    loop {
        let stream = match UnixStream::connect(&path) {
            Ok(s) => s,
            Err(e) if !connected_before => {
                eprintln!("mcp-monitor tail: {}", explain(&e, &path));
                return Ok(1);
            }
            Err(_) => {
                std::thread::sleep(RECONNECT_EVERY);
                continue;
            }
        };
        if connected_before {
            eprintln!(
                "mcp-monitor tail: reconnected to {}; replaying what was missed",
                path.display()
            );
        }
        connected_before = true;
        match follow(stream, &request, &mut seen, json, colour)? {
            Ended::Refused(why) => {
                eprintln!("mcp-monitor tail: {why}");
                return Ok(1);
            }
            Ended::Dropped(why) => {
                eprintln!(
                    "mcp-monitor tail: the daemon dropped this reader ({why}): read faster \
                     (a paused terminal or a slow command after `tail` holds it up) or ask for \
                     fewer alerts with --min-priority, --server or --rule"
                );
                return Ok(1);
            }
            Ended::ReaderGone => return Ok(0),
            Ended::Truncated(n) if request.no_follow => {
                eprintln!(
                    "mcp-monitor tail: the connection ended in the middle of an alert \
                     ({n} bytes of it, left out); the replay is incomplete"
                );
                return Ok(1);
            }
            Ended::Truncated(n) => {
                eprintln!(
                    "mcp-monitor tail: the connection to {} ended in the middle of an alert \
                     ({n} bytes of it, left out); reconnecting…",
                    path.display()
                );
            }
            Ended::Closed if request.no_follow => return Ok(0),
            Ended::Closed => {
                eprintln!(
                    "mcp-monitor tail: the daemon closed {}; reconnecting when it is back…",
                    path.display()
                );
            }
        }
        // Next time: what happened since the last alert seen (or since now).
        request.last = None;
        request.since = Some(
            seen.replay_from()
                .unwrap_or_else(|| time_ago(Duration::ZERO)),
        );
    }
}

enum Ended {
    /// The daemon said no (access, a bad request).
    Refused(String),
    /// The daemon dropped us for reading too slowly, and said why.
    Dropped(String),
    /// Our stdout was closed (`tail | head`).
    ReaderGone,
    /// The daemon closed the connection (replay done, or it stopped).
    Closed,
    /// The connection ended after this many bytes of a line, without its end.
    Truncated(usize),
}

/// Sends the request and prints alerts until the connection ends.
fn follow(
    mut stream: UnixStream,
    request: &Request,
    seen: &mut Seen,
    json: bool,
    colour: bool,
) -> anyhow::Result<Ended> {
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    if stream.write_all(line.as_bytes()).is_err() {
        return Ok(Ended::Closed);
    }
    Ok(print_alerts(
        BufReader::new(stream),
        &mut std::io::stdout().lock(),
        seen,
        json,
        colour,
    ))
}

/// Prints the alerts the daemon sends until the stream ends or says why not.
/// Only whole lines count: the daemon ends each with a newline, so a last line
/// without one was cut off, and is reported rather than parsed.
fn print_alerts(
    mut input: impl BufRead,
    out: &mut impl Write,
    seen: &mut Seen,
    json: bool,
    colour: bool,
) -> Ended {
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        // An error ends the stream like its end does; what was read before
        // it stays in `bytes`.
        let _ = input.read_until(b'\n', &mut bytes);
        if bytes.last() != Some(&b'\n') {
            return if bytes.is_empty() {
                Ended::Closed
            } else {
                Ended::Truncated(bytes.len())
            };
        }
        bytes.pop();
        let line = String::from_utf8_lossy(&bytes).into_owned();
        let alert = match serde_json::from_str::<Alert>(&line) {
            Ok(a) => a,
            Err(_) => {
                if let Ok(r) = serde_json::from_str::<Refusal>(&line) {
                    return Ended::Refused(r.error);
                }
                if let Ok(d) = serde_json::from_str::<Dropped>(&line) {
                    return Ended::Dropped(d.dropped);
                }
                log::warn!("skipping a line that is not an alert: {line}");
                continue;
            }
        };
        if !seen.first_time(&alert, &line) {
            continue;
        }
        let text = if json {
            line
        } else if alert.rule == CALL_RULE {
            render_call(&alert, colour)
        } else {
            render_text(&alert, colour)
        };
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            return Ended::ReaderGone;
        }
    }
}

/// What was printed, to leave out repeats after a reconnect. Alerts do not
/// arrive in strict time order (event alerts carry the kernel's time, health
/// and lifecycle alerts the moment they are raised; CPUs hand records over out
/// of order), so repeats are recognised by their line, not by their time: the
/// last [`SEEN_LINES`] lines are remembered, and a reconnect asks for what
/// happened since a little before the latest time seen.
#[derive(Default)]
struct Seen {
    latest_time: Option<String>,
    lines: HashSet<String>,
    order: std::collections::VecDeque<String>,
}

/// Printed lines remembered to recognise repeats.
const SEEN_LINES: usize = 65_536;
/// How far before the latest alert seen a reconnect asks to replay from.
const REPLAY_MARGIN: Duration = Duration::from_secs(10);

impl Seen {
    fn first_time(&mut self, a: &Alert, line: &str) -> bool {
        if self.lines.contains(line) {
            return false;
        }
        if self.order.len() == SEEN_LINES
            && let Some(old) = self.order.pop_front()
        {
            self.lines.remove(&old);
        }
        self.lines.insert(line.to_owned());
        self.order.push_back(line.to_owned());
        if self.latest_time.as_ref().is_none_or(|t| a.time > *t) {
            self.latest_time = Some(a.time.clone());
        }
        true
    }

    /// Where a replay after a reconnect starts.
    fn replay_from(&self) -> Option<String> {
        let latest = self.latest_time.as_deref()?;
        let nanos = crate::alerts::parse_rfc3339_nanos(latest)?;
        let from = nanos.saturating_sub(REPLAY_MARGIN.as_nanos() as u64);
        Some(rfc3339_nanos(from))
    }
}

fn time_ago(d: Duration) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(d);
    rfc3339_nanos(now.as_nanos() as u64)
}

impl AlertSocketArgs {
    /// `--socket`, else the config file's `sinks.socket.path`, else the default.
    fn path(&self) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.socket {
            return Ok(p.clone());
        }
        let file = self
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
        match std::fs::read_to_string(&file) {
            Ok(text) => Ok(config::Config::parse(&file.display().to_string(), &text)
                .map_err(|e| anyhow::anyhow!("{e}; or pass --socket"))?
                .sinks
                .socket
                .path),
            Err(e) if self.config.is_some() => Err(anyhow::anyhow!(
                "{}: {e}; pass the daemon's config file or its --socket",
                file.display()
            )),
            Err(_) => Ok(PathBuf::from(socket::DEFAULT_SOCKET)),
        }
    }
}

/// What a failed connect means and what to do about it.
fn explain(e: &std::io::Error, path: &Path) -> String {
    let shown = path.display();
    match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "no alert socket at {shown}: is the daemon running (`mcp-monitor run`, or `systemctl start mcp-monitor`)? \
             If it serves another path (sinks.socket.path), pass --socket or --config"
        ),
        std::io::ErrorKind::ConnectionRefused => format!(
            "nothing answers on {shown}: the daemon is not running; start it (`mcp-monitor run`, or `systemctl start mcp-monitor`)"
        ),
        std::io::ErrorKind::PermissionDenied => {
            let group = std::fs::metadata(path)
                .ok()
                .map(|m| m.gid())
                .filter(|g| *g != 0)
                .map(|g| socket::group_name(g).unwrap_or_else(|| g.to_string()));
            match group {
                Some(g) => format!(
                    "permission denied on {shown}: run as root, or join the group {g:?} (usermod -aG {g} $USER, then log in again)"
                ),
                None => format!(
                    "permission denied on {shown}: run as root, or have sinks.socket.group set in the daemon's config to a group you are in"
                ),
            }
        }
        _ => format!("cannot connect to {shown}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::priority::Priority;

    fn alert(time: &str, rule: &str) -> (Alert, String) {
        let mut a = Alert::health(
            rule,
            Priority::Notice,
            String::new(),
            Default::default(),
            "h",
        );
        a.time = time.into();
        let line = a.to_json_line();
        (a, line)
    }

    #[test]
    fn repeats_after_a_reconnect_are_left_out() {
        let mut seen = Seen::default();
        let (a1, l1) = alert("2026-11-25T06:00:00.000000001Z", "a");
        let (a2, l2) = alert("2026-11-25T06:00:00.000000002Z", "b");
        let (a3, l3) = alert("2026-11-25T06:00:00.000000002Z", "c");
        assert!(seen.first_time(&a1, &l1));
        assert!(seen.first_time(&a2, &l2));
        // The replay after a reconnect starts at the last time seen.
        assert!(!seen.first_time(&a1, &l1));
        assert!(!seen.first_time(&a2, &l2));
        assert!(seen.first_time(&a3, &l3), "same time, other alert");
        assert!(!seen.first_time(&a3, &l3));
        // An alert stamped earlier than one already shown is still new.
        let (a0, l0) = alert("2026-11-25T05:59:59.999999999Z", "late");
        assert!(seen.first_time(&a0, &l0));
        assert_eq!(
            seen.replay_from().as_deref(),
            Some("2026-11-25T05:59:50.000000002Z")
        );
    }

    /// What `print_alerts` makes of `stream`, and what it printed (JSON).
    fn printed(stream: &str) -> (Ended, Vec<String>) {
        let mut out = Vec::new();
        let ended = print_alerts(
            std::io::Cursor::new(stream.as_bytes()),
            &mut out,
            &mut Seen::default(),
            true,
            false,
        );
        let out = String::from_utf8(out).unwrap();
        (ended, out.lines().map(str::to_owned).collect())
    }

    #[test]
    fn a_drop_notice_ends_the_stream_with_its_reason() {
        let (_, l1) = alert("2026-11-25T06:00:00.000000001Z", "a");
        let (_, l2) = alert("2026-11-25T06:00:00.000000002Z", "b");
        let stream =
            format!("{l1}\n{l2}\n{{\"dropped\":\"too slow: 1048600 bytes of alerts unread\"}}\n");
        let (ended, out) = printed(&stream);
        assert!(
            matches!(&ended, Ended::Dropped(why) if why == "too slow: 1048600 bytes of alerts unread")
        );
        assert_eq!(out, [l1, l2]);
    }

    #[test]
    fn a_cut_last_line_is_reported_not_parsed() {
        let (_, l1) = alert("2026-11-25T06:00:00.000000001Z", "a");
        let (_, l2) = alert("2026-11-25T06:00:00.000000002Z", "b");
        // Cut right before its newline: it would parse, but it is not whole.
        let (ended, out) = printed(&format!("{l1}\n{l2}"));
        assert!(matches!(ended, Ended::Truncated(n) if n == l2.len()));
        assert_eq!(out, std::slice::from_ref(&l1));
        let (ended, out) = printed(&format!("{l1}\n"));
        assert!(matches!(ended, Ended::Closed));
        assert_eq!(out, [l1]);
    }

    #[test]
    fn connect_errors_say_what_to_do() {
        let p = Path::new("/run/x/alerts.sock");
        let m = explain(&std::io::Error::from(std::io::ErrorKind::NotFound), p);
        assert!(
            m.contains("is the daemon running") && m.contains("--socket"),
            "{m}"
        );
        let m = explain(
            &std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            p,
        );
        assert!(m.contains("run as root"), "{m}");
    }
}
