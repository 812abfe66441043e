//! Tool poisoning: instructions for the model hidden in the texts a server
//! gives its tools (descriptions, titles, the descriptions of parameters in
//! the input schema). Word lists come from the rules (lists named in
//! [`Patterns`], extended like any list); what a list cannot say (characters
//! that do not show, encoded blobs, other tools named as orders) is here.
use serde_json::Value;

/// The rule lists the scanner reads its words from.
pub const TAGS_LIST: &str = "mcp_tool_poisoning_tags";
pub const PHRASES_LIST: &str = "mcp_tool_poisoning_phrases";
pub const PATHS_LIST: &str = "mcp_tool_poisoning_paths";
pub const CUES_LIST: &str = "mcp_tool_shadowing_cues";

/// Characters of one text that are scanned.
const MAX_SCAN: usize = 64 * 1024;
/// Texts scanned per tool (description, title, schema descriptions).
const MAX_TEXTS: usize = 256;
/// Findings reported per tool.
pub const MAX_FINDINGS: usize = 16;
/// Context kept on each side of a finding in its excerpt.
const EXCERPT: usize = 60;
/// A run of base64 characters this long is an encoded blob.
const BLOB_MIN: usize = 64;

/// What a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `<IMPORTANT>`, `<SYSTEM>`…: markup that addresses the model.
    InstructionTag,
    /// "ignore previous instructions", "do not tell the user"…
    InstructionPhrase,
    /// `~/.ssh`, `id_rsa`, `mcp.json`, `.env`…
    SensitivePath,
    /// Another tool of the same server named in an order ("must", "always"…).
    ToolReference,
    /// Zero-width and other characters that do not show, control characters.
    InvisibleCharacter,
    /// Bidirectional overrides and isolates: text shown in another order.
    BidiControl,
    /// Unicode tag characters (U+E0000…): ASCII no terminal shows.
    UnicodeTag,
    /// A long base64 run.
    EncodedBlob,
}

impl Kind {
    /// The value of `mcp.finding.kind`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::InstructionTag => "instruction_tag",
            Kind::InstructionPhrase => "instruction_phrase",
            Kind::SensitivePath => "sensitive_path",
            Kind::ToolReference => "tool_reference",
            Kind::InvisibleCharacter => "invisible_character",
            Kind::BidiControl => "bidi_control",
            Kind::UnicodeTag => "unicode_tag",
            Kind::EncodedBlob => "encoded_blob",
        }
    }
}

/// One finding in one text of one tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub tool: String,
    /// `description`, `title`, `inputSchema.properties.path.description`…
    pub location: String,
    pub kind: Kind,
    /// What matched: the list item, the character (`U+200B`), the tool named,
    /// or the blob's start and what it decodes to.
    pub matched: String,
    /// A tool reference: the item of [`CUES_LIST`] that made it an order.
    pub cue: Option<String>,
    /// The text around it, invisible characters escaped.
    pub excerpt: String,
}

/// The word lists: each item lower-cased with spaces collapsed (what is
/// searched), and as the list has it (what a finding reports, so that a rule
/// can compare it with the list).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Patterns {
    pub tags: Vec<(String, String)>,
    pub phrases: Vec<(String, String)>,
    pub paths: Vec<(String, String)>,
    pub cues: Vec<(String, String)>,
}

impl Patterns {
    /// From the lists of a rule set.
    pub fn of(set: &crate::rules::RuleSet) -> Patterns {
        Patterns::new(|name| set.list_items(name))
    }

    /// From the items of the rule lists ([`TAGS_LIST`]…).
    pub fn new(list: impl Fn(&str) -> Vec<String>) -> Patterns {
        let norm = |items: Vec<String>| {
            let mut v: Vec<(String, String)> = items
                .into_iter()
                .map(|i| (normalize(&i).0, i))
                .filter(|(n, _)| !n.is_empty())
                .collect();
            // Longest first: of overlapping items, the longer is reported.
            v.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.cmp(b)));
            v.dedup();
            v
        };
        Patterns {
            tags: norm(list(TAGS_LIST)),
            phrases: norm(list(PHRASES_LIST)),
            paths: norm(list(PATHS_LIST)),
            cues: norm(list(CUES_LIST)),
        }
    }
}

