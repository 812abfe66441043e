//! The life of each MCP server: when it was tagged, how many events it made,
//! when its tree ended, and whether it outlived the AI host that started it
//! (checklist items 10 and 11: a tool server should not keep running, or
//! daemonise, once its host is gone).
//!
//! The tracker reports tagging and root exits here; [`Lifecycle::tick`] (once a
//! second) decides what ended, from the process table and procfs, and queues
//! [`Note`]s for the daemon to raise as alerts.
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use serde::Deserialize;

use super::{
    servers::ServerInfo,
    table::{ProcInfo, ProcessTable},
};
use crate::units::HumanDuration;

/// How long a server's tree may keep running after its host is gone before it
/// counts as having outlived it, by default (a server normally exits when its
/// stdin closes).
pub const HOST_GRACE: Duration = Duration::from_secs(5);

/// The `lifecycle:` settings: which of a server's life events are alerts.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// `MCP server started` and `MCP server exited` (informational).
    pub started_exited: bool,
    /// `MCP server outlived its host` (warning).
    pub outlived_host: bool,
    /// How long a server may run on after its host ended before it counts.
    pub host_grace: HumanDuration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            started_exited: true,
            outlived_host: true,
            host_grace: HumanDuration(HOST_GRACE),
        }
    }
}

/// The AI host (or the launch wrapper's parent) that started a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostProcess {
    pub pid: u32,
    pub name: String,
    /// Start time in clock ticks since boot, to tell a reused pid apart.
    pub start_time: u64,
}

/// A server's root process as last seen, with its ancestors (parent first,
/// pid and name): what the alert shows as its process.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RootProcess {
    pub info: ProcInfo,
    pub ancestors: Vec<(u32, String)>,
}

/// Something that happened to a server.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub server: ServerInfo,
    pub root: RootProcess,
    pub what: Happened,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Happened {
    Started {
        host_process: Option<HostProcess>,
        /// Tagged while the monitor started: it was already running.
        at_start: bool,
    },
    /// Its last process ended.
    Exited {
        /// The root's raw wait status, when its exit was seen.
        status: Option<i32>,
        lifetime: Duration,
        events: u64,
    },
    /// Its host ended a grace period ago and processes of its tree still run.
    OutlivedHost {
        host_process: HostProcess,
        /// Its processes still running.
        running: Vec<u32>,
    },
}

struct Life {
    root: RootProcess,
    /// Boot-time nanoseconds at which the root started (or was tagged).
    started_boot_ns: u64,
    events: u64,
    host: Option<HostProcess>,
    /// The root's wait status and boot-time ns, once it exited.
    root_exit: Option<(i32, u64)>,
    host_gone_since: Option<Instant>,
    outlived_reported: bool,
}

/// Live servers and the notes not yet raised.
#[derive(Default)]
pub struct Lifecycle {
    config: LifecycleConfig,
    live: HashMap<u32, Life>,
    notes: Vec<Note>,
    /// Set once the start-up tagging is done.
    running: bool,
}

impl Lifecycle {
    /// A server was tagged; `root` is its root process as the table has it.
    pub fn started(&mut self, server: &ServerInfo, root: RootProcess, host: Option<HostProcess>) {
        let now = boot_ns_now();
        let started_boot_ns = ticks_to_ns(root.info.start_time)
            .filter(|&ns| ns > 0 && ns <= now)
            .unwrap_or(now);
        self.live.insert(
            server.id,
            Life {
                root: root.clone(),
                started_boot_ns,
                events: 0,
                host: host.clone(),
                root_exit: None,
                host_gone_since: None,
                outlived_reported: false,
            },
        );
        if !self.config.started_exited {
            return;
        }
        self.notes.push(Note {
            server: server.clone(),
            root,
            what: Happened::Started {
                host_process: host,
                at_start: !self.running,
            },
        });
    }

    /// Which notes to make, and the grace period; applies to live servers too.
    pub fn set_config(&mut self, config: LifecycleConfig) {
        self.config = config;
    }

    /// The start-up tagging is over: later servers are new.
    pub fn set_running(&mut self) {
        self.running = true;
    }

    /// Counts one event of server `id`.
    #[inline]
    pub fn event(&mut self, id: u32) {
        if let Some(l) = self.live.get_mut(&id) {
            l.events += 1;
        }
    }

    /// The root process of server `id` exited with `status` at `boot_ns`;
    /// `last` is how the table last saw it (after its execs).
    pub fn root_exited(&mut self, id: u32, status: i32, boot_ns: u64, last: Option<&ProcInfo>) {
        if let Some(l) = self.live.get_mut(&id)
            && l.root_exit.is_none()
        {
            l.root_exit = Some((status, boot_ns));
            if let Some(info) = last {
                l.root.info = info.clone();
            }
        }
    }

