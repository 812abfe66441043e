//! One rule file's YAML tree to typed items (rules, lists, macros), checking
//! the shape Falco's format defines and keeping the position of every value.
use super::diag::{Diagnostic, Kind, Severity, SourceFile};
use crate::{
    enforce::Action,
    priority::Priority,
    yaml::{Node, NodeKind, Span},
};

/// A scalar from a file, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    pub value: String,
    pub span: Span,
    /// Index of the file among the loaded sources.
    pub file: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Append,
    Replace,
}

/// One value of an exception tuple: a scalar, or a list (for `in`-like comps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExcValue {
    One(Text),
    Many(Vec<Text>, Span),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    pub name: Text,
    pub fields: Vec<Text>,
    /// `fields` was a single scalar: the values are then one list of values.
    pub single_field: bool,
    pub comps: Vec<Text>,
    pub values: Vec<Vec<ExcValue>>,
}

#[derive(Clone, Debug, Default)]
pub struct RuleDoc {
    pub name: Option<Text>,
    pub desc: Option<Text>,
    pub condition: Option<Text>,
    pub output: Option<Text>,
    pub priority: Option<(Priority, Text)>,
    pub tags: Option<Vec<Text>>,
    pub enabled: Option<bool>,
    /// `action:`: `Some(None)` for `none` (clears an earlier rule's action).
    pub action: Option<Option<Action>>,
    pub exceptions: Option<Vec<Exception>>,
    pub source: Option<Text>,
    /// Legacy `append: true`.
    pub append: bool,
    /// `override: {key: append|replace}`.
    pub overrides: Vec<(String, Mode)>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct ListDoc {
    pub name: Text,
    pub items: Vec<Text>,
    pub mode: Option<Mode>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct MacroDoc {
    pub name: Text,
    pub condition: Text,
    pub mode: Option<Mode>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum Item {
    Rule(Box<RuleDoc>),
    List(ListDoc),
    Macro(MacroDoc),
}

/// Turns YAML documents of one file into items; shape errors go to `diags`.
pub struct Reader<'a> {
    pub src: &'a SourceFile,
    pub file: usize,
    pub diags: &'a mut Vec<Diagnostic>,
}

const RULE_KEYS: &[&str] = &[
    "rule",
    "desc",
    "condition",
    "output",
    "priority",
    "tags",
    "enabled",
    "action",
    "exceptions",
    "source",
    "append",
    "override",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "capture",
    "capture_duration",
];
const OVERRIDABLE: &[(&str, bool, bool)] = &[
    // key, may append, may replace
    ("desc", true, true),
    ("condition", true, true),
    ("output", true, true),
    ("priority", false, true),
    ("tags", true, true),
    ("enabled", false, true),
    ("action", false, true),
    ("exceptions", true, true),
    ("items", true, true),
];

impl Reader<'_> {
    fn error(&mut self, span: Span, kind: Kind, msg: impl Into<String>, expected: &str) {
        let loc = self.src.location_of(span.start);
        let d = self
            .src
            .diag(Severity::Error, kind, loc, msg, Some(expected.to_string()));
        self.diags.push(d);
    }

    fn warn(&mut self, span: Span, kind: Kind, msg: impl Into<String>) {
        let loc = self.src.location_of(span.start);
        let d = self.src.diag(Severity::Warning, kind, loc, msg, None);
        self.diags.push(d);
    }

    fn text(&mut self, node: &Node, what: &str) -> Option<Text> {
        match &node.kind {
            NodeKind::Scalar { value, .. } => Some(Text {
                value: value.clone(),
                span: node.span,
                file: self.file,
            }),
            _ => {
                self.error(
                    node.span,
                    Kind::Schema,
                    format!("{what} must be a string, found {}", node.kind_name()),
                    "a string",
                );
                None
            }
        }
    }

    /// A sequence of scalars (a scalar alone is taken as a one-item list).
    fn texts(&mut self, node: &Node, what: &str) -> Option<Vec<Text>> {
        match &node.kind {
            NodeKind::Seq(items) => items.iter().map(|n| self.text(n, what)).collect(),
            NodeKind::Scalar { .. } if node.is_null() => Some(Vec::new()),
            NodeKind::Scalar { .. } => self.text(node, what).map(|t| vec![t]),
            NodeKind::Map(_) => {
                self.error(
                    node.span,
                    Kind::Schema,
                    format!("{what} must be a list, found a mapping"),
                    "a list such as [a, b]",
                );
                None
            }
        }
    }

    fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        let b = node.as_bool();
        if b.is_none() {
            self.error(
                node.span,
                Kind::Schema,
                format!("{what} must be true or false"),
                "true or false",
            );
        }
        b
    }

