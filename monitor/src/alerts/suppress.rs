//! Flood control for rule alerts: suppression windows and per-server throttling.
//!
//! A server that trips a rule in a loop must not bury everything else. Two
//! mechanisms, both pure logic with the clock passed in:
//! - **Suppression windows**, per (rule, server instance, key fields): the first
//!   alert goes out at once; repeats inside the window are only counted; when the
//!   window closes one summary reports how many were held back.
//! - **A token bucket per server name and user**: alerts that pass
//!   suppression spend a token; an empty bucket drops them. The user (the
//!   uid of the process that raised the alert) is part of the key because
//!   anyone may register any name: another user's noisy `github` must not
//!   drain the bucket of yours. The start and the end of a server's
//!   throttling are reported once each, the end with the number dropped.
//!
//! What the caller gets back are [`Notice`]s; `alerts::health` turns them into
//! alerts. Nothing is ever dropped silently: every held-back alert is counted in
//! a summary or a throttle report.
use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use serde::Deserialize;

use super::{Alert, AlertMcp, AlertProcess};
use crate::priority::Priority;
use crate::units::HumanDuration;

/// The `suppression:` settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuppressionConfig {
    /// Suppress repeats of the same alert (per rule, server and key fields).
    pub enabled: bool,
    /// How long repeats are counted after an alert went out (`60s`, `5m`).
    pub window: HumanDuration,
    /// Fields that tell two alerts of a rule apart. Empty: the fields the
    /// rule's output names (without pids and times), or proc.exepath and
    /// fd.name when it names none.
    pub key_fields: Vec<String>,
    /// Per-server alert rate limit.
    pub throttle: ThrottleConfig,
    /// The monitor's own health alerts are never suppressed; the same health
    /// alert goes out at most once per this long, later ones are folded into
    /// the next with a count.
    pub health_interval: HumanDuration,
    /// Per-rule settings, by rule name.
    pub rules: BTreeMap<String, RuleSuppression>,
}

impl Default for SuppressionConfig {
    fn default() -> Self {
        SuppressionConfig {
            enabled: true,
            window: HumanDuration(Duration::from_secs(60)),
            key_fields: Vec::new(),
            throttle: ThrottleConfig::default(),
            health_interval: HumanDuration(Duration::from_secs(10)),
            rules: BTreeMap::new(),
        }
    }
}

impl SuppressionConfig {
    /// Checks values serde cannot: the throttle's numbers (the key fields are
    /// `keys::KeyPolicies::validate`'s). Returns the offending key and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let t = &self.throttle;
        if t.enabled && !(t.rate.is_finite() && t.rate >= 0.0) {
            return Err((
                "suppression.throttle.rate",
                format!(
                    "suppression.throttle.rate is {}; give alerts per second as a number of at least 0",
                    t.rate
                ),
            ));
        }
        if t.enabled && t.burst == 0 {
            return Err((
                "suppression.throttle.burst",
                "suppression.throttle.burst is 0, which would drop every alert; give at least 1, \
                 or turn the throttle off with `enabled: false`"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// `suppression.throttle`: a token bucket per MCP server.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    pub enabled: bool,
    /// Alerts per second a server may raise in the long run.
    pub rate: f64,
    /// Alerts a server may raise at once before the rate applies.
    pub burst: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            enabled: true,
            rate: 20.0,
            burst: 200,
        }
    }
}

/// `suppression.rules.<name>`: what differs from the global settings.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleSuppression {
    /// `false` sends every alert of this rule (the throttle still applies).
    pub enabled: Option<bool>,
    pub window: Option<HumanDuration>,
    pub key_fields: Option<Vec<String>>,
}

/// How one alert is to be suppressed: its identity and its window.
#[derive(Clone, Debug, PartialEq)]
pub struct SuppressKey {
    /// Rule, server instance and key-field values, joined.
    pub key: String,
    pub window: Duration,
    /// The key fields and their values, repeated in the summary.
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// What becomes of one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// A repeat inside its window: counted for the summary.
    Suppressed,
    /// Its server is over its rate: counted for the throttle report.
    Throttled,
}

/// What a window that closed on repeats reports: the alert that went out
/// (its rule, priority, tags, server, process and key fields) and how many
/// like it were held back.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub rule: String,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub mcp: AlertMcp,
    pub process: Option<AlertProcess>,
    pub fields: BTreeMap<String, serde_json::Value>,
    pub count: u64,
    pub window: Duration,
}

