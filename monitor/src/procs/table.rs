//! What user space knows about every process it has seen: identity, command
//! line, cwd, parent, and which MCP server (if any) it belongs to.
use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

/// One process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    pub exepath: String,
    /// Shared with the events of the process (see [`crate::event::Event`]).
    pub argv: Arc<[String]>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22); 0 if unknown.
    pub start_time: u64,
    /// MCP server id, 0 for untagged.
    pub server_id: u32,
    /// Short id of the container the process runs in.
    pub container_id: Option<String>,
}

/// Processes by pid.
#[derive(Default)]
pub struct ProcessTable {
    procs: HashMap<u32, ProcInfo>,
    /// The last processes removed, newest last: a kill's record can be
    /// processed after its target's exit.
    gone: VecDeque<ProcInfo>,
}

/// How many ancestors enrichment walks at most (also guards against cycles).
pub const MAX_ANCESTORS: usize = 16;

/// How many removed processes [`ProcessTable::recently_gone`] remembers.
pub const MAX_GONE: usize = 256;

impl ProcessTable {
    pub fn get(&self, pid: u32) -> Option<&ProcInfo> {
        self.procs.get(&pid)
    }

    pub fn get_mut(&mut self, pid: u32) -> Option<&mut ProcInfo> {
        self.procs.get_mut(&pid)
    }

    pub fn upsert(&mut self, info: ProcInfo) {
        self.procs.insert(info.pid, info);
    }

    pub fn remove(&mut self, pid: u32) -> Option<ProcInfo> {
        let info = self.procs.remove(&pid)?;
        if self.gone.len() >= MAX_GONE {
            self.gone.pop_front();
        }
        self.gone.push_back(info.clone());
        Some(info)
    }

    /// A process removed lately (the newest entry for a reused pid).
    pub fn recently_gone(&self, pid: u32) -> Option<&ProcInfo> {
        self.gone.iter().rev().find(|p| p.pid == pid)
    }

    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    pub fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.procs.keys().copied()
    }

    /// Ancestors of `pid`, parent first, at most [`MAX_ANCESTORS`].
    pub fn ancestors(&self, pid: u32) -> Vec<&ProcInfo> {
        self.ancestors_iter(pid).collect()
    }

    /// [`Self::ancestors`] without collecting them (enrichment walks them for
    /// every event).
    pub fn ancestors_iter(&self, pid: u32) -> impl Iterator<Item = &ProcInfo> {
        let mut cur = self.procs.get(&pid).map(|p| p.ppid);
        std::iter::from_fn(move || {
            let ppid = cur.filter(|&ppid| ppid != 0)?;
            let p = self.procs.get(&ppid);
            cur = p.map(|p| p.ppid);
            p
        })
        .take(MAX_ANCESTORS)
    }

    /// `pid` and all its descendants known to the table.
    pub fn subtree(&self, pid: u32) -> Vec<u32> {
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for p in self.procs.values() {
            children.entry(p.ppid).or_default().push(p.pid);
        }
        let mut out = vec![pid];
        let mut i = 0;
        while i < out.len() {
            if let Some(kids) = children.get(&out[i]) {
                out.extend(kids.iter().copied().filter(|k| *k != pid));
            }
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, ppid: u32, comm: &str) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            comm: comm.into(),
            ..Default::default()
        }
    }

    #[test]
    fn ancestors_and_subtrees() {
        let mut t = ProcessTable::default();
        for info in [
            p(1, 0, "init"),
            p(10, 1, "claude"),
            p(20, 10, "npx"),
            p(30, 20, "node"),
            p(31, 20, "sh"),
            p(40, 1, "other"),
        ] {
            t.upsert(info);
        }
        let names: Vec<_> = t.ancestors(30).iter().map(|p| p.comm.as_str()).collect();
        assert_eq!(names, ["npx", "claude", "init"]);
        let mut sub = t.subtree(20);
        sub.sort();
        assert_eq!(sub, [20, 30, 31]);
        // A cycle (pid reuse gone wrong) does not loop forever.
        t.upsert(p(50, 51, "a"));
        t.upsert(p(51, 50, "b"));
        assert_eq!(t.ancestors(50).len(), MAX_ANCESTORS);
        assert_eq!(t.subtree(50).len(), 2);
        t.remove(31);
        assert!(t.get(31).is_none());
        assert_eq!(t.recently_gone(31).map(|p| p.comm.as_str()), Some("sh"));
        for pid in 1000..1000 + MAX_GONE as u32 {
            t.upsert(p(pid, 1, "x"));
            t.remove(pid);
        }
        assert!(t.recently_gone(31).is_none());
    }
}
