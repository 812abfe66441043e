//! The compiled form of a condition and its evaluation against an event.
//! Field names are already resolved to [`FieldRef`]s and values to matchers;
//! evaluating reads borrowed values and never allocates.
use memchr::memmem::Finder;
use regex::Regex;

use super::{
    fields::{FieldRef, Value},
    matchers::{Glob, IpSet, PathSet, PrefixSet, StrSet, icontains, str_eq},
};
use crate::event::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    #[inline]
    fn holds(self, a: i64, b: i64) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

/// A test on one value. On a list field, the string and number tests hold
/// when some element passes ([`Pred::Any`] wraps them).
#[derive(Clone, Debug)]
pub enum Pred {
    Exists,
    StrEq(Box<str>),
    StrNe(Box<str>),
    StrIn(StrSet),
    Contains(Box<Finder<'static>>),
    IContains(Box<[u8]>),
    StartsWith(Box<str>),
    BytesPrefix(Box<[u8]>),
    EndsWith(Box<str>),
    PrefixAny(PrefixSet),
    Pmatch(PathSet),
    Glob(Glob),
    Regex(Regex),
    IntCmp(Cmp, i64),
    IntIn(Box<[i64]>),
    BoolEq(bool),
    IpIn(IpSet),
    IpNotIn(IpSet),
    /// Some element of a list passes.
    Any(Box<Pred>),
    /// Every element of a non-empty list is in the set (`in` on a list).
    AllStrIn(StrSet),
    AllIntIn(Box<[i64]>),
    /// No element of a list equals the value (`!=` on a list).
    NoneStrEq(Box<str>),
    NoneIntEq(i64),
}

impl Pred {
    /// Relative cost, to test cheap things first inside an `and`/`or`.
    pub fn cost(&self) -> u8 {
        match self {
            Pred::Exists | Pred::BoolEq(_) | Pred::IntCmp(..) => 0,
            Pred::StrEq(_) | Pred::StrNe(_) | Pred::IntIn(_) | Pred::IpIn(_) | Pred::IpNotIn(_) => {
                1
            }
            Pred::StrIn(_)
            | Pred::StartsWith(_)
            | Pred::BytesPrefix(_)
            | Pred::EndsWith(_)
            | Pred::PrefixAny(_) => 2,
            Pred::Pmatch(_) | Pred::AllStrIn(_) | Pred::AllIntIn(_) => 3,
            Pred::NoneStrEq(_) | Pred::NoneIntEq(_) => 3,
            Pred::Contains(_) | Pred::IContains(_) => 4,
            Pred::Glob(_) => 5,
            Pred::Any(p) => p.cost().saturating_add(2),
            Pred::Regex(_) => 8,
        }
    }

    #[inline]
    fn test_str(&self, s: &str) -> bool {
        match self {
            Pred::StrEq(v) => str_eq(s, v),
            Pred::StrNe(v) => !str_eq(s, v),
            Pred::StrIn(set) => set.contains(s),
            Pred::Contains(f) => f.find(s.as_bytes()).is_some(),
            Pred::IContains(n) => icontains(s, n),
            Pred::StartsWith(p) => s.starts_with(&**p),
            Pred::BytesPrefix(p) => s.as_bytes().starts_with(p),
            Pred::EndsWith(p) => s.ends_with(&**p),
            Pred::PrefixAny(set) => set.matches(s),
            Pred::Pmatch(set) => set.matches(s),
            Pred::Glob(g) => g.matches(s),
            Pred::Regex(r) => r.is_match(s),
            _ => false,
        }
    }

    #[inline]
    pub fn test(&self, v: Value<'_>) -> bool {
        match (self, v) {
            (_, Value::Absent) => false,
            (Pred::Exists, Value::StrList(l)) => !l.is_empty(),
            (Pred::Exists, Value::IntList(l)) => !l.is_empty(),
            (Pred::Exists, _) => true,
            (p, Value::Str(s)) => p.test_str(s),
            (Pred::IntCmp(c, b), Value::Int(a)) => c.holds(a, *b),
            (Pred::IntIn(set), Value::Int(a)) => set.contains(&a),
            (Pred::BoolEq(b), Value::Bool(a)) => a == *b,
            (Pred::IpIn(set), Value::Ip(ip)) => set.contains(ip),
            (Pred::IpNotIn(set), Value::Ip(ip)) => !set.contains(ip),
            (Pred::Any(p), Value::StrList(l)) => l.iter().any(|s| p.test_str(s)),
            (Pred::Any(p), Value::IntList(l)) => l.iter().any(|&i| p.test(Value::Int(i.into()))),
            (Pred::AllStrIn(set), Value::StrList(l)) => {
                !l.is_empty() && l.iter().all(|s| set.contains(s))
            }
            (Pred::AllIntIn(set), Value::IntList(l)) => {
                !l.is_empty() && l.iter().all(|&i| set.contains(&i64::from(i)))
            }
            (Pred::NoneStrEq(v), Value::StrList(l)) => l.iter().all(|s| s != &**v),
            (Pred::NoneIntEq(v), Value::IntList(l)) => l.iter().all(|&i| i64::from(i) != *v),
            _ => false,
        }
    }
}

/// One test of one field.
#[derive(Clone, Debug)]
pub struct Test {
    pub field: FieldRef,
    pub pred: Pred,
}

#[derive(Clone, Debug)]
pub enum Node {
    Const(bool),
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    Test(Test),
}

impl Node {
    #[inline]
    pub fn eval(&self, ev: &Event) -> bool {
        match self {
            Node::Const(b) => *b,
            Node::And(items) => items.iter().all(|n| n.eval(ev)),
            Node::Or(items) => items.iter().any(|n| n.eval(ev)),
            Node::Not(n) => !n.eval(ev),
            Node::Test(t) => t.pred.test(t.field.get(ev)),
        }
    }

    pub fn cost(&self) -> u32 {
        match self {
            Node::Const(_) => 0,
            Node::Test(t) => u32::from(t.pred.cost()),
            Node::Not(n) => n.cost(),
            Node::And(items) | Node::Or(items) => items.iter().map(Node::cost).sum::<u32>() + 1,
        }
    }
}
