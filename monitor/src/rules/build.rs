//! Building a [`RuleSet`] from sources: files → items → definitions (after
//! overrides) → conditions resolved and compiled → dispatch by event type,
//! collecting every diagnostic with its location.
use std::{
    collections::BTreeMap,
    hash::{DefaultHasher, Hash, Hasher},
};

use rustc_hash::FxHashSet;

use super::{
    ast::{At, Check, Expr, Op, Operand, Word},
    compile::{Compiler, event_types, resolve_field},
    context::Ctx,
    diag::{Diagnostic, Kind, LoadError, RuleSource, Severity, SourceFile, Warning},
    dispatch::Dispatch,
    document::{ExcValue, Exception, Reader},
    eval::Node,
    fields::FieldRef,
    merge::{Defs, RuleDef, merge},
    output::{self, Piece, Seg, Template},
    parser,
    resolve::Resolver,
    ruleset::{CompileOptions, Rule, RuleSet, SkippedRule},
};
use crate::yaml;

impl RuleSet {
    /// Compiles `sources` in order (later files may override earlier ones).
    pub fn load(sources: &[RuleSource]) -> Result<(RuleSet, Vec<Warning>), LoadError> {
        Self::load_with(sources, &CompileOptions::default())
    }

    pub fn load_with(
        sources: &[RuleSource],
        opts: &CompileOptions,
    ) -> Result<(RuleSet, Vec<Warning>), LoadError> {
        Loader::run(sources, opts)
    }
}

/// The definitions of `sources` after overrides, uncompiled: what the rules
/// reference documents. Load errors are [`RuleSet::load`]'s to report.
pub(super) fn definitions(sources: &[RuleSource]) -> Defs {
    Loader::definitions(sources)
}

/// Texts of one rule registered for located parsing.
struct RuleTexts {
    condition: u32,
    output: Option<u32>,
    /// `not (…)` clauses built from the exceptions, already as syntax trees.
    exceptions: Vec<Expr>,
}

struct Loader {
    ctx: Ctx,
    opts: CompileOptions,
}

impl Loader {
    fn run(
        sources: &[RuleSource],
        opts: &CompileOptions,
    ) -> Result<(RuleSet, Vec<Warning>), LoadError> {
        let mut l = Loader {
            ctx: Ctx::default(),
            opts: opts.clone(),
        };
        let items = l.read(sources);
        let defs = merge(&mut l.ctx, items);
        let set = l.compile(&defs);
        let mut seen = FxHashSet::default();
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        for d in l.ctx.diags {
            if !seen.insert((d.location.clone(), d.message.clone())) {
                continue;
            }
            match d.severity {
                Severity::Error => errors.push(d),
                Severity::Warning => warnings.push(d),
            }
        }
        if errors.is_empty() {
            Ok((set, warnings))
        } else {
            Err(LoadError { errors, warnings })
        }
    }

    /// The lists, macros and rules of `sources` after overrides, before
    /// compiling (for the rules reference); problems are left to `run`.
    fn definitions(sources: &[RuleSource]) -> Defs {
        let mut l = Loader {
            ctx: Ctx::default(),
            opts: CompileOptions::default(),
        };
        let items = l.read(sources);
        merge(&mut l.ctx, items)
    }

    /// Parses every file into its entries, collecting YAML errors.
    fn read(&mut self, sources: &[RuleSource]) -> Vec<crate::rules::document::Item> {
        let l = self;
        l.ctx.files = sources.iter().map(SourceFile::new).collect();
        let mut items = Vec::new();
        for (i, src) in sources.iter().enumerate() {
            match yaml::parse(&src.text) {
                Ok(docs) => {
                    let mut diags = Vec::new();
                    let mut reader = Reader {
                        src: &l.ctx.files[i],
                        file: i,
                        diags: &mut diags,
                    };
                    items.extend(reader.read(&docs));
                    l.ctx.diags.extend(diags);
                }
                Err(e) => {
                    let f = &l.ctx.files[i];
                    let d = f.diag(
                        Severity::Error,
                        Kind::Yaml,
                        f.location_of(e.pos),
                        format!("YAML syntax error: {}", e.message),
                        Some(
                            "valid YAML: a list of `- rule:`, `- macro:` and `- list:` entries"
                                .into(),
                        ),
                    );
                    l.ctx.diags.push(d);
                }
            }
        }
        items
    }

