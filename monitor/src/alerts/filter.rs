//! Which alerts a reader wants: `mcp-monitor tail --min-priority --server --rule`.
//! Sent to the daemon, which applies it to the replay and the live stream.
use serde::{Deserialize, Serialize};

use super::Alert;
use crate::{glob::glob_match, priority::Priority};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertFilter {
    /// This priority or a more severe one (`Warning` lets `Critical` through).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_priority: Option<String>,
    /// The MCP server's name, a glob (`fs`, `github-*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The rule's name, a glob (`*SSH*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Records of tool calls ([`CALL_RULE`], what `mcp-monitor calls`
    /// shows) instead of alerts; without it, they are left out.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub calls: bool,
}

/// The rule name of the records of tool calls: Informational, in the alert
/// log and on the alert socket only.
pub const CALL_RULE: &str = "MCP tool call";

impl AlertFilter {
    /// Refuses a priority nobody knows.
    pub fn check(&self) -> Result<(), String> {
        if let Some(p) = &self.min_priority
            && Priority::parse(p).is_none()
        {
            return Err(format!(
                "{p:?} is not a priority; use one of {}",
                Priority::ALL
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(())
    }

    pub fn matches(&self, a: &Alert) -> bool {
        if (a.rule == CALL_RULE) != self.calls {
            return false;
        }
        if let Some(min) = self.min_priority.as_deref().and_then(Priority::parse)
            && a.priority > min
        {
            return false;
        }
        if let Some(s) = &self.server
            && !a.mcp.server.as_deref().is_some_and(|n| glob_match(s, n))
        {
            return false;
        }
        if let Some(r) = &self.rule
            && !glob_match(r, &a.rule)
        {
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(priority: Priority, server: Option<&str>, rule: &str) -> Alert {
        let mut a = Alert::health(rule, priority, String::new(), Default::default(), "h");
        a.mcp.server = server.map(str::to_owned);
        a
    }

    #[test]
    fn priority_server_and_rule() {
        let f = AlertFilter {
            min_priority: Some("warning".into()),
            ..Default::default()
        };
        assert!(f.matches(&alert(Priority::Critical, None, "x")));
        assert!(f.matches(&alert(Priority::Warning, None, "x")));
        assert!(!f.matches(&alert(Priority::Notice, None, "x")));

        let f = AlertFilter {
            server: Some("git*".into()),
            rule: Some("*SSH*".into()),
            ..Default::default()
        };
        assert!(f.matches(&alert(Priority::Notice, Some("github"), "Read of SSH key")));
        assert!(!f.matches(&alert(Priority::Notice, Some("fs"), "Read of SSH key")));
        assert!(!f.matches(&alert(Priority::Notice, None, "Read of SSH key")));
        assert!(!f.matches(&alert(Priority::Notice, Some("github"), "Shell spawned")));
        assert!(AlertFilter::default().matches(&alert(Priority::Debug, None, "x")));

        assert!(
            AlertFilter {
                min_priority: Some("loud".into()),
                ..Default::default()
            }
            .check()
            .unwrap_err()
            .contains("Critical")
        );
    }
}
