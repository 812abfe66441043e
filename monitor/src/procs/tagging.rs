//! Tagging: which processes belong to which MCP server. A process is tagged
//! when asked (`tag`), when its command line is recognised at startup or at
//! an exec, when a known AI host starts it with stdio pipes, or when it runs
//! in a container its server launched; its descendants share the tag. The
//! tags live in a [`TagStore`] (the kernel map, so the kernel filters
//! records); the servers, their roots and policies, and their lives live here.
use monitor_common::{Tag, TagSource};

use super::{
    cgroups, hosts, lifecycle, policy, recognise,
    recognise::Recogniser,
    scan,
    servers::{Servers, roots_from_argv},
    table::{ProcInfo, ProcessTable},
    tag_store::TagStore,
};
use crate::{decode::Header, paths};

/// Why a process could not be tagged.
#[derive(Debug, PartialEq, Eq)]
pub enum TagError {
    /// It already belongs to a server (named).
    AlreadyTagged(String),
    /// It does not exist (any more).
    NoSuchProcess(u32),
    /// The kernel map refused the entry.
    Map(String),
}

impl std::fmt::Display for TagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TagError::AlreadyTagged(name) => write!(f, "already tagged as MCP server {name:?}"),
            TagError::NoSuchProcess(pid) => write!(f, "no process with pid {pid}"),
            TagError::Map(e) => write!(f, "the kernel tag map refused the entry: {e}"),
        }
    }
}

impl std::error::Error for TagError {}

/// Who asks for a tag and under which name.
#[derive(Clone, Debug)]
pub struct TagRequest {
    pub pid: u32,
    pub name: String,
    pub host: Option<String>,
    pub source: TagSource,
}

/// The servers and how processes come to belong to them.
pub struct Tagger {
    pub servers: Servers,
    recogniser: Recogniser,
    policies: policy::Policies,
    containers: cgroups::ContainerLaunches,
    /// Servers' lives: started, exited, outlived their host.
    pub lifecycle: lifecycle::Lifecycle,
}

impl Tagger {
    pub fn new(recogniser: Recogniser) -> Self {
        Tagger {
            servers: Servers::default(),
            recogniser,
            policies: policy::Policies::default(),
            containers: cgroups::ContainerLaunches::default(),
            lifecycle: lifecycle::Lifecycle::default(),
        }
    }

    /// Tags `req.pid` and every descendant it has now. The tag is checked against
    /// the process's start time after it is written, so a pid that was reused in
    /// between is untagged again.
    pub fn tag(
        &mut self,
        table: &mut ProcessTable,
        store: &mut impl TagStore,
        req: &TagRequest,
    ) -> Result<u32, TagError> {
        if let Some(existing) = store.get(req.pid) {
            let name = self
                .servers
                .get(existing.server_id)
                .map_or_else(|| format!("#{}", existing.server_id), |s| s.name.clone());
            return Err(TagError::AlreadyTagged(name));
        }
        self.apply_tag(table, store, req)
    }

    /// Makes `pid` and its descendants part of the existing server `server_id`
    /// (a container that server started).
    fn join(
        &mut self,
        table: &mut ProcessTable,
        store: &mut impl TagStore,
        pid: u32,
        server_id: u32,
    ) -> Result<(), TagError> {
        let root = self
            .servers
            .get(server_id)
            .map(|s| s.root_pid)
            .ok_or(TagError::NoSuchProcess(pid))?;
        let tag = Tag {
            server_id,
            root_tgid: root,
        };
        for p in std::iter::once(pid).chain(descendants(pid)) {
            if store.get(p).is_none() {
                store
                    .insert(p, tag)
                    .map_err(|e| TagError::Map(format!("{e:#}")))?;
                if let Some(info) = table.get_mut(p) {
                    info.server_id = server_id;
                }
            }
        }
        Ok(())
    }

