//! What `mcp-monitor discover` shows: one [`ServerReport`] per configured
//! server, as a text table or JSON. Secret values never reach a report:
//! env and header values are not read, and arguments and URLs are redacted.
use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::config::{ServerConfig, Transport};
use super::launchers::launches;
use super::pinning::{PinStatus, Pinning, pinning_of};
use super::secrets::{is_secret_name, redact_args, redact_url, secret_names};

/// One server as shown; field names are stable (the JSON output).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerReport {
    pub host: &'static str,
    pub scope: &'static str,
    pub project: Option<String>,
    pub name: String,
    pub config_path: String,
    pub transport: &'static str,
    pub command: Option<String>,
    /// Redacted.
    pub args: Vec<String>,
    /// Redacted.
    pub url: Option<String>,
    /// What a launcher fetches (npm package, Python spec, image), as configured.
    pub package: Option<String>,
    /// `true` pinned, `false` unpinned, `null` when nothing is fetched (local or remote).
    pub pinned: Option<bool>,
    /// `pinned`, `unpinned`, `local` or `remote`.
    pub pinning: &'static str,
    pub pinning_detail: String,
    /// Names of the environment variables set for the server.
    pub env: Vec<String>,
    /// Names of env vars that look like secrets: set in the config, passed
    /// through (`docker -e NAME`, Codex `env_vars`), or given in arguments.
    pub secret_env: Vec<String>,
    /// Names of the headers sent to a remote server.
    pub headers: Vec<String>,
    pub secret_headers: Vec<String>,
    /// Names of options whose values were redacted from `args` (`--api-key`).
    pub secret_args: Vec<String>,
    pub disabled: bool,
    pub running: bool,
    /// Topmost processes running it now.
    pub pids: Vec<u32>,
}

/// Builds the reports; `running` maps server indices to pids.
pub fn reports(servers: &[ServerConfig], running: &HashMap<usize, Vec<u32>>) -> Vec<ServerReport> {
    servers
        .iter()
        .enumerate()
        .map(|(i, s)| report(s, running.get(&i).cloned().unwrap_or_default()))
        .collect()
}

pub fn report(s: &ServerConfig, pids: Vec<u32>) -> ServerReport {
    let (args, arg_secrets) = redact_args(&s.args);
    let (pinning, package) = match (s.transport, &s.command) {
        (Transport::Stdio, Some(cmd)) => {
            let mut argv = vec![cmd.clone()];
            argv.extend(s.args.iter().cloned());
            let ls = launches(&argv);
            let package = ls
                .iter()
                .find_map(|l| l.fetch.as_ref())
                .map(|f| redact_url(f.from.as_deref().unwrap_or(&f.spec)));
            (pinning_of(&ls), package)
        }
        _ => (
            Pinning {
                status: PinStatus::Remote,
                detail: "remote server".to_owned(),
            },
            None,
        ),
    };
    let mut secret_env = secret_names(&s.env);
    secret_env.extend(s.env_refs.iter().filter(|n| is_secret_name(n)).cloned());
    // `docker run -e NAME` passes the host's value through.
    for w in s.args.windows(2) {
        if (w[0] == "-e" || w[0] == "--env") && !w[1].contains('=') && is_secret_name(&w[1]) {
            secret_env.push(w[1].clone());
        }
    }
    let mut secret_args = Vec::new();
    for n in arg_secrets {
        if n.starts_with('-') || n.chars().any(|c| c.is_ascii_lowercase()) {
            secret_args.push(n);
        } else {
            secret_env.push(n);
        }
    }
    secret_env.sort();
    secret_env.dedup();
    ServerReport {
        host: s.host.as_str(),
        scope: s.scope.as_str(),
        project: s.project.as_ref().map(|p| p.display().to_string()),
        name: s.name.clone(),
        config_path: s.config_path.display().to_string(),
        transport: s.transport.as_str(),
        command: s.command.clone().map(|c| redact_args(&[c]).0.remove(0)),
        args,
        url: s.url.as_deref().map(redact_url),
        package,
        pinned: match pinning.status {
            PinStatus::Pinned => Some(true),
            PinStatus::Unpinned => Some(false),
            PinStatus::Local | PinStatus::Remote => None,
        },
        pinning: pinning.status.as_str(),
        pinning_detail: pinning.detail,
        env: s.env.clone(),
        secret_env,
        headers: s.headers.clone(),
        secret_headers: secret_names(&s.headers),
        secret_args,
        disabled: s.disabled,
        running: !pids.is_empty(),
        pids,
    }
}

