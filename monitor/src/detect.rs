//! Detection in the daemon: the compiled rule set, its hot reload (SIGHUP or a
//! rule file changed on disk), and alerts written to stdout.
//!
//! The set is owned by the event loop; a reload compiles the new set aside and
//! replaces the old one between two events, or keeps the old one if the new
//! files do not compile.
use std::{
    collections::{BTreeMap, HashMap},
    io::{IsTerminal as _, Write as _},
    time::Instant,
};

use crate::{
    alerts::{Alert, gate::Gate, hostname, render_text},
    event::Event,
    metrics::Tally,
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

/// Writes alerts to stdout, after the flood [`Gate`].
pub struct AlertSink {
    json: bool,
    colour: bool,
    hostname: String,
    out: Option<std::io::BufWriter<std::io::Stdout>>,
    pub raised: u64,
    pub gate: Gate,
    /// Alerts sent, by rule, then by priority.
    pub sent: HashMap<String, Tally>,
}

impl AlertSink {
    pub fn new(format: AlertFormat, gate: Gate) -> Self {
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
            gate,
            sent: HashMap::new(),
        }
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Evaluates `ev` against `detector`'s rules and writes an alert per match
    /// that the gate lets through.
    pub fn evaluate(&mut self, detector: &Detector, ev: &Event) {
        for rule in detector.rules().matching(ev) {
            let hostname = &self.hostname;
            // Rendered only when it goes out: repeats in a flood cost a key.
            let alert = self.gate.rule_alert(rule.name(), ev, Instant::now(), || {
                Alert::new(&rule.to_match(ev), ev, hostname)
            });
            self.write_pending();
            if let Some(alert) = alert {
                self.write(&alert);
            }
        }
    }

    /// Raises an alert about the monitor itself (rate-limited, never dropped).
    pub fn health(
        &mut self,
        rule: &str,
        priority: &str,
        output: String,
        fields: BTreeMap<String, serde_json::Value>,
    ) {
        self.raise_health(Alert::health(
            rule,
            priority,
            output,
            fields,
            &self.hostname,
        ));
    }

    /// Raises a health alert built elsewhere (`alerts::health`).
    pub fn raise_health(&mut self, alert: Alert) {
        if let Some(a) = self.gate.health(alert, Instant::now()) {
            self.write(&a);
            self.flush();
        }
    }

    /// Raises a server's lifecycle alert (not throttled: see [`Gate`]).
    pub fn lifecycle(&mut self, alert: Alert) {
        self.write(&alert);
    }

    /// Once a second: suppression summaries, throttle reports, held health alerts.
    pub fn tick(&mut self) {
        for a in self.gate.tick(Instant::now(), &self.hostname) {
            self.write(&a);
        }
        self.flush();
    }

    /// At shutdown: whatever the gate still holds, then a flush.
    pub fn finish(&mut self) {
        for a in self.gate.finish(Instant::now(), &self.hostname) {
            self.write(&a);
        }
        self.flush();
    }

    /// Reports the gate made while admitting (a throttle starting).
    fn write_pending(&mut self) {
        for a in self.gate.pending(&self.hostname) {
            self.write(&a);
        }
    }

    fn write(&mut self, alert: &Alert) {
        self.raised += 1;
        match self.sent.get_mut(&alert.rule) {
            Some(t) => t.add(&alert.priority, 1),
            None => {
                let mut t = Tally::default();
                t.add(&alert.priority, 1);
                self.sent.insert(alert.rule.clone(), t);
            }
        }
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
