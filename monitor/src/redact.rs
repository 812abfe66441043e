//! Redaction: token-looking values in command lines never leave the monitor.
//!
//! MCP servers are often started with their credentials on the command line
//! (`--token ghp_…`, `GITHUB_TOKEN=… node server.js`, a URL with
//! `user:password@`). Every output — alerts (output text, output fields, the
//! process object), `run --events` lines, the text rendering, `rules test` —
//! carries `<redacted>` in their place.
//!
//! Rules see the raw values: the event is redacted on its way out, after the
//! rules have run, so a rule may match a token's shape (say, a cloud key on a
//! command line) while the alert it raises does not carry the key.
//!
//! What counts as a secret:
//! - token shapes anywhere: `ghp_`/`gho_`/`ghs_`/`ghu_`/`ghr_`/`github_pat_`
//!   (GitHub), `sk-…` (OpenAI, Anthropic `sk-ant-…`, `sk-proj-…`),
//!   `AKIA…`/`ASIA…` (AWS access key ids), `xox[abposr]-…` (Slack);
//! - the word after `Bearer`, and after `Authorization:` (and its scheme);
//! - the value of a flag named like a secret, `--token X` and `--token=X`
//!   (`--api-key`, `--password`, `--secret`, `--client-secret`, …);
//! - the value of `KEY=VALUE` when KEY ends in `TOKEN`, `KEY`, `SECRET`,
//!   `PASSWORD`, `PASSWD`, `PAT` or `CREDENTIALS` (any case);
//! - the password of a URL's `user:password@`.
//!
//! The scan is one pass over the bytes with no regex and no allocation when
//! nothing matches, which is the common case: a command line is scanned in
//! well under a microsecond (see BENCHMARKS.md).
use std::{borrow::Cow, ops::Range};

use crate::{alerts::Alert, event::Event};

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Shortest tail after a token prefix that is taken for a token (`sk-learn`
/// is a package, `sk-` and 20 more characters is a key).
const MIN_TOKEN_TAIL: usize = 20;

/// `s` with every secret replaced by [`REDACTED`]; borrowed when it has none.
pub fn text(s: &str) -> Cow<'_, str> {
    let (spans, _) = scan(s, State::START);
    splice(s, &spans)
}

/// Whether [`text`] would change `s`.
pub fn has_secret(s: &str) -> bool {
    !scan(s, State::START).0.is_empty()
}

/// An argument vector with secrets replaced. A flag like `--token` redacts
/// the whole next argument; `None` when nothing needed redacting.
pub fn argv(args: &[String]) -> Option<Vec<String>> {
    let mut state = State::START;
    let mut out: Option<Vec<String>> = None;
    for (i, arg) in args.iter().enumerate() {
        let new: Option<String> = if state.pending == Pending::Value {
            state.pending = Pending::None;
            Some(REDACTED.to_owned())
        } else {
            let (spans, next) = scan(arg, state);
            state = next;
            (!spans.is_empty()).then(|| splice(arg, &spans).into_owned())
        };
        if let Some(new) = new {
            out.get_or_insert_with(|| args[..i].to_vec()).push(new);
        } else if let Some(out) = &mut out {
            out.push(arg.clone());
        }
    }
    out
}

/// The event as it may be shown: borrowed when its command line holds no
/// secret (checked on `proc.cmdline` and `argv[0]`, from which `proc.args`
/// and the rest of `proc.argv` are made).
pub fn event(ev: &Event) -> Cow<'_, Event> {
    let clean = !has_secret(&ev.cmdline) && ev.argv.first().is_none_or(|a| !has_secret(a));
    if clean {
        return Cow::Borrowed(ev);
    }
    let mut ev = ev.clone();
    ev.cmdline = text(&ev.cmdline).into();
    ev.args = text(&ev.args).into();
    if let Some(argv) = argv(&ev.argv) {
        ev.argv = argv.into();
    }
    Cow::Owned(ev)
}

/// [`event`] for a stream of events: remembers, per process, whether its
/// command line needs redacting, so the scan runs once per command line rather
/// than once per event (a process's events carry the same command line).
pub struct EventRedactor {
    slots: Vec<Option<Seen>>,
}

struct Seen {
    pid: u32,
    cmdline: std::sync::Arc<str>,
    argv0: String,
    secret: bool,
}

