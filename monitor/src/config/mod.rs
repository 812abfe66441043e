//! The daemon's configuration: `/etc/mcp-monitor/config.yaml` (or `--config
//! PATH`), with every option also a `run` flag that wins over the file.
//!
//! One section per concern (`rules`, `servers`, `kernel`, `control`, `sinks`,
//! `suppression`, `lifecycle`, `metrics`, `enforcement`);
//! each is a struct with its own defaults, so a zero-config start works and a
//! new concern is a new field here. Unknown keys are errors that name the key
//! and its place in the file: a typo must not silently leave a sink off.
mod de;
mod flags;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

pub use crate::sinks::config::{
    AlertFormat, LogConfig, SinksConfig, SocketConfig, StdoutConfig, WebhookConfig,
};
pub use crate::units::{ByteSize, HumanDuration};
pub use flags::Flags;
use serde::Deserialize;

use crate::{
    alerts::suppress::SuppressionConfig,
    enforce::EnforcementConfig,
    metrics::MetricsConfig,
    procs::{cgroups::WatchedCgroup, lifecycle::LifecycleConfig},
    rules::{Diagnostic, Kind, Location, Severity},
    yaml::{self, Node, Pos},
};

/// Where the configuration is read from unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/mcp-monitor/config.yaml";

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub rules: RulesConfig,
    pub servers: ServersConfig,
    pub kernel: KernelConfig,
    pub control: ControlConfig,
    pub sinks: SinksConfig,
    /// Flood control of alerts (`alerts::suppress`).
    pub suppression: SuppressionConfig,
    /// The Prometheus endpoint (`metrics`).
    pub metrics: MetricsConfig,
    /// Which of a server's life events are alerts (`procs::lifecycle`).
    pub lifecycle: LifecycleConfig,
    /// Prevent mode: whether rules' actions act (`enforce`).
    pub enforcement: EnforcementConfig,
}

/// Which rule files are loaded.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Load the rules embedded in the binary.
    pub defaults: bool,
    /// Directory of the user's rule files, read if it exists.
    pub dir: PathBuf,
    /// More files or directories, loaded after `dir` in order.
    pub files: Vec<PathBuf>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            defaults: true,
            dir: PathBuf::from(crate::rules::SYSTEM_RULES_DIR),
            files: Vec::new(),
        }
    }
}

impl RulesConfig {
    pub fn load_options(&self) -> crate::rules::LoadOptions {
        crate::rules::LoadOptions {
            default_rules: self.defaults,
            rules_dir: Some(self.dir.clone()),
            extra: self.files.clone(),
            ..Default::default()
        }
    }
}

/// How MCP servers are recognised.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServersConfig {
    /// Command-line patterns of MCP servers, besides the built-in ones.
    pub patterns: Vec<String>,
    pub default_patterns: bool,
    /// Cgroups whose processes are servers: `PATH[=NAME]`.
    pub cgroups: Vec<CgroupSpec>,
    /// Homes whose AI-host configs are read (empty: /root and /home/*).
    pub homes: Vec<PathBuf>,
    /// Directory of per-server policy files.
    pub policy_dir: PathBuf,
    /// Directory of what the monitor keeps across runs (the servers' tool
    /// inventory).
    pub state_dir: PathBuf,
}

impl Default for ServersConfig {
    fn default() -> Self {
        ServersConfig {
            patterns: Vec::new(),
            default_patterns: true,
            cgroups: Vec::new(),
            homes: Vec::new(),
            policy_dir: PathBuf::from(crate::procs::policy::DEFAULT_DIR),
            state_dir: PathBuf::from(crate::mcp::inventory::store::DEFAULT_DIR),
        }
    }
}

/// A `PATH[=NAME]` cgroup, checked where it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupSpec(pub WatchedCgroup);

impl std::str::FromStr for CgroupSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let w = WatchedCgroup::parse(s)?;
        crate::control::validate_name(&w.name)?;
        Ok(CgroupSpec(w))
    }
}

