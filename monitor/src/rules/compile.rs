//! Type-checks a resolved condition against the field catalogue and turns it
//! into evaluation nodes: fields become [`FieldRef`]s, values become typed
//! matchers (hash sets, prefix sets, compiled regexes, networks). `or`s of
//! equalities and prefixes on one field are merged into one set lookup, and
//! the children of `and`/`or` are ordered cheapest first.
use memchr::memmem::Finder;
use regex::RegexBuilder;

use super::{
    ast::{At, Check, Expr, Op, Operand, Word},
    context::Ctx,
    diag::{Diagnostic, Kind},
    eval::{Cmp, Node, Pred, Test},
    fields::{Field, FieldRef, FieldType, Unknown, classify_unknown},
    matchers::{Glob, IpSet, PathSet, PrefixSet, StrSet},
};

/// Resolves `name` with its optional `[index]` to a field reference.
pub fn resolve_field(
    ctx: &Ctx,
    name: &str,
    index: Option<&str>,
    at: At,
) -> Result<FieldRef, Diagnostic> {
    let Some(field) = Field::by_name(name) else {
        return Err(match classify_unknown(name) {
            Unknown::Unsupported => ctx.error_at(
                at,
                Kind::UnsupportedField,
                format!("field `{name}` is not supported by mcp-monitor"),
                Some("a field from `mcp-monitor rules fields`".into()),
            ),
            Unknown::Unknown(hint) => ctx.error_at(
                at,
                Kind::UnknownField,
                format!("unknown field `{name}`"),
                Some(match hint {
                    Some(h) => {
                        format!("a field name, perhaps `{h}` (see `mcp-monitor rules fields`)")
                    }
                    None => "a field name (see `mcp-monitor rules fields`)".into(),
                }),
            ),
        });
    };
    let index = match index {
        None => None,
        Some(_) if !field.info().indexable => {
            return Err(ctx.error_at(
                at,
                Kind::TypeMismatch,
                format!("field `{name}` takes no index"),
                Some(format!("`{name}` without `[…]`")),
            ));
        }
        Some(i) => match i.trim().parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                return Err(ctx.error_at(
                    at,
                    Kind::TypeMismatch,
                    format!("index `{i}` of `{name}` is not a number"),
                    Some(format!("a number, as in `{name}[2]`")),
                ));
            }
        },
    };
    Ok(FieldRef { field, index })
}

fn ops_for(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Str => {
            "=, !=, in, intersects, contains, icontains, bcontains, startswith, bstartswith, endswith, glob, pmatch, regex, exists"
        }
        FieldType::Int => "=, !=, <, <=, >, >=, in, exists",
        FieldType::Bool => "=, !=, exists",
        FieldType::Ip => "=, !=, in, exists (with addresses or CIDR networks)",
        FieldType::StrList => {
            "in, intersects, =, !=, contains, icontains, startswith, endswith, glob, pmatch, regex, exists"
        }
        FieldType::IntList => "in, intersects, =, !=, exists",
    }
}

pub struct Compiler<'a> {
    pub ctx: &'a Ctx,
    pub errors: Vec<Diagnostic>,
    /// Every field the condition reads, in order of appearance.
    pub fields: Vec<FieldRef>,
}

impl<'a> Compiler<'a> {
    pub fn new(ctx: &'a Ctx) -> Self {
        Compiler {
            ctx,
            errors: Vec::new(),
            fields: Vec::new(),
        }
    }

    /// Compiles a resolved expression (no macros left). `None` when an error
    /// was recorded; compiling goes on through siblings to report them all.
    pub fn expr(&mut self, e: &Expr) -> Option<Node> {
        match e {
            Expr::And(items) | Expr::Or(items) => {
                let is_and = matches!(e, Expr::And(_));
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for i in items {
                    match self.expr(i) {
                        Some(n) => out.push(n),
                        None => ok = false,
                    }
                }
                ok.then(|| simplify(is_and, out))
            }
            Expr::Not(inner) => Some(match self.expr(inner)? {
                Node::Const(b) => Node::Const(!b),
                Node::Not(n) => *n,
                n => Node::Not(Box::new(n)),
            }),
            Expr::Macro(name, at) => {
                // The resolver inlines every macro; reaching one is a bug, reported as an error.
                self.errors.push(self.ctx.error_at(
                    *at,
                    Kind::UndefinedMacro,
                    format!("macro `{name}` was not resolved"),
                    None,
                ));
                None
            }
            Expr::Check(c) => self.check(c),
        }
    }

