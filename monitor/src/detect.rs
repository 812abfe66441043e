//! Detection in the daemon: the compiled rule set, its hot reload (SIGHUP or a
//! rule file changed on disk), and the alerts it raises, handed to the sinks.
//!
//! The set is owned by the event loop; a reload compiles the new set aside and
//! replaces the old one between two events, or keeps the old one if the new
//! files do not compile.
use std::{collections::BTreeMap, io::IsTerminal as _, sync::Arc, time::Duration};

use crate::{
    alerts::{Alert, hostname},
    config::SinksConfig,
    event::Event,
    rules::{self, LoadError, LoadOptions, RuleSet, Warning, ruleset::ReloadSummary},
    sinks::{Delivery, SinkKind, SinkStats, Sinks},
    watch::FileWatch,
};

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

    /// Loads from other places from now on (takes effect at the next reload).
    pub fn set_options(&mut self, opts: LoadOptions) {
        self.files = FileWatch::new(opts.rules_dir.iter().chain(&opts.extra).cloned().collect());
        self.opts = opts;
    }

    /// Whether a rule file was added, removed or modified since the last look.
    pub fn files_changed(&mut self) -> bool {
        self.files.changed()
    }
}

/// Turns rule matches and health findings into alerts and hands them to the
/// sinks, without ever waiting for one.
pub struct AlertSink {
    hostname: String,
    sinks: Sinks,
    config: SinksConfig,
    pub raised: u64,
}

impl AlertSink {
    /// Starts the sinks `config` enables.
    pub fn new(config: &SinksConfig) -> anyhow::Result<Self> {
        Ok(Self::with_sinks(Sinks::start(config)?, config.clone()))
    }

    /// Over sinks built elsewhere (tests).
    pub fn with_sinks(sinks: Sinks, config: SinksConfig) -> Self {
        AlertSink {
            hostname: hostname(),
            sinks,
            config,
            raised: 0,
        }
    }

    /// Evaluates `ev` against `detector`'s rules and raises an alert per match.
    pub fn evaluate(&mut self, detector: &Detector, ev: &Event) {
        detector.rules().evaluate(ev, |m| {
            let alert = Alert::new(&m, ev, &self.hostname);
            self.raised += 1;
            self.sinks.send(&Delivery::new(alert));
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
        self.health_except(rule, priority, output, fields, &[]);
    }

    fn health_except(
        &mut self,
        rule: &str,
        priority: &str,
        output: String,
        fields: BTreeMap<String, serde_json::Value>,
        skip: &[SinkKind],
    ) {
        let alert = Alert::health(rule, priority, output, fields, &self.hostname);
        self.raised += 1;
        self.sinks.send_except(&Delivery::new(alert), skip);
    }

    /// Once a second: reports alerts that sinks lost (rate-limited), through
    /// the sinks that did not lose them and on stderr.
    pub fn tick(&mut self) {
        let Some(losses) = self.sinks.losses() else {
            return;
        };
        let text = losses.text();
        eprintln!("mcp-monitor: warning: alerts lost on their way out ({text})");
        let skip: Vec<SinkKind> = losses.by_sink.iter().map(|(k, ..)| *k).collect();
        self.health_except(
            "Alert delivery failed",
            "Error",
            format!(
                "alerts did not reach every sink ({text}); a slow or failing sink loses alerts rather than delay detection"
            ),
            losses.fields(),
            &skip,
        );
    }

    /// Applies changed sink settings; the sinks that cannot take them keep
    /// their old ones (and the error says why).
    pub fn reconfigure(&mut self, config: &SinksConfig) -> anyhow::Result<()> {
        if *config == self.config {
            return Ok(());
        }
        self.sinks.reconfigure(&self.config, config)?;
        self.config = config.clone();
        Ok(())
    }

    /// The sinks' counters, for health alerts and metrics.
    pub fn stats(&self) -> Arc<SinkStats> {
        self.sinks.stats()
    }

    /// Lets every sink deliver what it holds and make it durable, waiting at
    /// most `wait` in all. Returns the sinks that did not finish in time.
    pub fn shutdown(self, wait: Duration) -> Vec<SinkKind> {
        let late = self.sinks.shutdown(wait);
        for kind in &late {
            eprintln!(
                "mcp-monitor: warning: the {} sink did not finish within {wait:?}; its last alerts may be lost",
                kind.name()
            );
        }
        late
    }
}

/// Prints a failed load's errors the way `rules check` does.
pub fn report_load_error(e: &LoadError) {
    let colour = std::io::stderr().is_terminal();
    for d in &e.errors {
        eprint!("{}", d.render(colour));
    }
}