    /// Writes the tag for `req.pid` and its descendants, replacing any they had.
    fn apply_tag(
        &mut self,
        table: &mut ProcessTable,
        store: &mut impl TagStore,
        req: &TagRequest,
    ) -> Result<u32, TagError> {
        let info = scan::read_process(req.pid).ok_or(TagError::NoSuchProcess(req.pid))?;
        let id = self
            .servers
            .add(&req.name, req.host.clone(), req.source, req.pid);
        if let Some(server) = self.servers.get_mut(id) {
            server.roots = paths::real_dirs(roots_from_argv(&info.argv), &info.cwd);
        }
        self.apply_policy(id);
        let tag = Tag {
            server_id: id,
            root_tgid: req.pid,
        };
        let start_time = info.start_time;
        table.upsert(ProcInfo {
            server_id: id,
            ..info
        });
        let replaced = store.get(req.pid).map(|t| t.server_id);
        if let Err(e) = store.insert(req.pid, tag) {
            self.servers.remove(id);
            return Err(TagError::Map(format!("{e:#}")));
        }
        if scan::start_time(req.pid) != Some(start_time) {
            store.remove(req.pid);
            self.servers.remove(id);
            return Err(TagError::NoSuchProcess(req.pid));
        }
        for child in descendants(req.pid) {
            let free = store
                .get(child)
                .is_none_or(|t| Some(t.server_id) == replaced || t.server_id == id);
            if free && store.insert(child, tag).is_ok() {
                let info = scan::read_process(child).unwrap_or(ProcInfo {
                    pid: child,
                    ..Default::default()
                });
                table.upsert(ProcInfo {
                    server_id: id,
                    ..info
                });
            }
        }
        let host = host_process(table, req.pid, req.source);
        if let Some(server) = self.servers.get(id) {
            store.remember_server(server);
            self.lifecycle
                .started(server, root_process(table, req.pid), host);
        }
        Ok(id)
    }

    /// Once a second: servers that ended or outlived their host.
    pub fn lifecycle_tick(&mut self, table: &ProcessTable, now: std::time::Instant) {
        let alive = |pid: u32| std::path::Path::new(&format!("/proc/{pid}")).exists();
        self.lifecycle.tick(now, &self.servers, table, &alive);
    }

    pub fn recogniser(&self) -> &Recogniser {
        &self.recogniser
    }

    pub fn recogniser_mut(&mut self) -> &mut Recogniser {
        &mut self.recogniser
    }

    /// Replaces the per-server policies and applies them to running servers.
    pub fn set_policies(&mut self, policies: policy::Policies) {
        self.policies = policies;
        let ids: Vec<u32> = self.servers.ids().collect();
        for id in ids {
            self.apply_policy(id);
        }
    }

    /// The policy file of server `id`, if it has one.
    pub fn policy_of(&self, id: u32) -> Option<&policy::ServerPolicy> {
        self.policies.get(&self.servers.get(id)?.name)
    }

    /// A server's roots and destinations from its policy file, if it has one.
    fn apply_policy(&mut self, id: u32) {
        let Some(server) = self.servers.get_mut(id) else {
            return;
        };
        if let Some(p) = self.policies.get(&server.name) {
            if !p.roots.is_empty() {
                server.roots = paths::real_dirs(p.roots.clone(), "/");
            }
            server.destinations = p.destinations.clone();
        }
    }