    fn err(&mut self, at: At, kind: Kind, msg: String, expected: String) -> Option<Node> {
        self.errors
            .push(self.ctx.error_at(at, kind, msg, Some(expected)));
        None
    }

    fn check(&mut self, c: &Check) -> Option<Node> {
        let fr = match resolve_field(self.ctx, &c.field, c.index.as_deref(), c.field_at) {
            Ok(f) => f,
            Err(d) => {
                self.errors.push(d);
                return None;
            }
        };
        // Falco renders a mode by name (`evt.arg.mode contains S_ISUID`);
        // here it is a number, read by name for the text operators.
        let fr = if fr.field == Field::EvtArgMode
            && matches!(
                c.op,
                Op::Contains
                    | Op::IContains
                    | Op::StartsWith
                    | Op::EndsWith
                    | Op::Glob
                    | Op::Regex
                    | Op::BContains
                    | Op::BStartsWith
            ) {
            FieldRef {
                field: Field::EvtArgModeNames,
                index: None,
            }
        } else {
            fr
        };
        self.fields.push(fr);
        let ty = fr.ty();
        let name = fr.display_name();
        let mismatch = |this: &mut Self| {
            this.err(
                c.op_at,
                Kind::TypeMismatch,
                format!(
                    "operator `{}` does not apply to `{name}`, a {}",
                    c.op.as_str(),
                    ty.name()
                ),
                format!("an operator for a {}: {}", ty.name(), ops_for(ty)),
            )
        };
        let pred = match (c.op, &c.value) {
            (Op::Exists, _) => Pred::Exists,
            (_, None) => return mismatch(self),
            (op, Some(Operand::Word(w))) => match (ty, op) {
                (FieldType::Str | FieldType::StrList, Op::Lt | Op::Le | Op::Gt | Op::Ge) => {
                    return mismatch(self);
                }
                (FieldType::Str, _) => self.str_pred(op, w)?,
                (FieldType::StrList, Op::Ne) => Pred::NoneStrEq(w.text.clone().into()),
                (FieldType::StrList, _) => Pred::Any(Box::new(self.str_pred(op, w)?)),
                (FieldType::Int, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge) => {
                    Pred::IntCmp(cmp_of(op), self.int(w)?)
                }
                (FieldType::IntList, Op::Eq) => {
                    Pred::Any(Box::new(Pred::IntCmp(Cmp::Eq, self.int(w)?)))
                }
                (FieldType::IntList, Op::Ne) => Pred::NoneIntEq(self.int(w)?),
                (FieldType::Bool, Op::Eq | Op::Ne) => {
                    let b = self.bool(w)?;
                    Pred::BoolEq(if op == Op::Eq { b } else { !b })
                }
                (FieldType::Ip, Op::Eq) => Pred::IpIn(IpSet::new(vec![self.net(w)?])),
                (FieldType::Ip, Op::Ne) => Pred::IpNotIn(IpSet::new(vec![self.net(w)?])),
                _ => return mismatch(self),
            },
            (op, Some(Operand::List { items, .. })) => match (ty, op) {
                (FieldType::Str, Op::In | Op::Intersects) => {
                    if items.is_empty() {
                        return Some(Node::Const(false));
                    }
                    Pred::StrIn(StrSet::new(items.iter().map(|w| w.text.clone())))
                }
                (FieldType::Str, Op::Pmatch) => {
                    Pred::Pmatch(PathSet::new(items.iter().map(|w| w.text.clone())))
                }
                (FieldType::StrList, Op::In) => {
                    Pred::AllStrIn(StrSet::new(items.iter().map(|w| w.text.clone())))
                }
                (FieldType::StrList, Op::Intersects) => Pred::Any(Box::new(Pred::StrIn(
                    StrSet::new(items.iter().map(|w| w.text.clone())),
                ))),
                (FieldType::StrList, Op::Pmatch) => Pred::Any(Box::new(Pred::Pmatch(
                    PathSet::new(items.iter().map(|w| w.text.clone())),
                ))),
                (FieldType::Int, Op::In | Op::Intersects) => Pred::IntIn(self.ints(items)?),
                (FieldType::IntList, Op::In) => Pred::AllIntIn(self.ints(items)?),
                (FieldType::IntList, Op::Intersects) => {
                    Pred::Any(Box::new(Pred::IntIn(self.ints(items)?)))
                }
                (FieldType::Ip, Op::In | Op::Intersects) => {
                    let mut nets = Vec::with_capacity(items.len());
                    let mut ok = true;
                    for w in items {
                        match self.net(w) {
                            Some(n) => nets.push(n),
                            None => ok = false,
                        }
                    }
                    if !ok {
                        return None;
                    }
                    Pred::IpIn(IpSet::new(nets))
                }
                _ => return mismatch(self),
            },
        };
        Some(Node::Test(Test { field: fr, pred }))
    }