/// Something the monitor must say about its flood control.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// A window closed on repeats that were held back.
    Summary(Box<Summary>),
    /// A server ran out of tokens; its alerts are being dropped.
    ThrottleStart {
        server: String,
        rate: f64,
        burst: u32,
    },
    /// Its bucket is full again; `dropped` alerts were lost meanwhile.
    ThrottleStop {
        server: String,
        dropped: u64,
        lasted: Duration,
    },
}

/// Windows beyond this many pass unsuppressed (the throttle still applies),
/// so distinct keys cannot grow memory without bound.
const MAX_WINDOWS: usize = 100_000;

/// An open window: when it opened, and its summary so far.
struct Window {
    opened: Instant,
    summary: Summary,
}

impl Window {
    fn open_at(&self, now: Instant) -> bool {
        now < self.opened + self.summary.window
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
    /// Since when alerts are dropped, and how many.
    throttled: Option<(Instant, u64)>,
}

/// A throttle bucket's owner: the server name and the uid of the process
/// that raised the alert (none for alerts without a process).
type BucketKey = (String, Option<u32>);

/// Suppression windows and server buckets.
pub struct Suppressor {
    throttle: ThrottleConfig,
    windows: HashMap<String, Window>,
    buckets: HashMap<BucketKey, Bucket>,
    notices: Vec<Notice>,
    /// Alerts held back by windows, and dropped by throttling, since start.
    pub suppressed: u64,
    pub throttled: u64,
}

impl Suppressor {
    pub fn new(throttle: ThrottleConfig) -> Self {
        Suppressor {
            throttle,
            windows: HashMap::new(),
            buckets: HashMap::new(),
            notices: Vec::new(),
            suppressed: 0,
            throttled: 0,
        }
    }

    /// New throttle settings; buckets keep their tokens (capped to the new burst).
    pub fn set_throttle(&mut self, throttle: ThrottleConfig) {
        for b in self.buckets.values_mut() {
            b.tokens = b.tokens.min(f64::from(throttle.burst));
        }
        self.throttle = throttle;
    }

    /// Whether an alert with `key` repeats one inside its window; if so it is
    /// counted, and the caller need not even build it.
    pub fn is_repeat(&mut self, key: &SuppressKey, now: Instant) -> bool {
        match self.windows.get_mut(&key.key) {
            Some(w) if w.open_at(now) => {
                w.summary.count += 1;
                self.suppressed += 1;
                true
            }
            _ => false,
        }
    }

    /// Decides about `alert`. `key` is `None` for alerts that are not
    /// suppressed (rule turned off, lifecycle alerts); they are still throttled.
    pub fn admit(&mut self, alert: &Alert, key: Option<SuppressKey>, now: Instant) -> Verdict {
        if let Some(k) = &key {
            if self.is_repeat(k, now) {
                return Verdict::Suppressed;
            }
            // Expired before a tick closed it: close it now, in order.
            if let Some(w) = self.windows.remove(&k.key) {
                self.close(w);
            }
        }
        // The throttle keeps a noisy server from drowning the others; it must
        // not cost the alerts that matter most: Error and above bypass it.
        let urgent = alert.priority <= Priority::Error;
        if let Some(server) = &alert.mcp.server
            && !urgent
            && !self.take_token(server, alert.process.as_ref().map(|p| p.uid), now)
        {
            self.throttled += 1;
            return Verdict::Throttled;
        }
        if let Some(k) = key
            && self.windows.len() < MAX_WINDOWS
        {
            self.windows.insert(
                k.key,
                Window {
                    opened: now,
                    summary: Summary {
                        rule: alert.rule.clone(),
                        priority: alert.priority,
                        tags: alert.tags.clone(),
                        mcp: alert.mcp.clone(),
                        process: alert.process.clone(),
                        fields: k.fields,
                        count: 0,
                        window: k.window,
                    },
                },
            );
        }
        Verdict::Send
    }

    /// Closes the windows that ended, ends throttling of servers whose bucket is
    /// full again, and forgets idle state.
    pub fn tick(&mut self, now: Instant) {
        let mut closed: Vec<Window> = self
            .windows
            .extract_if(|_, w| !w.open_at(now))
            .map(|(_, w)| w)
            .collect();
        closed.sort_by_key(|w| w.opened);
        for w in closed {
            self.close(w);
        }
        let burst = f64::from(self.throttle.burst);
        let rate = self.throttle.rate;
        let mut stopped = Vec::new();
        self.buckets.retain(|(server, _), b| {
            refill(b, now, rate, burst);
            if b.tokens < burst {
                return true;
            }
            if let Some((since, dropped)) = b.throttled.take() {
                stopped.push((
                    server.clone(),
                    dropped,
                    now.saturating_duration_since(since),
                ));
            }
            false
        });
        stopped.sort();
        let stopped = stopped
            .into_iter()
            .map(|(server, dropped, lasted)| Notice::ThrottleStop {
                server,
                dropped,
                lasted,
            });
        self.notices.extend(stopped);
    }

