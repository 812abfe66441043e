//! Processes and MCP servers. The [`Tracker`] is what the pipeline feeds
//! records to; it composes three parts, each with one job:
//!
//! - the process table, kept in step with the records ([`table`],
//!   [`table_updates`]);
//! - tagging: which processes belong to which server ([`tagging`], writing
//!   through a [`TagStore`]);
//! - enrichment of records into [`Event`]s ([`enrich`]), which only reads the
//!   other two.
pub mod activity;
pub mod cgroups;
pub mod clock;
mod enrich;
pub mod hosts;
pub mod lifecycle;
pub mod patterns;
pub mod policy;
pub mod procnet;
pub mod recognise;
pub mod scan;
pub mod servers;
pub mod sockets;
pub mod table;
mod table_updates;
mod tag_store;
pub mod tagging;
mod users;

pub use tag_store::TagStore;
pub use tagging::{TagError, TagRequest};

use crate::{decode::Record, event::Event};
use recognise::Recogniser;
use table::ProcessTable;

/// The user-space half of tagging and the enrichment of records.
pub struct Tracker {
    pub table: ProcessTable,
    /// The servers, their lives, and how processes come to belong to them.
    pub tagger: tagging::Tagger,
    /// What events are made of beyond the table and the servers.
    pub enricher: enrich::Enricher,
}

impl Tracker {
    pub fn new(table: ProcessTable, recogniser: Recogniser) -> Self {
        Tracker {
            table,
            tagger: tagging::Tagger::new(recogniser),
            enricher: enrich::Enricher::default(),
        }
    }

    /// Says which gone processes were earlier daemons of this monitor.
    pub fn set_previous_daemons(&mut self, pids: Vec<u32>) {
        self.enricher.set_previous_daemons(pids);
    }

    /// Tags `req.pid` and every descendant it has now. The tag is checked against
    /// the process's start time after it is written, so a pid that was reused in
    /// between is untagged again.
    pub fn tag(&mut self, store: &mut impl TagStore, req: &TagRequest) -> Result<u32, TagError> {
        self.tagger.tag(&mut self.table, store, req)
    }

    /// Once a second: servers that ended or outlived their host.
    pub fn lifecycle_tick(&mut self, now: std::time::Instant) {
        self.tagger.lifecycle_tick(&self.table, now);
    }

    pub fn recogniser(&self) -> &Recogniser {
        self.tagger.recogniser()
    }

    pub fn recogniser_mut(&mut self) -> &mut Recogniser {
        self.tagger.recogniser_mut()
    }

    /// Replaces the per-server policies and applies them to running servers.
    pub fn set_policies(&mut self, policies: policy::Policies) {
        self.tagger.set_policies(policies);
    }

    /// Takes over what an earlier run left in the kernel (see
    /// [`tagging::Tagger::resume`]). Returns the servers resumed, as (root
    /// pid, name).
    pub fn resume(&mut self, tags: &mut crate::probes::TagMap) -> Vec<(u32, String)> {
        self.tagger.resume(&mut self.table, tags)
    }

    /// Tags the running processes that are MCP servers (see
    /// [`tagging::Tagger::tag_matching_processes`]). Returns the servers found.
    pub fn tag_matching_processes(&mut self, store: &mut impl TagStore) -> Vec<(u32, String)> {
        self.tagger.tag_matching_processes(&mut self.table, store)
    }

    /// The id of the server whose process made `ev` (its process may have
    /// exited since).
    pub fn server_id_of(&self, ev: &Event) -> Option<u32> {
        let known = self
            .table
            .get(ev.pid)
            .or_else(|| self.table.recently_gone(ev.pid))
            .map(|p| p.server_id)
            .filter(|id| *id != 0);
        known.or_else(|| {
            let root = ev.mcp_root_pid?;
            self.tagger.servers.ids().find(|id| {
                self.tagger
                    .servers
                    .get(*id)
                    .is_some_and(|s| s.root_pid == root)
            })
        })
    }

