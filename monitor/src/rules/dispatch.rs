//! Groups enabled rules by event type. For each type, every rule's condition
//! is specialised: its `evt.type` tests are decided (they are constants once
//! the type is known) and the tree folded again, so an event pays neither for
//! type tests nor for branches that only other types can take; rules that
//! cannot match the type are left out of its group.
use rustc_hash::FxHashMap;

use super::{
    compile::simplify,
    eval::{Node, Pred, Test},
    fields::{Field, Value},
};

/// One rule of a group: its index in the rule set and its condition for
/// that group's event type.
#[derive(Debug)]
pub struct Entry {
    pub rule: u32,
    /// The condition required `mcp.server exists` at its top level; that
    /// test is taken out of `cond` and decided once per event instead.
    pub needs_mcp: bool,
    pub cond: Node,
}

impl Entry {
    fn new(rule: u32, cond: Node) -> Entry {
        let (needs_mcp, cond) = hoist_mcp(cond);
        Entry {
            rule,
            needs_mcp,
            cond,
        }
    }

    #[inline]
    pub fn matches(&self, ev: &crate::event::Event, mcp: bool) -> bool {
        (mcp || !self.needs_mcp) && self.cond.eval(ev)
    }
}

fn is_mcp_exists(n: &Node) -> bool {
    matches!(n, Node::Test(Test { field, pred: Pred::Exists })
        if field.field == Field::McpServer && field.index.is_none())
}

/// Takes a top-level `mcp.server exists` out of `cond`.
fn hoist_mcp(cond: Node) -> (bool, Node) {
    match cond {
        n if is_mcp_exists(&n) => (true, Node::Const(true)),
        Node::And(items) if items.iter().any(is_mcp_exists) => {
            let rest: Vec<Node> = items
                .into_vec()
                .into_iter()
                .filter(|n| !is_mcp_exists(n))
                .collect();
            (true, simplify(true, rest))
        }
        n => (false, n),
    }
}

#[derive(Debug, Default)]
pub struct Dispatch {
    by_type: FxHashMap<Box<str>, Groups>,
    /// Rules without an event-type constraint, for types no rule names.
    catch_all: Box<[Entry]>,
}

/// The rules of one event type: one group, or, for a type whose rules test
/// `evt.is_open_read` or `evt.is_open_write` (the opens), one group per
/// combination of their values, with those tests decided in advance: a
/// read-only open never visits the rules about writes.
#[derive(Debug)]
enum Groups {
    One(Box<[Entry]>),
    ByAccess(Box<[Box<[Entry]>; 9]>),
}

/// The index of an event's access flags among [`Groups::ByAccess`].
#[inline]
fn access_index(read: Option<bool>, write: Option<bool>) -> usize {
    let code = |b: Option<bool>| match b {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    };
    code(read) * 3 + code(write)
}

fn tests_access(n: &Node) -> bool {
    match n {
        Node::Test(Test { field, .. }) => {
            matches!(field.field, Field::EvtIsOpenRead | Field::EvtIsOpenWrite)
        }
        Node::Const(_) => false,
        Node::Not(inner) => tests_access(inner),
        Node::And(items) | Node::Or(items) => items.iter().any(tests_access),
    }
}

/// `n` with every `evt.is_open_read`/`evt.is_open_write` test replaced by
/// its outcome for the given values.
fn specialise_access(n: &Node, read: Option<bool>, write: Option<bool>) -> Node {
    let v = |b: Option<bool>| b.map_or(Value::Absent, Value::Bool);
    match n {
        Node::Test(Test { field, pred }) if field.field == Field::EvtIsOpenRead => {
            Node::Const(pred.test(v(read)))
        }
        Node::Test(Test { field, pred }) if field.field == Field::EvtIsOpenWrite => {
            Node::Const(pred.test(v(write)))
        }
        Node::Const(_) | Node::Test(_) => n.clone(),
        Node::Not(inner) => match specialise_access(inner, read, write) {
            Node::Const(b) => Node::Const(!b),
            other => Node::Not(Box::new(other)),
        },
        Node::And(items) => simplify(
            true,
            items
                .iter()
                .map(|i| specialise_access(i, read, write))
                .collect(),
        ),
        Node::Or(items) => simplify(
            false,
            items
                .iter()
                .map(|i| specialise_access(i, read, write))
                .collect(),
        ),
    }
}

