//! The compiled rule set: rules, dispatch by event type, evaluation, and the
//! reload diff. Building one from sources is `build`'s.
use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use super::{
    ast::Expr,
    diag::Location,
    dispatch::Dispatch,
    eval::Node,
    fields::FieldRef,
    output::{Seg, Template},
};
use crate::{enforce::Action, event::Event, priority::Priority};

/// How strict loading is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompileOptions {
    /// Rules whose condition names a Falco field mcp-monitor does not provide,
    /// or uses a field with a type other than Falco's, are dropped with a
    /// warning instead of failing the load (and unsupported fields in outputs
    /// render as `<NA>`). Unknown fields (typos) are errors either way.
    pub skip_unsupported: bool,
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub(super) name: String,
    pub(super) desc: String,
    pub(super) priority: Priority,
    pub(super) tags: Vec<String>,
    pub(super) enabled: bool,
    pub(super) action: Option<Action>,
    pub(super) location: Location,
    /// The condition with macros, lists and exceptions inlined, as a tree
    /// (what the kernel plan compiles).
    pub(super) resolved: Expr,
    pub(super) condition: String,
    pub(super) cond: Node,
    pub(super) output: Template,
    pub(super) output_fields: Vec<(String, Option<FieldRef>)>,
    pub(super) evt_types: Option<Vec<String>>,
    pub(super) fingerprint: u64,
}

impl Rule {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn desc(&self) -> &str {
        &self.desc
    }
    pub fn priority(&self) -> Priority {
        self.priority
    }
    pub fn tags(&self) -> &[String] {
        &self.tags
    }
    pub fn enabled(&self) -> bool {
        self.enabled
    }
    /// Where the rule was defined (file, line, column of its name).
    pub fn location(&self) -> &Location {
        &self.location
    }
    /// What the rule does besides alerting, in enforce mode.
    pub fn action(&self) -> Option<Action> {
        self.action
    }
    /// The condition with macros, lists and exceptions inlined.
    pub fn resolved(&self) -> &Expr {
        &self.resolved
    }
    /// The condition with macros and lists inlined, in canonical form.
    pub fn condition(&self) -> &str {
        &self.condition
    }
    /// The event types the rule can match; `None` for all.
    pub fn event_types(&self) -> Option<&[String]> {
        self.evt_types.as_deref()
    }

    /// The fields the output template names, in order (unknown ones left out).
    pub fn output_refs(&self) -> impl Iterator<Item = FieldRef> + '_ {
        self.output.segs.iter().filter_map(|s| match s {
            Seg::Field(f) => *f,
            Seg::Lit(_) => None,
        })
    }

    /// Whether the condition holds for `ev` (regardless of `enabled`).
    #[inline]
    pub fn matches(&self, ev: &Event) -> bool {
        self.cond.eval(ev)
    }

    /// Renders the alert for an event this rule matched.
    pub fn to_match<'a>(&'a self, ev: &Event) -> Match<'a> {
        Match {
            rule: &self.name,
            priority: self.priority,
            output: self.output.render(ev),
            output_fields: self
                .output_fields
                .iter()
                .map(|(name, f)| {
                    let v = f.map_or(serde_json::Value::Null, |f| f.get(ev).to_json());
                    (name.clone(), v)
                })
                .collect(),
            tags: &self.tags,
            source_file: &self.location.file,
            action: self.action,
        }
    }

    /// Whether the top level of the condition requires `field exists`
    /// (used to check that default rules only fire for MCP processes).
    pub fn requires_exists(&self, field: super::fields::Field) -> bool {
        let is = |n: &Node| {
            matches!(n, Node::Test(t) if t.field.field == field
                && matches!(t.pred, super::eval::Pred::Exists))
        };
        match &self.cond {
            Node::And(items) => items.iter().any(is),
            n => is(n),
        }
    }
}

/// One rule matching one event.
#[derive(Clone, Debug, PartialEq)]
pub struct Match<'a> {
    pub rule: &'a str,
    pub priority: Priority,
    /// The output template with fields filled in.
    pub output: String,
    /// Every field the rule names (condition and output), `null` when absent.
    pub output_fields: BTreeMap<String, serde_json::Value>,
    pub tags: &'a [String],
    /// The file that defined the rule.
    pub source_file: &'a str,
    /// The rule's `action:` (acted on only in enforce mode).
    pub action: Option<Action>,
}

