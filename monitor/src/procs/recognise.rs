//! Deciding at exec (and in the start-up scan) that a command line is an MCP
//! server: first the servers the AI hosts' configs name, then the generic
//! command-line patterns.
use monitor_common::TagSource;

use super::{cgroups::WatchedCgroup, patterns::PatternSet};
use crate::discover::ConfigMatchers;

/// What a recognised command line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recognised {
    pub name: String,
    pub host: Option<String>,
    pub source: TagSource,
}

pub struct Recogniser {
    patterns: PatternSet,
    config: ConfigMatchers,
    cgroups: Vec<WatchedCgroup>,
}

impl Recogniser {
    pub fn new(patterns: PatternSet, config: ConfigMatchers) -> Self {
        Recogniser {
            patterns,
            config,
            cgroups: Vec::new(),
        }
    }

    /// Also recognise every process in these cgroups (and below).
    pub fn with_cgroups(mut self, cgroups: Vec<WatchedCgroup>) -> Self {
        self.cgroups = cgroups;
        self
    }

    /// Recognises by patterns only.
    pub fn patterns_only(patterns: PatternSet) -> Self {
        Recogniser::new(patterns, ConfigMatchers::new(&[]))
    }

    /// Replaces the config matchers (the configs changed on disk).
    pub fn set_config(&mut self, config: ConfigMatchers) {
        self.config = config;
    }

    pub fn config_servers(&self) -> usize {
        self.config.len()
    }

    /// Recognises process `pid` running `argv`: by host config, then by the
    /// watched cgroups, then by pattern.
    pub fn recognise(&self, pid: u32, argv: &[String]) -> Option<Recognised> {
        if let Some(m) = self.config.match_argv(argv) {
            return Some(Recognised {
                name: m.name,
                host: Some(m.host.as_str().to_owned()),
                source: TagSource::Config,
            });
        }
        if !self.cgroups.is_empty() {
            let paths = super::cgroups::cgroup_paths(pid);
            if let Some(w) = self.cgroups.iter().find(|w| w.contains(&paths)) {
                return Some(Recognised {
                    name: w.name.clone(),
                    host: None,
                    source: TagSource::Cgroup,
                });
            }
        }
        self.patterns.match_argv(argv).map(|name| Recognised {
            name,
            host: None,
            source: TagSource::Pattern,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::discover;

    #[test]
    fn configured_servers_win_over_patterns() {
        let home = std::env::temp_dir().join(format!("mcpmon-recognise-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(home.join(".cursor")).unwrap();
        std::fs::write(
            home.join(".cursor/mcp.json"),
            r#"{"mcpServers": {"files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"]}}}"#,
        )
        .unwrap();
        let config = ConfigMatchers::from_discovery(&discover(std::slice::from_ref(&home)));
        let r = Recogniser::new(PatternSet::new(true, []), config);
        let argv = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            r.recognise(
                0,
                &argv("npx -y @modelcontextprotocol/server-filesystem /srv/docs")
            ),
            Some(Recognised {
                name: "files".into(),
                host: Some("cursor".into()),
                source: TagSource::Config
            })
        );
        // Same package, other arguments: not the configured server, but a pattern.
        assert_eq!(
            r.recognise(
                0,
                &argv("npx -y @modelcontextprotocol/server-filesystem /tmp")
            ),
            Some(Recognised {
                name: "server-filesystem".into(),
                host: None,
                source: TagSource::Pattern
            })
        );
        assert_eq!(r.recognise(0, &argv("ls -l")), None);
        let _ = std::fs::remove_dir_all(&home);
    }
}