/// Processes remembered (direct-mapped by pid).
const REDACTOR_SLOTS: usize = 256;

impl Default for EventRedactor {
    fn default() -> Self {
        EventRedactor {
            slots: (0..REDACTOR_SLOTS).map(|_| None).collect(),
        }
    }
}

impl EventRedactor {
    pub fn event<'a>(&mut self, ev: &'a Event) -> Cow<'a, Event> {
        let argv0 = ev.argv.first().map_or("", String::as_str);
        let slot = &mut self.slots[ev.pid as usize % REDACTOR_SLOTS];
        let known = slot
            .as_ref()
            .filter(|s| s.pid == ev.pid && s.cmdline == ev.cmdline && s.argv0 == argv0)
            .map(|s| s.secret);
        let secret = match known {
            Some(secret) => secret,
            None => {
                let secret = has_secret(&ev.cmdline) || has_secret(argv0);
                *slot = Some(Seen {
                    pid: ev.pid,
                    cmdline: ev.cmdline.clone(),
                    argv0: argv0.to_owned(),
                    secret,
                });
                secret
            }
        };
        if secret { event(ev) } else { Cow::Borrowed(ev) }
    }
}

/// Redacts an alert in place: its output, its output fields, and its process.
pub fn alert(a: &mut Alert) {
    redact_string(&mut a.output);
    for value in a.output_fields.values_mut() {
        redact_json(value);
    }
    if let Some(p) = &mut a.process {
        redact_string(&mut p.cmdline);
        redact_string(&mut p.exepath);
        for anc in &mut p.ancestors {
            redact_string(&mut anc.name);
        }
    }
}

fn redact_string(s: &mut String) {
    if let Cow::Owned(new) = text(s) {
        *s = new;
    }
}

fn redact_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => redact_string(s),
        serde_json::Value::Array(items) => {
            // A list field such as proc.argv: a flag redacts the next element.
            let strings: Option<Vec<String>> = items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect();
            match strings.as_deref().and_then(argv) {
                Some(new) => *items = new.into_iter().map(serde_json::Value::String).collect(),
                None => items.iter_mut().for_each(redact_json),
            }
        }
        _ => {}
    }
}

/// What the previous word asked of the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    None,
    /// The next word is a secret (after `--token`, `Bearer`).
    Value,
    /// The next word may be a scheme (`Bearer`, `Basic`), then the secret
    /// (after `Authorization:`).
    Scheme,
}

/// What one word tells the scan of the words after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct State {
    pending: Pending,
    /// Whether the command (the first word) takes its password glued to
    /// `-p` (`mysql -uroot -ps3cret`); `None` before the first word.
    glued_password: Option<bool>,
}

impl State {
    const START: State = State {
        pending: Pending::None,
        glued_password: None,
    };
}

/// Clients whose `-pPASSWORD` is a password (elsewhere `-p8080` is a port,
/// `mkdir -p` a flag).
fn takes_glued_password(command: &str) -> bool {
    const CLIENTS: &[&str] = &[
        "mysql",
        "mysqldump",
        "mysqladmin",
        "mysqlimport",
        "mysqlshow",
        "mariadb",
        "mariadb-dump",
        "mariadb-admin",
    ];
    let name = command.rsplit('/').next().unwrap_or(command);
    CLIENTS.contains(&name)
}

/// Byte ranges of the secrets in `s`, in order and not overlapping, and what
/// the last word leaves for the text that follows.
fn scan(s: &str, state: State) -> (Vec<Range<usize>>, State) {
    let State {
        mut pending,
        mut glued_password,
    } = state;
    let b = s.as_bytes();
    let mut spans: Vec<Range<usize>> = Vec::new();
    let push = |r: Range<usize>, spans: &mut Vec<Range<usize>>| {
        if r.is_empty() {
            return;
        }
        match spans.last_mut() {
            Some(last) if r.start < last.end => last.end = last.end.max(r.end),
            _ => spans.push(r),
        }
    };
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let end = b[i..]
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(b.len(), |n| i + n);
        let word = &s[i..end];
        let glued = *glued_password.get_or_insert_with(|| takes_glued_password(word));
        if glued && pending == Pending::None && word.len() > 2 && word.starts_with("-p") {
            push(i + 2..end, &mut spans);
            i = end;
            continue;
        }
        pending = match pending {
            Pending::Value => {
                push(i..end, &mut spans);
                Pending::None
            }
            Pending::Scheme if is_auth_scheme(word) => Pending::Value,
            Pending::Scheme => {
                push(i..end, &mut spans);
                Pending::None
            }
            Pending::None => {
                scan_word(b, i, end, &mut |r| push(r, &mut spans));
                word_sets_pending(word)
            }
        };
        i = end;
    }
    (
        spans,
        State {
            pending,
            glued_password,
        },
    )
}