    fn compile(&mut self, defs: &Defs) -> RuleSet {
        let list_item_texts: Vec<Vec<u32>> = defs
            .lists
            .iter()
            .map(|l| {
                l.items
                    .iter()
                    .map(|t| self.ctx.add_text(std::slice::from_ref(t)))
                    .collect()
            })
            .collect();
        let mut macro_asts = Vec::with_capacity(defs.macros.len());
        for m in &defs.macros {
            let id = self.ctx.add_text(&m.parts);
            macro_asts.push(self.parse(id));
        }
        let mut used_macros = FxHashSet::default();
        let mut used_lists = FxHashSet::default();
        let mut rules = Vec::new();
        let mut skipped = Vec::new();
        for def in &defs.rules {
            if let Some(src) = &def.event_source
                && src.value != "syscall"
            {
                self.ctx.push_warning(
                    &def.name,
                    Kind::Skipped,
                    format!(
                        "rule `{}` is for event source `{}`; only `syscall` rules are loaded",
                        def.name.value, src.value
                    ),
                );
                continue;
            }
            let texts = self.register(def);
            let Some(cond) = self.parse(texts.condition) else {
                continue;
            };
            let full = if texts.exceptions.is_empty() {
                cond
            } else {
                Expr::And(vec![cond, Expr::Not(Box::new(Expr::Or(texts.exceptions)))])
            };
            let mut resolver = Resolver::new(
                &self.ctx,
                defs,
                &macro_asts,
                &list_item_texts,
                &mut used_macros,
                &mut used_lists,
            );
            let resolved = resolver.resolve(&full);
            let mut errs = std::mem::take(&mut resolver.errors);
            let mut compiler = Compiler::new(&self.ctx);
            let node = resolved.as_ref().and_then(|r| compiler.expr(r));
            errs.append(&mut compiler.errors);
            let cond_fields = compiler.fields;
            let (output, out_fields, mut out_errs) = self.output(texts.output);
            let lenient = self.opts.skip_unsupported;
            if lenient {
                // Unsupported fields in the output only cost a `<NA>`.
                for d in out_errs.iter_mut() {
                    if d.kind == Kind::UnsupportedField {
                        d.severity = Severity::Warning;
                    }
                }
            }
            let unsupported: Vec<String> = errs
                .iter()
                .filter(|d| d.kind == Kind::UnsupportedField)
                .filter_map(|d| d.message.split('`').nth(1).map(str::to_string))
                .collect();
            let out_bad = out_errs.iter().any(|d| d.severity == Severity::Error);
            let skippable =
                |d: &Diagnostic| matches!(d.kind, Kind::UnsupportedField | Kind::TypeMismatch);
            if !errs.is_empty() && lenient && errs.iter().all(skippable) {
                let mut fields = unsupported;
                fields.sort();
                fields.dedup();
                let mut incompatible: Vec<String> = errs
                    .iter()
                    .filter(|d| d.kind == Kind::TypeMismatch)
                    .map(|d| format!("{}: {}", d.location, d.message))
                    .collect();
                incompatible.dedup();
                let mut why = Vec::new();
                if !fields.is_empty() {
                    why.push(format!(
                        "it uses fields mcp-monitor does not provide: {}",
                        fields.join(", ")
                    ));
                }
                if !incompatible.is_empty() {
                    why.push(format!(
                        "types differ from mcp-monitor's: {}",
                        incompatible.join("; ")
                    ));
                }
                self.ctx.push_warning(
                    &def.name,
                    Kind::Skipped,
                    format!("rule `{}` skipped: {}", def.name.value, why.join("; ")),
                );
                skipped.push(SkippedRule {
                    name: def.name.value.clone(),
                    location: self.ctx.location_of_span(def.name.file, def.name.span),
                    fields,
                    incompatible,
                });
                self.ctx.diags.extend(out_errs);
                continue;
            }
            self.ctx.diags.extend(errs);
            self.ctx.diags.extend(out_errs);
            let (Some(resolved), Some(node)) = (resolved, node) else {
                continue;
            };
            if out_bad {
                continue;
            }
            rules.push(self.rule(def, &resolved, node, output, cond_fields, out_fields));
        }
        for (i, m) in defs.macros.iter().enumerate() {
            if !used_macros.contains(&i) {
                self.ctx.push_warning(
                    &m.name,
                    Kind::UnusedMacro,
                    format!("macro `{}` is not used by any rule", m.name.value),
                );
            }
        }
        for (i, l) in defs.lists.iter().enumerate() {
            if !used_lists.contains(&i) {
                self.ctx.push_warning(
                    &l.name,
                    Kind::UnusedList,
                    format!("list `{}` is not used by any rule", l.name.value),
                );
            }
        }
        for r in &rules {
            if r.enabled && r.evt_types.is_none() {
                let def = &defs.rules[defs.rule_idx[&r.name]];
                self.ctx.push_warning(
                    &def.name,
                    Kind::NoEventType,
                    format!(
                        "rule `{}` does not restrict evt.type: it is evaluated for every event",
                        r.name
                    ),
                );
            }
        }
        let mut set = dispatch(rules, skipped);
        set.lists = defs
            .lists
            .iter()
            .map(|l| {
                let items = l.items.iter().map(|t| t.value.clone()).collect();
                (l.name.value.clone(), items)
            })
            .collect();
        set
    }

