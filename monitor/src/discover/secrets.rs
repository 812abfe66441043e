//! Which names look like they hold secrets, and redaction of the places where a
//! secret value can still sit in what discovery shows: arguments and URLs.
//! Env and header values are never read into the server record at all.
use crate::glob::glob_match;

/// Globs over an upper-cased name with `-` turned into `_`.
const SECRET_NAME_PATTERNS: &[&str] = &[
    "*TOKEN*",
    "*KEY*",
    "*SECRET*",
    "*PASSWORD*",
    "*PASSWD*",
    "*_PASS",
    "PASS",
    "*PASSPHRASE*",
    "*CREDENTIAL*",
    "*AUTH*",
    "*COOKIE*",
    "*SESSION*",
    "*PRIVATE*",
    "*_PAT",
    "PAT_*",
    "*_PAT_*",
    "*DSN*",
    "*DATABASE_URL*",
    "*CONNECTION_STRING*",
    "*CONN_STR*",
    "*SIGNATURE*",
];

/// Whether an env var, header, option or query parameter name looks like it
/// holds a secret (`GITHUB_TOKEN`, `Authorization`, `x-api-key`, `--api-key`).
pub fn is_secret_name(name: &str) -> bool {
    let n: String = name
        .trim_start_matches('-')
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    !n.is_empty() && SECRET_NAME_PATTERNS.iter().any(|p| glob_match(p, &n))
}

/// The names among `names` that look secret.
pub fn secret_names<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| is_secret_name(n))
        .cloned()
        .collect()
}

pub const REDACTED: &str = "<redacted>";

/// A reference to a value held elsewhere (`${input:token}`, `${env:X}`,
/// `${X}`, `$X`, `${{ secrets.X }}`) is shown as it is: it is not the secret.
fn is_reference(v: &str) -> bool {
    let v = v.trim();
    (v.starts_with("${") && v.ends_with('}'))
        || (v.starts_with('$')
            && v.len() > 1
            && v[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// Values shaped like well-known credentials, whatever their name.
pub fn looks_like_token(v: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "github_pat_",
        "glpat-",
        "xoxb-",
        "xoxp-",
        "xoxa-",
        "xoxs-",
        "sk-",
        "sk_live_",
        "sk_test_",
        "rk_live_",
        "pk_live_",
        "AKIA",
        "ASIA",
        "AIza",
        "ya29.",
        "hf_",
        "npm_",
        "pypi-",
        "dop_v1_",
        "shpat_",
        "lin_api_",
        "ntn_",
        "secret_",
    ];
    let v = v.trim();
    let token_chars = v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '+' | '='));
    if !token_chars || v.len() < 16 {
        return false;
    }
    if PREFIXES.iter().any(|p| v.starts_with(p)) {
        return true;
    }
    // A JSON web token: three base64url parts, the first a JSON object.
    v.starts_with("eyJ") && v.matches('.').count() == 2
}

/// Arguments with secret values replaced: `--api-key X`, `--token=X`,
/// `-e NAME=X` / `NAME=X` for secret-looking names, token-shaped values, and
/// secrets in URLs. Returns the redacted list and the secret names seen.
pub fn redact_args(args: &[String]) -> (Vec<String>, Vec<String>) {
    let mut out = Vec::with_capacity(args.len());
    let mut names = Vec::new();
    let mut hide_next = false;
    for a in args {
        if hide_next {
            hide_next = false;
            out.push(if is_reference(a) {
                a.clone()
            } else {
                REDACTED.to_owned()
            });
            continue;
        }
        if a.starts_with("--") && !a.contains('=') && is_secret_name(a) {
            names.push(a.clone());
            hide_next = true;
            out.push(a.clone());
            continue;
        }
        if let Some((k, v)) = a.split_once('=') {
            let key = k.trim_start_matches('-');
            let name_like = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
            if name_like && !k.contains("://") && is_secret_name(key) {
                names.push(key.to_owned());
                out.push(if is_reference(v) {
                    a.clone()
                } else {
                    format!("{k}={REDACTED}")
                });
                continue;
            }
        }
        if looks_like_token(a) {
            out.push(REDACTED.to_owned());
        } else if a.contains("://") {
            out.push(redact_url(a));
        } else {
            out.push(a.clone());
        }
    }
    names.sort();
    names.dedup();
    (out, names)
}

/// A URL with its password and secret-looking query values replaced.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len());
    // userinfo: scheme://user:pass@host
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            out.push_str(scheme);
            out.push_str("://");
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    match userinfo.split_once(':') {
                        Some((user, _)) => {
                            out.push_str(user);
                            out.push(':');
                            out.push_str(REDACTED);
                        }
                        None if looks_like_token(userinfo) => out.push_str(REDACTED),
                        None => out.push_str(userinfo),
                    }
                    out.push('@');
                    out.push_str(host);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(base),
    }
    if let Some(q) = query {
        out.push('?');
        let (q, frag) = match q.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (q, None),
        };
        let parts: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if (is_secret_name(k) || looks_like_token(v)) && !is_reference(v) => {
                    format!("{k}={REDACTED}")
                }
                _ => kv.to_owned(),
            })
            .collect();
        out.push_str(&parts.join("&"));
        if let Some(f) = frag {
            out.push('#');
            out.push_str(f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn names() {
        for n in [
            "GITHUB_TOKEN",
            "GITHUB_PERSONAL_ACCESS_TOKEN",
            "OPENAI_API_KEY",
            "apiKey",
            "Authorization",
            "x-api-key",
            "DB_PASSWORD",
            "CLIENT_SECRET",
            "SENTRY_DSN",
            "DATABASE_URL",
            "GITLAB_PAT",
            "Cookie",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "PATH",
            "HOME",
            "LOG_LEVEL",
            "ALLOWED_DIRS",
            "NODE_ENV",
            "Accept",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
    }

    #[test]
    fn args_and_urls() {
        let (out, names) = redact_args(&v(&[
            "run",
            "-e",
            "GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "--api-key",
            "s3cr3t-value",
            "--token=hunter2hunter2",
            "--password",
            "${input:pw}",
            "plain",
            "https://u:pw123@h.invalid/sse?api_key=abc123&x=1",
            "sk-proj-abcdefghijklmnop1234",
            "LOG_LEVEL=debug",
        ]));
        assert_eq!(
            out,
            v(&[
                "run",
                "-e",
                "GITHUB_TOKEN=<redacted>",
                "--api-key",
                "<redacted>",
                "--token=<redacted>",
                "--password",
                "${input:pw}",
                "plain",
                "https://u:<redacted>@h.invalid/sse?api_key=<redacted>&x=1",
                "<redacted>",
                "LOG_LEVEL=debug",
            ])
        );
        assert_eq!(
            names,
            v(&["--api-key", "--password", "GITHUB_TOKEN", "token"])
        );
        assert_eq!(
            redact_url("https://h.invalid/mcp?token=${env:T}"),
            "https://h.invalid/mcp?token=${env:T}"
        );
        assert_eq!(redact_url("https://h.invalid/mcp"), "https://h.invalid/mcp");
    }
}
