//! Applies the items of all files in load order: definitions, then later
//! `override: {key: append|replace}` entries (and Falco's legacy `append: true`),
//! into one set of lists, macros and rules.
use std::collections::HashMap;

use super::{
    context::Ctx,
    diag::Kind,
    document::{Exception, Item, ListDoc, MacroDoc, Mode, RuleDoc, Text},
};
use crate::{enforce::Action, priority::Priority};

#[derive(Debug)]
pub struct ListDef {
    pub name: Text,
    pub items: Vec<Text>,
}

#[derive(Debug)]
pub struct MacroDef {
    pub name: Text,
    /// The condition and what later files appended to it.
    pub parts: Vec<Text>,
}

#[derive(Debug)]
pub struct RuleDef {
    pub name: Text,
    pub desc: String,
    pub condition: Vec<Text>,
    pub output: Vec<Text>,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub action: Option<Action>,
    pub exceptions: Vec<Exception>,
    /// Falco's event source (`syscall` when absent).
    pub event_source: Option<Text>,
}

#[derive(Debug, Default)]
pub struct Defs {
    pub lists: Vec<ListDef>,
    pub list_idx: HashMap<String, usize>,
    pub macros: Vec<MacroDef>,
    pub macro_idx: HashMap<String, usize>,
    pub rules: Vec<RuleDef>,
    pub rule_idx: HashMap<String, usize>,
}

pub fn merge(ctx: &mut Ctx, items: Vec<Item>) -> Defs {
    let mut defs = Defs::default();
    for item in items {
        match item {
            Item::List(l) => list(ctx, &mut defs, l),
            Item::Macro(m) => macro_(ctx, &mut defs, m),
            Item::Rule(r) => rule(ctx, &mut defs, *r),
        }
    }
    defs
}

fn undefined(ctx: &mut Ctx, what: &str, name: &Text) {
    ctx.push_error(
        name,
        Kind::UndefinedOverride,
        format!(
            "{what} `{}` is changed here but was never defined",
            name.value
        ),
        &format!("a {what} of that name defined in this or an earlier file"),
    );
}

fn list(ctx: &mut Ctx, defs: &mut Defs, l: ListDoc) {
    let existing = defs.list_idx.get(&l.name.value).copied();
    match (l.mode, existing) {
        (Some(_), None) => undefined(ctx, "list", &l.name),
        (Some(Mode::Append), Some(i)) => defs.lists[i].items.extend(l.items),
        (Some(Mode::Replace), Some(i)) => defs.lists[i].items = l.items,
        (None, Some(i)) => {
            ctx.push_warning(
                &l.name,
                Kind::Redefinition,
                format!(
                    "list `{}` is defined again and replaces the earlier definition (say `override: {{items: replace}}` to make that explicit)",
                    l.name.value
                ),
            );
            defs.lists[i] = ListDef {
                name: l.name,
                items: l.items,
            };
        }
        (None, None) => {
            defs.list_idx.insert(l.name.value.clone(), defs.lists.len());
            defs.lists.push(ListDef {
                name: l.name,
                items: l.items,
            });
        }
    }
}

fn macro_(ctx: &mut Ctx, defs: &mut Defs, m: MacroDoc) {
    let existing = defs.macro_idx.get(&m.name.value).copied();
    match (m.mode, existing) {
        (Some(_), None) => undefined(ctx, "macro", &m.name),
        (Some(Mode::Append), Some(i)) => defs.macros[i].parts.push(m.condition),
        (Some(Mode::Replace), Some(i)) => defs.macros[i].parts = vec![m.condition],
        (None, Some(i)) => {
            ctx.push_warning(
                &m.name,
                Kind::Redefinition,
                format!(
                    "macro `{}` is defined again and replaces the earlier definition (say `override: {{condition: replace}}` to make that explicit)",
                    m.name.value
                ),
            );
            defs.macros[i] = MacroDef {
                name: m.name,
                parts: vec![m.condition],
            };
        }
        (None, None) => {
            defs.macro_idx
                .insert(m.name.value.clone(), defs.macros.len());
            defs.macros.push(MacroDef {
                name: m.name,
                parts: vec![m.condition],
            });
        }
    }
}

