//! Which alerts count as "the same" for suppression: per rule, the server
//! instance plus the values of its key fields, compiled once per rule set.
use std::{collections::HashMap, time::Duration};

use super::suppress::{SuppressKey, SuppressionConfig};
use crate::{
    event::Event,
    rules::{
        RuleSet,
        fields::{Field, FieldRef},
        ruleset::Rule,
    },
};

/// Fields that differ on every repeat (pids, times, descriptors) and so make
/// poor default keys.
const VOLATILE: &[&str] = &[
    "proc.pid",
    "proc.tid",
    "proc.ppid",
    "proc.apid",
    "proc.vpid",
    "evt.time",
    "evt.rawtime",
    "evt.num",
    "evt.arg.child_pid",
    "fd.num",
    "fd.sport",
    "fd.lport",
    "fd.cport",
    "mcp.root_pid",
];

/// The key when a rule's output names no stable field.
const FALLBACK: &[&str] = &["proc.exepath", "fd.name"];

/// One rule's suppression: its window and the fields of its key.
#[derive(Clone, Debug, PartialEq)]
struct Policy {
    window: Duration,
    fields: Vec<FieldRef>,
}

/// Suppression policies by rule name; rules without one are not suppressed.
#[derive(Debug, Default)]
pub struct KeyPolicies {
    by_rule: HashMap<String, Policy>,
}