impl<'de> Deserialize<'de> for CgroupSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KernelConfig {
    /// Size of the kernel ring buffer (a power of two, at least 4KiB; default 8MiB).
    pub ring_buffer_size: Option<ByteSize>,
    /// Keep the kernel state pinned so that it outlives the daemon.
    pub pin: bool,
    /// Where it is pinned (on a BPF filesystem).
    pub pin_dir: PathBuf,
    /// Remove the pinned state at a clean exit.
    pub unload_on_exit: bool,
}

/// Where the kernel state is pinned unless configured otherwise.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/mcp-monitor";

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig {
            ring_buffer_size: None,
            pin: true,
            pin_dir: PathBuf::from(DEFAULT_PIN_DIR),
            unload_on_exit: false,
        }
    }
}

impl KernelConfig {
    /// The pin directory, when state is pinned at all.
    pub fn pin_dir(&self) -> Option<PathBuf> {
        self.pin.then(|| self.pin_dir.clone())
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// The socket `mcp-monitor launch` talks to.
    pub socket: PathBuf,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: PathBuf::from(crate::control::DEFAULT_SOCKET),
        }
    }
}

impl Config {
    /// Parses a config file's text; `name` is how errors call the file.
    pub fn parse(name: &str, text: &str) -> Result<Config, ConfigError> {
        let docs = yaml::parse(text).map_err(|e| ConfigError::at(name, text, e.pos, e.message))?;
        let Some(root) = docs.first().filter(|n| !n.is_null()) else {
            return Ok(Config::default());
        };
        if docs.len() > 1 {
            return Err(ConfigError::at(
                name,
                text,
                docs[1].span.start,
                "a config file holds one YAML document; remove the second `---`".into(),
            ));
        }
        let config: Config = de::from_node(root).map_err(|e| {
            ConfigError::at(
                name,
                text,
                e.pos.unwrap_or_default(),
                expectation(&e.message),
            )
        })?;
        config
            .check()
            .map_err(|(key, msg)| ConfigError::at(name, text, find(root, key), msg))?;
        Ok(config)
    }

