//! `mcp-monitor rules …`: check, list, fields, test, doc.
use std::{
    collections::BTreeMap,
    io::{BufRead, IsTerminal, Write},
    path::PathBuf,
};

use clap::Subcommand;

use super::{
    CompileOptions, Diagnostic, Kind, LoadError, LoadOptions, RuleSet, RuleSource, Severity,
    default_sources, fields::FIELDS, load_configured, read_path,
};
use crate::{event::Event, priority::Priority};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Check rule files and report errors with file:line:col.
    ///
    /// Without FILES, checks the embedded default rules. FILES (files or
    /// directories) are checked on top of the defaults, as the daemon loads
    /// them, unless --no-default-rules is given. Exits 1 on any error.
    Check {
        files: Vec<PathBuf>,
        /// Check FILES alone, without the default rules under them.
        #[arg(long)]
        no_default_rules: bool,
        /// Leave out rules that use Falco fields mcp-monitor does not
        /// provide (with a warning naming them) instead of failing.
        #[arg(long)]
        skip_unsupported: bool,
        /// Do not print warnings.
        #[arg(short, long)]
        quiet: bool,
    },
    /// List the loaded rules: name, priority, action (and where it is
    /// decided: in the kernel or in user space), tags and where each is
    /// defined.
    List {
        /// Extra rule files or directories, loaded after the defaults and
        /// /etc/mcp-monitor/rules.d.
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        #[arg(long)]
        no_default_rules: bool,
    },
    /// Every field a rule can use, with its type and meaning.
    Fields,
    /// The rules reference in Markdown (docs/rules.md): what each rule
    /// catches, its priority, MITRE ATT&CK and SlowMist checklist items, and
    /// the lists and macros to extend to tune it.
    Doc {
        /// Document these files too (after the defaults, overrides applied).
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        #[arg(long)]
        no_default_rules: bool,
    },
    /// Replay events (JSON lines as `run --events` prints them) through rules
    /// and print the alerts: rule development without root.
    Test {
        /// Rule files or directories, loaded after the defaults.
        rules: Vec<PathBuf>,
        /// The events file (`-` for standard input).
        #[arg(long, value_name = "EVENTS.jsonl")]
        events: PathBuf,
        #[arg(long)]
        no_default_rules: bool,
    },
}

pub fn run(cmd: RulesCommand) -> anyhow::Result<i32> {
    match cmd {
        RulesCommand::Check {
            files,
            no_default_rules,
            skip_unsupported,
            quiet,
        } => check(&files, no_default_rules, skip_unsupported, quiet),
        RulesCommand::List {
            rules,
            no_default_rules,
        } => list(rules, no_default_rules),
        RulesCommand::Fields => {
            fields();
            Ok(0)
        }
        RulesCommand::Doc {
            rules,
            no_default_rules,
        } => doc(&rules, no_default_rules),
        RulesCommand::Test {
            rules,
            events,
            no_default_rules,
        } => test(&rules, &events, no_default_rules),
    }
}

struct Style {
    on: bool,
}