    /// All items of every YAML document in the file.
    pub fn read(&mut self, docs: &[Node]) -> Vec<Item> {
        let mut items = Vec::new();
        for doc in docs {
            match &doc.kind {
                NodeKind::Seq(entries) => {
                    for entry in entries {
                        if let Some(item) = self.entry(entry) {
                            items.push(item);
                        }
                    }
                }
                NodeKind::Scalar { .. } if doc.is_null() => {}
                _ => self.error(
                    doc.span,
                    Kind::Schema,
                    format!("a rules file must be a list, found {}", doc.kind_name()),
                    "a list of `- rule:`, `- macro:` and `- list:` entries",
                ),
            }
        }
        items
    }

    fn entry(&mut self, node: &Node) -> Option<Item> {
        let NodeKind::Map(entries) = &node.kind else {
            self.error(
                node.span,
                Kind::Schema,
                format!(
                    "a rules file entry must be a mapping, found {}",
                    node.kind_name()
                ),
                "`- rule:`, `- macro:` or `- list:`",
            );
            return None;
        };
        for (i, (k, _)) in entries.iter().enumerate() {
            if entries[..i]
                .iter()
                .any(|(prev, _)| prev.as_str() == k.as_str())
            {
                self.error(
                    k.span,
                    Kind::Schema,
                    format!("key `{}` appears twice", k.as_str().unwrap_or("?")),
                    "each key once",
                );
                return None;
            }
        }
        if node.get("rule").is_some() {
            return self.rule(node).map(|r| Item::Rule(Box::new(r)));
        }
        if node.get("macro").is_some() {
            return self.macro_(node).map(Item::Macro);
        }
        if node.get("list").is_some() {
            return self.list(node).map(Item::List);
        }
        if node.get("required_engine_version").is_some()
            || node.get("required_plugin_versions").is_some()
        {
            return None;
        }
        self.error(
            node.span,
            Kind::Schema,
            "entry is not a rule, a macro or a list",
            "a `rule:`, `macro:` or `list:` key",
        );
        None
    }

    fn unknown_keys(&mut self, node: &Node, known: &[&str]) {
        if let NodeKind::Map(entries) = &node.kind {
            for (k, _) in entries {
                let key = k.as_str().unwrap_or("");
                if !known.contains(&key) {
                    self.warn(
                        k.span,
                        Kind::UnknownKey,
                        format!("unknown key `{key}` ignored"),
                    );
                }
            }
        }
    }

    /// `override:` mapping of key to append/replace; checks the keys are allowed.
    fn overrides(&mut self, node: &Node, allowed: &[&str]) -> Option<Vec<(String, Mode)>> {
        let Some(ov) = node.get("override") else {
            return Some(Vec::new());
        };
        let NodeKind::Map(entries) = &ov.kind else {
            self.error(
                ov.span,
                Kind::Schema,
                "`override` must be a mapping",
                "for example `override: {condition: append}`",
            );
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let key = k.as_str().unwrap_or("");
            let mode = match v.as_str() {
                Some("append") => Mode::Append,
                Some("replace") => Mode::Replace,
                _ => {
                    self.error(
                        v.span,
                        Kind::Schema,
                        format!("override of `{key}` must be append or replace"),
                        "append or replace",
                    );
                    return None;
                }
            };
            let rule = OVERRIDABLE.iter().find(|(n, ..)| *n == key);
            let ok = allowed.contains(&key)
                && rule.is_some_and(|&(_, a, r)| {
                    (mode == Mode::Append && a) || (mode == Mode::Replace && r)
                });
            if !ok {
                self.error(
                    k.span,
                    Kind::Schema,
                    format!(
                        "`{key}` cannot be overridden with {}",
                        if mode == Mode::Append {
                            "append"
                        } else {
                            "replace"
                        }
                    ),
                    &format!("one of: {}", allowed.join(", ")),
                );
                return None;
            }
            if node.get(key).is_none() {
                self.error(
                    k.span,
                    Kind::Schema,
                    format!("override names `{key}` but the entry has no `{key}`"),
                    &format!("a `{key}:` key next to `override`"),
                );
                return None;
            }
            out.push((key.to_string(), mode));
        }
        Some(out)
    }