    fn parse(&mut self, text: u32) -> Option<Expr> {
        match parser::parse(self.ctx.text(text), text) {
            Ok(e) => Some(e),
            Err(e) => {
                let d = self.ctx.error_at(
                    At {
                        text,
                        offset: e.offset as u32,
                    },
                    Kind::Syntax,
                    e.message,
                    e.expected,
                );
                self.ctx.diags.push(d);
                None
            }
        }
    }

    fn register(&mut self, def: &RuleDef) -> RuleTexts {
        let condition = self.ctx.add_text(&def.condition);
        let output = (!def.output.is_empty()).then(|| self.ctx.add_text(&def.output));
        let mut exceptions = Vec::new();
        for ex in &def.exceptions {
            if let Some(e) = self.exception(ex) {
                exceptions.extend(e);
            }
        }
        RuleTexts {
            condition,
            output,
            exceptions,
        }
    }

    /// One exception to `or`-able clauses, one per value tuple.
    fn exception(&mut self, ex: &Exception) -> Option<Vec<Expr>> {
        if ex.fields.is_empty() {
            self.ctx.push_error(
                &ex.name,
                Kind::Schema,
                format!("exception `{}` has no fields", ex.name.value),
                "a `fields:` key (or the name of an exception defined earlier, to append values)",
            );
            return None;
        }
        let mut fields = Vec::new();
        for f in &ex.fields {
            let at = At {
                text: self.ctx.add_text(std::slice::from_ref(f)),
                offset: 0,
            };
            let (name, index) = match f.value.split_once('[') {
                Some((n, rest)) => (n.to_string(), Some(rest.trim_end_matches(']').to_string())),
                None => (f.value.clone(), None),
            };
            fields.push((name, index, at));
        }
        let mut comps = Vec::new();
        for (i, _) in ex.fields.iter().enumerate() {
            let Some(c) = ex.comps.get(i) else {
                comps.push((if ex.single_field { Op::In } else { Op::Eq }, fields[i].2));
                continue;
            };
            let at = At {
                text: self.ctx.add_text(std::slice::from_ref(c)),
                offset: 0,
            };
            let op = match c.value.trim() {
                "=" | "==" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                w => match Op::WORDS.iter().find(|(n, _)| *n == w) {
                    Some(&(_, op)) if op != Op::Exists => op,
                    _ => {
                        self.ctx.push_error(
                            c,
                            Kind::Syntax,
                            format!("unknown comparison `{w}` in exception `{}`", ex.name.value),
                            "=, !=, <, <=, >, >=, in, intersects, contains, icontains, startswith, endswith, glob, pmatch, regex",
                        );
                        return None;
                    }
                },
            };
            comps.push((op, at));
        }
        let mut clauses = Vec::new();
        for tuple in &ex.values {
            let mut checks = Vec::new();
            for (i, v) in tuple.iter().enumerate() {
                let (Some((name, index, field_at)), Some(&(op, op_at))) =
                    (fields.get(i), comps.get(i))
                else {
                    continue;
                };
                let word = |this: &mut Self, t: &super::document::Text| Word {
                    text: t.value.clone(),
                    quoted: false,
                    at: At {
                        text: this.ctx.add_text(std::slice::from_ref(t)),
                        offset: 0,
                    },
                };
                let value = match v {
                    ExcValue::One(t) => {
                        let w = word(self, t);
                        if op.takes_list() {
                            let at = w.at;
                            Operand::List {
                                items: vec![w],
                                at,
                                bare: false,
                            }
                        } else {
                            Operand::Word(w)
                        }
                    }
                    ExcValue::Many(items, _) => {
                        let words: Vec<Word> = items.iter().map(|t| word(self, t)).collect();
                        let at = words.first().map_or(op_at, |w| w.at);
                        if !op.takes_list() {
                            self.ctx.push_error(
                                &ex.name,
                                Kind::TypeMismatch,
                                format!("exception `{}` gives a list of values to `{}`", ex.name.value, op.as_str()),
                                "a single value, or a list-taking comparison (in, intersects, pmatch)",
                            );
                            return None;
                        }
                        Operand::List {
                            items: words,
                            at,
                            bare: false,
                        }
                    }
                };
                checks.push(Expr::Check(Check {
                    field: name.clone(),
                    index: index.clone(),
                    field_at: *field_at,
                    op,
                    op_at,
                    value: Some(value),
                }));
            }
            if !checks.is_empty() {
                clauses.push(Expr::And(checks));
            }
        }
        Some(clauses)
    }

