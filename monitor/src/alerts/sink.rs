//! The alert sink of the daemon: turns rule matches, health findings and
//! servers' lifecycle into alerts, passes them through the flood gate and
//! hands them to the sinks, without ever waiting for one.
use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use super::{Alert, gate::Gate, health, hostname};
use crate::{
    enforce::actor::Outcome,
    event::Event,
    priority::Priority,
    rules::{RuleSet, ruleset::Rule},
    sinks::{Delivery, SinkKind, Sinks, config::SinksConfig},
};

/// Turns rule matches and health findings into alerts and hands them to the
/// sinks, without ever waiting for one, after the flood [`Gate`].
pub struct AlertSink {
    hostname: String,
    sinks: Sinks,
    config: SinksConfig,
    pub gate: Gate,
    /// Alerts sent, by rule, then by priority.
    pub sent: HashMap<String, BTreeMap<Priority, u64>>,
}

impl AlertSink {
    /// Starts the sinks `config` enables.
    pub fn new(config: &SinksConfig, gate: Gate) -> anyhow::Result<Self> {
        Ok(Self::with_sinks(
            Sinks::start(config)?,
            config.clone(),
            gate,
        ))
    }

    /// Over sinks built elsewhere (tests).
    pub fn with_sinks(sinks: Sinks, config: SinksConfig, gate: Gate) -> Self {
        AlertSink {
            hostname: hostname(),
            sinks,
            config,
            gate,
            sent: HashMap::new(),
        }
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Raises the alert `rule` matching `ev` gives, if the gate lets it
    /// through, saying what the rule's action did (`acted`).
    pub fn raise_match(&mut self, rule: &Rule, ev: &Event, acted: Option<&Outcome>) {
        let hostname = &self.hostname;
        // Rendered only when it goes out: repeats in a flood cost a key.
        let alert = self.gate.rule_alert(rule.name(), ev, Instant::now(), || {
            let mut a = Alert::new(&rule.to_match(ev), ev, hostname);
            if let Some(o) = acted {
                a.action = Some(o.action.to_owned());
                a.action_result = o.result.clone();
                a.action_latency = o.latency.map(|l| l.as_str().to_owned());
            }
            a
        });
        self.send_pending();
        if let Some(alert) = alert {
            self.send(alert, &[]);
        }
    }

    /// Raises a health alert built elsewhere (`alerts::health`).
    pub fn raise_health(&mut self, alert: Alert) {
        if let Some(a) = self.gate.health(alert, Instant::now()) {
            self.send(a, &[]);
        }
    }

    /// Sends the record of a tool call to the alert log and the alert socket
    /// (for `mcp-monitor calls`), not to the terminal or the webhook: it is
    /// a record of what happened, not an alert.
    pub fn call_record(&mut self, record: Alert) {
        self.send(record, &[SinkKind::Stdout, SinkKind::Webhook]);
    }

    /// Raises a server's lifecycle alert (not throttled: see [`Gate`]).
    pub fn lifecycle(&mut self, alert: Alert) {
        self.send(alert, &[]);
    }

    /// Once a second: suppression summaries, throttle reports, held health
    /// alerts, and alerts that sinks lost (reported through the sinks that did
    /// not lose them, and on stderr; rate-limited by the sinks).
    pub fn tick(&mut self) {
        for a in self.gate.tick(Instant::now(), &self.hostname) {
            self.send(a, &[]);
        }
        let Some(losses) = self.sinks.losses() else {
            return;
        };
        let text = losses.text();
        eprintln!("mcp-monitor: warning: alerts lost on their way out ({text})");
        let skip: Vec<SinkKind> = losses.by_sink.iter().map(|(k, ..)| *k).collect();
        let alert = health::delivery_failed(&text, losses.fields(), &self.hostname);
        self.send(alert, &skip);
    }

    /// Before shutdown: whatever the gate still holds (open windows, throttle
    /// counts, held health alerts).
    pub fn finish(&mut self) {
        for a in self.gate.finish(Instant::now(), &self.hostname) {
            self.send(a, &[]);
        }
    }

    /// Reports the gate made while admitting (a throttle starting).
    fn send_pending(&mut self) {
        for a in self.gate.pending(&self.hostname) {
            self.send(a, &[]);
        }
    }

    /// Hands `alert` to every sink but those in `skip`, and counts it. Every
    /// alert passes here, whatever built it (lifecycle alerts quote the
    /// server's command line): secrets are redacted on the way out.
    fn send(&mut self, mut alert: Alert, skip: &[SinkKind]) {
        crate::redact::alert(&mut alert);
        match self.sent.get_mut(&alert.rule) {
            Some(by_priority) => *by_priority.entry(alert.priority).or_default() += 1,
            None => {
                let by_priority = BTreeMap::from([(alert.priority, 1)]);
                self.sent.insert(alert.rule.clone(), by_priority);
            }
        }
        self.sinks.send_except(&Delivery::new(alert), skip);
    }

    /// Applies changed sink settings; the sinks that cannot take them keep
    /// their old ones (and the error says why).
    /// Suppression and throttling from `cfg` (for the rules `set`); returns
    /// warnings. The same settings again change nothing.
    pub fn reconfigure_suppression(
        &mut self,
        cfg: &crate::alerts::suppress::SuppressionConfig,
        set: &RuleSet,
    ) -> Vec<String> {
        if cfg == self.gate.config() {
            return Vec::new();
        }
        self.gate.reconfigure(cfg.clone(), set)
    }

    pub fn reconfigure(&mut self, config: &SinksConfig) -> anyhow::Result<()> {
        if *config == self.config {
            return Ok(());
        }
        self.sinks.reconfigure(&self.config, config)?;
        self.config = config.clone();
        Ok(())
    }

    /// The sinks' configuration in force.
    pub fn sinks_config(&self) -> &SinksConfig {
        &self.config
    }

    /// What the alert sink reports of itself, for metrics: alerts sent by
    /// rule and priority, what the gate held back, and each sink's figures.
    pub fn figures(&self) -> crate::metrics::AlertFigures {
        crate::metrics::AlertFigures {
            sent: self
                .sent
                .iter()
                .flat_map(|(rule, by_priority)| {
                    by_priority.iter().map(|(p, n)| ((rule.clone(), *p), *n))
                })
                .collect(),
            suppressed: self.gate.suppressed.clone(),
            throttled: self.gate.throttled.clone(),
            throttled_servers: self.gate.throttled_servers() as u64,
            sinks: self.sink_figures(),
        }
    }

    /// The running sinks' figures, for metrics.
    pub fn sink_figures(&self) -> Vec<crate::metrics::SinkFigures> {
        let stats = self.sinks.stats();
        self.sinks
            .kinds()
            .into_iter()
            .map(|kind| {
                let c = stats.of(kind);
                crate::metrics::SinkFigures {
                    name: kind.name().to_owned(),
                    queue_depth: c.depth(),
                    overflow: c.overflow.load(std::sync::atomic::Ordering::Relaxed),
                    delivered: c.delivered.load(std::sync::atomic::Ordering::Relaxed),
                    failed: c.failed.load(std::sync::atomic::Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// The sinks' counters, for health alerts and metrics.
    #[cfg(test)]
    pub fn stats(&self) -> std::sync::Arc<crate::sinks::SinkStats> {
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
