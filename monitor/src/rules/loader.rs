//! Where rules come from: the defaults embedded from `rules/*.yaml` at the
//! repository root, then `/etc/mcp-monitor/rules.d/*.yaml` (sorted), then the
//! files and directories given with `--rules`, in that order.
use std::{
    io,
    path::{Path, PathBuf},
};

use include_dir::{Dir, include_dir};

use super::{
    diag::{Diagnostic, Kind, LoadError, Location, RuleSource, Severity, Warning},
    ruleset::{CompileOptions, RuleSet},
};

/// The default rules, compiled into the binary. Every `*.yaml` file of the
/// repository's `rules/` directory is included, no code change needed.
static DEFAULT_RULES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../rules");

/// The system directory for user rule files.
pub const SYSTEM_RULES_DIR: &str = "/etc/mcp-monitor/rules.d";

/// Prefix of the names of embedded default files, e.g. `<default>/secrets.yaml`.
pub const DEFAULT_PREFIX: &str = "<default>/";

/// What to load; `Default` is the daemon's normal configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadOptions {
    /// Load the embedded default rules first (`--no-default-rules` turns it off).
    pub default_rules: bool,
    /// Directory of user rule files, read if it exists.
    pub rules_dir: Option<PathBuf>,
    /// `--rules PATH` files or directories, in order.
    pub extra: Vec<PathBuf>,
    /// The monitor's own files wherever they are (its config file, rules,
    /// server policies): added to the `mcp_monitor_config_dirs` list of the
    /// default rules, so that a server changing them is caught there too.
    pub protected: Vec<PathBuf>,
    pub compile: CompileOptions,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            default_rules: true,
            rules_dir: Some(PathBuf::from(SYSTEM_RULES_DIR)),
            extra: Vec::new(),
            protected: Vec::new(),
            compile: CompileOptions::default(),
        }
    }
}

fn is_rules_file(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// The embedded default rule files, sorted by name.
pub fn default_sources() -> Vec<RuleSource> {
    let mut out: Vec<RuleSource> = DEFAULT_RULES
        .files()
        .filter(|f| is_rules_file(f.path()))
        .filter_map(|f| {
            Some(RuleSource::new(
                format!("{DEFAULT_PREFIX}{}", f.path().display()),
                f.contents_utf8()?,
            ))
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A rule file, or every `*.yaml`/`*.yml` file of a directory (sorted by name).
pub fn read_path(path: &Path) -> io::Result<Vec<RuleSource>> {
    if path.is_dir() {
        // Every *.yaml entry is read: one that cannot be (a dangling link, a
        // symlink loop) is an error naming it, not a file silently left out.
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_rules_file(p) && !p.is_dir())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                read_file(f).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", f.display())))
            })
            .collect()
    } else {
        Ok(vec![read_file(path)?])
    }
}

fn read_file(path: &Path) -> io::Result<RuleSource> {
    Ok(RuleSource::new(
        path.display().to_string(),
        crate::textfile::read(path, crate::textfile::RULES_LIMIT)?,
    ))
}

fn io_error(path: &Path, e: &io::Error) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        kind: Kind::Io,
        location: Location {
            file: path.display().to_string().into(),
            line: 1,
            col: 1,
        },
        message: format!("cannot read rules: {e}"),
        expected: Some("a readable rules file or directory".into()),
        line_text: None,
    }
}

/// The sources `opts` names, in load order.
pub fn configured_sources(opts: &LoadOptions) -> Result<Vec<RuleSource>, LoadError> {
    let mut sources = Vec::new();
    if opts.default_rules {
        sources.extend(default_sources());
        sources.extend(protected_source(&opts.protected));
    }
    let mut errors = Vec::new();
    if let Some(dir) = &opts.rules_dir
        && dir.is_dir()
    {
        match read_path(dir) {
            Ok(s) => sources.extend(s),
            Err(e) => errors.push(io_error(dir, &e)),
        }
    }
    for p in &opts.extra {
        match read_path(p) {
            Ok(s) => sources.extend(s),
            Err(e) => errors.push(io_error(p, &e)),
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(LoadError {
            errors,
            warnings: Vec::new(),
        })
    }
}

/// The list of the monitor's own files, appended to the defaults' list of
/// its configuration directories.
fn protected_source(paths: &[PathBuf]) -> Option<RuleSource> {
    if paths.is_empty() {
        return None;
    }
    // JSON strings are YAML strings, with every character escaped as needed.
    let items: Vec<String> = paths
        .iter()
        .map(|p| serde_json::to_string(&p.to_string_lossy()).unwrap_or_default())
        .collect();
    Some(RuleSource::new(
        "<the monitor's own files>",
        format!(
            "- list: {PROTECTED_LIST}\n  items: [{}]\n  append: true\n",
            items.join(", ")
        ),
    ))
}

/// The default rules' list of the monitor's configuration directories.
const PROTECTED_LIST: &str = "mcp_monitor_config_dirs";

/// Reads and compiles the configured rules: what the daemon calls at start
/// and on reload (keep the old set when this fails).
pub fn load_configured(opts: &LoadOptions) -> Result<(RuleSet, Vec<Warning>), LoadError> {
    let sources = configured_sources(opts)?;
    RuleSet::load_with(&sources, &opts.compile)
}