    /// At shutdown: every open window with repeats is summarised and every
    /// throttled server's count reported, so nothing held back goes unsaid.
    pub fn finish(&mut self, now: Instant) {
        let mut open: Vec<Window> = self.windows.drain().map(|(_, w)| w).collect();
        open.sort_by_key(|w| w.opened);
        for w in open {
            self.close(w);
        }
        let mut stopped: Vec<(String, u64, Duration)> = self
            .buckets
            .drain()
            .filter_map(|((server, _), b)| {
                let (since, dropped) = b.throttled?;
                Some((server, dropped, now.saturating_duration_since(since)))
            })
            .collect();
        stopped.sort();
        self.notices
            .extend(
                stopped
                    .into_iter()
                    .map(|(server, dropped, lasted)| Notice::ThrottleStop {
                        server,
                        dropped,
                        lasted,
                    }),
            );
    }

    /// Reports to make, oldest first.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Forgets the windows of these rules (they changed; their alerts start afresh).
    pub fn forget_rules(&mut self, rules: &[String]) {
        let mut gone: Vec<Window> = self
            .windows
            .extract_if(|_, w| rules.contains(&w.summary.rule))
            .map(|(_, w)| w)
            .collect();
        gone.sort_by_key(|w| w.opened);
        for w in gone {
            self.close(w);
        }
    }

    /// Open windows (for metrics).
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// Servers being throttled now.
    pub fn throttled_servers(&self) -> usize {
        self.buckets
            .values()
            .filter(|b| b.throttled.is_some())
            .count()
    }

    fn close(&mut self, w: Window) {
        if w.summary.count > 0 {
            self.notices.push(Notice::Summary(Box::new(w.summary)));
        }
    }

    fn take_token(&mut self, server: &str, uid: Option<u32>, now: Instant) -> bool {
        if !self.throttle.enabled {
            return true;
        }
        let burst = f64::from(self.throttle.burst);
        let rate = self.throttle.rate;
        let b = self
            .buckets
            .entry((server.to_owned(), uid))
            .or_insert(Bucket {
                tokens: burst,
                last: now,
                throttled: None,
            });
        refill(b, now, rate, burst);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return true;
        }
        match &mut b.throttled {
            Some((_, dropped)) => *dropped += 1,
            None => {
                b.throttled = Some((now, 1));
                self.notices.push(Notice::ThrottleStart {
                    server: server.to_owned(),
                    rate,
                    burst: self.throttle.burst,
                });
            }
        }
        false
    }
}