    /// The output template, the fields it names, and its errors.
    fn output(&self, text: Option<u32>) -> (Template, Vec<Option<FieldRef>>, Vec<Diagnostic>) {
        let mut t = Template::default();
        let mut fields = Vec::new();
        let mut errs = Vec::new();
        let Some(id) = text else {
            return (t, fields, errs);
        };
        // A folded YAML scalar ends with a newline; alerts are one line.
        for piece in output::parse(self.ctx.text(id).trim_end()) {
            match piece {
                Piece::Lit(s) => t.segs.push(Seg::Lit(s)),
                Piece::Field(f) => {
                    let at = At {
                        text: id,
                        offset: f.offset as u32,
                    };
                    match resolve_field(&self.ctx, &f.name, f.index.as_deref(), at) {
                        Ok(fr) => {
                            fields.push(Some(fr));
                            t.segs.push(Seg::Field(Some(fr)));
                        }
                        Err(d) => {
                            errs.push(d);
                            t.segs.push(Seg::Field(None));
                        }
                    }
                }
            }
        }
        (t, fields, errs)
    }

    fn rule(
        &self,
        def: &RuleDef,
        resolved: &Expr,
        cond: Node,
        output: Template,
        cond_fields: Vec<FieldRef>,
        out_fields: Vec<Option<FieldRef>>,
    ) -> Rule {
        let mut names: BTreeMap<String, Option<FieldRef>> = BTreeMap::new();
        for f in cond_fields
            .into_iter()
            .chain(out_fields.into_iter().flatten())
        {
            names.insert(f.display_name(), Some(f));
        }
        let condition = resolved.to_string();
        let output_text = def
            .output
            .iter()
            .map(|t| t.value.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let mut h = DefaultHasher::new();
        (
            &condition,
            &output_text,
            def.priority,
            &def.tags,
            def.enabled,
            &def.desc,
            def.action,
        )
            .hash(&mut h);
        let evt_types = event_types(&cond);
        Rule {
            name: def.name.value.clone(),
            desc: def.desc.clone(),
            priority: def.priority,
            tags: def.tags.clone(),
            enabled: def.enabled,
            action: def.action,
            location: self.ctx.location_of_span(def.name.file, def.name.span),
            resolved: resolved.clone(),
            condition,
            cond,
            output,
            output_fields: names.into_iter().collect(),
            evt_types,
            fingerprint: h.finish(),
        }
    }
}

fn dispatch(rules: Vec<Rule>, skipped: Vec<SkippedRule>) -> RuleSet {
    let dispatch = Dispatch::build(
        rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.enabled)
            .map(|(i, r)| (i as u32, r.evt_types.as_deref(), &r.cond)),
    );
    RuleSet {
        rules,
        dispatch,
        skipped,
        lists: BTreeMap::new(),
    }
}