    /// Takes over what an earlier run left in the kernel: each tagged
    /// process's server, named by the record kept beside the tags. Tags of
    /// processes that are gone are dropped, and the records of servers with
    /// no process left (their names stay known here, for the records they
    /// left behind). Returns the servers resumed, as (root pid, name).
    pub fn resume(
        &mut self,
        table: &mut ProcessTable,
        tags: &mut crate::probes::TagMap,
    ) -> Vec<(u32, String)> {
        let mut entries = tags.entries();
        entries.retain(|(pid, _)| {
            let alive = table.get(*pid).is_some();
            if !alive {
                tags.remove(*pid);
            }
            alive
        });
        let mut resumed = Vec::new();
        for (id, record) in tags.servers() {
            let members: Vec<u32> = entries
                .iter()
                .filter(|(_, t)| t.server_id == id)
                .map(|(pid, _)| *pid)
                .collect();
            let name = crate::probes::text_of(&record.name);
            let host = Some(crate::probes::text_of(&record.host)).filter(|h| !h.is_empty());
            let source = TagSource::from_u32(record.source).unwrap_or(TagSource::Wrapper);
            // Known even when all its processes are gone: the records they
            // left in the ring buffer still name it.
            self.servers
                .restore(id, &name, host, source, record.root_tgid);
            if members.is_empty() {
                tags.forget_server(id);
                continue;
            }
            if let (Some(server), Some(root)) = (
                self.servers.get_mut(id),
                scan::read_process(record.root_tgid),
            ) {
                server.roots = paths::real_dirs(roots_from_argv(&root.argv), &root.cwd);
            }
            self.apply_policy(id);
            for pid in members {
                if let Some(p) = table.get_mut(pid) {
                    p.server_id = id;
                }
            }
            resumed.push((record.root_tgid, name));
        }
        resumed
    }

    /// Tags every running process that `launch` started (it leaves the server's
    /// name in the environment, so servers survive a daemon restart) or whose
    /// command line is recognised as an MCP server, with its descendants.
    /// Returns the servers found.
    pub fn tag_matching_processes(
        &mut self,
        table: &mut ProcessTable,
        store: &mut impl TagStore,
    ) -> Vec<(u32, String)> {
        let mut candidates: Vec<(u32, recognise::Recognised)> = table
            .pids()
            .filter_map(|pid| {
                let p = table.get(pid)?;
                let launched =
                    crate::launch::marker_of(pid).map(|(name, host)| recognise::Recognised {
                        name,
                        host,
                        source: TagSource::Wrapper,
                    });
                Some((
                    pid,
                    launched.or_else(|| self.recogniser.recognise(pid, &p.argv))?,
                ))
            })
            .collect();
        // Parents before children, so a matching child inside a matching tree is
        // part of its ancestor's server.
        candidates.sort_by_key(|(pid, _)| table.ancestors(*pid).len());
        let mut found = Vec::new();
        for (pid, r) in candidates {
            if store.get(pid).is_some() || pid == std::process::id() {
                continue;
            }
            let req = TagRequest {
                pid,
                name: r.name.clone(),
                host: r.host,
                source: r.source,
            };
            if self.tag(table, store, &req).is_ok() {
                found.push((pid, r.name));
            }
        }
        found
    }

    /// A server's roots come from the first command line in its tree that names them.
    pub fn learn_roots(&mut self, table: &ProcessTable, server_id: u32, pid: u32) {
        let Some((argv, cwd)) = table.get(pid).map(|p| (&p.argv, &p.cwd)) else {
            return;
        };
        if let Some(server) = self.servers.get_mut(server_id)
            && server.roots.is_empty()
            && self
                .policies
                .get(&server.name)
                .is_none_or(|p| p.roots.is_empty())
        {
            server.roots = paths::real_dirs(roots_from_argv(argv), cwd);
        }
    }