    /// Live servers (for metrics).
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Decides which servers ended and which outlived their host. `alive`
    /// says whether a pid still runs as the same process (procfs in the daemon).
    pub fn tick(
        &mut self,
        now: Instant,
        servers: &super::servers::Servers,
        table: &ProcessTable,
        alive: &dyn Fn(u32) -> bool,
    ) {
        if self.live.is_empty() {
            return;
        }
        let mut trees: HashMap<u32, Vec<u32>> = HashMap::new();
        for pid in table.pids() {
            if let Some(p) = table.get(pid)
                && p.server_id != 0
                && self.live.contains_key(&p.server_id)
            {
                trees.entry(p.server_id).or_default().push(pid);
            }
        }
        // Processes of a tree still running; the root first when it runs.
        let running = |id: u32, root: u32, root_runs: bool| -> Vec<u32> {
            let mut out: Vec<u32> = root_runs.then_some(root).into_iter().collect();
            let others = trees.get(&id).map(Vec::as_slice).unwrap_or_default();
            out.extend(others.iter().copied().filter(|p| *p != root && alive(*p)));
            out
        };
        let mut ended = Vec::new();
        for (id, life) in &mut self.live {
            let Some(server) = servers.get(*id) else {
                ended.push(*id);
                continue;
            };
            // While the root runs the tree does: no need to look at the others.
            let root_runs = life.root_exit.is_none() && alive(server.root_pid);
            if !root_runs && running(*id, server.root_pid, false).is_empty() {
                let end_ns = life.root_exit.map_or_else(boot_ns_now, |(_, ns)| ns);
                ended.push(*id);
                if !self.config.started_exited {
                    continue;
                }
                self.notes.push(Note {
                    server: server.clone(),
                    root: life.root.clone(),
                    what: Happened::Exited {
                        status: life.root_exit.map(|(s, _)| s),
                        lifetime: Duration::from_nanos(end_ns.saturating_sub(life.started_boot_ns)),
                        events: life.events,
                    },
                });
                continue;
            }
            if life.outlived_reported || !self.config.outlived_host {
                continue;
            }
            let Some(host) = &life.host else { continue };
            if alive_as(host, alive) {
                life.host_gone_since = None;
                continue;
            }
            let since = *life.host_gone_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= self.config.host_grace.0 {
                let mut running = running(*id, server.root_pid, root_runs);
                running.sort_unstable();
                if let Some(info) = table.get(server.root_pid) {
                    life.root.info = info.clone();
                }
                self.notes.push(Note {
                    server: server.clone(),
                    root: life.root.clone(),
                    what: Happened::OutlivedHost {
                        host_process: host.clone(),
                        running,
                    },
                });
                life.outlived_reported = true;
            }
        }
        for id in ended {
            self.live.remove(&id);
        }
    }

    /// Notes to raise, oldest first.
    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }
}

/// Whether the host still runs as the same process (its pid not reused).
fn alive_as(host: &HostProcess, alive: &dyn Fn(u32) -> bool) -> bool {
    alive(host.pid)
        && (host.start_time == 0 || super::scan::start_time(host.pid) == Some(host.start_time))
}

/// CLOCK_BOOTTIME now, in nanoseconds (the clock of kernel event times).
pub fn boot_ns_now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `/proc/PID/stat` start time (clock ticks since boot) in nanoseconds.
fn ticks_to_ns(ticks: u64) -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks.saturating_mul(1_000_000_000) / hz as u64)
}

/// `(exit code, signal)` from a raw wait status.
pub fn decode_status(status: i32) -> (Option<i32>, Option<i32>) {
    let sig = status & 0x7f;
    if sig == 0 {
        (Some((status >> 8) & 0xff), None)
    } else {
        (None, Some(sig))
    }
}

#[cfg(test)]
mod tests {
    use monitor_common::TagSource;

    use super::*;
    use crate::procs::{servers::Servers, table::ProcInfo};

    fn setup() -> (Lifecycle, Servers, ProcessTable, u32) {
        let mut servers = Servers::default();
        let id = servers.add("fs", Some("claude-code".into()), TagSource::Wrapper, 100);
        let mut table = ProcessTable::default();
        for (pid, ppid) in [(100, 50), (101, 100)] {
            table.upsert(ProcInfo {
                pid,
                ppid,
                server_id: id,
                ..Default::default()
            });
        }
        let mut l = Lifecycle::default();
        l.set_running();
        let root = RootProcess {
            info: ProcInfo {
                pid: 100,
                argv: vec!["npx".into(), "fs".into()].into(),
                ..Default::default()
            },
            ancestors: vec![(50, "claude".into())],
        };
        l.started(
            servers.get(id).unwrap(),
            root,
            Some(HostProcess {
                pid: 50,
                name: "claude".into(),
                start_time: 0,
            }),
        );
        (l, servers, table, id)
    }

