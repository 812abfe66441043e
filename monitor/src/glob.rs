//! Shell-style wildcard matching: `*` any run of characters, `?` one character,
//! everything else literal. Iterative, linear-ish, no allocation.

/// Whether `text` matches `pattern` as a whole.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: &[u8] = pattern.as_bytes();
    let t: &[u8] = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    // Position after the last `*` seen and the text position it is matched up to.
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                backtrack = Some((pi + 1, ti));
                pi += 1;
            }
            Some(b'?') => {
                pi += 1;
                ti += utf8_len(t[ti]);
            }
            Some(&c) if c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match backtrack {
                Some((star_p, star_t)) => {
                    let next = star_t + utf8_len(t[star_t]);
                    backtrack = Some((star_p, next));
                    pi = star_p;
                    ti = next;
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == b'*')
}

/// Bytes in the UTF-8 sequence that starts with `b` (so `?` matches a character).
fn utf8_len(b: u8) -> usize {
    match b {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
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
    }
}