    /// Tags an exec'd process that is recognised as an MCP server: by a host
    /// config or a pattern, or as a candidate when a known AI host started it
    /// with stdio pipes. A candidate that a host config then names (after an
    /// exec of `sh -c`, `npx`, …) is tagged again under the configured name.
    /// Returns the process's server id after the exec, 0 for none.
    pub fn tag_on_exec(
        &mut self,
        table: &mut ProcessTable,
        header: &Header,
        store: &mut impl TagStore,
    ) -> u32 {
        if header.tgid == std::process::id() {
            return header.server_id;
        }
        let current = self.servers.get(header.server_id).map(|s| s.source);
        let Some(info) = table.get(header.tgid) else {
            return header.server_id;
        };
        if current.is_some() && cgroups::ContainerLaunches::is_launch(&info.argv) {
            self.containers.launched(header.server_id);
        }
        if current.is_none()
            && let Some(container) = info.container_id.clone()
            && let Some(owner) = self.containers.owner(&container)
        {
            return match self.join(table, store, header.tgid, owner) {
                Ok(()) => owner,
                Err(e) => {
                    log::debug!(
                        "pid {} in container {container} not tagged: {e}",
                        header.tgid
                    );
                    0
                }
            };
        }
        let recognised = match current {
            None => self.recogniser.recognise(info.pid, &info.argv).or_else(|| {
                let parent = table.get(info.ppid)?;
                let host = hosts::host_of(parent)?;
                hosts::looks_like_stdio_server(info).then(|| recognise::Recognised {
                    name: hosts::candidate_name(info),
                    host: Some(host.to_owned()),
                    source: TagSource::HostChild,
                })
            }),
            Some(TagSource::HostChild) => self
                .recogniser
                .recognise(info.pid, &info.argv)
                .filter(|r| r.source == TagSource::Config),
            Some(_) => None,
        };
        let Some(r) = recognised else {
            return header.server_id;
        };
        let req = TagRequest {
            pid: header.tgid,
            name: r.name,
            host: r.host,
            source: r.source,
        };
        let result = if current.is_some() {
            self.apply_tag(table, store, &req)
        } else {
            self.tag(table, store, &req)
        };
        match result {
            Ok(id) => id,
            Err(e) => {
                log::debug!("pid {} recognised but not tagged: {e}", header.tgid);
                header.server_id
            }
        }
    }

    /// The root pid of server `server_id`, or `pid` when it is unknown: what
    /// a record's header names after its process was tagged at an exec.
    pub fn root_of(&self, server_id: u32, pid: u32) -> u32 {
        self.servers.get(server_id).map_or(pid, |s| s.root_pid)
    }

    /// Notes the exit of a server's root process for its lifecycle; `last`
    /// is how the table saw it.
    pub fn exited(&mut self, header: &Header, exit_code: i32, last: Option<&ProcInfo>) {
        if self
            .servers
            .get(header.server_id)
            .is_some_and(|s| s.root_pid == header.tgid)
        {
            self.lifecycle
                .root_exited(header.server_id, exit_code, header.ktime_ns, last);
        }
    }
}

/// `pid` as the table has it, with its ancestors.
fn root_process(table: &ProcessTable, pid: u32) -> lifecycle::RootProcess {
    lifecycle::RootProcess {
        info: table.get(pid).cloned().unwrap_or_default(),
        ancestors: table
            .ancestors(pid)
            .iter()
            .map(|a| (a.pid, a.comm.clone()))
            .collect(),
    }
}

/// The process that started the server at `pid`: the launch wrapper's
/// parent, or else the nearest ancestor that is a known AI host.
fn host_process(
    table: &ProcessTable,
    pid: u32,
    source: TagSource,
) -> Option<lifecycle::HostProcess> {
    let host_pid = if source == TagSource::Wrapper {
        table.get(pid).map(|p| p.ppid)
    } else {
        table
            .ancestors(pid)
            .into_iter()
            .find(|a| hosts::host_of(a).is_some())
            .map(|a| a.pid)
    }?;
    if host_pid <= 1 || host_pid == std::process::id() {
        return None;
    }
    let p = scan::read_process(host_pid)?;
    Some(lifecycle::HostProcess {
        pid: host_pid,
        name: p.comm,
        start_time: p.start_time,
    })
}

/// Every process below `pid` right now, from `/proc/PID/task/TID/children`.
pub(super) fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let path = task.path().join("children");
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            for child in text
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                if child != pid && !out.contains(&child) && out.len() < 100_000 {
                    out.push(child);
                    queue.push(child);
                }
            }
        }
    }
    out
}
