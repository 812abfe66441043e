//! From a rule's condition to what a probe can check at the call.
//!
//! The kernel must never act where the rule would not match, so the result
//! is a condition that *implies* the rule's: every part the probe cannot
//! check is dropped only where dropping it narrows (an alternative of an
//! `or`, an item of a path list), and a rule with a required part the probe
//! cannot check is not compiled at all. What the kernel misses, user space
//! still acts on, later.
use std::collections::BTreeSet;

use crate::rules::ast::{Check, Expr, Op, Operand};

/// What the probe checks, all of it required.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cond {
    /// `evt.type` must be one of these (`None`: not constrained).
    pub types: Option<BTreeSet<String>>,
    /// `evt.is_open_read` (bit 0) / `evt.is_open_write` (bit 1) required.
    pub access: u8,
    pub not_dir: bool,
    pub not_root: bool,
    /// The file (or executable): paths, with whether what lies below counts.
    pub files: Option<Vec<PathItem>>,
    /// Destination networks (`fd.dip`), as written.
    pub nets: Option<Vec<String>>,
    pub ports: Option<Vec<u16>>,
    /// Names (`proc.name`) and prefixes that exempt the process.
    pub exempt_own: Exemptions,
    /// Names (`proc.pname`) and prefixes that exempt its parent.
    pub exempt_parent: Exemptions,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exemptions {
    pub names: BTreeSet<String>,
    pub prefixes: BTreeSet<String>,
}

/// A path of a rule: `home` paths are relative to every home (`fd.homerel`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PathItem {
    pub path: String,
    pub home: bool,
    /// `pmatch`: the path and everything below it; else the path itself.
    pub below: bool,
}

/// Which call the condition is compiled for: decides what `proc.exepath`
/// (the new program, at exec) and `fd.typechar in (4, 6)` (connect) mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    File,
    Exec,
    Connect,
    Call,
}

/// A condition that implies `e` for calls of `class`, or `None`.
pub fn narrow(e: &Expr, class: Class) -> Option<Cond> {
    match e {
        Expr::And(items) => {
            let mut all = Cond::default();
            for i in items {
                all = merge(all, narrow(i, class)?)?;
            }
            Some(all)
        }
        Expr::Or(items) => either(items.iter().filter_map(|i| narrow(i, class)).collect()),
        Expr::Not(inner) => negated(inner, class),
        Expr::Macro(..) => None,
        Expr::Check(c) => check(c, class),
    }
}

/// One of several alternatives: their union where they differ only in the
/// files or networks they name; the others are left out (narrower, still
/// sound).
fn either(alts: Vec<Cond>) -> Option<Cond> {
    let mut alts = alts.into_iter();
    let mut union = alts.next()?;
    let rest = |c: &Cond| Cond {
        files: None,
        nets: None,
        ..c.clone()
    };
    for alt in alts {
        let same_shape = rest(&alt) == rest(&union)
            && alt.files.is_some() == union.files.is_some()
            && alt.nets.is_some() == union.nets.is_some();
        if !same_shape {
            continue;
        }
        if let (Some(a), Some(b)) = (&mut union.files, alt.files) {
            a.extend(b);
        }
        if let (Some(a), Some(b)) = (&mut union.nets, alt.nets) {
            a.extend(b);
        }
    }
    Some(union)
}

/// Both conditions.
fn merge(mut a: Cond, b: Cond) -> Option<Cond> {
    a.types = match (a.types, b.types) {
        (Some(x), Some(y)) => Some(x.intersection(&y).cloned().collect()),
        (x, y) => x.or(y),
    };
    a.access |= b.access;
    a.not_dir |= b.not_dir;
    a.not_root |= b.not_root;
    // Two path sets or two network sets would need their intersection,
    // which inodes cannot give: not compiled.
    a.files = one_of(a.files, b.files)?;
    a.nets = one_of(a.nets, b.nets)?;
    a.ports = one_of(a.ports, b.ports)?;
    a.exempt_own.names.extend(b.exempt_own.names);
    a.exempt_own.prefixes.extend(b.exempt_own.prefixes);
    a.exempt_parent.names.extend(b.exempt_parent.names);
    a.exempt_parent.prefixes.extend(b.exempt_parent.prefixes);
    Some(a)
}

fn one_of<T>(a: Option<T>, b: Option<T>) -> Option<Option<T>> {
    match (a, b) {
        (Some(_), Some(_)) => None,
        (x, y) => Some(x.or(y)),
    }
}

/// A condition that implies `not e`.
fn negated(e: &Expr, class: Class) -> Option<Cond> {
    match e {
        Expr::Not(inner) => narrow(inner, class),
        // not (a or b) = not a and not b.
        Expr::Or(items) => {
            let mut all = Cond::default();
            for i in items {
                all = merge(all, negated(i, class)?)?;
            }
            Some(all)
        }
        // not (a and b) holds when any one of them fails: take the first
        // the probe can check (narrower).
        Expr::And(items) => items.iter().find_map(|i| negated(i, class)),
        Expr::Macro(..) => None,
        Expr::Check(c) => negated_check(c, class),
    }
}

