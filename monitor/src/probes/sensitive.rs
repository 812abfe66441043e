//! The sensitive-inode set: the files whose records may use the ring
//! buffer's reserve, so that a storm of ordinary records cannot crowd out the
//! read of a key.
//!
//! The set holds the inode numbers of what the rules' secret lists name
//! (`~/.ssh`, `/etc/shadow`, cloud credentials, the AI hosts' configs…), in
//! every home `fd.homerel` knows. The kernel checks the opened file and the
//! few directories above it, so a directory in the set covers what is created
//! in it later. A file replaced by rename gets a new inode: the set is
//! rebuilt at start, on every rule reload and periodically.
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use aya::maps::{HashMap, MapData};
use monitor_common::MAX_SENSITIVE;

use crate::rules::RuleSet;

/// The default rules' lists of secrets and of files whose change hands a
/// server control; a user's override or append to them counts.
pub const SENSITIVE_LISTS: &[&str] = &[
    "mcp_ssh_paths",
    "mcp_cloud_credential_paths",
    "mcp_developer_token_paths",
    "mcp_browser_wallet_paths",
    "mcp_agent_credential_paths",
    "mcp_system_secret_files",
    "mcp_system_secret_dirs",
    "mcp_authorized_keys_files",
    "mcp_host_config_home_paths",
];

/// The kernel's set, and what user space last wrote to it.
pub struct SensitiveMap {
    map: HashMap<MapData, u64, u8>,
    written: BTreeSet<u64>,
}

impl SensitiveMap {
    pub fn new(map: HashMap<MapData, u64, u8>) -> Self {
        // A map taken over from an earlier run is rebuilt from scratch.
        let written = map.keys().flatten().collect();
        SensitiveMap { map, written }
    }

    /// Makes the kernel's set `inodes` (the first [`MAX_SENSITIVE`] of them).
    /// Returns how many the set holds.
    pub fn update(&mut self, inodes: &BTreeSet<u64>) -> usize {
        let wanted: BTreeSet<u64> = inodes
            .iter()
            .copied()
            .take(MAX_SENSITIVE as usize)
            .collect();
        for gone in self.written.difference(&wanted) {
            let _ = self.map.remove(gone);
        }
        for new in wanted.difference(&self.written) {
            if let Err(e) = self.map.insert(new, 1, 0) {
                log::warn!("sensitive-file set: inode {new} not added: {e}");
            }
        }
        self.written = wanted;
        self.written.len()
    }

    /// Rebuilds the set from `rules`' secret lists.
    pub fn refresh(&mut self, rules: &RuleSet) -> usize {
        let paths = sensitive_paths(rules, &crate::rules::fields::home_dirs());
        self.update(&inodes_of(&paths))
    }
}

/// The paths the secret lists of `rules` name: absolute items as they are,
/// the others under each of `homes`. Items that are globs are cut at their
/// first wildcard (the directory above it stands for them).
pub fn sensitive_paths(rules: &RuleSet, homes: &[String]) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for name in SENSITIVE_LISTS {
        for item in rules.list(name).unwrap_or_default() {
            let item = match item.find(['*', '?', '[']) {
                Some(i) => item[..i].trim_end_matches(|c| c != '/'),
                None => item.as_str(),
            };
            let item = item.trim_end_matches('/');
            if item.is_empty() {
                continue;
            }
            if item.starts_with('/') {
                paths.push(PathBuf::from(item));
            } else {
                paths.extend(homes.iter().map(|h| Path::new(h).join(item)));
            }
        }
    }
    paths
}

/// The inode numbers of those of `paths` that exist (symlinks followed: the
/// kernel checks the file it reached).
pub fn inodes_of(paths: &[PathBuf]) -> BTreeSet<u64> {
    paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.ino())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{RuleSet, RuleSource};

    fn rules(text: &str) -> RuleSet {
        let src = RuleSource {
            name: "t.yaml".into(),
            text: text.into(),
        };
        RuleSet::load(&[src]).expect("loads").0
    }

    #[test]
    fn lists_become_paths_in_every_home() {
        let set = rules(
            "- list: mcp_ssh_paths\n  items: [.ssh, .config/x/*.json]\n\
             - list: mcp_system_secret_files\n  items: [/etc/shadow]\n\
             - list: other\n  items: [/etc/hostname]\n\
             - rule: r\n  desc: d\n  condition: evt.type = open and (fd.name in (mcp_ssh_paths) or fd.name in (mcp_system_secret_files) or fd.name in (other))\n  output: o\n  priority: ERROR\n",
        );
        let paths = sensitive_paths(&set, &["/home/a".into(), "/root".into()]);
        let paths: Vec<&str> = paths.iter().filter_map(|p| p.to_str()).collect();
        assert_eq!(
            paths,
            [
                "/home/a/.ssh",
                "/root/.ssh",
                "/home/a/.config/x",
                "/root/.config/x",
                "/etc/shadow"
            ]
        );
    }

    #[test]
    fn inodes_of_existing_files_only() {
        let dir = std::env::temp_dir().join(format!("mm-sensitive-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("key");
        std::fs::write(&file, "k").unwrap();
        let set = inodes_of(&[file.clone(), dir.join("missing")]);
        assert_eq!(set.len(), 1);
        assert!(set.contains(&std::fs::metadata(&file).unwrap().ino()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