/// A rule left out by lenient loading ([`CompileOptions::skip_unsupported`]).
#[derive(Clone, Debug)]
pub struct SkippedRule {
    pub name: String,
    pub location: Location,
    /// Falco fields mcp-monitor does not provide.
    pub fields: Vec<String>,
    /// Checks whose types differ from Falco's (`evt.arg.mode contains S_IXUSR`
    /// on what is a number here), as `file:line:col: message`.
    pub incompatible: Vec<String>,
}

/// Compiled rules, grouped by event type. Immutable once built, `Send + Sync`:
/// share it in an `Arc` and swap the `Arc` to reload.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub(super) rules: Vec<Rule>,
    pub(super) dispatch: Dispatch,
    pub(super) skipped: Vec<SkippedRule>,
    /// Every list's items after overrides, by list name.
    pub(super) lists: BTreeMap<String, Vec<String>>,
}

impl RuleSet {
    /// All compiled rules in load order, disabled ones included.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// The items of list `name` after overrides and appends (items naming
    /// another list stay as written).
    pub fn list(&self, name: &str) -> Option<&[String]> {
        self.lists.get(name).map(Vec::as_slice)
    }

    /// The items of list `name` with the items that name another list
    /// replaced by that list's, as a condition sees them.
    pub fn list_items(&self, name: &str) -> Vec<String> {
        fn add(set: &RuleSet, name: &str, depth: usize, out: &mut Vec<String>) {
            for item in set.list(name).unwrap_or_default() {
                if depth < 8 && set.lists.contains_key(item) {
                    add(set, item, depth + 1, out);
                } else {
                    out.push(item.clone());
                }
            }
        }
        let mut out = Vec::new();
        add(self, name, 0, &mut out);
        out
    }

    /// Rules left out by [`CompileOptions::skip_unsupported`].
    pub fn skipped(&self) -> &[SkippedRule] {
        &self.skipped
    }

    /// The event types the enabled rules look at, and whether some rule looks
    /// at every type (so the daemon can attach only the probes it needs).
    pub fn event_types(&self) -> (BTreeSet<&str>, bool) {
        (
            self.dispatch.types().collect(),
            self.dispatch.has_catch_all(),
        )
    }

    /// The enabled rules that match `ev`, in load order. No allocation.
    pub fn matching<'a>(&'a self, ev: &'a Event) -> impl Iterator<Item = &'a Rule> + 'a {
        let mcp = ev.mcp_server.is_some();
        self.dispatch
            .group(ev)
            .iter()
            .filter(move |e| e.matches(ev, mcp))
            .map(|e| &self.rules[e.rule as usize])
    }

    /// Calls `f` with the rendered alert of every enabled rule matching `ev`.
    pub fn evaluate(&self, ev: &Event, mut f: impl FnMut(Match<'_>)) {
        for r in self.matching(ev) {
            f(r.to_match(ev));
        }
    }
}

/// What changed between two rule sets, by rule name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

/// Rules added, removed, or changed in effect (condition after macro and list
/// expansion, output, priority, tags, enabled, description).
pub fn diff(old: &RuleSet, new: &RuleSet) -> ReloadSummary {
    let before: FxHashMap<&str, u64> = old
        .rules
        .iter()
        .map(|r| (&*r.name, r.fingerprint))
        .collect();
    let after: FxHashMap<&str, u64> = new
        .rules
        .iter()
        .map(|r| (&*r.name, r.fingerprint))
        .collect();
    let mut s = ReloadSummary::default();
    for r in &new.rules {
        match before.get(&*r.name) {
            None => s.added.push(r.name.clone()),
            Some(&fp) if fp != r.fingerprint => s.changed.push(r.name.clone()),
            Some(_) => {}
        }
    }
    for r in &old.rules {
        if !after.contains_key(&*r.name) {
            s.removed.push(r.name.clone());
        }
    }
    s
}

/// The rule set is shared between threads and swapped on reload.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RuleSet>();
};
