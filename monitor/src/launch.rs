//! `mcp-monitor launch --name NAME -- CMD ARGS…`: the wrapper a user puts in an
//! AI host's MCP configuration. It asks the daemon to tag its own pid, then
//! execs CMD in place (same pid, nothing in between), so everything CMD does is
//! watched from its first instruction. It never touches stdin or stdout: those
//! belong to the MCP stdio transport.
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

/// Registers, then execs. Returns only if something failed: the exit code to use.
pub fn launch(opts: &LaunchOptions) -> i32 {
    let Some((program, args)) = opts.command.split_first() else {
        eprintln!(
            "mcp-monitor launch: no command given; usage: mcp-monitor launch --name NAME -- CMD [ARGS…]"
        );
        return 2;
    };
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
    let err = std::process::Command::new(program).args(args).exec();
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
