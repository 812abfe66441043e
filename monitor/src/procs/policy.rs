//! Per-server policy files: what a server is supposed to touch, for the scope
//! rules, and what prevent mode may do to it.
//! `/etc/mcp-monitor/servers.d/NAME.yaml` for the server named NAME:
//!
//! ```yaml
//! roots: [/home/me/projects]          # directories it may work in (mcp.roots)
//! destinations: [10.0.0.0/8, api.example.com:443]   # mcp.destinations
//! enforce: true                       # false: actions never act on this server
//! allow:                              # exceptions: the rule does not match
//!   - {rule: Read of cloud credentials, paths: [~/.aws/credentials]}
//! ```
//!
//! Roots from a policy file replace the ones read from the server's arguments.
//! An `allow` path covers itself and everything under it; `~` is the home of
//! the server's user.
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use crate::discover::formats::parse_yaml;

/// Where policy files live unless `--servers-dir` says otherwise.
pub const DEFAULT_DIR: &str = "/etc/mcp-monitor/servers.d";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerPolicy {
    pub roots: Vec<String>,
    pub destinations: Vec<String>,
    /// Whether rules' actions act on this server in enforce mode.
    pub enforce: bool,
    /// Rules that do not match this server on some paths.
    pub allow: Vec<Allow>,
}

impl Default for ServerPolicy {
    fn default() -> Self {
        ServerPolicy {
            roots: Vec::new(),
            destinations: Vec::new(),
            enforce: true,
            allow: Vec::new(),
        }
    }
}

/// An exception: `rule` does not match when the event's path is one of
/// `paths` or under one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allow {
    pub rule: String,
    pub paths: Vec<String>,
}

/// What prevent mode asks of a server's policy (the kernel side leaves the
/// rules with exceptions to user space for that server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enforcement<'a> {
    pub enabled: bool,
    /// The rules this server has exceptions for.
    pub excepted_rules: Vec<&'a str>,
}

impl ServerPolicy {
    /// Whether an exception lets `rule` pass for a file at `path`; `home` is
    /// the server user's home, for `~`.
    pub fn allows(&self, rule: &str, path: Option<&str>, home: Option<&str>) -> bool {
        let Some(path) = path else { return false };
        self.allow
            .iter()
            .filter(|a| a.rule == rule)
            .flat_map(|a| &a.paths)
            .any(|p| {
                let expanded = match (p.strip_prefix('~'), home) {
                    (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => {
                        format!("{}{rest}", h.trim_end_matches('/'))
                    }
                    (Some(_), _) => return false,
                    (None, _) => p.clone(),
                };
                let base = expanded.trim_end_matches('/');
                !base.is_empty()
                    && (path == base
                        || path
                            .strip_prefix(base)
                            .is_some_and(|rest| rest.starts_with('/')))
            })
    }

    pub fn enforcement(&self) -> Enforcement<'_> {
        let mut excepted_rules: Vec<&str> = self.allow.iter().map(|a| a.rule.as_str()).collect();
        excepted_rules.sort_unstable();
        excepted_rules.dedup();
        Enforcement {
            enabled: self.enforce,
            excepted_rules,
        }
    }
}

/// The home directory of `uid` in the password database (`~` in `allow`).
pub fn home_of(uid: u32) -> Option<String> {
    let text = crate::textfile::read(Path::new("/etc/passwd"), 16 << 20).ok()?;
    home_in(&text, uid)
}

fn home_in(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_owned())
    })
}

/// The policies of a directory, by server name.
#[derive(Debug, Default)]
pub struct Policies {
    by_name: HashMap<String, ServerPolicy>,
}

impl Policies {
    /// Reads every `*.yaml`/`*.yml` file of `dir` (a missing directory is no
    /// policy at all). Returns the policies and one message per broken file.
    pub fn load(dir: &Path) -> (Policies, Vec<String>) {
        let mut by_name = HashMap::new();
        let mut problems = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return (Policies { by_name }, problems);
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        for file in files {
            let Some(name) = file.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            match read_policy(&file) {
                Ok(p) => {
                    by_name.insert(name.to_owned(), p);
                }
                Err(e) => problems.push(format!("{}: {e}", file.display())),
            }
        }
        (Policies { by_name }, problems)
    }

    pub fn get(&self, server: &str) -> Option<&ServerPolicy> {
        self.by_name.get(server)
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

fn read_policy(file: &Path) -> Result<ServerPolicy, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let doc = parse_yaml(&text).map_err(|e| match (e.line, e.col) {
        (Some(line), Some(col)) => format!("{line}:{col}: {}", e.message),
        _ => e.message,
    })?;
    let list = |key: &str| -> Result<Vec<String>, String> {
        match doc.get(key) {
            None | Some(serde_json::Value::Null) => Ok(Vec::new()),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s.clone()),
                    other => Err(format!("{key}: expected a list of strings, found {other}")),
                })
                .collect(),
            Some(other) => Err(format!("{key}: expected a list of strings, found {other}")),
        }
    };
    if !doc.is_object() && !doc.is_null() {
        return Err("expected a mapping with roots, destinations, enforce and allow".into());
    }
    if let Some(map) = doc.as_object()
        && let Some(k) = map
            .keys()
            .find(|k| !["roots", "destinations", "enforce", "allow"].contains(&k.as_str()))
    {
        return Err(format!(
            "unknown key {k}: expected roots, destinations, enforce or allow"
        ));
    }
    let enforce = match doc.get("enforce") {
        None | Some(serde_json::Value::Null) => true,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(other) => return Err(format!("enforce: expected true or false, found {other}")),
    };
    let allow = match doc.get("allow") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(read_allow)
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => return Err(format!("allow: expected a list, found {other}")),
    };
    Ok(ServerPolicy {
        roots: list("roots")?,
        destinations: list("destinations")?,
        enforce,
        allow,
    })
}