/// The findings in one tool of a `tools/list` answer. `others` are the names
/// of the server's other tools.
pub fn scan_tool(tool: &Value, others: &[&str], patterns: &Patterns) -> Vec<Finding> {
    let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
    let mut texts = Vec::new();
    for key in ["description", "title"] {
        if let Some(t) = tool.get(key).and_then(Value::as_str) {
            texts.push((key.to_owned(), t));
        }
    }
    if let Some(t) = tool
        .get("annotations")
        .and_then(|a| a.get("title"))
        .and_then(Value::as_str)
    {
        texts.push(("annotations.title".to_owned(), t));
    }
    if let Some(schema) = tool.get("inputSchema") {
        schema_texts(schema, "inputSchema", 0, &mut texts);
    }
    let others: Vec<&str> = others
        .iter()
        .copied()
        .filter(|o| *o != name && o.chars().count() >= 3)
        .collect();
    let mut out = Vec::new();
    for (location, text) in texts.into_iter().take(MAX_TEXTS) {
        for hit in scan_text(text, &others, patterns) {
            if out.len() >= MAX_FINDINGS {
                return out;
            }
            out.push(Finding {
                tool: crate::mcp::inventory::tools::cut(name, 256),
                location: location.clone(),
                kind: hit.kind,
                matched: hit.matched,
                cue: hit.cue,
                excerpt: hit.excerpt,
            });
        }
    }
    out
}

/// The descriptions and titles inside a schema, with where they are.
fn schema_texts<'a>(v: &'a Value, at: &str, depth: usize, out: &mut Vec<(String, &'a str)>) {
    if depth > 16 || out.len() >= MAX_TEXTS {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let here = format!("{at}.{}", crate::mcp::inventory::tools::cut(k, 64));
                match v {
                    Value::String(s) if matches!(k.as_str(), "description" | "title") => {
                        out.push((here, s))
                    }
                    // A default or an example is shown to the model too.
                    Value::String(s) if matches!(k.as_str(), "default" | "const") => {
                        out.push((here, s))
                    }
                    _ => schema_texts(v, &here, depth + 1, out),
                }
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                schema_texts(v, &format!("{at}[{i}]"), depth + 1, out);
            }
        }
        _ => {}
    }
}

/// A finding in one text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub kind: Kind,
    pub matched: String,
    pub cue: Option<String>,
    pub excerpt: String,
}

