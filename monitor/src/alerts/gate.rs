//! The gate alerts pass before the sinks: rule alerts through their
//! suppression windows and their server's throttle, health alerts through the
//! health rate limiter. Lifecycle alerts pass freely: one start and one exit per
//! server instance, and a throttled server's exit is what its reader most needs.
//! Also the counts of what was held back, for metrics.
use std::time::Instant;

use super::{
    Alert,
    health::{self, HealthLimiter},
    keys::KeyPolicies,
    suppress::{SuppressionConfig, Suppressor, Verdict},
};
use crate::{event::Event, metrics::Tally, rules::RuleSet};

pub struct Gate {
    cfg: SuppressionConfig,
    policies: KeyPolicies,
    suppressor: Suppressor,
    health: HealthLimiter,
    /// Alerts held back by suppression windows, by rule.
    pub suppressed: Tally,
    /// Alerts dropped by throttling, by server.
    pub throttled: Tally,
}

impl Gate {
    /// The gate for `set` under `cfg`; returns warnings about `cfg`.
    pub fn new(cfg: SuppressionConfig, set: &RuleSet) -> (Gate, Vec<String>) {
        let (policies, warnings) = KeyPolicies::build(&cfg, set);
        let gate = Gate {
            suppressor: Suppressor::new(cfg.throttle.clone()),
            health: HealthLimiter::new(cfg.health_interval.0),
            cfg,
            policies,
            suppressed: Tally::default(),
            throttled: Tally::default(),
        };
        (gate, warnings)
    }

    /// The rules were reloaded: new keys, and changed rules start afresh.
    pub fn rules_reloaded(&mut self, set: &RuleSet, changed: &[String]) -> Vec<String> {
        let (policies, warnings) = KeyPolicies::build(&self.cfg, set);
        self.policies = policies;
        self.suppressor.forget_rules(changed);
        warnings
    }

    /// New settings (a configuration reload).
    /// The settings in force.
    pub fn config(&self) -> &SuppressionConfig {
        &self.cfg
    }

    pub fn reconfigure(&mut self, cfg: SuppressionConfig, set: &RuleSet) -> Vec<String> {
        self.suppressor.set_throttle(cfg.throttle.clone());
        self.health.set_interval(cfg.health_interval.0);
        self.cfg = cfg;
        self.rules_reloaded(set, &[])
    }

    /// The alert `ev` raised for `rule` if it goes out. `build` makes it, and
    /// is not called for a repeat inside its window (the common case in a flood).
    pub fn rule_alert(
        &mut self,
        rule: &str,
        ev: &Event,
        now: Instant,
        build: impl FnOnce() -> Alert,
    ) -> Option<Alert> {
        let key = self.policies.key(rule, ev);
        if let Some(k) = &key
            && self.suppressor.is_repeat(k, now)
        {
            self.suppressed.add(rule, 1);
            return None;
        }
        let alert = build();
        let v = self.suppressor.admit(&alert, key, now);
        self.count(&alert, v).then_some(alert)
    }

    /// A health alert to send now, or `None` when it is held for the next tick.
    pub fn health(&mut self, alert: Alert, now: Instant) -> Option<Alert> {
        self.health.offer(alert, now)
    }

    /// Once a second: summaries of closed windows, throttle reports, and
    /// health alerts whose interval has passed.
    pub fn tick(&mut self, now: Instant, hostname: &str) -> Vec<Alert> {
        self.suppressor.tick(now);
        let mut out: Vec<Alert> = self
            .suppressor
            .take_notices()
            .iter()
            .map(|n| health::from_notice(n, hostname))
            .collect();
        out.extend(self.health.tick(now));
        out
    }

    /// At shutdown: summaries of every open window, throttle counts, held
    /// health alerts.
    pub fn finish(&mut self, now: Instant, hostname: &str) -> Vec<Alert> {
        self.suppressor.finish(now);
        let mut out = self.pending(hostname);
        out.extend(self.health.finish(now));
        out
    }

    /// Reports that arose while admitting (a throttle starting), to send at once.
    pub fn pending(&mut self, hostname: &str) -> Vec<Alert> {
        self.suppressor
            .take_notices()
            .iter()
            .map(|n| health::from_notice(n, hostname))
            .collect()
    }

    /// Servers being throttled now.
    pub fn throttled_servers(&self) -> usize {
        self.suppressor.throttled_servers()
    }

    fn count(&mut self, alert: &Alert, v: Verdict) -> bool {
        match v {
            Verdict::Send => true,
            Verdict::Suppressed => {
                self.suppressed.add(&alert.rule, 1);
                false
            }
            Verdict::Throttled => {
                self.throttled
                    .add(alert.mcp.server.as_deref().unwrap_or(""), 1);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, collections::BTreeMap, time::Duration};

    use super::*;
    use crate::{alerts::suppress::ThrottleConfig, priority::Priority, rules::diag::RuleSource};

    #[test]
    fn repeats_are_not_built_and_everything_held_is_counted_and_reported() {
        let set = RuleSet::load(&[RuleSource::new(
            "t.yaml",
            "- rule: Marker\n  desc: d\n  condition: fd.filename = \"m\"\n  output: \"read %fd.name\"\n  priority: WARNING\n",
        )])
        .unwrap()
        .0;
        let cfg = SuppressionConfig {
            throttle: ThrottleConfig {
                enabled: true,
                rate: 0.0,
                burst: 2,
            },
            ..Default::default()
        };
        let (mut gate, warnings) = Gate::new(cfg, &set);
        assert!(warnings.is_empty());
        let ev = |file: &str| Event {
            fd_name: Some(file.into()),
            mcp_server: Some("fs".into()),
            mcp_root_pid: Some(7),
            ..Default::default()
        };
        let built = Cell::new(0);
        let t0 = Instant::now();
        let mut offer = |file: &str| {
            let e = ev(file);
            gate.rule_alert("Marker", &e, t0, || {
                built.set(built.get() + 1);
                let mut a = Alert::health(
                    "Marker",
                    Priority::Warning,
                    "x".into(),
                    BTreeMap::new(),
                    "h",
                );
                a.mcp.server = Some("fs".into());
                a
            })
            .is_some()
        };
        assert!(offer("/a/m"));
        assert!(!offer("/a/m"));
        assert!(!offer("/a/m"));
        assert!(offer("/b/m"));
        assert!(!offer("/c/m"), "the bucket of 2 is empty");
        assert_eq!(built.get(), 3, "repeats are never built");
        assert_eq!(gate.suppressed.get("Marker"), 2);
        assert_eq!(gate.throttled.get("fs"), 1);
        let started = gate.pending("h");
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].rule, health::rule::THROTTLE_STARTED);
        // At shutdown: the summary of /a and the throttled count.
        let rules: Vec<String> = gate
            .finish(t0 + Duration::from_secs(1), "h")
            .into_iter()
            .map(|a| a.rule)
            .collect();
        assert_eq!(
            rules,
            [
                health::rule::ALERTS_SUPPRESSED,
                health::rule::THROTTLE_STOPPED
            ]
        );
    }
}