impl KeyPolicies {
    /// Checks the field names of `cfg` (so a typo stops the start, with the
    /// place to fix it); returns the offending key and why.
    pub fn validate(cfg: &SuppressionConfig) -> Result<(), (&'static str, String)> {
        parse_fields(&cfg.key_fields).map_err(|e| {
            (
                "suppression.key_fields",
                format!("suppression.key_fields: {e}"),
            )
        })?;
        for (rule, r) in &cfg.rules {
            if let Some(fields) = &r.key_fields {
                parse_fields(fields).map_err(|e| {
                    (
                        "suppression.rules",
                        format!("suppression.rules.{rule:?}.key_fields: {e}"),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The policies of `set`'s rules under `cfg`. Per-rule entries naming no
    /// loaded rule are returned as warnings.
    pub fn build(cfg: &SuppressionConfig, set: &RuleSet) -> (KeyPolicies, Vec<String>) {
        let global = parse_fields(&cfg.key_fields).unwrap_or_default();
        let mut by_rule = HashMap::new();
        for rule in set.rules() {
            let own = cfg.rules.get(rule.name());
            if !own.and_then(|r| r.enabled).unwrap_or(cfg.enabled) {
                continue;
            }
            let window = own.and_then(|r| r.window).unwrap_or(cfg.window).0;
            if window.is_zero() {
                continue;
            }
            let fields = match own.and_then(|r| r.key_fields.as_ref()) {
                Some(f) => parse_fields(f).unwrap_or_default(),
                None if !global.is_empty() => global.clone(),
                None => default_fields(rule),
            };
            by_rule.insert(rule.name().to_owned(), Policy { window, fields });
        }
        let warnings = cfg
            .rules
            .keys()
            .filter(|name| set.rule(name).is_none())
            .map(|name| {
                format!(
                    "suppression.rules names {name:?}, which is not a loaded rule; \
                     check the name with `mcp-monitor rules list`"
                )
            })
            .collect();
        (KeyPolicies { by_rule }, warnings)
    }

    /// The suppression key of an alert of `rule` raised by `ev`; `None` when the
    /// rule is not suppressed.
    pub fn key(&self, rule: &str, ev: &Event) -> Option<SuppressKey> {
        let p = self.by_rule.get(rule)?;
        let mut key = format!(
            "{rule}\u{1f}{}\u{1f}{}",
            ev.mcp_server.as_deref().unwrap_or(""),
            ev.mcp_root_pid.unwrap_or(0)
        );
        let mut fields = std::collections::BTreeMap::new();
        for f in &p.fields {
            let v = f.get(ev).to_json();
            key.push('\u{1f}');
            key.push_str(&v.to_string());
            fields.insert(f.display_name(), v);
        }
        Some(SuppressKey {
            key,
            window: p.window,
            fields,
        })
    }
}

/// The fields a rule's output names, without volatile ones; the fallback when
/// none is left.
fn default_fields(rule: &Rule) -> Vec<FieldRef> {
    let mut out: Vec<FieldRef> = Vec::new();
    for f in rule.output_refs() {
        if !VOLATILE.contains(&f.field.name()) && !out.contains(&f) {
            out.push(f);
        }
    }
    if out.is_empty() {
        out = FALLBACK
            .iter()
            .filter_map(|n| Field::by_name(n))
            .map(|field| FieldRef { field, index: None })
            .collect();
    }
    out
}

/// `proc.aname[2]`-style names to field references.
fn parse_fields(names: &[String]) -> Result<Vec<FieldRef>, String> {
    names.iter().map(|n| parse_field(n)).collect()
}

fn parse_field(name: &str) -> Result<FieldRef, String> {
    let (base, index) = match name.split_once('[') {
        Some((b, rest)) => {
            let i = rest
                .strip_suffix(']')
                .and_then(|i| i.trim().parse::<u32>().ok())
                .ok_or_else(|| {
                    format!("{name:?}: the index must be a number, as in proc.aname[2]")
                })?;
            (b, Some(i))
        }
        None => (name, None),
    };
    let field = Field::by_name(base.trim()).ok_or_else(|| {
        format!("unknown field {name:?}; pick one from `mcp-monitor rules fields`")
    })?;
    if index.is_some() && !field.info().indexable {
        return Err(format!("{name:?}: {base} takes no index"));
    }
    Ok(FieldRef { field, index })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{alerts::suppress::RuleSuppression, rules::diag::RuleSource};

    fn set() -> RuleSet {
        let text = r#"
- rule: Marker
  desc: d
  condition: fd.filename = "marker.txt"
  output: "marker read by %proc.name pid=%proc.pid file=%fd.name"
  priority: WARNING
- rule: Bare
  desc: d
  condition: evt.type = execve
  output: "something ran"
  priority: NOTICE
"#;
        RuleSet::load(&[RuleSource {
            name: "t.yaml".into(),
            text: text.into(),
        }])
        .unwrap()
        .0
    }

    fn ev(name: &str, pid: u32, file: &str) -> Event {
        Event {
            evt_type: "openat".into(),
            pid,
            name: name.into(),
            exepath: format!("/usr/bin/{name}"),
            fd_name: Some(file.into()),
            mcp_server: Some("fs".into()),
            mcp_root_pid: Some(10),
            ..Default::default()
        }
    }

    #[test]
    fn default_keys_are_the_output_fields_without_pids() {
        let (p, warnings) = KeyPolicies::build(&SuppressionConfig::default(), &set());
        assert!(warnings.is_empty());
        let a = p.key("Marker", &ev("cat", 1, "/m")).unwrap();
        let b = p.key("Marker", &ev("cat", 2, "/m")).unwrap();
        assert_eq!(a.key, b.key, "a new pid is still the same alert");
        assert_eq!(
            a.fields.keys().collect::<Vec<_>>(),
            ["fd.name", "proc.name"]
        );
        assert_eq!(a.window, Duration::from_secs(60));
        assert_ne!(a.key, p.key("Marker", &ev("cat", 1, "/other")).unwrap().key);
        assert_ne!(a.key, p.key("Marker", &ev("head", 1, "/m")).unwrap().key);
        // Another instance of the server is another key.
        let mut again = ev("cat", 1, "/m");
        again.mcp_root_pid = Some(11);
        assert_ne!(a.key, p.key("Marker", &again).unwrap().key);
        // No fields in the output: executable and file name.
        let bare = p.key("Bare", &ev("cat", 1, "/m")).unwrap();
        assert_eq!(
            bare.fields.keys().collect::<Vec<_>>(),
            ["fd.name", "proc.exepath"]
        );
    }

    #[test]
    fn per_rule_settings_and_global_off() {
        let mut cfg = SuppressionConfig::default();
        cfg.rules.insert(
            "Marker".into(),
            RuleSuppression {
                window: Some(crate::units::HumanDuration(Duration::from_secs(5))),
                key_fields: Some(vec!["proc.exepath".into()]),
                ..Default::default()
            },
        );
        cfg.rules.insert(
            "Bare".into(),
            RuleSuppression {
                enabled: Some(false),
                ..Default::default()
            },
        );
        cfg.rules.insert("Nope".into(), RuleSuppression::default());
        let (p, warnings) = KeyPolicies::build(&cfg, &set());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("\"Nope\""));
        let k = p.key("Marker", &ev("cat", 1, "/m")).unwrap();
        assert_eq!(k.window, Duration::from_secs(5));
        assert_eq!(k.key, p.key("Marker", &ev("cat", 1, "/other")).unwrap().key);
        assert!(p.key("Bare", &ev("cat", 1, "/m")).is_none());

        cfg.enabled = false;
        cfg.rules.clear();
        let (p, _) = KeyPolicies::build(&cfg, &set());
        assert!(p.key("Marker", &ev("cat", 1, "/m")).is_none());
    }

    #[test]
    fn bad_field_names_are_refused_with_where_to_look() {
        let mut cfg = SuppressionConfig {
            key_fields: vec!["fd.nme".into()],
            ..Default::default()
        };
        let (key, e) = KeyPolicies::validate(&cfg).unwrap_err();
        assert_eq!(key, "suppression.key_fields");
        assert!(e.contains("fd.nme") && e.contains("rules fields"), "{e}");
        cfg.key_fields = vec!["proc.aname[2]".into(), "fd.name".into()];
        assert!(KeyPolicies::validate(&cfg).is_ok());
        cfg.key_fields = vec!["fd.name[x]".into()];
        assert!(KeyPolicies::validate(&cfg).is_err());
    }
}