/// Quotes an argument for display when it holds spaces or quotes.
fn shell_word(a: &str) -> String {
    if !a.is_empty()
        && a.chars().all(|c| {
            !c.is_whitespace() && !matches!(c, '\'' | '"' | '\\' | '$' | '`' | ';' | '&' | '|')
        })
    {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// The command line or URL of a report, as one string.
pub fn target(r: &ServerReport) -> String {
    match (&r.command, &r.url) {
        (Some(c), _) => std::iter::once(c.as_str())
            .chain(r.args.iter().map(String::as_str))
            .map(shell_word)
            .collect::<Vec<_>>()
            .join(" "),
        (None, Some(u)) => u.clone(),
        (None, None) => String::new(),
    }
}

/// The text table: servers grouped by config file, then a summary line.
pub fn render_text(reports: &[ServerReport]) -> String {
    let mut out = String::new();
    if reports.is_empty() {
        out.push_str("No MCP servers configured.\n");
        return out;
    }
    let header = [
        "NAME",
        "SCOPE",
        "TRANSPORT",
        "PINNED",
        "RUNNING",
        "SECRETS",
        "COMMAND / URL",
    ];
    let rows: Vec<[String; 7]> = reports
        .iter()
        .map(|r| {
            let mut secrets: Vec<String> = r.secret_env.clone();
            secrets.extend(r.secret_headers.iter().map(|h| format!("header:{h}")));
            secrets.extend(r.secret_args.iter().cloned());
            let scope = r.scope.to_owned();
            let name = if r.disabled {
                format!("{} (disabled)", r.name)
            } else {
                r.name.clone()
            };
            [
                name,
                scope,
                r.transport.to_owned(),
                r.pinning.to_owned(),
                if r.pids.is_empty() {
                    "-".to_owned()
                } else {
                    r.pids
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                },
                if secrets.is_empty() {
                    "-".to_owned()
                } else {
                    secrets.join(",")
                },
                target(r),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| -> String {
        let mut l = String::from("  ");
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        l.trim_end().to_owned() + "\n"
    };
    // One group per config file (and project, for Claude Code's local scope).
    let mut last_group: Option<(&str, &str, Option<&str>)> = None;
    for (r, row) in reports.iter().zip(&rows) {
        let group = (r.host, r.config_path.as_str(), r.project.as_deref());
        if last_group != Some(group) {
            if last_group.is_some() {
                out.push('\n');
            }
            let _ = write!(out, "{}  {}", r.host, r.config_path);
            match &r.project {
                Some(p) if !r.config_path.starts_with(p.as_str()) => {
                    let _ = writeln!(out, "  (project {p})");
                }
                _ => out.push('\n'),
            }
            out.push_str(&line(&header));
            last_group = Some(group);
        }
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        out.push_str(&line(&cells));
    }
    let running = reports.iter().filter(|r| r.running).count();
    let unpinned = reports.iter().filter(|r| r.pinned == Some(false)).count();
    let files: std::collections::HashSet<&str> =
        reports.iter().map(|r| r.config_path.as_str()).collect();
    let _ = writeln!(
        out,
        "\n{} server{} in {} config file{}: {running} running, {unpinned} unpinned.",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" },
    );
    out
}

/// The JSON array.
pub fn render_json(reports: &[ServerReport]) -> String {
    serde_json::to_string_pretty(reports).unwrap_or_else(|_| "[]".to_owned()) + "\n"
}
