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
    by_type: FxHashMap<Box<str>, Box<[Entry]>>,
    /// Rules without an event-type constraint, for types no rule names.
    catch_all: Box<[Entry]>,
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
            let group: Vec<Entry> = rules
                .clone()
                .filter(|(_, types, _)| types.is_none_or(|ts| ts.iter().any(|x| x == t)))
                .filter_map(|(i, _, cond)| match specialise(cond, t) {
                    Node::Const(false) => None,
                    cond => Some(Entry::new(i, cond)),
                })
                .collect();
            by_type.insert(Box::from(t), group.into_boxed_slice());
        }
        let catch_all = rules
            .filter(|(_, types, _)| types.is_none())
            .map(|(i, _, cond)| Entry::new(i, cond.clone()))
            .collect();
        Dispatch { by_type, catch_all }
    }

    /// The rules to evaluate for an event of type `evt_type`.
    #[inline]
    pub fn group(&self, evt_type: &str) -> &[Entry] {
        self.by_type
            .get(evt_type)
            .map_or(&*self.catch_all, |g| &**g)
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
