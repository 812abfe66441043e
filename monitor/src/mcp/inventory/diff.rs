//! What differs between two lists of one server's tools, in words: the names
//! added, removed and changed, and for a changed tool a short diff of its
//! description, which schema properties changed, and its hints.
use super::{
    scan::escape,
    tools::{Tool, ToolHints, ToolList},
};

/// Context kept on each side of a changed stretch of a description.
const CONTEXT: usize = 40;
/// Characters kept of the removed and of the added text of a stretch.
const STRETCH: usize = 240;
/// Characters of the whole summary.
const SUMMARY: usize = 2000;

/// The difference between an earlier list and a new one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<ToolDiff>,
}

/// What changed in one tool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolDiff {
    pub name: String,
    /// `…context[-old-]{+new+}context…`, invisible characters escaped.
    pub description: Option<String>,
    pub title: Option<(String, String)>,
    pub properties_added: Vec<String>,
    pub properties_removed: Vec<String>,
    pub properties_changed: Vec<String>,
    /// The schema changed elsewhere than in the properties compared one by one.
    pub schema_other: bool,
    pub required_changed: bool,
    /// `readOnlyHint true→false`, …
    pub hints: Vec<String>,
}

impl ListDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// One line naming every change, for the alert's output.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!("added {}", self.added.join(", ")));
        }
        if !self.removed.is_empty() {
            parts.push(format!("removed {}", self.removed.join(", ")));
        }
        for c in &self.changed {
            parts.push(c.summary());
        }
        let s = parts.join("; ");
        match s.char_indices().nth(SUMMARY) {
            Some((i, _)) => format!("{}…", &s[..i]),
            None => s,
        }
    }

    pub fn changed_names(&self) -> Vec<String> {
        self.changed.iter().map(|c| c.name.clone()).collect()
    }
}

impl ToolDiff {
    fn is_empty(&self) -> bool {
        self.description.is_none()
            && self.title.is_none()
            && self.properties_added.is_empty()
            && self.properties_removed.is_empty()
            && self.properties_changed.is_empty()
            && !self.schema_other
            && !self.required_changed
            && self.hints.is_empty()
    }

    pub fn summary(&self) -> String {
        let mut what = Vec::new();
        if let Some(d) = &self.description {
            what.push(format!("description {d}"));
        }
        if let Some((old, new)) = &self.title {
            what.push(format!("title {:?} → {:?}", escape(old), escape(new)));
        }
        let mut schema = Vec::new();
        schema.extend(self.properties_added.iter().map(|p| format!("+{p}")));
        schema.extend(self.properties_removed.iter().map(|p| format!("-{p}")));
        schema.extend(self.properties_changed.iter().map(|p| format!("~{p}")));
        if self.required_changed {
            schema.push("required".into());
        }
        if !schema.is_empty() {
            what.push(format!("schema properties {}", schema.join(" ")));
        } else if self.schema_other {
            what.push("schema".into());
        }
        what.extend(self.hints.iter().cloned());
        format!("{} changed: {}", self.name, what.join(", "))
    }
}

/// How `new` differs from `old`.
pub fn diff(old: &ToolList, new: &ToolList) -> ListDiff {
    let mut out = ListDiff::default();
    for t in &new.tools {
        match old.get(&t.name) {
            None => out.added.push(t.name.clone()),
            Some(o) => {
                let d = diff_tool(o, t);
                if !d.is_empty() {
                    out.changed.push(d);
                }
            }
        }
    }
    out.removed = old
        .tools
        .iter()
        .filter(|t| new.get(&t.name).is_none())
        .map(|t| t.name.clone())
        .collect();
    out
}

fn diff_tool(old: &Tool, new: &Tool) -> ToolDiff {
    let mut d = ToolDiff {
        name: new.name.clone(),
        ..Default::default()
    };
    if old.description_digest != new.description_digest {
        d.description = Some(text_diff(&old.description, &new.description));
    }
    if old.title != new.title {
        d.title = Some((old.title.clone(), new.title.clone()));
    }
    for (k, v) in &new.properties {
        match old.properties.get(k) {
            None => d.properties_added.push(k.clone()),
            Some(o) if o != v => d.properties_changed.push(k.clone()),
            Some(_) => {}
        }
    }
    d.properties_removed = old
        .properties
        .keys()
        .filter(|k| !new.properties.contains_key(*k))
        .cloned()
        .collect();
    d.required_changed = old.required != new.required;
    d.schema_other = old.schema_digest != new.schema_digest;
    d.hints = hint_changes(&old.hints, &new.hints);
    d
}

fn hint_changes(old: &ToolHints, new: &ToolHints) -> Vec<String> {
    let show = |v: Option<bool>| v.map_or("unset".to_owned(), |b| b.to_string());
    [
        ("readOnlyHint", old.read_only, new.read_only),
        ("destructiveHint", old.destructive, new.destructive),
        ("idempotentHint", old.idempotent, new.idempotent),
        ("openWorldHint", old.open_world, new.open_world),
    ]
    .into_iter()
    .filter(|(_, o, n)| o != n)
    .map(|(name, o, n)| format!("{name} {}→{}", show(o), show(n)))
    .collect()
}

/// `…context[-removed-]{+added+}context…`: the one stretch between the common
/// beginning and the common end of the two texts, with some context.
pub fn text_diff(old: &str, new: &str) -> String {
    let a: Vec<char> = old.chars().collect();
    let b: Vec<char> = new.chars().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let max_suffix = a.len().min(b.len()) - prefix;
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    let s = |c: &[char]| escape(&c.iter().collect::<String>());
    let clip = |c: &[char]| {
        if c.len() > STRETCH {
            format!("{}…", s(&c[..STRETCH]))
        } else {
            s(c)
        }
    };
    let before_start = prefix.saturating_sub(CONTEXT);
    let mut out = String::new();
    if before_start > 0 {
        out.push('…');
    }
    out.push_str(&s(&a[before_start..prefix]));
    let removed = &a[prefix..a.len() - suffix];
    let added = &b[prefix..b.len() - suffix];
    if !removed.is_empty() {
        out.push_str(&format!("[-{}-]", clip(removed)));
    }
    if !added.is_empty() {
        out.push_str(&format!("{{+{}+}}", clip(added)));
    }
    let after_end = (a.len() - suffix + CONTEXT).min(a.len());
    out.push_str(&s(&a[a.len() - suffix..after_end]));
    if after_end < a.len() {
        out.push('…');
    }
    out
}