/// The findings in one text.
pub fn scan_text(text: &str, others: &[&str], p: &Patterns) -> Vec<Hit> {
    let text = match text.char_indices().nth(MAX_SCAN) {
        Some((i, _)) => &text[..i],
        None => text,
    };
    let mut hits: Vec<Hit> = Vec::new();
    let push = |hits: &mut Vec<Hit>, kind, matched: String, start: usize, end: usize| {
        if !hits.iter().any(|h| h.kind == kind && h.matched == matched) {
            hits.push(Hit {
                kind,
                matched,
                cue: None,
                excerpt: excerpt(text, start, end),
            });
        }
    };
    unseen_characters(text, |kind, matched, start, end| {
        push(&mut hits, kind, matched, start, end)
    });
    let (norm, map) = normalize(text);
    let orig = |i: usize| map.get(i).copied().unwrap_or(text.len());
    for (kind, items) in [
        (Kind::InstructionTag, &p.tags),
        (Kind::InstructionPhrase, &p.phrases),
        (Kind::SensitivePath, &p.paths),
    ] {
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for (item, as_listed) in items {
            if let Some(i) = find_word(&norm, item) {
                // One finding per place: `~/.ssh` and `.ssh/` overlap.
                let span = (i, i + item.len());
                if spans.iter().any(|&(s, e)| span.0 < e && s < span.1) {
                    continue;
                }
                spans.push(span);
                push(
                    &mut hits,
                    kind,
                    as_listed.clone(),
                    orig(i),
                    orig(i + item.len()),
                );
            }
        }
    }
    for other in others {
        let lower = other.to_lowercase();
        let mut from = 0;
        while let Some(i) = find_word(&norm[from..], &lower).map(|i| i + from) {
            from = i + lower.len();
            let (s, e) = sentence(&norm, i, from);
            if let Some((_, cue)) = p
                .cues
                .iter()
                .find(|(c, _)| find_word(&norm[s..e], c).is_some())
            {
                if !hits
                    .iter()
                    .any(|h| h.kind == Kind::ToolReference && h.matched == *other)
                {
                    hits.push(Hit {
                        kind: Kind::ToolReference,
                        matched: (*other).to_owned(),
                        cue: Some(cue.clone()),
                        excerpt: excerpt(text, orig(s), orig(e)),
                    });
                }
                break;
            }
        }
    }
    for (start, end) in blobs(text) {
        let run = &text[start..end];
        let head: String = run.chars().take(24).collect();
        let matched = match decode_printable(run) {
            Some(d) => format!("{head}… ({} chars, decodes to {:?})", run.len(), d),
            None => format!("{head}… ({} chars)", run.len()),
        };
        push(&mut hits, Kind::EncodedBlob, matched, start, end);
    }
    hits
}

/// Reports characters that do not show as they are: what they are, where.
fn unseen_characters(text: &str, mut report: impl FnMut(Kind, String, usize, usize)) {
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if is_tag(c) {
            // A run of tag characters spells ASCII: say what.
            let mut hidden = String::new();
            let mut end = i + c.len_utf8();
            let mut push = |c: char| {
                if let Some(a) =
                    char::from_u32(c as u32 - 0xE0000).filter(|a| a.is_ascii_graphic() || *a == ' ')
                {
                    hidden.push(a);
                }
            };
            push(c);
            while let Some(&(j, d)) = iter.peek() {
                if !is_tag(d) {
                    break;
                }
                push(d);
                end = j + d.len_utf8();
                iter.next();
            }
            let hidden: String = hidden.chars().take(120).collect();
            report(
                Kind::UnicodeTag,
                format!("U+{:04X}… spelling {hidden:?}", c as u32),
                i,
                end,
            );
        } else if is_bidi(c) {
            report(
                Kind::BidiControl,
                format!("U+{:04X}", c as u32),
                i,
                i + c.len_utf8(),
            );
        } else if is_invisible(c) {
            report(
                Kind::InvisibleCharacter,
                format!("U+{:04X}", c as u32),
                i,
                i + c.len_utf8(),
            );
        }
    }
}

fn is_tag(c: char) -> bool {
    ('\u{E0000}'..='\u{E007F}').contains(&c)
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}' | '\u{00AD}'
        | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
        | '\u{FE00}'..='\u{FE0E}' | '\u{E0100}'..='\u{E01EF}' | '\u{FFF9}'..='\u{FFFB}')
        || (c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
}