fn refill(b: &mut Bucket, now: Instant, rate: f64, burst: f64) {
    let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
    b.tokens = (b.tokens + elapsed * rate.max(0.0)).min(burst);
    b.last = now;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(rule: &str, server: &str) -> Alert {
        let mut a = Alert::health(rule, Priority::Warning, "x".into(), BTreeMap::new(), "h");
        a.mcp.server = Some(server.into());
        a.mcp.root_pid = Some(7);
        a
    }

    fn key(k: &str, secs: u64) -> Option<SuppressKey> {
        Some(SuppressKey {
            key: k.into(),
            window: Duration::from_secs(secs),
            fields: BTreeMap::from([("fd.name".to_string(), k.into())]),
        })
    }

    fn no_throttle() -> ThrottleConfig {
        ThrottleConfig {
            enabled: false,
            ..Default::default()
        }
    }

    #[test]
    fn first_passes_repeats_are_counted_and_summarised_when_the_window_closes() {
        let t0 = Instant::now();
        let mut s = Suppressor::new(no_throttle());
        let a = alert("Marker", "fs");
        assert_eq!(s.admit(&a, key("/m", 60), t0), Verdict::Send);
        for i in 1..200 {
            let at = t0 + Duration::from_millis(i * 10);
            assert_eq!(s.admit(&a, key("/m", 60), at), Verdict::Suppressed);
        }
        s.tick(t0 + Duration::from_secs(59));
        assert!(s.take_notices().is_empty(), "the window is still open");
        s.tick(t0 + Duration::from_secs(60));
        let notices = s.take_notices();
        assert_eq!(notices.len(), 1);
        let Notice::Summary(summary) = &notices[0] else {
            panic!("{notices:?}")
        };
        assert_eq!(summary.rule, "Marker");
        assert_eq!(summary.count, 199);
        assert_eq!(summary.window, Duration::from_secs(60));
        assert_eq!(summary.mcp.server.as_deref(), Some("fs"));
        assert_eq!(summary.fields["fd.name"], "/m");
        assert_eq!(s.suppressed, 199);
        // After the window, the next one goes out again and opens a new window.
        assert_eq!(
            s.admit(&a, key("/m", 60), t0 + Duration::from_secs(61)),
            Verdict::Send
        );
    }

    #[test]
    fn a_window_without_repeats_closes_silently() {
        let t0 = Instant::now();
        let mut s = Suppressor::new(no_throttle());
        assert_eq!(s.admit(&alert("R", "fs"), key("/a", 5), t0), Verdict::Send);
        s.tick(t0 + Duration::from_secs(5));
        assert!(s.take_notices().is_empty());
        assert_eq!(s.open_windows(), 0);
    }

    #[test]
    fn different_keys_are_separate_and_unkeyed_alerts_are_never_suppressed() {
        let t0 = Instant::now();
        let mut s = Suppressor::new(no_throttle());
        let a = alert("R", "fs");
        assert_eq!(s.admit(&a, key("/a", 60), t0), Verdict::Send);
        assert_eq!(s.admit(&a, key("/b", 60), t0), Verdict::Send);
        assert_eq!(s.admit(&a, key("/a", 60), t0), Verdict::Suppressed);
        for _ in 0..5 {
            assert_eq!(s.admit(&a, None, t0), Verdict::Send);
        }
    }

    #[test]
    fn an_expired_window_is_closed_by_the_next_alert_even_before_a_tick() {
        let t0 = Instant::now();
        let mut s = Suppressor::new(no_throttle());
        let a = alert("R", "fs");
        s.admit(&a, key("/a", 1), t0);
        s.admit(&a, key("/a", 1), t0);
        assert_eq!(
            s.admit(&a, key("/a", 1), t0 + Duration::from_secs(2)),
            Verdict::Send
        );
        assert!(matches!(
            &s.take_notices()[..],
            [Notice::Summary(s)] if s.count == 1
        ));
    }

    #[test]
    fn changed_rules_start_afresh_with_a_summary_of_what_was_held() {
        let t0 = Instant::now();
        let mut s = Suppressor::new(no_throttle());
        let a = alert("R", "fs");
        s.admit(&a, key("/a", 60), t0);
        s.admit(&a, key("/a", 60), t0);
        s.forget_rules(&["R".into()]);
        assert_eq!(s.take_notices().len(), 1);
        assert_eq!(s.admit(&a, key("/a", 60), t0), Verdict::Send);
    }

    #[test]
    fn shutdown_reports_what_is_still_held() {
        let t0 = Instant::now();
        let mut s = Suppressor::new(ThrottleConfig {
            enabled: true,
            rate: 0.0,
            burst: 2,
        });
        let a = alert("R", "fs");
        s.admit(&a, key("/a", 60), t0);
        s.admit(&a, key("/a", 60), t0);
        s.admit(&a, key("/b", 60), t0);
        s.admit(&a, key("/c", 60), t0);
        s.take_notices();
        s.finish(t0 + Duration::from_secs(1));
        let n = s.take_notices();
        assert!(
            matches!(
                &n[..],
                [
                    Notice::Summary(s),
                    Notice::ThrottleStop { dropped: 1, .. }
                ] if s.count == 1
            ),
            "{n:?}"
        );
        assert_eq!(s.open_windows(), 0);
    }

    #[test]
    fn alerts_of_error_and_above_pass_a_throttled_server() {
        let t0 = Instant::now();
        let mut s = Suppressor::new(ThrottleConfig {
            enabled: true,
            rate: 0.0,
            burst: 1,
        });
        let noise = alert("Discovery", "fs");
        assert_eq!(s.admit(&noise, key("/1", 60), t0), Verdict::Send);
        assert_eq!(s.admit(&noise, key("/2", 60), t0), Verdict::Throttled);
        let mut secret = alert("SSH key read", "fs");
        secret.priority = Priority::Critical;
        assert_eq!(s.admit(&secret, key("/id_rsa", 60), t0), Verdict::Send);
        secret.priority = Priority::Error;
        assert_eq!(s.admit(&secret, key("/id_ed25519", 60), t0), Verdict::Send);
        // Still one alert per key within its window.
        assert_eq!(
            s.admit(&secret, key("/id_ed25519", 60), t0),
            Verdict::Suppressed
        );
    }

    #[test]
    fn token_bucket_throttles_one_server_and_not_the_others() {
        let t0 = Instant::now();
        let mut s = Suppressor::new(ThrottleConfig {
            enabled: true,
            rate: 2.0,
            burst: 5,
        });
        let noisy = alert("R", "noisy");
        let quiet = alert("R", "quiet");
        let sent = (0..50)
            .filter(|_| s.admit(&noisy, None, t0) == Verdict::Send)
            .count();
        assert_eq!(sent, 5, "the burst, then nothing");
        assert_eq!(s.throttled, 45);
        assert_eq!(s.admit(&quiet, None, t0), Verdict::Send);
        // Throttle start is reported once, for the noisy server only.
        let n = s.take_notices();
        assert_eq!(
            n,
            [Notice::ThrottleStart {
                server: "noisy".into(),
                rate: 2.0,
                burst: 5
            }]
        );
        assert_eq!(s.throttled_servers(), 1);
        // Half a second later one token is back: one more alert passes.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(s.admit(&noisy, None, t1), Verdict::Send);
        assert_eq!(s.admit(&noisy, None, t1), Verdict::Throttled);
        s.tick(t1);
        assert!(s.take_notices().is_empty(), "still throttled");
        // Once the bucket is full again the stop is reported with the count.
        s.tick(t1 + Duration::from_secs(3));
        assert_eq!(
            s.take_notices(),
            [Notice::ThrottleStop {
                server: "noisy".into(),
                dropped: 46,
                lasted: Duration::from_millis(3500)
            }]
        );
        assert_eq!(s.throttled_servers(), 0);
    }

    #[test]
    fn another_user_flooding_under_the_same_name_drains_only_its_own_bucket() {
        let t0 = Instant::now();
        let mut s = Suppressor::new(ThrottleConfig {
            enabled: true,
            rate: 2.0,
            burst: 5,
        });
        let as_uid = |uid| {
            let mut a = alert("R", "github");
            a.process = Some(AlertProcess {
                pid: 1,
                ppid: 0,
                name: "x".into(),
                exepath: "/x".into(),
                cmdline: "x".into(),
                uid,
                ancestors: Vec::new(),
            });
            a
        };
        let (impostor, real) = (as_uid(65534), as_uid(1000));
        for _ in 0..50 {
            s.admit(&impostor, None, t0);
        }
        assert_eq!(s.admit(&impostor, None, t0), Verdict::Throttled);
        assert_eq!(
            s.admit(&real, None, t0),
            Verdict::Send,
            "the real server's bucket is its own"
        );
    }

    #[test]
    fn throttled_alerts_open_no_window() {
        let t0 = Instant::now();
        let mut s = Suppressor::new(ThrottleConfig {
            enabled: true,
            rate: 0.0,
            burst: 1,
        });
        let a = alert("R", "fs");
        assert_eq!(s.admit(&a, key("/a", 60), t0), Verdict::Send);
        assert_eq!(s.admit(&a, key("/b", 60), t0), Verdict::Throttled);
        // /b was never sent, so a later /b is not a "repeat".
        assert_eq!(s.admit(&a, key("/b", 60), t0), Verdict::Throttled);
        assert_eq!(s.open_windows(), 1);
    }

    #[test]
    fn config_defaults_and_per_rule_settings() {
        let c: SuppressionConfig = serde_json::from_str(
            r#"{"window": 30, "rules": {"Shell": {"enabled": false}, "Keys": {"key_fields": ["fd.name"]}}}"#,
        )
        .unwrap();
        assert!(c.enabled);
        assert_eq!(c.window, HumanDuration(Duration::from_secs(30)));
        assert_eq!(c.rules["Shell"].enabled, Some(false));
        assert_eq!(
            c.rules["Keys"].key_fields.as_deref(),
            Some(&["fd.name".to_string()][..])
        );
        assert_eq!(c.throttle, ThrottleConfig::default());
        let err = serde_json::from_str::<SuppressionConfig>(r#"{"windw": 3}"#).unwrap_err();
        assert!(err.to_string().contains("windw"), "{err}");
        assert!(c.validate().is_ok());
        let mut bad = c.clone();
        bad.throttle.burst = 0;
        assert_eq!(bad.validate().unwrap_err().0, "suppression.throttle.burst");
        bad.throttle.burst = 1;
        bad.throttle.rate = f64::NAN;
        assert_eq!(bad.validate().unwrap_err().0, "suppression.throttle.rate");
        bad.throttle.enabled = false;
        assert!(bad.validate().is_ok(), "an unused throttle is not checked");
    }
}