/// Whether a word asks for the next one to be redacted.
fn word_sets_pending(word: &str) -> Pending {
    let w = word.trim_matches(|c| c == '"' || c == '\'');
    if w.eq_ignore_ascii_case("bearer") {
        return Pending::Value;
    }
    let wb = w.as_bytes();
    if wb.len() >= 14 && wb[wb.len() - 14..].eq_ignore_ascii_case(b"authorization:") {
        return Pending::Scheme;
    }
    if let Some(name) = w.strip_prefix('-')
        && !name.contains('=')
        && secret_name(name.trim_start_matches('-'))
    {
        return Pending::Value;
    }
    Pending::None
}

fn is_auth_scheme(word: &str) -> bool {
    ["bearer", "basic", "token", "digest", "bot", "apikey"]
        .iter()
        .any(|s| word.eq_ignore_ascii_case(s))
}

/// A flag or variable name that holds a secret: `token`, `api-key`,
/// `GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `DB_PASSWORD`, `client_secret`.
fn secret_name(name: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "api_key",
        "_key",
        "_pat",
        "credentials",
    ];
    if name.is_empty() || name.len() > 64 {
        return false;
    }
    let mut buf = [0u8; 64];
    let lower = &mut buf[..name.len()];
    for (d, c) in lower.iter_mut().zip(name.bytes()) {
        *d = match c.to_ascii_lowercase() {
            b'-' => b'_',
            c => c,
        };
    }
    SUFFIXES.iter().any(|suf| lower.ends_with(suf.as_bytes()))
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// Where a value ends: whitespace, a separator of query strings and lists, a quote.
fn value_end(b: &[u8], from: usize, end: usize) -> usize {
    b[from..end]
        .iter()
        .position(|&c| matches!(c, b'&' | b';' | b',' | b'"' | b'\'' | b'}' | b')'))
        .map_or(end, |n| from + n)
}

/// Secrets inside one whitespace-free word `b[start..end]`.
fn scan_word(b: &[u8], start: usize, end: usize, push: &mut impl FnMut(Range<usize>)) {
    let mut i = start;
    while i < end {
        let c = b[i];
        let boundary = i == start || !is_word_byte(b[i - 1]);
        if boundary && matches!(c, b'g' | b's' | b'A' | b'x' | b'e' | b'n') {
            if let Some(len) = token_at(&b[i..end]) {
                push(i..i + len);
                i += len;
                continue;
            }
        } else if c == b'=' {
            let key_start = b[start..i]
                .iter()
                .rposition(|&k| !(is_word_byte(k) || k == b'.'))
                .map_or(start, |n| start + n + 1);
            let key = std::str::from_utf8(&b[key_start..i]).unwrap_or("");
            if secret_name(key.trim_start_matches('-')) {
                let v_end = value_end(b, i + 1, end);
                push(i + 1..v_end);
                i = v_end;
                continue;
            }
        } else if c == b':' && b[i + 1..end].starts_with(b"//") {
            let auth_start = i + 3;
            let auth_end = b[auth_start..end]
                .iter()
                .position(|&c| matches!(c, b'/' | b'?' | b'#'))
                .map_or(end, |n| auth_start + n);
            if let Some(at) = b[auth_start..auth_end].iter().rposition(|&c| c == b'@')
                && let Some(colon) = b[auth_start..auth_start + at]
                    .iter()
                    .position(|&c| c == b':')
            {
                push(auth_start + colon + 1..auth_start + at);
                i = auth_start + at;
                continue;
            }
        }
        i += 1;
    }
}