/// `{rule: NAME, paths: [P, …]}`.
fn read_allow(v: &serde_json::Value) -> Result<Allow, String> {
    let shape = || format!("allow: expected {{rule: NAME, paths: [PATH, …]}}, found {v}");
    let rule = v.get("rule").and_then(|r| r.as_str()).ok_or_else(shape)?;
    let paths = v
        .get("paths")
        .and_then(|p| p.as_array())
        .ok_or_else(shape)?
        .iter()
        .map(|p| p.as_str().map(str::to_owned).ok_or_else(shape))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(p) = paths
        .iter()
        .find(|p| !p.starts_with('/') && !p.starts_with('~'))
    {
        return Err(format!(
            "allow: {p:?} is not an absolute path or one under ~"
        ));
    }
    if v.as_object().is_some_and(|m| m.len() != 2) {
        return Err(shape());
    }
    Ok(Allow {
        rule: rule.to_owned(),
        paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_by_file_name_and_broken_files_reported() {
        let dir = std::env::temp_dir().join(format!("mcpmon-policy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("fs.yaml"),
            "roots: [/srv/docs, /tmp/x]\ndestinations:\n  - 10.0.0.0/8\n",
        )
        .unwrap();
        std::fs::write(dir.join("bad.yaml"), "roots: 3\n").unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let (p, problems) = Policies::load(&dir);
        assert_eq!(
            p.get("fs"),
            Some(&ServerPolicy {
                roots: vec!["/srv/docs".into(), "/tmp/x".into()],
                destinations: vec!["10.0.0.0/8".into()],
                ..Default::default()
            })
        );
        assert_eq!(p.len(), 1);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("bad.yaml") && problems[0].contains("roots"));
        let (none, problems) = Policies::load(&dir.join("missing"));
        assert!(none.is_empty() && problems.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn policy(text: &str) -> Result<ServerPolicy, String> {
        let dir = std::env::temp_dir().join(format!(
            "mcpmon-policy-enforce-{}-{}",
            std::process::id(),
            text.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("s.yaml"), text).unwrap();
        let r = read_policy(&dir.join("s.yaml"));
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn enforcement_and_exceptions() {
        // Without a word about it, a server is enforced, without exceptions.
        let p = policy("roots: [/srv]\n").unwrap();
        assert!(p.enforce && p.allow.is_empty());
        let p = policy(
            "enforce: false\nallow:\n  - {rule: Read of cloud credentials, paths: [~/.aws/credentials, /srv/keys/]}\n  - rule: Read of SSH key\n    paths: [~/.ssh/deploy_key]\n",
        )
        .unwrap();
        assert!(!p.enforce);
        assert_eq!(
            p.enforcement(),
            Enforcement {
                enabled: false,
                excepted_rules: vec!["Read of SSH key", "Read of cloud credentials"],
            }
        );
        let home = Some("/home/me");
        let cloud = "Read of cloud credentials";
        assert!(p.allows(cloud, Some("/home/me/.aws/credentials"), home));
        // Under a listed directory, not beside it.
        assert!(p.allows(cloud, Some("/srv/keys/a.json"), home));
        assert!(!p.allows(cloud, Some("/srv/keys-old/a.json"), home));
        assert!(p.allows(cloud, Some("/srv/keys"), None));
        // Another user's home, another rule, no path, no known home.
        assert!(!p.allows(cloud, Some("/home/you/.aws/credentials"), home));
        assert!(!p.allows("Read of SSH key", Some("/home/me/.aws/credentials"), home));
        assert!(!p.allows(cloud, None, home));
        assert!(!p.allows(cloud, Some("/home/me/.aws/credentials"), None));
        assert!(p.allows("Read of SSH key", Some("/home/me/.ssh/deploy_key"), home));
        assert!(!p.allows("Read of SSH key", Some("/home/me/.ssh/id_rsa"), home));
        // Mistakes are errors that say what is expected.
        for (text, says) in [
            ("enforce: maybe\n", "enforce: expected true or false"),
            ("allow: {rule: x}\n", "allow: expected a list"),
            ("allow: [{rule: x}]\n", "paths"),
            (
                "allow: [{rule: x, paths: [relative/p]}]\n",
                "not an absolute path",
            ),
            (
                "allow: [{rule: x, paths: [/a], extra: 1}]\n",
                "allow: expected",
            ),
            ("enforced: true\n", "unknown key enforced"),
        ] {
            let e = policy(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        assert_eq!(
            home_in(
                "root:x:0:0:root:/root:/bin/sh\nme:x:1000:1000::/home/me:/bin/sh\n",
                1000
            ),
            Some("/home/me".into())
        );
        assert_eq!(home_in("root:x:0:0:root:/root:/bin/sh\n", 7), None);
    }
}