/// `s` with every character that does not show as itself written as
/// `\u{…}` (and `\n`, `\t`, `\r` escaped), for a terminal or a log.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_tag(c) || is_bidi(c) || is_invisible(c) => {
                out.push_str(&format!("\\u{{{:X}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// The text around bytes `start..end`, escaped, with `…` where cut.
fn excerpt(text: &str, start: usize, end: usize) -> String {
    let before: Vec<(usize, char)> = text[..start].char_indices().collect();
    let from = before.len().checked_sub(EXCERPT).map_or(0, |k| before[k].0);
    let upto = text[end..]
        .char_indices()
        .nth(EXCERPT)
        .map_or(text.len(), |(i, _)| end + i);
    let mid = if text[start..end].chars().count() > 3 * EXCERPT {
        let head: String = text[start..end].chars().take(2 * EXCERPT).collect();
        format!("{head}…")
    } else {
        text[start..end].to_owned()
    };
    format!(
        "{}{}{}{}{}",
        if from > 0 { "…" } else { "" },
        escape(&text[from..start]),
        escape(&mid),
        escape(&text[end..upto]),
        if upto < text.len() { "…" } else { "" }
    )
}

/// `text` lower-cased with runs of white space made one space and unseen
/// characters dropped (so that a zero-width space does not split a phrase),
/// and for each byte of the result the byte of `text` it came from.
fn normalize(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len());
    let mut space = false;
    for (i, c) in text.trim().char_indices() {
        if is_tag(c) || is_bidi(c) || (is_invisible(c) && !c.is_whitespace()) {
            continue;
        }
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
            map.push(i);
        }
        space = false;
        for l in c.to_lowercase() {
            let before = out.len();
            out.push(l);
            map.extend(std::iter::repeat_n(i, out.len() - before));
        }
    }
    // `trim` moved the indices: make them indices of `text`.
    let lead = text.len() - text.trim_start().len();
    map.iter_mut().for_each(|m| *m += lead);
    (out, map)
}

/// The first place `item` occurs in `hay` as a whole word: not inside a
/// longer word on either side (an item that ends with punctuation may be
/// followed by anything).
fn find_word(hay: &str, item: &str) -> Option<usize> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(i) = hay[from..].find(item).map(|i| i + from) {
        let end = i + item.len();
        let before_ok = !hay[..i].chars().next_back().is_some_and(word);
        let after_ok = !item.chars().next_back().is_some_and(word)
            || !hay[end..].chars().next().is_some_and(word);
        if before_ok && after_ok {
            return Some(i);
        }
        from = i + item.chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// The sentence around bytes `start..end` of a normalized text.
fn sentence(norm: &str, start: usize, end: usize) -> (usize, usize) {
    let stop = |c: char| matches!(c, '.' | '!' | '?' | ';' | '\n');
    // A stop followed by a space ends a sentence; `mcp.json` does not.
    let s = norm[..start]
        .match_indices(stop)
        .filter(|(i, _)| norm[i + 1..].starts_with(' '))
        .map(|(i, _)| i + 1)
        .next_back()
        .unwrap_or(0);
    let e = norm[end..]
        .match_indices(stop)
        .find(|(i, _)| {
            let after = end + i + 1;
            after >= norm.len() || norm[after..].starts_with(' ')
        })
        .map_or(norm.len(), |(i, _)| end + i + 1);
    (s, e)
}

/// Byte ranges of base64 runs: at least [`BLOB_MIN`] characters of the
/// alphabet with upper case, lower case and digits mixed, and few `/` (a
/// path is not a blob).
fn blobs(text: &str) -> Vec<(usize, usize)> {
    let b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_');
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (b64(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let run = &text[s..i];
                let has = |f: fn(&char) -> bool| run.chars().any(|c| f(&c));
                if run.len() >= BLOB_MIN
                    && has(char::is_ascii_uppercase)
                    && has(char::is_ascii_lowercase)
                    && has(char::is_ascii_digit)
                    && run.matches('/').count() * 16 <= run.len()
                    && run.matches(['-', '_']).count() * 16 <= run.len()
                {
                    out.push((s, i));
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// The start of what a base64 run decodes to, when that is printable text.
fn decode_printable(run: &str) -> Option<String> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut bytes = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &c in run.trim_end_matches('=').as_bytes().iter().take(240) {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    let text = String::from_utf8(bytes).ok()?;
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    (printable * 10 >= text.chars().count() * 9).then(|| text.chars().take(80).collect())
}