impl Style {
    fn stdout() -> Self {
        Style {
            on: std::io::stdout().is_terminal(),
        }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Sources for `check`/`test`: the defaults (unless told not to), then `paths`.
fn gather(paths: &[PathBuf], defaults: bool) -> Result<Vec<RuleSource>, Vec<Diagnostic>> {
    let mut sources = if defaults {
        default_sources()
    } else {
        Vec::new()
    };
    let mut errs = Vec::new();
    for p in paths {
        match read_path(p) {
            Ok(s) => sources.extend(s),
            Err(e) => errs.push(Diagnostic {
                severity: Severity::Error,
                kind: Kind::Io,
                location: super::Location {
                    file: p.display().to_string().into(),
                    line: 1,
                    col: 1,
                },
                message: format!("cannot read rules: {e}"),
                expected: Some("a readable rules file or directory".into()),
                line_text: None,
            }),
        }
    }
    if errs.is_empty() {
        Ok(sources)
    } else {
        Err(errs)
    }
}

fn print_diags(diags: &[Diagnostic], color: bool) {
    let mut out = std::io::stdout().lock();
    for d in diags {
        let _ = writeln!(out, "{}", d.render(color));
    }
}

fn check(files: &[PathBuf], no_defaults: bool, skip: bool, quiet: bool) -> anyhow::Result<i32> {
    let style = Style::stdout();
    let sources = match gather(files, files.is_empty() || !no_defaults) {
        Ok(s) => s,
        Err(errs) => {
            print_diags(&errs, style.on);
            return Ok(1);
        }
    };
    let opts = CompileOptions {
        skip_unsupported: skip,
    };
    let nfiles = sources.len();
    match RuleSet::load_with(&sources, &opts) {
        Ok((set, warnings)) => {
            if !quiet {
                print_diags(&warnings, style.on);
            }
            let enabled = set.rules().iter().filter(|r| r.enabled()).count();
            let mut line = format!(
                "{}: {} rules compiled ({enabled} enabled) from {nfiles} files, {} warnings",
                style.paint("1;32", "ok"),
                set.rules().len(),
                warnings.len()
            );
            if !set.skipped().is_empty() {
                line.push_str(&format!(
                    ", {} rules skipped for unsupported fields",
                    set.skipped().len()
                ));
            }
            let _ = writeln!(std::io::stdout(), "{line}");
            Ok(0)
        }
        Err(LoadError { errors, warnings }) => {
            print_diags(&errors, style.on);
            if !quiet {
                print_diags(&warnings, style.on);
            }
            let unsupported = errors
                .iter()
                .filter(|d| d.kind == Kind::UnsupportedField)
                .count();
            let _ = writeln!(
                std::io::stdout(),
                "{}: {} errors, {} warnings in {nfiles} files",
                style.paint("1;31", "failed"),
                errors.len(),
                warnings.len()
            );
            if unsupported > 0 && !skip {
                let _ = writeln!(
                    std::io::stdout(),
                    "{unsupported} errors are Falco fields mcp-monitor does not provide; \
                     --skip-unsupported loads the other rules"
                );
            }
            Ok(1)
        }
    }
}

fn list(rules: Vec<PathBuf>, no_defaults: bool) -> anyhow::Result<i32> {
    let style = Style::stdout();
    let opts = LoadOptions {
        default_rules: !no_defaults,
        extra: rules,
        ..Default::default()
    };
    let set = match load_configured(&opts) {
        Ok((set, _)) => set,
        Err(e) => {
            print_diags(&e.errors, style.on);
            return Ok(1);
        }
    };
    let width = set
        .rules()
        .iter()
        .map(|r| r.name().len() + if r.enabled() { 0 } else { 11 })
        .max()
        .unwrap_or(4)
        .min(64);
    let locs: Vec<String> = set
        .rules()
        .iter()
        .map(|r| r.location().to_string())
        .collect();
    let lwidth = locs.iter().map(String::len).max().unwrap_or(6);
    // Where each action is decided on a current kernel (this command loads
    // nothing: the daemon says at start what its kernel decides).
    let plan = crate::enforce::plan::KernelPlan::compile(
        &set,
        crate::enforce::plan::Capabilities::typical(),
    );
    let mut out = table(
        &style,
        &format!(
            "{:<width$}  {:<13}  {:<18}  {:<lwidth$}  TAGS",
            "RULE", "PRIORITY", "ACTION", "SOURCE"
        ),
    );
    for (r, loc) in set.rules().iter().zip(&locs) {
        let mut name = r.name().to_string();
        if !r.enabled() {
            name.push_str(" (disabled)");
        }
        let _ = writeln!(
            out,
            "{name:<width$}  {:<13}  {:<18}  {loc:<lwidth$}  {}",
            r.priority().as_str(),
            action_column(&plan, r),
            r.tags().join(",")
        );
    }
    Ok(0)
}

/// `kill (kernel)`, `kill-server (user)`: a rule's action and where it is
/// decided; `-` without one.
fn action_column(plan: &crate::enforce::plan::KernelPlan, r: &super::Rule) -> String {
    match (r.action(), plan.latency(r)) {
        (Some(a), Some(l)) => format!("{a} ({})", l.as_str()),
        _ => "-".into(),
    }
}

/// Stdout, locked, with a table's bold heading line written.
fn table(style: &Style, heading: &str) -> std::io::StdoutLock<'static> {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", style.paint("1", heading));
    out
}

fn fields() {
    let style = Style::stdout();
    let width = FIELDS.iter().map(|f| f.name.len() + 3).max().unwrap_or(10);
    let mut out = table(
        &style,
        &format!("{:<width$}  {:<15}  MEANING", "FIELD", "TYPE"),
    );
    for f in FIELDS {
        let name = if f.indexable {
            format!("{}[n]", f.name)
        } else {
            f.name.to_string()
        };
        let _ = writeln!(out, "{name:<width$}  {:<15}  {}", f.ty.name(), f.desc);
    }
}

/// The rule files gathered and compiled; `None`, with their diagnostics
/// printed, when either step fails.
fn load_or_report(
    rules: &[PathBuf],
    no_defaults: bool,
    colour: bool,
) -> Option<(Vec<RuleSource>, RuleSet)> {
    let sources = gather(rules, !no_defaults)
        .map_err(|errs| print_diags(&errs, colour))
        .ok()?;
    match RuleSet::load(&sources) {
        Ok((set, _)) => Some((sources, set)),
        Err(e) => {
            print_diags(&e.errors, colour);
            None
        }
    }
}

fn doc(rules: &[PathBuf], no_defaults: bool) -> anyhow::Result<i32> {
    // Only rules that compile are documented.
    let Some((sources, _)) = load_or_report(rules, no_defaults, Style::stdout().on) else {
        return Ok(1);
    };
    std::io::stdout().write_all(super::reference::markdown(&sources).as_bytes())?;
    Ok(0)
}

fn test(rules: &[PathBuf], events: &PathBuf, no_defaults: bool) -> anyhow::Result<i32> {
    let style = Style::stdout();
    let Some((_, set)) = load_or_report(rules, no_defaults, style.on) else {
        return Ok(1);
    };
    let reader: Box<dyn BufRead> = if events.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(events)
                .map_err(|e| anyhow::anyhow!("{}: {e}", events.display()))?,
        ))
    };
    let mut out = std::io::stdout().lock();
    let (mut nevents, mut nalerts, mut bad) = (0usize, 0usize, 0usize);
    let mut per_rule: BTreeMap<String, usize> = BTreeMap::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let ev: Event = match serde_json::from_str(&line) {
            Ok(ev) => ev,
            Err(e) => {
                bad += 1;
                eprintln!("{}:{}: error: not an event: {e}", events.display(), i + 1);
                continue;
            }
        };
        nevents += 1;
        set.evaluate(&ev, |m| {
            nalerts += 1;
            *per_rule.entry(m.rule.to_string()).or_default() += 1;
            let prio = style.paint(priority_colour(m.priority), m.priority.as_str());
            let _ = writeln!(
                out,
                "{}:{} {prio} {}: {}",
                events.display(),
                i + 1,
                m.rule,
                crate::redact::text(&m.output)
            );
        });
    }
    writeln!(
        out,
        "{nevents} events, {nalerts} alerts{}",
        if bad > 0 {
            format!(", {bad} unreadable lines")
        } else {
            String::new()
        }
    )?;
    for (rule, n) in &per_rule {
        writeln!(out, "  {n:>6}  {rule}")?;
    }
    Ok(if bad > 0 { 1 } else { 0 })
}

fn priority_colour(p: Priority) -> &'static str {
    use Priority::*;
    match p {
        Emergency | Alert | Critical | Error => "1;31",
        Warning => "1;33",
        Notice => "1;36",
        Informational | Debug => "2",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enforce::plan::{Capabilities, KernelPlan};

    #[test]
    fn the_action_column_says_where_each_action_is_decided() {
        let mut sources = default_sources();
        sources.push(RuleSource::new(
            "extra.yaml",
            "- rule: Marker\n  desc: d\n  condition: mcp.server exists and evt.type = execve \
             and proc.cmdline contains marker\n  output: o\n  priority: warning\n  action: kill-server\n",
        ));
        let set = RuleSet::load(&sources).unwrap().0;
        let plan = KernelPlan::compile(&set, Capabilities::typical());
        let column = |name: &str| action_column(&plan, set.rule(name).unwrap());
        assert_eq!(
            column("MCP server read SSH keys or configuration"),
            "kill (kernel)"
        );
        assert_eq!(column("Marker"), "kill-server (user)");
        assert_eq!(column("MCP server listed a secret directory"), "-");
    }
}
