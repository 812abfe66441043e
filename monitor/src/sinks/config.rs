//! The sinks' configuration (`sinks:` in the config file).
use std::{collections::BTreeMap, path::PathBuf, str::FromStr};

use serde::{Deserialize, Deserializer};

use crate::units::{ByteSize, HumanDuration};

/// Default path of the alert socket.
pub const DEFAULT_SOCKET: &str = "/run/mcp-monitor/alerts.sock";

/// Where alerts go. Every enabled sink gets every alert, through its own
/// bounded queue.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinksConfig {
    /// Alerts each sink may have waiting before new ones are dropped for it.
    pub queue_size: usize,
    pub stdout: StdoutConfig,
    pub log: LogConfig,
    pub socket: SocketConfig,
    pub webhook: WebhookConfig,
}

impl Default for SinksConfig {
    fn default() -> Self {
        SinksConfig {
            queue_size: 1024,
            stdout: StdoutConfig::default(),
            log: LogConfig::default(),
            socket: SocketConfig::default(),
            webhook: WebhookConfig::default(),
        }
    }
}

impl SinksConfig {
    /// `stdout (json), log /var/log/…, socket /run/…`, for the daemon's messages.
    pub fn summary(&self) -> String {
        let mut out = Vec::new();
        if self.stdout.enabled {
            out.push(format!("stdout ({:?})", self.stdout.format).to_lowercase());
        }
        if self.log.enabled {
            out.push(format!("log {}", self.log.path.display()));
        }
        if self.socket.enabled {
            out.push(format!("socket {}", self.socket.path.display()));
        }
        if let Some(url) = &self.webhook.url {
            // A query string may carry a token: the summary goes to logs.
            let url = url.to_string();
            let shown = match url.split_once('?') {
                Some((base, _)) => format!("{base}?…"),
                None => url,
            };
            out.push(format!("webhook {shown}"));
        }
        if out.is_empty() {
            "nowhere (every sink is off)".into()
        } else {
            out.join(", ")
        }
    }
}

/// How alerts are written to stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AlertFormat {
    /// One coloured line each on a terminal, JSON lines otherwise.
    #[default]
    Auto,
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StdoutConfig {
    pub enabled: bool,
    pub format: AlertFormat,
    /// Also print every event of tagged trees as JSON lines.
    pub events: bool,
}

impl Default for StdoutConfig {
    fn default() -> Self {
        StdoutConfig {
            enabled: true,
            format: AlertFormat::Auto,
            events: false,
        }
    }
}

/// The alert log: JSON lines, rotated by size, files 0600.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub enabled: bool,
    pub path: PathBuf,
    /// Rotate when the file would grow past this.
    pub max_size: ByteSize,
    /// Rotated files kept (`alerts.jsonl.1` … `.N`).
    pub keep: u32,
    /// Alerts reach the disk (fsync) at least this often…
    pub fsync_interval: HumanDuration,
    /// …and after this many alerts.
    pub fsync_batch: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            enabled: true,
            path: PathBuf::from("/var/log/mcp-monitor/alerts.jsonl"),
            max_size: ByteSize(64 << 20),
            keep: 5,
            fsync_interval: HumanDuration(std::time::Duration::from_secs(1)),
            fsync_batch: 100,
        }
    }
}

/// The live alert socket that `mcp-monitor tail` reads.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocketConfig {
    pub enabled: bool,
    pub path: PathBuf,
    /// Members of this group may read alerts (besides root and the daemon's user).
    pub group: Option<String>,
}

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig {
            enabled: true,
            path: PathBuf::from(DEFAULT_SOCKET),
            group: None,
        }
    }
}

/// An HTTP endpoint that receives each alert as a Falco-compatible JSON POST.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://host[:port]/path`; no URL, no webhook.
    pub url: Option<HttpUrl>,
    /// For connecting, sending and reading the answer, each.
    pub timeout: HumanDuration,
    /// Attempts after the first; the wait doubles from `backoff` each time.
    pub retries: u32,
    pub backoff: HumanDuration,
    /// Extra request headers (e.g. an authorisation token).
    pub headers: BTreeMap<String, String>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: None,
            timeout: HumanDuration(std::time::Duration::from_secs(5)),
            retries: 3,
            backoff: HumanDuration(std::time::Duration::from_millis(500)),
            headers: BTreeMap::new(),
        }
    }
}

/// An `http://host[:port][/path]` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    pub host: String,
    pub port: u16,
    /// Starts with `/`; includes the query.
    pub path: String,
}

impl FromStr for HttpUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let rest = match s.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(format!(
                    "{s:?}: https is not supported; use an http:// URL (e.g. a falcosidekick or reverse proxy on this host that forwards over TLS)"
                ));
            }
            _ => return Err(format!("{s:?} is not a URL: write http://host[:port]/path")),
        };
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{s:?}: a URL has no spaces or control characters"));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        if authority.contains('@') {
            return Err(format!(
                "{s:?}: credentials in the URL are not supported; send them in a header (sinks.webhook.headers)"
            ));
        }
        let port_of = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("{s:?}: {p:?} is not a port"))
        };
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (h, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("{s:?}: an IPv6 address needs its closing ']'"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, port_of(p)?),
                None if after.is_empty() => (h, 80),
                None => return Err(format!("{s:?}: unexpected {after:?} after the host")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, port_of(p)?),
                None => (authority, 80),
            }
        };
        if host.is_empty() {
            return Err(format!("{s:?}: the host is missing"));
        }
        Ok(HttpUrl {
            host: host.to_owned(),
            port,
            path,
        })
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "http://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            write!(f, "http://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