/// The length of a token starting at `b[0]`, if one does.
fn token_at(b: &[u8]) -> Option<usize> {
    let run =
        |from: usize, ok: fn(u8) -> bool| from + b[from..].iter().take_while(|&&c| ok(c)).count();
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    let alnum_us = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let upper_digit = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    let long = |prefix: usize, end: usize| (end - prefix >= MIN_TOKEN_TAIL).then_some(end);
    match b.first()? {
        b'g' => {
            if b.starts_with(b"github_pat_") {
                return long(11, run(11, alnum_us));
            }
            if b.starts_with(b"glpat-") {
                return long(6, run(6, word));
            }
            let gh = [b"ghp_", b"gho_", b"ghs_", b"ghu_", b"ghr_"];
            if gh.iter().any(|p| b.starts_with(*p)) {
                return long(4, run(4, alnum));
            }
            None
        }
        b's' if b.starts_with(b"sk-") => long(3, run(3, word)),
        b'A' if b.starts_with(b"AKIA") || b.starts_with(b"ASIA") => {
            let end = run(4, upper_digit);
            (end == 20 && b.get(20).is_none_or(|&c| !alnum(c))).then_some(end)
        }
        // Google API keys: AIza and 35 more.
        b'A' if b.starts_with(b"AIza") => {
            let end = run(4, word);
            (end == 39).then_some(end)
        }
        // npm access tokens: npm_ and 36 more.
        b'n' if b.starts_with(b"npm_") => {
            let end = run(4, alnum);
            (end == 40).then_some(end)
        }
        // JSON Web Tokens: base64url of `{"…` (eyJ), a dot, the payload
        // (a JSON object too), a dot, the signature.
        b'e' if b.starts_with(b"eyJ") => {
            let header = run(3, word);
            if b.get(header) != Some(&b'.') || !b[header + 1..].starts_with(b"eyJ") {
                return None;
            }
            let payload = run(header + 4, word);
            if b.get(payload) != Some(&b'.') {
                return None;
            }
            let end = run(payload + 1, word);
            (end >= 36).then_some(end)
        }
        b'x' if b.len() > 5
            && b.starts_with(b"xox")
            && b"abposr".contains(&b[3])
            && b[4] == b'-' =>
        {
            let end = run(5, word);
            (end - 5 >= 10).then_some(end)
        }
        _ => None,
    }
}