fn rule(ctx: &mut Ctx, defs: &mut Defs, r: RuleDoc) {
    let Some(name) = r.name.clone() else { return };
    let existing = defs.rule_idx.get(&name.value).copied();
    // Falco's legacy way to switch a rule off: `- rule: X` + `enabled: false` alone.
    let enabled_only = r.enabled.is_some()
        && r.condition.is_none()
        && r.output.is_none()
        && r.desc.is_none()
        && r.priority.is_none()
        && r.tags.is_none()
        && r.action.is_none()
        && r.exceptions.is_none()
        && r.overrides.is_empty();
    let is_change = !r.overrides.is_empty() || r.append || (enabled_only && existing.is_some());
    if is_change {
        let Some(i) = existing else {
            undefined(ctx, "rule", &name);
            return;
        };
        let def = &mut defs.rules[i];
        if r.append {
            if let Some(c) = r.condition {
                def.condition.push(c);
            }
            if let Some(ex) = r.exceptions {
                append_exceptions(&mut def.exceptions, ex);
            }
            return;
        }
        if enabled_only {
            def.enabled = r.enabled.unwrap_or(def.enabled);
            return;
        }
        apply_overrides(def, r);
        return;
    }
    if existing.is_some() {
        ctx.push_error(
            &name,
            Kind::DuplicateRule,
            format!("rule `{}` is already defined", name.value),
            "a new name, or `override:` to change the existing rule",
        );
        return;
    }
    let mut missing = Vec::new();
    for (key, present) in [
        ("condition", r.condition.is_some()),
        ("output", r.output.is_some()),
        ("desc", r.desc.is_some()),
        ("priority", r.priority.is_some()),
    ] {
        if !present {
            missing.push(key);
        }
    }
    if !missing.is_empty() {
        ctx.push_error(
            &name,
            Kind::Schema,
            format!("rule `{}` has no {}", name.value, missing.join(", ")),
            "desc, condition, output and priority for a new rule",
        );
        return;
    }
    let def = RuleDef {
        name: name.clone(),
        desc: r.desc.map(|t| t.value).unwrap_or_default(),
        condition: r.condition.into_iter().collect(),
        output: r.output.into_iter().collect(),
        priority: r.priority.map_or(Priority::Warning, |(p, _)| p),
        tags: r
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.value)
            .collect(),
        enabled: r.enabled.unwrap_or(true),
        action: r.action.flatten(),
        exceptions: r.exceptions.unwrap_or_default(),
        event_source: r.source,
    };
    defs.rule_idx.insert(name.value.clone(), defs.rules.len());
    defs.rules.push(def);
}

fn append_exceptions(into: &mut Vec<Exception>, more: Vec<Exception>) {
    for ex in more {
        match into.iter_mut().find(|e| e.name.value == ex.name.value) {
            Some(e) => e.values.extend(ex.values),
            None => into.push(ex),
        }
    }
}

fn apply_overrides(def: &mut RuleDef, r: RuleDoc) {
    for (key, mode) in &r.overrides {
        let append = *mode == Mode::Append;
        match key.as_str() {
            "condition" => {
                if let Some(c) = r.condition.clone() {
                    if !append {
                        def.condition.clear();
                    }
                    def.condition.push(c);
                }
            }
            "output" => {
                if let Some(o) = r.output.clone() {
                    if !append {
                        def.output.clear();
                    }
                    def.output.push(o);
                }
            }
            "desc" => {
                if let Some(d) = &r.desc {
                    if append {
                        def.desc.push(' ');
                        def.desc.push_str(&d.value);
                    } else {
                        def.desc = d.value.clone();
                    }
                }
            }
            "priority" => {
                if let Some((p, _)) = &r.priority {
                    def.priority = *p;
                }
            }
            "tags" => {
                if let Some(tags) = &r.tags {
                    if !append {
                        def.tags.clear();
                    }
                    def.tags.extend(tags.iter().map(|t| t.value.clone()));
                }
            }
            "enabled" => {
                if let Some(e) = r.enabled {
                    def.enabled = e;
                }
            }
            "action" => {
                if let Some(a) = r.action {
                    def.action = a;
                }
            }
            "exceptions" => {
                if let Some(ex) = r.exceptions.clone() {
                    if append {
                        append_exceptions(&mut def.exceptions, ex);
                    } else {
                        def.exceptions = ex;
                    }
                }
            }
            _ => {}
        }
    }
}
