//! Detection in the daemon: the compiled rule set, its hot reload (SIGHUP or a
//! rule file changed on disk), and alerts written to stdout.
//!
//! The set is owned by the event loop; a reload compiles the new set aside and
//! replaces the old one between two events, or keeps the old one if the new
//! files do not compile.
use std::{
    collections::BTreeMap,
    io::{IsTerminal as _, Write as _},
};

use crate::{
    alerts::{Alert, hostname, render_text},
    event::Event,
    rules::{self, LoadError, LoadOptions, RuleSet, Warning, ruleset::ReloadSummary},
    watch::FileWatch,
};

/// How alerts are written to stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlertFormat {
    /// One coloured line each on a terminal, JSON lines otherwise.
    #[default]
    Auto,
    Text,
    Json,
}

/// The rule set and where it came from.
pub struct Detector {
    opts: LoadOptions,
    set: RuleSet,
    files: FileWatch,
}

impl Detector {
    pub fn load(opts: LoadOptions) -> Result<(Detector, Vec<Warning>), LoadError> {
        let (set, warnings) = rules::load_configured(&opts)?;
        let files = FileWatch::new(opts.rules_dir.iter().chain(&opts.extra).cloned().collect());
        Ok((Detector { opts, set, files }, warnings))
    }

    pub fn rules(&self) -> &RuleSet {
        &self.set
    }

    /// Compiles the configured files again; on success swaps the set in, on
    /// failure keeps the running one and returns the errors.
    pub fn reload(&mut self) -> Result<(ReloadSummary, Vec<Warning>), LoadError> {
        self.files.changed();
        let (set, warnings) = rules::load_configured(&self.opts)?;
        let summary = rules::diff(&self.set, &set);
        self.set = set;
        Ok((summary, warnings))
    }

    /// Whether a rule file was added, removed or modified since the last look.
    pub fn files_changed(&mut self) -> bool {
        self.files.changed()
    }
}

/// Writes alerts to stdout.
pub struct AlertSink {
    json: bool,
    colour: bool,
    hostname: String,
    out: Option<std::io::BufWriter<std::io::Stdout>>,
    pub raised: u64,
}

impl AlertSink {
    pub fn new(format: AlertFormat) -> Self {
        let tty = std::io::stdout().is_terminal();
        AlertSink {
            json: match format {
                AlertFormat::Auto => !tty,
                AlertFormat::Text => false,
                AlertFormat::Json => true,
            },
            colour: tty && format != AlertFormat::Json,
            hostname: hostname(),
            out: Some(std::io::BufWriter::new(std::io::stdout())),
            raised: 0,
        }
    }

    /// Evaluates `ev` against `detector`'s rules and writes an alert per match.
    pub fn evaluate(&mut self, detector: &Detector, ev: &Event) {
        detector.rules().evaluate(ev, |m| {
            let alert = Alert::new(&m, ev, &self.hostname);
            self.write(&alert);
        });
    }

    /// Raises an alert about the monitor itself.
    pub fn health(
        &mut self,
        rule: &str,
        priority: &str,
        output: String,
        fields: BTreeMap<String, serde_json::Value>,
    ) {
        let alert = Alert::health(rule, priority, output, fields, &self.hostname);
        self.write(&alert);
        self.flush();
    }

    fn write(&mut self, alert: &Alert) {
        self.raised += 1;
        let line = if self.json {
            alert.to_json_line()
        } else {
            render_text(alert, self.colour)
        };
        if let Some(out) = &mut self.out
            && writeln!(out, "{line}").is_err()
        {
            self.out = None;
        }
    }

    pub fn flush(&mut self) {
        if let Some(out) = &mut self.out
            && out.flush().is_err()
        {
            self.out = None;
        }
    }
}

/// Prints a failed load's errors the way `rules check` does.
pub fn report_load_error(e: &LoadError) {
    let colour = std::io::stderr().is_terminal();
    for d in &e.errors {
        eprint!("{}", d.render(colour));
    }
}