impl Dispatch {
    /// `rules`: (index, enabled, event types or `None` for all, condition).
    pub fn build<'a>(
        rules: impl Iterator<Item = (u32, Option<&'a [String]>, &'a Node)> + Clone,
    ) -> Dispatch {
        let mut types: Vec<&str> = rules
            .clone()
            .filter_map(|(_, t, _)| t)
            .flatten()
            .map(String::as_str)
            .collect();
        types.sort_unstable();
        types.dedup();
        let mut by_type = FxHashMap::default();
        for t in types {
            let specialised: Vec<(u32, Node)> = rules
                .clone()
                .filter(|(_, types, _)| types.is_none_or(|ts| ts.iter().any(|x| x == t)))
                .filter_map(|(i, _, cond)| match specialise(cond, t) {
                    Node::Const(false) => None,
                    cond => Some((i, cond)),
                })
                .collect();
            let groups = if specialised.iter().any(|(_, c)| tests_access(c)) {
                let states = [None, Some(false), Some(true)];
                let mut all: Vec<Box<[Entry]>> = Vec::with_capacity(9);
                for read in states {
                    for write in states {
                        debug_assert_eq!(access_index(read, write), all.len());
                        let group: Vec<Entry> = specialised
                            .iter()
                            .filter_map(|(i, c)| match specialise_access(c, read, write) {
                                Node::Const(false) => None,
                                c => Some(Entry::new(*i, c)),
                            })
                            .collect();
                        all.push(group.into_boxed_slice());
                    }
                }
                let all: Box<[Box<[Entry]>; 9]> = all
                    .into_boxed_slice()
                    .try_into()
                    .expect("nine access combinations");
                Groups::ByAccess(all)
            } else {
                Groups::One(
                    specialised
                        .into_iter()
                        .map(|(i, c)| Entry::new(i, c))
                        .collect(),
                )
            };
            by_type.insert(Box::from(t), groups);
        }
        let catch_all = rules
            .filter(|(_, types, _)| types.is_none())
            .map(|(i, _, cond)| Entry::new(i, cond.clone()))
            .collect();
        Dispatch { by_type, catch_all }
    }

    /// The rules to evaluate for `ev`: those of its event type, with the
    /// tests of its open access decided in advance when they matter.
    #[inline]
    pub fn group(&self, ev: &crate::event::Event) -> &[Entry] {
        match self.by_type.get(ev.evt_type.as_str()) {
            None => &self.catch_all,
            Some(Groups::One(g)) => g,
            Some(Groups::ByAccess(gs)) => &gs[access_index(ev.is_open_read, ev.is_open_write)],
        }
    }

    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.by_type.keys().map(|k| &**k)
    }

    pub fn has_catch_all(&self) -> bool {
        !self.catch_all.is_empty()
    }
}

/// `n` with every unindexed `evt.type` test replaced by its outcome for `t`.
pub fn specialise(n: &Node, t: &str) -> Node {
    match n {
        Node::Test(Test { field, pred })
            if field.field == Field::EvtType && field.index.is_none() =>
        {
            Node::Const(pred.test(Value::Str(t)))
        }
        Node::Const(_) | Node::Test(_) => n.clone(),
        Node::Not(inner) => match specialise(inner, t) {
            Node::Const(b) => Node::Const(!b),
            other => Node::Not(Box::new(other)),
        },
        Node::And(items) => simplify(true, items.iter().map(|i| specialise(i, t)).collect()),
        Node::Or(items) => simplify(false, items.iter().map(|i| specialise(i, t)).collect()),
    }
}
