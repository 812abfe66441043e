//! Per-server policy files: what a server is supposed to touch, for the scope
//! rules. `/etc/mcp-monitor/servers.d/NAME.yaml` for the server named NAME:
//!
//! ```yaml
//! roots: [/home/me/projects]          # directories it may work in (mcp.roots)
//! destinations: [10.0.0.0/8, api.example.com:443]   # mcp.destinations
//! ```
//!
//! Roots from a policy file replace the ones read from the server's arguments.
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use crate::discover::formats::parse_yaml;

/// Where policy files live unless `--servers-dir` says otherwise.
pub const DEFAULT_DIR: &str = "/etc/mcp-monitor/servers.d";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerPolicy {
    pub roots: Vec<String>,
    pub destinations: Vec<String>,
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
        return Err("expected a mapping with roots and destinations".into());
    }
    Ok(ServerPolicy {
        roots: list("roots")?,
        destinations: list("destinations")?,
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
            })
        );
        assert_eq!(p.len(), 1);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("bad.yaml") && problems[0].contains("roots"));
        let (none, problems) = Policies::load(&dir.join("missing"));
        assert!(none.is_empty() && problems.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
