//! The syntax tree of a condition, as parsed, before macros and lists are
//! resolved. Every node remembers where it was written ([`At`]).
use std::fmt;

/// A position inside one condition text: which text (a condition with its
/// appended parts, a list item, an exception value) and the byte offset in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct At {
    pub text: u32,
    pub offset: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Intersects,
    Contains,
    IContains,
    BContains,
    StartsWith,
    BStartsWith,
    EndsWith,
    Glob,
    Pmatch,
    Regex,
    Exists,
}

impl Op {
    pub const WORDS: &[(&str, Op)] = &[
        ("in", Op::In),
        ("intersects", Op::Intersects),
        ("contains", Op::Contains),
        ("icontains", Op::IContains),
        ("bcontains", Op::BContains),
        ("startswith", Op::StartsWith),
        ("bstartswith", Op::BStartsWith),
        ("endswith", Op::EndsWith),
        ("glob", Op::Glob),
        ("pmatch", Op::Pmatch),
        ("regex", Op::Regex),
        ("exists", Op::Exists),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            other => Op::WORDS
                .iter()
                .find(|(_, o)| *o == other)
                .map_or("?", |(w, _)| w),
        }
    }

    /// Takes a parenthesised list of values.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::Pmatch)
    }
}

/// A value as written: a bare word or a quoted string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub quoted: bool,
    pub at: At,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    Word(Word),
    /// Values in parentheses, or (`bare`) one list name written without them.
    List {
        items: Vec<Word>,
        at: At,
        bare: bool,
    },
}

/// `field[index] op value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub field: String,
    pub index: Option<String>,
    pub field_at: At,
    pub op: Op,
    pub op_at: At,
    /// `None` only for `exists`.
    pub value: Option<Operand>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A macro, by name.
    Macro(String, At),
    Check(Check),
}

fn write_word(f: &mut fmt::Formatter<'_>, w: &Word) -> fmt::Result {
    if w.quoted || w.text.is_empty() || w.text.contains([' ', '(', ')', ',', '"']) {
        write!(f, "{:?}", w.text)
    } else {
        f.write_str(&w.text)
    }
}

/// A canonical rendering: one form per meaning up to spacing and quoting, used
/// to tell whether a rule changed between two loads.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, items: &[Expr], sep: &str| {
            f.write_str("(")?;
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{e}")?;
            }
            f.write_str(")")
        };
        match self {
            Expr::And(items) => join(f, items, " and "),
            Expr::Or(items) => join(f, items, " or "),
            Expr::Not(e) => write!(f, "not {e}"),
            Expr::Macro(name, _) => f.write_str(name),
            Expr::Check(c) => {
                f.write_str(&c.field)?;
                if let Some(i) = &c.index {
                    write!(f, "[{i}]")?;
                }
                write!(f, " {}", c.op.as_str())?;
                match &c.value {
                    None => Ok(()),
                    Some(Operand::Word(w)) => {
                        f.write_str(" ")?;
                        write_word(f, w)
                    }
                    Some(Operand::List { items, .. }) => {
                        f.write_str(" (")?;
                        for (i, w) in items.iter().enumerate() {
                            if i > 0 {
                                f.write_str(", ")?;
                            }
                            write_word(f, w)?;
                        }
                        f.write_str(")")
                    }
                }
            }
        }
    }
}