    /// Checks what types alone do not; returns the offending key and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let s = &self.sinks;
        if s.queue_size == 0 || s.queue_size > 1 << 20 {
            return Err((
                "sinks.queue_size",
                "sinks.queue_size must be between 1 and 1048576".into(),
            ));
        }
        if s.log.max_size.0 < 4096 {
            return Err((
                "sinks.log.max_size",
                "sinks.log.max_size must be at least 4KiB".into(),
            ));
        }
        if s.log.keep > 1000 {
            return Err((
                "sinks.log.keep",
                "sinks.log.keep must be at most 1000".into(),
            ));
        }
        if s.log.fsync_batch == 0 {
            return Err((
                "sinks.log.fsync_batch",
                "sinks.log.fsync_batch must be at least 1".into(),
            ));
        }
        if s.webhook.timeout.0.is_zero() {
            return Err((
                "sinks.webhook.timeout",
                "sinks.webhook.timeout must be more than 0".into(),
            ));
        }
        if let Some(size) = self.kernel.ring_buffer_size
            && (size.0 < 4096 || !size.0.is_power_of_two() || size.0 > 1 << 30)
        {
            return Err((
                "kernel.ring_buffer_size",
                format!(
                    "kernel.ring_buffer_size is {size}: it must be a power of two between 4KiB and 1GiB"
                ),
            ));
        }
        if self.enforcement.max_actions == 0 || self.enforcement.window.0.is_zero() {
            return Err((
                "enforcement.max_actions",
                "enforcement.max_actions and enforcement.window must be more than 0".into(),
            ));
        }
        self.suppression.validate()?;
        crate::alerts::keys::KeyPolicies::validate(&self.suppression)?;
        self.metrics
            .validate()
            .map_err(|m| ("metrics.address", m))?;
        for (k, v) in &s.webhook.headers {
            let bad_name = k.is_empty() || !k.bytes().all(|b| b.is_ascii_graphic() && b != b':');
            if bad_name || v.chars().any(char::is_control) {
                return Err((
                    "sinks.webhook.headers",
                    format!(
                        "sinks.webhook.headers: {k:?} is not a usable header (a name without spaces or ':', a value on one line)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The options that differ between `self` (running) and `new` and only
    /// take effect after a restart.
    pub fn restart_needed(&self, new: &Config) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.kernel != new.kernel {
            out.push("kernel");
        }
        if self.control != new.control {
            out.push("control");
        }
        if self.servers != new.servers {
            out.push("servers");
        }
        if self.metrics != new.metrics {
            out.push("metrics");
        }
        out
    }
}

/// serde says "expected one of `a`, `b`"; say which keys this section has.
fn expectation(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return format!("unknown key {rest}");
    }
    if message.starts_with("missing field") {
        return message.replacen("missing field", "missing key", 1);
    }
    message.to_owned()
}

/// Where `key` (dotted) is written in the file, or the top if it is not.
fn find(root: &Node, key: &str) -> Pos {
    let mut node = root;
    let mut pos = root.span.start;
    for part in key.split('.') {
        match &node.kind {
            yaml::NodeKind::Map(entries) => {
                match entries.iter().find(|(k, _)| k.as_str() == Some(part)) {
                    Some((k, v)) => {
                        pos = if v.is_null() {
                            k.span.start
                        } else {
                            v.span.start
                        };
                        node = v;
                    }
                    None => return pos,
                }
            }
            _ => return pos,
        }
    }
    pos
}

/// A config that cannot be used, and where.
#[derive(Clone, Debug)]
pub enum ConfigError {
    /// At a place in the file.
    File(Box<Diagnostic>),
    /// Not tied to a place (an unreadable file, a bad flag).
    Other(String),
}

impl ConfigError {
    fn at(file: &str, text: &str, pos: Pos, message: String) -> ConfigError {
        let line = pos.line.max(1);
        ConfigError::File(Box::new(Diagnostic {
            severity: Severity::Error,
            kind: Kind::Schema,
            location: Location {
                file: Arc::from(file),
                line,
                col: pos.col + 1,
            },
            message,
            expected: None,
            line_text: text.lines().nth(line - 1).map(str::to_owned),
        }))
    }

    /// With the offending line and a caret, as `rules check` shows errors.
    pub fn render(&self, colour: bool) -> String {
        match self {
            ConfigError::File(d) => d.render(colour),
            ConfigError::Other(m) => format!("{m}\n"),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::File(d) => write!(f, "{}: {}", d.location, d.message),
            ConfigError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Where the configuration comes from: a file and the flags laid over it.
/// Kept by the daemon so SIGHUP reads the same file and applies the same flags.
#[derive(Clone, Debug, Default)]
pub struct ConfigSource {
    pub flags: Flags,
}

impl ConfigSource {
    pub fn new(flags: Flags) -> Self {
        ConfigSource { flags }
    }

    /// The file in use: `--config`, or the default path.
    pub fn path(&self) -> &Path {
        self.flags
            .config
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_PATH))
    }

    /// Reads the file (a missing default file is an empty one), then applies the flags.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let path = self.path();
        let mut config = match crate::textfile::read(path, crate::textfile::CONFIG_LIMIT) {
            Ok(text) => Config::parse(&path.display().to_string(), &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.flags.config.is_none() => {
                Config::default()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Other(format!(
                    "{}: no such config file; create it (every key is optional) or leave out --config",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(ConfigError::Other(format!(
                    "{}: cannot read the config file ({e}); fix its permissions or pass another --config",
                    path.display()
                )));
            }
            Err(e) => {
                return Err(ConfigError::Other(format!(
                    "{}: cannot use it as the config file: {e}; pass a YAML file with --config",
                    path.display()
                )));
            }
        };
        self.flags.apply(&mut config);
        config.check().map_err(|(key, msg)| {
            ConfigError::Other(format!(
                "{msg} (from the command line or {}: {key})",
                path.display()
            ))
        })?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests;