    /// What prevent mode may do to server `id`, from its policy file:
    /// whether actions act, and which rules have exceptions there.
    pub fn enforcement_of(&self, id: u32) -> policy::Enforcement<'_> {
        match self.tagger.policy_of(id) {
            Some(p) => p.enforcement(),
            None => policy::Enforcement {
                enabled: true,
                excepted_rules: Vec::new(),
            },
        }
    }

    /// The ids of the servers known now.
    pub fn server_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.tagger.servers.ids()
    }

    /// Whether server `id`'s policy has an exception for `rule` on `ev`'s
    /// path (`~` is the home of the event's user).
    pub fn allowed(&self, id: u32, rule: &str, ev: &Event) -> bool {
        let Some(p) = self.tagger.policy_of(id) else {
            return false;
        };
        if !p.allow.iter().any(|a| a.rule == rule) {
            return false;
        }
        let home = policy::home_of(ev.uid);
        p.allows(rule, ev.fd_name.as_deref(), home.as_deref())
    }

    /// The pid of the process that started server `id` (its root's parent).
    pub fn host_of(&self, id: u32) -> Option<u32> {
        let root = self.tagger.servers.get(id)?.root_pid;
        self.table
            .get(root)
            .or_else(|| self.table.recently_gone(root))
            .map(|p| p.ppid)
            .filter(|p| *p != 0)
    }

    /// Servers' lifecycle settings from now on.
    pub fn reconfigure(&mut self, config: &lifecycle::LifecycleConfig) {
        self.tagger.lifecycle.set_config(config.clone());
    }

    /// The lifecycle alerts noted since the last call.
    pub fn take_lifecycle_notes(&mut self) -> Vec<lifecycle::Note> {
        self.tagger.lifecycle.take_notes()
    }

    /// What the tracker reports of itself, for metrics.
    pub fn figures(&self) -> crate::metrics::TrackingFigures {
        let table = &self.table;
        crate::metrics::TrackingFigures {
            tagged_processes: table
                .pids()
                .filter(|p| table.get(*p).is_some_and(|i| i.server_id != 0))
                .count() as u64,
            servers: self.tagger.lifecycle.live() as u64,
            ..Default::default()
        }
    }

    /// Forgets untagged processes that no longer exist.
    pub fn prune(&mut self) {
        self.table.prune();
        self.enricher.table_pruned(&self.table);
    }

    /// Turns one kernel record into an event for tagged processes, updating the
    /// process table and tagging exec'd processes that match a pattern. Returns
    /// `None` for records that concern no MCP server.
    pub fn ingest(&mut self, mut record: Record, store: &mut impl TagStore) -> Option<Event> {
        self.update_from(&mut record, store);
        let header = record.header();
        let exited = matches!(record, Record::Exit { .. }).then_some(header.tgid);
        let tagged = header.server_id != 0;
        if tagged {
            self.tagger.lifecycle.event(header.server_id);
            self.table.proc_info(header);
        }
        let ev = if tagged {
            let ctx = enrich::Context {
                table: &self.table,
                servers: &self.tagger.servers,
            };
            self.enricher.event(&ctx, record, store)
        } else {
            None
        };
        if let Some(pid) = exited {
            self.table.remove(pid);
            self.enricher.process_exited(pid);
        }
        let mut ev = ev?;
        self.enricher.note_activity(&self.table, &mut ev);
        Some(ev)
    }

    /// What a record changes before its event is made: the table (forks,
    /// execs), the tags (a process recognised at its exec; the record then
    /// names its new server), and a root's exit for its server's lifecycle.
    fn update_from(&mut self, record: &mut Record, store: &mut impl TagStore) {
        match record {
            Record::Fork { header, child_tgid } => {
                self.table.record_fork(header, *child_tgid);
                self.enricher.process_forked(header.tgid, *child_tgid);
            }
            Record::Exec {
                header,
                filename,
                argv,
                ..
            } => {
                self.table
                    .record_exec(header, filename, std::mem::take(argv));
                if header.server_id != 0 {
                    self.tagger
                        .learn_roots(&self.table, header.server_id, header.tgid);
                }
                let server_id = self.tagger.tag_on_exec(&mut self.table, header, store);
                if server_id != header.server_id {
                    // Tagged, tagged again, or joined to a server at this exec.
                    header.server_id = server_id;
                    header.root_tgid = self.tagger.root_of(server_id, header.tgid);
                }
            }
            Record::Exit { header, exit_code } => {
                self.tagger
                    .exited(header, *exit_code, self.table.get(header.tgid));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use monitor_common::{EventHeader, OpenSyscall, Tag, TagSource};

    use super::*;
    use crate::decode::{Header, KernelPath};
    use table::ProcInfo;

    #[test]
    fn tagging_a_real_tree_and_refusing_a_second_tag() {
        // A real parent with a real child: `sh -c 'sleep 30 & wait'`.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let pid = child.id();
        // Wait until the sleep exists.
        let mut kids = Vec::new();
        for _ in 0..100 {
            kids = tagging::descendants(pid);
            if !kids.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let mut store: HashMap<u32, Tag> = HashMap::new();
        let mut tracker = Tracker::new(
            ProcessTable::default(),
            Recogniser::patterns_only(patterns::PatternSet::new(true, [])),
        );
        let req = TagRequest {
            pid,
            name: "t".into(),
            host: Some("test-host".into()),
            source: TagSource::Pid,
        };
        let id = tracker.tag(&mut store, &req).unwrap();
        assert_eq!(store.get(&pid).unwrap().server_id, id);
        assert!(!kids.is_empty());
        for k in &kids {
            assert_eq!(store.get(k).unwrap().root_tgid, pid);
        }
        assert_eq!(
            tracker.tag(&mut store, &req),
            Err(TagError::AlreadyTagged("t".into()))
        );
        let _ = child.kill();
        let _ = child.wait();
        for k in kids {
            // SAFETY: killing the sleep this test started.
            unsafe { libc::kill(k as i32, libc::SIGKILL) };
        }
        assert_eq!(
            tracker.tag(
                &mut store,
                &TagRequest {
                    pid: u32::MAX - 1,
                    ..req
                }
            ),
            Err(TagError::NoSuchProcess(u32::MAX - 1))
        );
    }

    fn header(tgid: u32, server_id: u32) -> Header {
        Header {
            kernel: EventHeader {
                ktime_ns: 1,
                tgid,
                tid: tgid,
                ppid: 1,
                server_id,
                root_tgid: tgid,
                ..Default::default()
            },
            comm: "node".into(),
        }
    }

    #[test]
    fn untagged_records_give_no_event_and_tagged_ones_are_enriched() {
        let mut store: HashMap<u32, Tag> = HashMap::new();
        let mut tracker = Tracker::new(
            ProcessTable::default(),
            Recogniser::patterns_only(patterns::PatternSet::new(false, [])),
        );
        let me = std::process::id();
        let open = |server_id| Record::Open {
            header: header(me, server_id),
            syscall: OpenSyscall::OpenAt,
            dirfd: -100,
            flags: libc::O_RDONLY as u64,
            mode: 0,
            ret: -2,
            path: "sub/../file.txt".into(),
            resolved: KernelPath::None,
        };
        assert!(tracker.ingest(open(0), &mut store).is_none());
        let id = tracker
            .tagger
            .servers
            .add("fs", None, TagSource::Wrapper, me);
        let ev = tracker.ingest(open(id), &mut store).unwrap();
        assert_eq!(ev.evt_type, "openat");
        assert_eq!(ev.mcp_server.as_deref(), Some("fs"));
        assert_eq!(ev.mcp_tag_source.as_deref(), Some("wrapper"));
        assert_eq!(ev.res.as_deref(), Some("ENOENT"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            ev.fd_name.as_deref(),
            Some(cwd.join("file.txt").to_str().unwrap())
        );
        assert_eq!(ev.fd_name_source.as_deref(), Some("proc-cwd"));
        assert_eq!(ev.is_open_read, Some(true));
        assert_eq!(ev.is_open_write, Some(false));
        assert_eq!(ev.arg_path.as_deref(), Some("sub/../file.txt"));
    }
    #[test]
    fn a_script_written_then_run_and_a_discovery_burst_are_noted_on_the_exec() {
        let mut store: HashMap<u32, Tag> = HashMap::new();
        let mut tracker = Tracker::new(
            ProcessTable::default(),
            Recogniser::patterns_only(patterns::PatternSet::new(false, [])),
        );
        tracker
            .enricher
            .activity
            .set_discovery_commands(["id", "uname", "hostname"].map(String::from));
        let me = std::process::id();
        let id = tracker
            .tagger
            .servers
            .add("fs", None, TagSource::Wrapper, me);
        let dir = std::env::temp_dir().join(format!("mcpmon-activity-{me}"));
        let script = dir.join("fresh.sh");
        let script = script.to_str().unwrap();
        let write = Record::Open {
            header: header(me, id),
            syscall: OpenSyscall::OpenAt,
            dirfd: -100,
            flags: (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64,
            mode: 0o644,
            ret: 3,
            path: script.into(),
            resolved: KernelPath::None,
        };
        let ev = tracker.ingest(write, &mut store).unwrap();
        assert_eq!(ev.is_open_write, Some(true));
        let exec = |tracker: &mut Tracker, comm: &str, argv: &[&str]| {
            let mut h = header(me, id);
            h.comm = comm.into();
            let record = Record::Exec {
                header: h,
                filename: format!("/usr/bin/{comm}"),
                argv: argv.iter().map(|a| a.to_string()).collect(),
                loader_env: Vec::new(),
            };
            let mut store: HashMap<u32, Tag> = HashMap::new();
            tracker.ingest(record, &mut store).unwrap()
        };
        let ev = exec(&mut tracker, "sh", &["sh", "-e", script]);
        assert_eq!(ev.script_written_by_server, Some(true));
        let ev = exec(&mut tracker, "sh", &["sh", "/etc/profile"]);
        assert_eq!(ev.script_written_by_server, Some(false));
        let ev = exec(&mut tracker, "sh", &["sh"]);
        assert_eq!(ev.script_written_by_server, None);
        assert_eq!(ev.recon_count, None);
        assert_eq!(exec(&mut tracker, "id", &["id"]).recon_count, Some(1));
        assert_eq!(exec(&mut tracker, "id", &["id", "-u"]).recon_count, Some(1));
        assert_eq!(exec(&mut tracker, "uname", &["uname"]).recon_count, Some(2));
        let ev = exec(&mut tracker, "hostname", &["hostname"]);
        assert_eq!(ev.recon_count, Some(3));
        assert_eq!(ev.recon_commands, ["hostname", "id", "uname"]);
        // Another server's burst is its own.
        let other = tracker
            .tagger
            .servers
            .add("other", None, TagSource::Wrapper, me);
        let mut h = header(me, other);
        h.comm = "uname".into();
        let ev = tracker
            .ingest(
                Record::Exec {
                    header: h,
                    filename: "/usr/bin/uname".into(),
                    argv: vec!["uname".into()],
                    loader_env: Vec::new(),
                },
                &mut store,
            )
            .unwrap();
        assert_eq!(ev.recon_count, Some(1));
    }
    #[test]
    fn the_writer_of_a_pipe_on_stdin_is_found_in_the_same_server() {
        use std::process::{Command, Stdio};
        let mut writer = Command::new("sleep")
            .arg("30")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = writer.stdout.take().unwrap();
        let mut reader = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::from(out))
            .spawn()
            .unwrap();
        let comm = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        for _ in 0..200 {
            if comm(writer.id()).trim() == "sleep" && comm(reader.id()).trim() == "sleep" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let mut tracker = Tracker::new(
            ProcessTable::default(),
            Recogniser::patterns_only(patterns::PatternSet::new(false, [])),
        );
        let me = std::process::id();
        let id = tracker
            .tagger
            .servers
            .add("fs", None, TagSource::Wrapper, me);
        for pid in [writer.id(), reader.id()] {
            tracker.table.upsert(ProcInfo {
                pid,
                server_id: id,
                ..Default::default()
            });
        }
        let inode = activity::pipe_of(reader.id(), 0).unwrap();
        assert_eq!(activity::pipe_of(writer.id(), 1), Some(inode));
        // Found in procfs, then from what its exec left.
        assert_eq!(
            tracker
                .enricher
                .stdin_writer(&tracker.table, id, inode, reader.id())
                .as_deref(),
            Some("sleep")
        );
        assert_eq!(
            tracker
                .enricher
                .stdin_writer(&tracker.table, id + 1, inode, reader.id()),
            None
        );
        tracker.enricher.activity.pipe_writer(
            id + 1,
            activity::PipeWriter {
                inode,
                pid: writer.id(),
                name: "curl".into(),
            },
            1,
        );
        assert_eq!(
            tracker
                .enricher
                .stdin_writer(&tracker.table, id + 1, inode, reader.id())
                .as_deref(),
            Some("curl")
        );
        for c in [&mut writer, &mut reader] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