    fn name(&mut self, node: &Node, key: &str) -> Option<Text> {
        let n = node.get(key)?;
        let t = self.text(n, key)?;
        if t.value.trim().is_empty() {
            self.error(n.span, Kind::Schema, format!("empty {key} name"), "a name");
            return None;
        }
        Some(t)
    }

    fn legacy_append(&mut self, node: &Node) -> Option<bool> {
        match node.get("append") {
            Some(a) => self.bool(a, "append"),
            None => Some(false),
        }
    }

    /// A list's or macro's name and the one key it cannot do without.
    fn named<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        key: &str,
        hint: &str,
    ) -> Option<(Text, &'n Node)> {
        self.unknown_keys(node, &[what, key, "append", "override"]);
        let name = self.name(node, what)?;
        let Some(value) = node.get(key) else {
            self.error(
                node.span,
                Kind::Schema,
                format!("{what} `{}` has no {key}", name.value),
                hint,
            );
            return None;
        };
        Some((name, value))
    }

    /// How a list or macro joins an earlier one of its name: `override:
    /// {key: …}`, else the older `append: true`.
    fn mode(&mut self, node: &Node, key: &str) -> Option<Option<Mode>> {
        let overrides = self.overrides(node, &[key])?;
        let legacy = self.legacy_append(node)?.then_some(Mode::Append);
        Some(overrides.first().map(|(_, m)| *m).or(legacy))
    }

    fn list(&mut self, node: &Node) -> Option<ListDoc> {
        let (name, items_node) = self.named(node, "list", "items", "an `items:` key")?;
        let items = self.texts(items_node, "a list item")?;
        let mode = self.mode(node, "items")?;
        Some(ListDoc {
            name,
            items,
            mode,
            span: node.span,
        })
    }

    fn macro_(&mut self, node: &Node) -> Option<MacroDoc> {
        let (name, c) = self.named(node, "macro", "condition", "a `condition:` key")?;
        let condition = self.text(c, "condition")?;
        let mode = self.mode(node, "condition")?;
        Some(MacroDoc {
            name,
            condition,
            mode,
            span: node.span,
        })
    }

    fn rule(&mut self, node: &Node) -> Option<RuleDoc> {
        self.unknown_keys(node, RULE_KEYS);
        let name = self.name(node, "rule")?;
        let mut doc = RuleDoc {
            span: node.span,
            ..Default::default()
        };
        for key in ["desc", "condition", "output", "source"] {
            if let Some(n) = node.get(key) {
                let t = self.text(n, key)?;
                match key {
                    "desc" => doc.desc = Some(t),
                    "condition" => doc.condition = Some(t),
                    "output" => doc.output = Some(t),
                    _ => doc.source = Some(t),
                }
            }
        }
        if let Some(n) = node.get("priority") {
            let t = self.text(n, "priority")?;
            match Priority::parse(&t.value) {
                Some(p) => doc.priority = Some((p, t)),
                None => {
                    self.error(
                        n.span,
                        Kind::Schema,
                        format!("unknown priority `{}`", t.value),
                        "emergency, alert, critical, error, warning, notice, informational (info) or debug",
                    );
                    return None;
                }
            }
        }
        if let Some(n) = node.get("tags") {
            doc.tags = Some(self.texts(n, "a tag")?);
        }
        if let Some(n) = node.get("enabled") {
            doc.enabled = Some(self.bool(n, "enabled")?);
        }
        if let Some(n) = node.get("action") {
            doc.action = Some(self.action(n)?);
        }
        if let Some(n) = node.get("exceptions") {
            doc.exceptions = Some(self.exceptions(n)?);
        }
        doc.append = self.legacy_append(node)?;
        doc.overrides = self.overrides(
            node,
            &[
                "desc",
                "condition",
                "output",
                "priority",
                "tags",
                "enabled",
                "action",
                "exceptions",
            ],
        )?;
        doc.name = Some(name);
        Some(doc)
    }

    /// `action: kill | kill-server | deny | none`.
    fn action(&mut self, node: &Node) -> Option<Option<Action>> {
        let t = self.text(node, "action")?;
        if t.value == "none" {
            return Some(None);
        }
        match Action::parse(&t.value) {
            Some(a) => Some(Some(a)),
            None => {
                self.error(
                    node.span,
                    Kind::Schema,
                    format!("unknown action `{}`", t.value),
                    "kill, kill-server, deny, or none",
                );
                None
            }
        }
    }

    fn exceptions(&mut self, node: &Node) -> Option<Vec<Exception>> {
        let NodeKind::Seq(items) = &node.kind else {
            if node.is_null() {
                return Some(Vec::new());
            }
            self.error(
                node.span,
                Kind::Schema,
                "`exceptions` must be a list",
                "a list of `- name:` entries",
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            if !matches!(item.kind, NodeKind::Map(_)) {
                self.error(
                    item.span,
                    Kind::Schema,
                    "an exception must be a mapping",
                    "`name`, `fields`, `comps`, `values`",
                );
                return None;
            }
            self.unknown_keys(item, &["name", "fields", "comps", "values"]);
            let Some(name) = self.name(item, "name") else {
                self.error(
                    item.span,
                    Kind::Schema,
                    "exception without a name",
                    "a `name:` key",
                );
                return None;
            };
            // `fields` may be left out when values are appended to an
            // exception defined earlier; the compiler checks the result.
            let (single_field, fields) = match item.get("fields") {
                Some(f) => (
                    matches!(f.kind, NodeKind::Scalar { .. }),
                    self.texts(f, "an exception field")?,
                ),
                None => (false, Vec::new()),
            };
            let comps = match item.get("comps") {
                Some(c) => self.texts(c, "an exception comparison")?,
                None => Vec::new(),
            };
            if !comps.is_empty() && comps.len() != fields.len() {
                self.error(
                    item.get("comps").map_or(item.span, |c| c.span),
                    Kind::Schema,
                    format!(
                        "exception `{}` has {} fields but {} comps",
                        name.value,
                        fields.len(),
                        comps.len()
                    ),
                    "one comparison per field",
                );
                return None;
            }
            let mut values = Vec::new();
            if let Some(v) = item.get("values") {
                match &v.kind {
                    NodeKind::Seq(tuples) => {
                        for t in tuples {
                            values.push(self.exception_tuple(t, single_field, fields.len())?);
                        }
                    }
                    _ if v.is_null() => {}
                    _ => {
                        self.error(
                            v.span,
                            Kind::Schema,
                            "exception values must be a list",
                            "a list of value tuples",
                        );
                        return None;
                    }
                }
            }
            out.push(Exception {
                name,
                fields,
                single_field,
                comps,
                values,
            });
        }
        Some(out)
    }

    fn exception_tuple(&mut self, t: &Node, single: bool, nfields: usize) -> Option<Vec<ExcValue>> {
        if single {
            return Some(vec![self.exc_value(t)?]);
        }
        let NodeKind::Seq(parts) = &t.kind else {
            self.error(
                t.span,
                Kind::Schema,
                "an exception value must be a list with one value per field",
                "[value, value, …]",
            );
            return None;
        };
        if nfields > 0 && parts.len() != nfields {
            self.error(
                t.span,
                Kind::Schema,
                format!(
                    "exception value has {} items for {nfields} fields",
                    parts.len()
                ),
                "one value per field",
            );
            return None;
        }
        parts.iter().map(|p| self.exc_value(p)).collect()
    }

    fn exc_value(&mut self, node: &Node) -> Option<ExcValue> {
        match &node.kind {
            NodeKind::Seq(_) => Some(ExcValue::Many(
                self.texts(node, "an exception value")?,
                node.span,
            )),
            _ => Some(ExcValue::One(self.text(node, "an exception value")?)),
        }
    }
}
