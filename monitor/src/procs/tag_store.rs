//! Where tags live: the kernel's tag map in the daemon, a plain map in tests.
//! Tagging writes through this trait so it can be tested without a kernel.
use monitor_common::Tag;

use super::servers::ServerInfo;

/// Where tags live. The daemon's is the kernel map; tests use a plain map.
pub trait TagStore {
    fn get(&self, tgid: u32) -> Option<Tag>;
    fn insert(&mut self, tgid: u32, tag: Tag) -> anyhow::Result<()>;
    fn remove(&mut self, tgid: u32);
    /// Keeps a server's name where a restarted daemon finds it with the tags.
    fn remember_server(&mut self, _server: &ServerInfo) {}
}

impl TagStore for crate::probes::TagMap {
    fn get(&self, tgid: u32) -> Option<Tag> {
        crate::probes::TagMap::get(self, tgid)
    }
    fn insert(&mut self, tgid: u32, tag: Tag) -> anyhow::Result<()> {
        crate::probes::TagMap::insert(self, tgid, tag)
    }
    fn remove(&mut self, tgid: u32) {
        crate::probes::TagMap::remove(self, tgid)
    }
    fn remember_server(&mut self, server: &ServerInfo) {
        let record = monitor_common::ServerRecord {
            root_tgid: server.root_pid,
            source: server.source as u32,
            name: crate::probes::record_text(&server.name),
            host: crate::probes::record_text(server.host.as_deref().unwrap_or("")),
        };
        crate::probes::TagMap::remember_server(self, server.id, &record);
    }
}

impl TagStore for std::collections::HashMap<u32, Tag> {
    fn get(&self, tgid: u32) -> Option<Tag> {
        std::collections::HashMap::get(self, &tgid).copied()
    }
    fn insert(&mut self, tgid: u32, tag: Tag) -> anyhow::Result<()> {
        std::collections::HashMap::insert(self, tgid, tag);
        Ok(())
    }
    fn remove(&mut self, tgid: u32) {
        std::collections::HashMap::remove(self, &tgid);
    }
}
