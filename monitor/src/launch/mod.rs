//! `mcp-monitor launch --name NAME -- CMD ARGS…`: the wrapper a user puts in an
//! AI host's MCP configuration. It asks the daemon to tag its own pid, then
//! execs CMD in place (same pid), so everything CMD does is watched from its
//! first instruction, the host's child exits with the server's status, and
//! signals reach the server directly.
//!
//! When a daemon follows it, the server's stdin and stdout go through a relay
//! ([`relay`]) that copies the bytes unchanged and tells the daemon each
//! JSON-RPC message, so events can name the tool call they happened in.
pub mod relay;

use std::{
    io::{BufRead as _, BufReader, Write as _},
    os::unix::{net::UnixStream, process::CommandExt as _},
    path::Path,
    time::Duration,
};

use crate::control::{Request, Response};

/// How long to wait for the daemon's answer.
const TIMEOUT: Duration = Duration::from_secs(3);

pub struct LaunchOptions<'a> {
    pub name: &'a str,
    pub host: Option<&'a str>,
    pub socket: &'a Path,
    pub require_monitor: bool,
    pub command: &'a [String],
}

/// Environment variable naming the server a launched command belongs to.
pub const SERVER_ENV: &str = "MCP_MONITOR_SERVER";
/// Environment variable naming the AI host given to `launch --host`.
pub const HOST_ENV: &str = "MCP_MONITOR_HOST";

/// The server name and host that `launch` left in `pid`'s environment, if any.
pub fn marker_of(pid: u32) -> Option<(String, Option<String>)> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let mut name = None;
    let mut host = None;
    for var in environ.split(|b| *b == 0) {
        let var = String::from_utf8_lossy(var);
        if let Some(v) = var
            .strip_prefix(SERVER_ENV)
            .and_then(|r| r.strip_prefix('='))
        {
            name = Some(v.to_owned());
        } else if let Some(v) = var.strip_prefix(HOST_ENV).and_then(|r| r.strip_prefix('=')) {
            host = Some(v.to_owned());
        }
    }
    let name = name.filter(|n| crate::control::validate_name(n).is_ok())?;
    Some((
        name,
        host.filter(|h| crate::control::validate_name(h).is_ok()),
    ))
}

/// Registers, then execs. Returns only if something failed: the exit code to use.
pub fn launch(opts: &LaunchOptions) -> i32 {
    let Some((program, args)) = opts.command.split_first() else {
        eprintln!(
            "mcp-monitor launch: no command given; usage: mcp-monitor launch --name NAME -- CMD [ARGS…]"
        );
        return 2;
    };
    // The relay first: forked before the registration, it is not tagged.
    if let Some(daemon) = relay::connect(opts.socket) {
        match relay::start(daemon) {
            Ok(ends) => {
                // SAFETY: making the pipes this process's stdin and stdout;
                // the originals are closed when `ends` drops.
                let ok = unsafe {
                    libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&ends.stdin), 0) >= 0
                        && libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&ends.stdout), 1) >= 0
                };
                if !ok {
                    eprintln!("mcp-monitor launch: cannot set up the stdio relay");
                    return 1;
                }
            }
            Err(e) => eprintln!(
                "mcp-monitor launch: warning: no stdio relay ({e}); tool calls will not be attributed"
            ),
        }
    }
    match register(opts) {
        Ok(id) => log::debug!("tagged as MCP server {} (id {id})", opts.name),
        Err(e) if opts.require_monitor => {
            eprintln!(
                "mcp-monitor launch: not starting {program}: {e} (--require-monitor is set; start the daemon with `mcp-monitor run`)"
            );
            return 1;
        }
        Err(e) => eprintln!(
            "mcp-monitor launch: warning: {e}; starting {program} unmonitored (use --require-monitor to refuse)"
        ),
    }
    // Marks the server for a daemon that starts (or restarts) later: its
    // start-up scan tags processes carrying these, as if they had registered.
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).env(SERVER_ENV, opts.name);
    match opts.host {
        Some(host) => cmd.env(HOST_ENV, host),
        None => cmd.env_remove(HOST_ENV),
    };
    let err = cmd.exec();
    eprintln!("mcp-monitor launch: cannot run {program}: {err}");
    if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}

fn register(opts: &LaunchOptions) -> Result<u32, String> {
    let mut stream = UnixStream::connect(opts.socket).map_err(|e| {
        format!(
            "no mcp-monitor daemon answers at {} ({e})",
            opts.socket.display()
        )
    })?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let request = Request::Tag {
        name: opts.name.to_owned(),
        host: opts.host.map(str::to_owned),
    };
    let mut line = serde_json::to_string(&request).map_err(|e| e.to_string())?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| format!("sending the request failed: {e}"))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(|e| format!("the daemon did not answer in time: {e}"))?;
    let response: Response = serde_json::from_str(answer.trim())
        .map_err(|e| format!("the daemon's answer is not understood: {e}"))?;
    match (response.ok, response.server_id) {
        (true, Some(id)) => Ok(id),
        _ => Err(format!(
            "the daemon refused to tag this process: {}",
            response.error.unwrap_or_default()
        )),
    }
}
