//! Falco-style detection rules: parse, type-check, compile, evaluate.
//!
//! # Rule files
//! YAML lists of `- rule:`, `- macro:` and `- list:` entries in Falco's format
//! (`desc`, `condition`, `output`, `priority`, `tags`, `enabled`, `exceptions`,
//! `source`), with `override: {key: append|replace}` (and the legacy
//! `append: true`) to change a rule, list or macro defined by an earlier file.
//! The condition language: `and`, `or`, `not`, parentheses; `=`, `!=`, `<`,
//! `<=`, `>`, `>=`, `in`, `intersects`, `contains`, `icontains`, `bcontains`,
//! `startswith`, `bstartswith`, `endswith`, `glob`, `pmatch`, `regex`, `exists`.
//! Fields are listed by `mcp-monitor rules fields` ([`fields::FIELDS`]).
//!
//! Semantics worth knowing:
//! - A check on a field the event does not have is false, whatever the
//!   operator (`fd.name != x` too); `not (fd.name = x)` is true then.
//! - Addresses: `fd.dip = 10.0.0.0/8` means "is in that network" and
//!   `fd.dip in (10.0.0.0/8, 169.254.169.254)` mixes networks and addresses;
//!   `!=` means "not in". IPv4-mapped IPv6 addresses compare as IPv4.
//! - `pmatch (dirs…)` holds when the path is one of the directories or lies
//!   below one, component-wise (`/etc/sshd` is not below `/etc/ssh`).
//! - List fields (`proc.aname` without index, `proc.argv`, `mcp.roots`):
//!   `in (…)` holds when every element is in the set, `intersects (…)` when
//!   some element is; the other string operators hold when some element
//!   passes; `!=` when no element equals; `exists` when the list is non-empty.
//! - `x in name` (no parentheses) must name a list; inside parentheses, a
//!   word that names a list is replaced by its items, others are values.
//!
//! # API for the daemon
//! ```no_run
//! use mcp_monitor::rules::{self, LoadOptions, RuleSet};
//! # fn ev() -> mcp_monitor::event::Event { Default::default() }
//! // Start: defaults + /etc/mcp-monitor/rules.d + --rules paths.
//! let opts = LoadOptions { extra: vec!["my.yaml".into()], ..Default::default() };
//! let (set, warnings) = rules::load_configured(&opts).map_err(|e| {
//!     for d in &e.errors { eprint!("{}", d.render(false)); }
//!     e
//! })?;
//! for w in &warnings { log::warn!("{w}"); }
//! let set = std::sync::Arc::new(set); // RuleSet: Send + Sync, swap the Arc to reload
//! // Per event: only the rules grouped under ev's evt.type (plus catch-alls)
//! // are evaluated; nothing is allocated unless a rule matches.
//! set.evaluate(&ev(), |m| println!("{} {}: {}", m.priority, m.rule, m.output));
//! // Reload: compile the new set; on error keep the old one.
//! if let Ok((new, _)) = rules::load_configured(&opts) {
//!     let summary = rules::diff(&set, &new); // added / removed / changed rule names
//!     # let _ = summary;
//! }
//! # Ok::<(), rules::LoadError>(())
//! ```
//! Other entry points: [`RuleSet::load`] (sources given as name + text),
//! [`RuleSet::matching`] (matching rules without rendering),
//! [`RuleSet::event_types`] (which event types any enabled rule looks at),
//! [`default_sources`], [`read_path`].
//!
//! # Modules
//! `yaml` (YAML with positions) → `document` (typed entries) → `merge`
//! (overrides) → `parser`/`ast` (conditions) → `resolve` (macros, lists) →
//! `compile` (types, matchers) → `eval`; `build` drives that sequence into a
//! `ruleset` (the compiled rules, dispatched by event type); `output` renders
//! templates; `diag` formats errors; `loader` finds files; `reference` writes
//! docs/rules.md; `cli` is `mcp-monitor rules …`.
pub mod ast;
mod build;
pub mod cli;
pub mod compile;
mod context;
pub mod detector;
pub mod diag;
mod dispatch;
pub mod document;
pub mod eval;
pub mod fields;
pub mod loader;
pub mod matchers;
mod merge;
pub mod output;
pub mod parser;
pub mod reference;
mod resolve;
pub mod ruleset;

#[cfg(test)]
mod tests;

/// The YAML reader with positions the rules (and the config) are read with.
pub use crate::yaml;
pub use diag::{Diagnostic, Kind, LoadError, Location, RuleSource, Severity, Warning};
pub use loader::{
    DEFAULT_PREFIX, LoadOptions, SYSTEM_RULES_DIR, configured_sources, default_sources,
    load_configured, read_path,
};
pub use ruleset::{CompileOptions, Match, ReloadSummary, Rule, RuleSet, SkippedRule, diff};
