//! Falco's alert priorities: what a rule declares, what every alert carries,
//! what throttling, `tail --min-priority`, colours and metrics go by. A leaf:
//! rules and alerts both use it, it uses neither.
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Alert priority, most severe first (Falco's scale): `p < q` means `p` is
/// the more severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Informational,
    Debug,
}

impl Priority {
    pub const ALL: &[Priority] = &[
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];

    /// Falco's capitalised name, as alerts carry it: `Critical`, `Warning`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }

    /// Case-insensitive; `info` is accepted for `informational`.
    pub fn parse(s: &str) -> Option<Priority> {
        let s = s.trim().to_ascii_lowercase();
        if s == "info" {
            return Some(Priority::Informational);
        }
        Priority::ALL
            .iter()
            .copied()
            .find(|p| p.as_str().eq_ignore_ascii_case(&s))
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As Falco writes it: the capitalised name.
impl Serialize for Priority {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Any spelling [`Priority::parse`] takes.
impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Priority::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format_args!("{s:?} is not a priority")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_order_and_json() {
        for (i, p) in Priority::ALL.iter().enumerate() {
            assert_eq!(Priority::parse(p.as_str()), Some(*p));
            assert_eq!(Priority::parse(&p.as_str().to_uppercase()), Some(*p));
            assert_eq!(p.to_string(), p.as_str());
            let json = serde_json::to_string(p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<Priority>(&json).unwrap(), *p);
            // ALL runs from the most severe down, as the order does.
            assert!(Priority::ALL[..i].iter().all(|q| q < p));
        }
        assert_eq!(Priority::parse(" info "), Some(Priority::Informational));
        assert_eq!(Priority::parse("loud"), None);
        assert!(serde_json::from_str::<Priority>("\"loud\"").is_err());
    }
}