    fn str_pred(&mut self, op: Op, w: &Word) -> Option<Pred> {
        let v = w.text.clone();
        Some(match op {
            Op::Eq => Pred::StrEq(v.into()),
            Op::Ne => Pred::StrNe(v.into()),
            Op::Contains => Pred::Contains(Box::new(Finder::new(v.as_bytes()).into_owned())),
            Op::IContains => Pred::IContains(v.to_ascii_lowercase().into_bytes().into()),
            Op::StartsWith => Pred::StartsWith(v.into()),
            Op::EndsWith => Pred::EndsWith(v.into()),
            Op::Glob => Pred::Glob(Glob::new(&v)),
            Op::In | Op::Intersects => Pred::StrIn(StrSet::new([v])),
            Op::Pmatch => Pred::Pmatch(PathSet::new([v])),
            Op::BContains => Pred::Contains(Box::new(Finder::new(&self.hex(w)?).into_owned())),
            Op::BStartsWith => Pred::BytesPrefix(self.hex(w)?.into()),
            Op::Regex => match RegexBuilder::new(&v)
                .size_limit(1 << 20)
                .dfa_size_limit(1 << 20)
                .build()
            {
                Ok(r) => Pred::Regex(r),
                Err(e) => {
                    let msg = e.to_string();
                    let last = msg.lines().last().unwrap_or("invalid").trim().to_string();
                    self.err(
                        w.at,
                        Kind::BadRegex,
                        format!("invalid regular expression: {last}"),
                        "a regular expression in Rust `regex` syntax".into(),
                    );
                    return None;
                }
            },
            Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Exists => {
                self.err(
                    w.at,
                    Kind::TypeMismatch,
                    format!("operator `{}` does not apply to a string", op.as_str()),
                    format!("an operator for a string: {}", ops_for(FieldType::Str)),
                );
                return None;
            }
        })
    }

    fn int(&mut self, w: &Word) -> Option<i64> {
        let t = w.text.trim();
        let parsed = match t.strip_prefix("0x") {
            Some(hex) => i64::from_str_radix(hex, 16).ok(),
            None => t.parse::<i64>().ok(),
        };
        if parsed.is_none() {
            self.err(
                w.at,
                Kind::TypeMismatch,
                format!("`{}` is not a number", w.text),
                "an integer".into(),
            );
        }
        parsed
    }

    fn ints(&mut self, items: &[Word]) -> Option<Box<[i64]>> {
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for w in items {
            match self.int(w) {
                Some(i) => out.push(i),
                None => ok = false,
            }
        }
        ok.then(|| out.into_boxed_slice())
    }

    fn bool(&mut self, w: &Word) -> Option<bool> {
        match w.text.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.err(
                    w.at,
                    Kind::TypeMismatch,
                    format!("`{}` is not a boolean", w.text),
                    "true or false".into(),
                );
                None
            }
        }
    }

    fn net(&mut self, w: &Word) -> Option<(std::net::IpAddr, u8)> {
        match IpSet::parse_net(w.text.trim()) {
            Ok(n) => Some(n),
            Err(e) => {
                self.err(
                    w.at,
                    Kind::BadCidr,
                    format!("bad address or network `{}`: {e}", w.text),
                    "an IP address (10.0.0.1, fd00::1) or a CIDR network (10.0.0.0/8, fd00::/8)"
                        .into(),
                );
                None
            }
        }
    }

    fn hex(&mut self, w: &Word) -> Option<Vec<u8>> {
        let t = w.text.trim();
        let ok = t.len().is_multiple_of(2) && t.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            self.err(
                w.at,
                Kind::TypeMismatch,
                format!("`{}` is not a hex byte string", w.text),
                "hex digits, two per byte (e.g. 7f454c46)".into(),
            );
            return None;
        }
        Some(
            (0..t.len())
                .step_by(2)
                .filter_map(|i| u8::from_str_radix(&t[i..i + 2], 16).ok())
                .collect(),
        )
    }
}

