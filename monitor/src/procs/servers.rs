//! MCP servers by id: the names and provenance user space attaches to a tag.
use std::collections::HashMap;

use monitor_common::TagSource;

/// One MCP server: a tagged process tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    pub id: u32,
    pub name: String,
    /// The AI host that runs it, when known.
    pub host: Option<String>,
    pub source: TagSource,
    pub root_pid: u32,
    /// Directories the server was given (its arguments or its policy file).
    pub roots: Vec<String>,
    /// Destinations its policy file allows.
    pub destinations: Vec<String>,
}

/// Registry of servers; ids start at 1 (0 means untagged in the kernel).
#[derive(Default)]
pub struct Servers {
    by_id: HashMap<u32, ServerInfo>,
    last_id: u32,
}

impl Servers {
    pub fn add(
        &mut self,
        name: &str,
        host: Option<String>,
        source: TagSource,
        root_pid: u32,
    ) -> u32 {
        let id = self.last_id + 1;
        self.restore(id, name, host, source, root_pid);
        id
    }

    /// Registers a server under the id an earlier run gave it (its tags in
    /// the kernel carry that id); later ids are larger.
    pub fn restore(
        &mut self,
        id: u32,
        name: &str,
        host: Option<String>,
        source: TagSource,
        root_pid: u32,
    ) {
        self.last_id = self.last_id.max(id);
        self.by_id.insert(
            id,
            ServerInfo {
                id,
                name: name.to_owned(),
                host,
                source,
                root_pid,
                roots: Vec::new(),
                destinations: Vec::new(),
            },
        );
    }

    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_id.keys().copied()
    }

    pub fn get(&self, id: u32) -> Option<&ServerInfo> {
        self.by_id.get(&id)
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut ServerInfo> {
        self.by_id.get_mut(&id)
    }

    pub fn remove(&mut self, id: u32) {
        self.by_id.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// The name users see for a tag source (`mcp.tag_source`).
pub fn source_name(source: TagSource) -> &'static str {
    match source {
        TagSource::Inherited => "inherited",
        TagSource::Wrapper => "wrapper",
        TagSource::Pid => "pid",
        TagSource::Pattern => "pattern",
        TagSource::Config => "config",
        TagSource::Cgroup => "cgroup",
        TagSource::HostChild => "host-child",
    }
}

/// Directories a known server was given on its command line:
/// server-filesystem's positional directories, mcp-server-git's `--repository`.
pub fn roots_from_argv(argv: &[String]) -> Vec<String> {
    if let Some(i) = argv.iter().position(|a| a.contains("server-filesystem")) {
        return argv[i + 1..]
            .iter()
            .filter(|a| !a.starts_with('-'))
            .cloned()
            .collect();
    }
    if argv
        .iter()
        .any(|a| a.contains("mcp-server-git") || a.contains("mcp_server_git"))
    {
        let mut it = argv.iter();
        while let Some(a) = it.next() {
            if a == "--repository" || a == "-r" {
                return it.next().cloned().into_iter().collect();
            }
            if let Some(v) = a.strip_prefix("--repository=") {
                return vec![v.to_owned()];
            }
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn roots_of_known_servers() {
        assert_eq!(
            roots_from_argv(&argv(
                "npx -y @modelcontextprotocol/server-filesystem /a /b"
            )),
            ["/a", "/b"]
        );
        assert_eq!(
            roots_from_argv(&argv(
                "node /x/node_modules/.bin/mcp-server-filesystem /srv"
            )),
            ["/srv"]
        );
        assert_eq!(
            roots_from_argv(&argv("uvx mcp-server-git --repository /r")),
            ["/r"]
        );
        assert_eq!(
            roots_from_argv(&argv("uvx mcp-server-git --repository=/r")),
            ["/r"]
        );
        assert!(roots_from_argv(&argv("uvx mcp-server-fetch")).is_empty());
    }

    #[test]
    fn ids_are_never_zero() {
        let mut s = Servers::default();
        let a = s.add("fs", None, TagSource::Wrapper, 10);
        let b = s.add("git", Some("claude-code".into()), TagSource::Config, 11);
        assert!(a != 0 && b != 0 && a != b);
        assert_eq!(s.get(b).unwrap().host.as_deref(), Some("claude-code"));
    }
}
