//! Shell-style wildcard matching, the one engine of the rules (`glob`), the
//! server patterns, the alert filters and discovery: `*` any run of
//! characters, `?` one character, `[a-z]`/`[!…]` a class, everything else
//! literal. Matching is iterative and does not allocate.

/// Whether `text` matches `pattern` as a whole (compiles the pattern each
/// time: for one-off checks; keep a [`Glob`] to match many times).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    Glob::new(pattern).matches(text)
}

/// Shell-style wildcards: `*` any run, `?` one character, `[abc]`/`[a-z]`/`[!a]`
/// a class; everything else literal. Iterative with one backtrack point, so
/// linear in practice and never exponential.
#[derive(Clone, Debug)]
pub struct Glob(Vec<GlobTok>);

#[derive(Clone, Debug)]
enum GlobTok {
    Lit(char),
    Any,
    Star,
    Class(Vec<(char, char)>, bool),
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let mut toks = Vec::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    if !matches!(toks.last(), Some(GlobTok::Star)) {
                        toks.push(GlobTok::Star);
                    }
                }
                '?' => toks.push(GlobTok::Any),
                '[' => {
                    let close = chars[i + 1..].iter().skip(1).position(|&c| c == ']');
                    match close {
                        Some(rel) => {
                            let end = i + 1 + 1 + rel;
                            let mut body = &chars[i + 1..end];
                            let negate = matches!(body.first(), Some('!' | '^'));
                            if negate {
                                body = &body[1..];
                            }
                            let mut ranges = Vec::new();
                            let mut j = 0;
                            while j < body.len() {
                                if j + 2 < body.len() && body[j + 1] == '-' {
                                    ranges.push((body[j], body[j + 2]));
                                    j += 3;
                                } else {
                                    ranges.push((body[j], body[j]));
                                    j += 1;
                                }
                            }
                            toks.push(GlobTok::Class(ranges, negate));
                            i = end;
                        }
                        None => toks.push(GlobTok::Lit('[')),
                    }
                }
                c => toks.push(GlobTok::Lit(c)),
            }
            i += 1;
        }
        Glob(toks)
    }

    pub fn matches(&self, text: &str) -> bool {
        let p = &self.0;
        let mut t = text.char_indices();
        let mut pi = 0;
        let mut back: Option<(usize, std::str::CharIndices<'_>)> = None;
        loop {
            let save = t.clone();
            let next = t.next();
            let Some((_, c)) = next else {
                return p[pi..].iter().all(|k| matches!(k, GlobTok::Star));
            };
            let ok = match p.get(pi) {
                Some(GlobTok::Star) => {
                    back = Some((pi + 1, save.clone()));
                    pi += 1;
                    t = save;
                    continue;
                }
                Some(GlobTok::Any) => true,
                Some(GlobTok::Lit(l)) => *l == c,
                Some(GlobTok::Class(ranges, neg)) => {
                    ranges.iter().any(|&(a, b)| a <= c && c <= b) != *neg
                }
                None => false,
            };
            if ok {
                pi += 1;
                continue;
            }
            match back.as_mut() {
                Some((bp, bt)) => {
                    // Let the last star eat one more character.
                    if bt.next().is_none() {
                        return false;
                    }
                    pi = *bp;
                    t = bt.clone();
                }
                None => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn wildcards() {
        assert!(glob_match("mcp-server-*", "mcp-server-fetch"));
        assert!(glob_match("*-mcp", "github-mcp"));
        assert!(!glob_match("*-mcp", "github-mcp-x"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("a?c", "aéc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*", ""));
        assert!(glob_match("**a**", "bab"));
        assert!(glob_match("/home/*/.ssh/*", "/home/u/.ssh/id_rsa"));
        assert!(!glob_match("", "x"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("*é", "café"));
        assert!(glob_match("id_[rd]sa", "id_dsa"));
        assert!(!glob_match("id_[!rd]sa", "id_rsa"));
    }
}