fn cmp_of(op: Op) -> Cmp {
    match op {
        Op::Ne => Cmp::Ne,
        Op::Lt => Cmp::Lt,
        Op::Le => Cmp::Le,
        Op::Gt => Cmp::Gt,
        Op::Ge => Cmp::Ge,
        _ => Cmp::Eq,
    }
}

/// Flattens nested `and`/`or`, folds constants, merges `or`s of equalities or
/// prefixes on one string field, and puts the cheapest children first.
pub fn simplify(is_and: bool, items: Vec<Node>) -> Node {
    let mut flat = Vec::with_capacity(items.len());
    for n in items {
        match n {
            Node::And(inner) if is_and => flat.extend(inner.into_vec()),
            Node::Or(inner) if !is_and => flat.extend(inner.into_vec()),
            // `x and true`, `x or false`: drop; `x and false`: false.
            Node::Const(b) if b == is_and => {}
            Node::Const(b) => return Node::Const(b),
            n => flat.push(n),
        }
    }
    if !is_and {
        flat = merge_or(flat);
    }
    flat.sort_by_key(Node::cost);
    match flat.len() {
        0 => Node::Const(is_and),
        1 => flat.pop().unwrap_or(Node::Const(is_and)),
        _ if is_and => Node::And(flat.into_boxed_slice()),
        _ => Node::Or(flat.into_boxed_slice()),
    }
}

/// In an `or`: every `f = a`, `f in (…)` on the same scalar string field
/// becomes one set; every `f startswith p` one prefix set.
fn merge_or(items: Vec<Node>) -> Vec<Node> {
    let mut eq: Vec<(FieldRef, Vec<String>)> = Vec::new();
    let mut pre: Vec<(FieldRef, Vec<String>)> = Vec::new();
    let mut rest = Vec::with_capacity(items.len());
    fn bucket(list: &mut Vec<(FieldRef, Vec<String>)>, f: FieldRef) -> &mut Vec<String> {
        let i = match list.iter().position(|(g, _)| *g == f) {
            Some(i) => i,
            None => {
                list.push((f, Vec::new()));
                list.len() - 1
            }
        };
        &mut list[i].1
    }
    for n in items {
        match n {
            Node::Test(Test { field, pred }) if field.ty() == FieldType::Str => match pred {
                Pred::StrEq(v) => bucket(&mut eq, field).push(v.into()),
                Pred::StrIn(set) => bucket(&mut eq, field).extend(set.iter().map(str::to_string)),
                Pred::StartsWith(p) => bucket(&mut pre, field).push(p.into()),
                Pred::PrefixAny(set) => {
                    bucket(&mut pre, field).extend(set.iter().map(str::to_string))
                }
                pred => rest.push(Node::Test(Test { field, pred })),
            },
            n => rest.push(n),
        }
    }
    for (field, vals) in eq {
        let pred = if vals.len() == 1 {
            Pred::StrEq(vals.into_iter().next().unwrap_or_default().into())
        } else {
            Pred::StrIn(StrSet::new(vals))
        };
        rest.push(Node::Test(Test { field, pred }));
    }
    for (field, vals) in pre {
        let pred = if vals.len() == 1 {
            Pred::StartsWith(vals.into_iter().next().unwrap_or_default().into())
        } else {
            Pred::PrefixAny(PrefixSet::new(vals))
        };
        rest.push(Node::Test(Test { field, pred }));
    }
    rest
}

/// The event types a node can match: `None` when any type can.
pub fn event_types(n: &Node) -> Option<Vec<String>> {
    match n {
        Node::Const(false) => Some(Vec::new()),
        Node::Const(true) | Node::Not(_) => None,
        Node::Test(Test { field, pred })
            if field.field == Field::EvtType && field.index.is_none() =>
        {
            match pred {
                Pred::StrEq(v) => Some(vec![v.to_string()]),
                Pred::StrIn(set) => {
                    let mut v: Vec<String> = set.iter().map(str::to_string).collect();
                    v.sort();
                    Some(v)
                }
                _ => None,
            }
        }
        Node::Test(_) => None,
        Node::And(items) => {
            let mut acc: Option<Vec<String>> = None;
            for i in items.iter() {
                if let Some(types) = event_types(i) {
                    acc = Some(match acc {
                        None => types,
                        Some(prev) => prev.into_iter().filter(|t| types.contains(t)).collect(),
                    });
                }
            }
            acc
        }
        Node::Or(items) => {
            let mut all = Vec::new();
            for i in items.iter() {
                all.extend(event_types(i)?);
            }
            all.sort();
            all.dedup();
            Some(all)
        }
    }
}