fn negated_check(c: &Check, _class: Class) -> Option<Cond> {
    let mut cond = Cond::default();
    let exempt = match c.field.as_str() {
        "proc.name" => &mut cond.exempt_own,
        "proc.pname" => &mut cond.exempt_parent,
        "mcp.is_root" if c.op == Op::Eq && word(c)? == "true" => {
            cond.not_root = true;
            return Some(cond);
        }
        "fd.typechar" if c.op == Op::Eq && word(c)? == "d" => {
            cond.not_dir = true;
            return Some(cond);
        }
        _ => return None,
    };
    if c.index.is_some() {
        return None;
    }
    match c.op {
        Op::Eq => {
            exempt.names.insert(word(c)?.to_owned());
        }
        Op::In => exempt
            .names
            .extend(items(c)?.into_iter().map(str::to_owned)),
        Op::StartsWith => {
            exempt.prefixes.insert(word(c)?.to_owned());
        }
        _ => return None,
    }
    Some(cond)
}

fn check(c: &Check, class: Class) -> Option<Cond> {
    let mut cond = Cond::default();
    if c.index.is_some() {
        return None;
    }
    match (c.field.as_str(), c.op) {
        ("mcp.server", Op::Exists) => {}
        ("evt.type", Op::Eq) => cond.types = Some([word(c)?.to_owned()].into()),
        ("evt.type", Op::In) => {
            cond.types = Some(items(c)?.into_iter().map(str::to_owned).collect())
        }
        ("evt.is_open_read", Op::Eq) if word(c)? == "true" => cond.access = 1,
        ("evt.is_open_write", Op::Eq) if word(c)? == "true" => cond.access = 2,
        ("fd.typechar", Op::Ne) if word(c)? == "d" => cond.not_dir = true,
        // Only inet connects reach the connect class.
        ("fd.typechar", Op::In) if class == Class::Connect => {
            let kinds = items(c)?;
            if !(kinds.contains(&"4") && kinds.contains(&"6")) {
                return None;
            }
        }
        // The probe acts on opens that succeeded only.
        ("evt.failed", Op::Eq) if class == Class::File && word(c)? == "false" => {}
        ("fd.name", _) | ("fd.homerel", _) if class == Class::File => {
            cond.files = Some(paths(c, c.field == "fd.homerel")?)
        }
        ("proc.exepath", _) if class == Class::Exec => cond.files = Some(paths(c, false)?),
        ("fd.dip", Op::Eq) if class == Class::Connect => {
            cond.nets = Some(vec![word(c)?.to_owned()])
        }
        ("fd.dip", Op::In) if class == Class::Connect => {
            cond.nets = Some(items(c)?.into_iter().map(str::to_owned).collect())
        }
        ("fd.dport", Op::Eq | Op::In) if class == Class::Connect => {
            let ports: Option<Vec<u16>> = match c.op {
                Op::Eq => Some(vec![word(c)?.parse().ok()?]),
                _ => items(c)?.iter().map(|p| p.parse().ok()).collect(),
            };
            cond.ports = Some(ports?);
        }
        _ => return None,
    }
    Some(cond)
}

/// The paths a path check names; items the probe cannot match exactly
/// (relative ones of `fd.name`, globs) are left out, which narrows.
fn paths(c: &Check, home: bool) -> Option<Vec<PathItem>> {
    let (values, below) = match c.op {
        Op::Eq => (vec![word(c)?], false),
        Op::In => (items(c)?, false),
        Op::Pmatch => (items(c)?, true),
        // `startswith "/dir/"` is "below /dir".
        Op::StartsWith => {
            let w = word(c)?;
            (vec![w.strip_suffix('/')?], true)
        }
        _ => return None,
    };
    let items: Vec<PathItem> = values
        .into_iter()
        .filter(|v| !v.contains(['*', '?', '[']) && !v.is_empty())
        .filter(|v| home || v.starts_with('/'))
        .map(|v| PathItem {
            path: v.trim_end_matches('/').to_owned(),
            home,
            below,
        })
        .filter(|i| !i.path.is_empty())
        .collect();
    (!items.is_empty()).then_some(items)
}

fn word(c: &Check) -> Option<&str> {
    match &c.value {
        Some(Operand::Word(w)) => Some(&w.text),
        _ => None,
    }
}

fn items(c: &Check) -> Option<Vec<&str>> {
    match &c.value {
        Some(Operand::List { items, .. }) => Some(items.iter().map(|w| w.text.as_str()).collect()),
        Some(Operand::Word(w)) => Some(vec![&w.text]),
        None => None,
    }
}