    #[test]
    fn started_then_exited_when_the_last_process_ends() {
        let (mut l, servers, mut table, id) = setup();
        let notes = l.take_notes();
        assert!(
            matches!(&notes[..], [Note { what: Happened::Started { at_start: false, .. }, root, .. }]
                if root.info.argv[..] == ["npx", "fs"] && root.ancestors[0].1 == "claude"),
            "{notes:?}"
        );
        l.event(id);
        l.event(id);
        let t0 = Instant::now();
        // The root exits; its child still runs: not over yet.
        let last = ProcInfo {
            pid: 100,
            comm: "node".into(),
            ..Default::default()
        };
        l.root_exited(id, 3 << 8, boot_ns_now(), Some(&last));
        table.remove(100);
        let alive = |p: u32| p == 101 || p == 50;
        l.tick(t0, &servers, &table, &alive);
        assert!(l.take_notes().is_empty());
        assert_eq!(l.live(), 1);
        // The child ends too.
        table.remove(101);
        l.tick(t0, &servers, &table, &|p| p == 50);
        let notes = l.take_notes();
        let [
            Note {
                what: Happened::Exited { status, events, .. },
                root,
                ..
            },
        ] = &notes[..]
        else {
            panic!("{notes:?}")
        };
        assert_eq!(root.info.comm, "node", "the root as it was when it exited");
        assert_eq!(*status, Some(768));
        assert_eq!(decode_status(768), (Some(3), None));
        assert_eq!(decode_status(9), (None, Some(9)));
        assert_eq!(*events, 2);
        assert_eq!(l.live(), 0);
    }

    #[test]
    fn a_root_that_vanished_without_an_exit_record_still_ends_the_server() {
        let (mut l, servers, mut table, _) = setup();
        l.take_notes();
        table.remove(101);
        l.tick(Instant::now(), &servers, &table, &|_| false);
        assert!(matches!(
            &l.take_notes()[..],
            [Note {
                what: Happened::Exited { status: None, .. },
                ..
            }]
        ));
    }

    #[test]
    fn outliving_the_host_is_reported_once_after_the_grace_period() {
        let (mut l, servers, table, _) = setup();
        l.take_notes();
        let t0 = Instant::now();
        let without_host = |p: u32| p == 100 || p == 101;
        l.tick(t0, &servers, &table, &without_host);
        l.tick(t0 + HOST_GRACE / 2, &servers, &table, &without_host);
        assert!(l.take_notes().is_empty(), "within the grace period");
        l.tick(t0 + HOST_GRACE, &servers, &table, &without_host);
        let notes = l.take_notes();
        let [
            Note {
                server,
                what:
                    Happened::OutlivedHost {
                        host_process,
                        running,
                    },
                ..
            },
        ] = &notes[..]
        else {
            panic!("{notes:?}")
        };
        assert_eq!(server.name, "fs");
        assert_eq!(host_process.pid, 50);
        assert_eq!(running, &[100, 101]);
        l.tick(t0 + HOST_GRACE * 3, &servers, &table, &without_host);
        assert!(l.take_notes().is_empty(), "once per server");
    }

    #[test]
    fn lifecycle_alerts_can_be_turned_off_and_the_grace_changed() {
        let (mut l, servers, mut table, id) = setup();
        l.take_notes();
        l.set_config(LifecycleConfig {
            started_exited: false,
            outlived_host: true,
            host_grace: HumanDuration(Duration::from_secs(1)),
        });
        let t0 = Instant::now();
        let without_host = |p: u32| p == 100 || p == 101;
        l.tick(t0, &servers, &table, &without_host);
        l.tick(t0 + Duration::from_secs(1), &servers, &table, &without_host);
        assert!(matches!(
            &l.take_notes()[..],
            [Note {
                what: Happened::OutlivedHost { .. },
                ..
            }]
        ));
        l.root_exited(id, 0, boot_ns_now(), None);
        table.remove(100);
        table.remove(101);
        l.tick(t0 + Duration::from_secs(2), &servers, &table, &|_| false);
        assert!(l.take_notes().is_empty(), "no exit alert");
        assert_eq!(l.live(), 0, "the server is still known to be gone");
    }

    #[test]
    fn a_server_that_exits_with_its_host_did_not_outlive_it() {
        let (mut l, servers, mut table, id) = setup();
        l.take_notes();
        let t0 = Instant::now();
        l.tick(t0, &servers, &table, &|p| p == 100 || p == 101);
        l.root_exited(id, 0, boot_ns_now(), None);
        table.remove(100);
        table.remove(101);
        l.tick(t0 + HOST_GRACE, &servers, &table, &|_| false);
        assert!(matches!(
            &l.take_notes()[..],
            [Note {
                what: Happened::Exited { .. },
                ..
            }]
        ));
    }
}