/// `s` with `spans` replaced by [`REDACTED`].
fn splice<'a>(s: &'a str, spans: &[Range<usize>]) -> Cow<'a, str> {
    if spans.is_empty() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for r in spans {
        out.push_str(&s[at..r.start]);
        out.push_str(REDACTED);
        at = r.end;
    }
    out.push_str(&s[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        text(s).into_owned()
    }

    // Fake tokens of the right shapes, made up for these tests.
    const GHP: &str = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
    const PAT: &str = "github_pat_11AAAAAAA0aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbb";
    const SK: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz012345";
    const ANT: &str = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz-0123456789";
    const AKIA: &str = "AKIAIOSFODNN7EXAMPLE";
    const XOX: &str = "xoxb-123456789012-abcdefghijkl";
    const GLPAT: &str = "glpat-aBcDeFgHiJkLmNoPqRsT";
    const AIZA: &str = "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q";
    const NPM: &str = "npm_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dGhpc19pc19ub3RfYV9zaWduYXR1cmU";

    #[test]
    fn token_shapes() {
        for tok in [GHP, PAT, SK, ANT, AKIA, XOX, GLPAT, AIZA, NPM, JWT] {
            assert_eq!(r(tok), REDACTED, "{tok}");
            let line = format!("node server.js {tok} --verbose");
            assert_eq!(r(&line), "node server.js <redacted> --verbose", "{tok}");
        }
        for prefix in ["gho_", "ghs_", "ghu_", "ghr_"] {
            let tok = format!("{prefix}{}", &GHP[4..]);
            assert_eq!(r(&tok), REDACTED);
        }
        assert_eq!(r("ASIAY34FZKBOKMUTVV7A"), REDACTED);
        // Embedded in a URL or JSON.
        assert_eq!(
            r(&format!("https://x-access-token:{GHP}@github.com/o/r.git")),
            "https://x-access-token:<redacted>@github.com/o/r.git"
        );
        assert_eq!(
            r(&format!(r#"{{"key":"{SK}"}}"#)),
            r#"{"key":"<redacted>"}"#
        );
    }

    #[test]
    fn look_alikes_are_left_alone() {
        for s in [
            "pip install sk-learn scikit-learn",
            "npx -y @modelcontextprotocol/server-github",
            "ghp_short",
            "AKIAIOSFODNN7EXAMPLEX",
            "xoxo-hugs",
            "task-sk-abcdefghijklmnopqrstuvwxyz",
            "/home/u/.ssh/id_rsa",
            "KEYBOARD=us PATH=/usr/bin",
            "mcp-server-fetch --ignore-robots-txt",
            "https://example.com:8443/path",
            "git@github.com:o/r.git",
            "glpat-short",
            "AIzaShort",
            "npm_config_cache=/tmp/npm",
            "eyJustAWord.eyJ",
            "mkdir -p /tmp/x",
            "python -m http.server -p8080",
            "ssh -p2222 host",
        ] {
            assert_eq!(r(s), s);
            assert!(!has_secret(s), "{s}");
        }
    }

    #[test]
    fn passwords_glued_to_p_for_database_clients() {
        assert_eq!(
            r("mysql -uroot -ps3cr3t -h db"),
            "mysql -uroot -p<redacted> -h db"
        );
        assert_eq!(
            r("/usr/bin/mysqldump -pHunter2 app"),
            "/usr/bin/mysqldump -p<redacted> app"
        );
        // -p alone asks for the password: nothing to hide.
        assert_eq!(r("mysql -u root -p app"), "mysql -u root -p app");
        let args: Vec<String> = ["mariadb", "-ps3cr3t", "app"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(argv(&args).unwrap(), ["mariadb", "-p<redacted>", "app"]);
    }

    #[test]
    fn bearer_and_authorization_headers() {
        assert_eq!(r("curl -H Bearer abc.def"), "curl -H Bearer <redacted>");
        assert_eq!(
            r("curl -H 'Authorization: Bearer abc.def' https://x"),
            "curl -H 'Authorization: Bearer <redacted> https://x"
        );
        assert_eq!(
            r("curl -H Authorization: s3cr3t https://x"),
            "curl -H Authorization: <redacted> https://x"
        );
        assert_eq!(
            r("x --header authorization: Basic dXNlcjpwYXNz"),
            "x --header authorization: Basic <redacted>"
        );
    }

    #[test]
    fn secret_flags_with_separate_or_joined_values() {
        assert_eq!(
            r("srv --token abc123 --port 8080"),
            "srv --token <redacted> --port 8080"
        );
        assert_eq!(r("srv --api-key=abc123 -v"), "srv --api-key=<redacted> -v");
        assert_eq!(r("srv --password hunter2"), "srv --password <redacted>");
        assert_eq!(
            r("srv --secret=s --client-secret c"),
            "srv --secret=<redacted> --client-secret <redacted>"
        );
        assert_eq!(r("srv --port 8080 --name x"), "srv --port 8080 --name x");
    }

    #[test]
    fn env_like_assignments() {
        assert_eq!(
            r("env GITHUB_TOKEN=abc OPENAI_API_KEY=def AWS_SECRET_ACCESS_KEY=ghi node s.js"),
            "env GITHUB_TOKEN=<redacted> OPENAI_API_KEY=<redacted> AWS_SECRET_ACCESS_KEY=<redacted> node s.js"
        );
        assert_eq!(
            r("PASSWORD=pw DB_PASSWORD=pw2 x"),
            "PASSWORD=<redacted> DB_PASSWORD=<redacted> x"
        );
        assert_eq!(r("MY_SECRET=1"), "MY_SECRET=<redacted>");
        assert_eq!(
            r("postgres://h/db?user=u&password=pw&sslmode=off"),
            "postgres://h/db?user=u&password=<redacted>&sslmode=off"
        );
        assert_eq!(r("LANG=C.UTF-8 HOME=/root"), "LANG=C.UTF-8 HOME=/root");
    }

    #[test]
    fn url_user_password() {
        assert_eq!(
            r("psql postgres://admin:hunter2@db.internal:5432/app"),
            "psql postgres://admin:<redacted>@db.internal:5432/app"
        );
        // A user without a password is not a secret.
        assert_eq!(r("ssh://git@host/x"), "ssh://git@host/x");
    }

    #[test]
    fn argv_redacts_the_argument_after_a_flag() {
        let args: Vec<String> = [
            "srv",
            "--token",
            "two words",
            "--api-key=k",
            "Authorization: Bearer t",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            argv(&args).unwrap(),
            [
                "srv",
                "--token",
                "<redacted>",
                "--api-key=<redacted>",
                "Authorization: Bearer <redacted>"
            ]
        );
        let clean: Vec<String> = ["node", "index.js", "/srv"].map(String::from).to_vec();
        assert_eq!(argv(&clean), None);
        // A flag as the last argument.
        let tail: Vec<String> = ["srv", "--token"].map(String::from).to_vec();
        assert_eq!(argv(&tail), None);
    }

    #[test]
    fn events_keep_their_fields_but_not_the_secret() {
        let ev = Event {
            name: "node".into(),
            cmdline: format!("node srv.js --token {GHP}").into(),
            args: format!("srv.js --token {GHP}").into(),
            argv: vec!["node".into(), "srv.js".into(), "--token".into(), GHP.into()].into(),
            ..Default::default()
        };
        let shown = event(&ev);
        assert!(matches!(shown, Cow::Owned(_)));
        let line = shown.to_json_line();
        assert!(!line.contains(&GHP[4..]), "{line}");
        assert_eq!(&*shown.cmdline, "node srv.js --token <redacted>");
        assert_eq!(shown.argv[3], REDACTED);
        let plain = Event {
            cmdline: "node srv.js".into(),
            ..Default::default()
        };
        assert!(matches!(event(&plain), Cow::Borrowed(_)));
        // The remembering redactor gives the same answers, also when a pid
        // execs a new command line.
        let mut r = EventRedactor::default();
        for _ in 0..2 {
            assert_eq!(r.event(&ev).cmdline, shown.cmdline);
            assert!(matches!(r.event(&plain), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn alerts_and_their_text_carry_no_trace_of_a_token() {
        use crate::rules::{RuleSet, RuleSource};
        let rules = r#"
- rule: Token on a command line
  desc: a rule that looks at the raw token
  condition: proc.cmdline contains "ghp_"
  output: "%proc.name ran %proc.cmdline (args=%proc.args argv=%proc.argv)"
  priority: WARNING
"#;
        let (set, _) = RuleSet::load(&[RuleSource::new("t.yaml", rules)]).unwrap();
        let ev = Event {
            evt_type: "execve".into(),
            name: "node".into(),
            exepath: "/usr/bin/node".into(),
            cmdline: format!("node srv.js --api-key {SK} GITHUB_TOKEN={GHP}").into(),
            args: format!("srv.js --api-key {SK} GITHUB_TOKEN={GHP}").into(),
            argv: [
                "node",
                "srv.js",
                "--api-key",
                SK,
                &format!("GITHUB_TOKEN={GHP}"),
            ]
            .map(String::from)
            .to_vec()
            .into(),
            apids: vec![1].into(),
            anames: vec!["sh".into()].into(),
            ..Default::default()
        };
        let mut alerts = Vec::new();
        set.evaluate(&ev, |m| alerts.push(Alert::new(&m, &ev, "h")));
        assert_eq!(alerts.len(), 1, "the rule matched the raw token");
        let a = &alerts[0];
        let shown = [
            a.to_json_line(),
            crate::alerts::render_text(a, false),
            crate::alerts::render_text(a, true),
            event(&ev).to_json_line(),
        ];
        for out in &shown {
            for secret in [&GHP[4..], &SK[3..]] {
                assert!(!out.contains(secret), "{secret} in {out}");
            }
            assert!(out.contains(REDACTED), "{out}");
        }
        assert_eq!(
            a.output_fields["proc.argv"][3],
            serde_json::Value::String(REDACTED.into())
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "=",
            "://",
            "a://@",
            "x=",
            "-",
            "--",
            "é=ü",
            "sk-",
            "Authorization:",
            "\u{0}=\u{0}",
            "ghp_é",
        ] {
            let _ = r(s);
            let _ = argv(&[s.to_owned(), s.to_owned()]);
        }
    }
}
