//! Prevent mode: what a rule may do besides alerting (`action:`), where it is
//! decided (in the kernel, at the call, or in user space after the event
//! arrives), and what was done.
//!
//! Actions act only in enforce mode (`run --enforce`, `enforcement.enabled`);
//! otherwise the alert says what would have been done (`would-kill`).
use std::fmt;

pub mod actor;
pub mod narrow;
pub mod plan;
pub mod safety;

use serde::{Deserialize, Serialize};

use crate::units::HumanDuration;

/// The `enforcement:` settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnforcementConfig {
    /// Actions act (`run --enforce`); otherwise alerts say what they would do.
    pub enabled: bool,
    /// Actions one server may cause per `window` before the rest are skipped.
    pub max_actions: u32,
    pub window: HumanDuration,
}

impl Default for EnforcementConfig {
    fn default() -> Self {
        EnforcementConfig {
            enabled: false,
            max_actions: 10,
            window: HumanDuration(std::time::Duration::from_secs(10)),
        }
    }
}

/// A rule's `action:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// SIGKILL the process that did it.
    Kill,
    /// SIGKILL every process of the server's tree.
    KillServer,
    /// Make the call fail with EPERM (BPF LSM, or the cgroup connect hook);
    /// where the kernel cannot, `kill` instead.
    Deny,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Kill, Action::KillServer, Action::Deny];

    /// The word written in rules: `kill`, `kill-server`, `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Kill => "kill",
            Action::KillServer => "kill-server",
            Action::Deny => "deny",
        }
    }

    /// What the alert says when enforcement is off: `would-kill`, …
    pub fn would(self) -> &'static str {
        match self {
            Action::Kill => "would-kill",
            Action::KillServer => "would-kill-server",
            Action::Deny => "would-deny",
        }
    }

    pub fn parse(word: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == word)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod action_tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
            assert!(a.would().ends_with(a.as_str()));
        }
        assert_eq!(Action::parse("block"), None);
    }
}
