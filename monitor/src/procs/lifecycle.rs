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

use super::{servers::ServerInfo, table::ProcessTable};

/// How long a server's tree may keep running after its host is gone before it
/// counts as having outlived it (a server normally exits when its stdin closes).
pub const HOST_GRACE: Duration = Duration::from_secs(5);

/// The AI host (or the launch wrapper's parent) that started a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostProcess {
    pub pid: u32,
    pub name: String,
    /// Start time in clock ticks since boot, to tell a reused pid apart.
    pub start_time: u64,
}

/// What happened to a server.
#[derive(Clone, Debug, PartialEq)]
pub enum Note {
    Started {
        server: ServerInfo,
        cmdline: String,
        host_process: Option<HostProcess>,
        /// Tagged while the monitor started: it was already running.
        at_start: bool,
    },
    /// Its last process ended.
    Exited {
        server: ServerInfo,
        /// The root's raw wait status, when its exit was seen.
        status: Option<i32>,
        lifetime: Duration,
        events: u64,
    },
    /// Its host ended [`HOST_GRACE`] ago and processes of its tree still run.
    OutlivedHost {
        server: ServerInfo,
        host_process: HostProcess,
        /// Its processes still running.
        running: Vec<u32>,
    },
}

struct Life {
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
    live: HashMap<u32, Life>,
    notes: Vec<Note>,
    /// Set once the start-up tagging is done.
    running: bool,
}

impl Lifecycle {
    /// A server was tagged.
    pub fn started(
        &mut self,
        server: &ServerInfo,
        cmdline: String,
        root_start_ticks: u64,
        host: Option<HostProcess>,
    ) {
        let now = boot_ns_now();
        let started_boot_ns = ticks_to_ns(root_start_ticks)
            .filter(|&ns| ns > 0 && ns <= now)
            .unwrap_or(now);
        self.live.insert(
            server.id,
            Life {
                started_boot_ns,
                events: 0,
                host: host.clone(),
                root_exit: None,
                host_gone_since: None,
                outlived_reported: false,
            },
        );
        self.notes.push(Note::Started {
            server: server.clone(),
            cmdline,
            host_process: host,
            at_start: !self.running,
        });
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

    /// The root process of server `id` exited with `status` at `boot_ns`.
    pub fn root_exited(&mut self, id: u32, status: i32, boot_ns: u64) {
        if let Some(l) = self.live.get_mut(&id)
            && l.root_exit.is_none()
        {
            l.root_exit = Some((status, boot_ns));
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
                self.notes.push(Note::Exited {
                    server: server.clone(),
                    status: life.root_exit.map(|(s, _)| s),
                    lifetime: Duration::from_nanos(end_ns.saturating_sub(life.started_boot_ns)),
                    events: life.events,
                });
                ended.push(*id);
                continue;
            }
            if life.outlived_reported {
                continue;
            }
            let Some(host) = &life.host else { continue };
            if alive_as(host, alive) {
                life.host_gone_since = None;
                continue;
            }
            let since = *life.host_gone_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= HOST_GRACE {
                let mut running = running(*id, server.root_pid, root_runs);
                running.sort_unstable();
                self.notes.push(Note::OutlivedHost {
                    server: server.clone(),
                    host_process: host.clone(),
                    running,
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
        l.started(
            servers.get(id).unwrap(),
            "npx fs".into(),
            0,
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
            matches!(&notes[..], [Note::Started { at_start: false, cmdline, .. }] if cmdline == "npx fs")
        );
        l.event(id);
        l.event(id);
        let t0 = Instant::now();
        // The root exits; its child still runs: not over yet.
        l.root_exited(id, 3 << 8, boot_ns_now());
        table.remove(100);
        let alive = |p: u32| p == 101 || p == 50;
        l.tick(t0, &servers, &table, &alive);
        assert!(l.take_notes().is_empty());
        assert_eq!(l.live(), 1);
        // The child ends too.
        table.remove(101);
        l.tick(t0, &servers, &table, &|p| p == 50);
        let notes = l.take_notes();
        let [Note::Exited { status, events, .. }] = &notes[..] else {
            panic!("{notes:?}")
        };
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
            [Note::Exited { status: None, .. }]
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
            Note::OutlivedHost {
                server,
                host_process,
                running,
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
    fn a_server_that_exits_with_its_host_did_not_outlive_it() {
        let (mut l, servers, mut table, id) = setup();
        l.take_notes();
        let t0 = Instant::now();
        l.tick(t0, &servers, &table, &|p| p == 100 || p == 101);
        l.root_exited(id, 0, boot_ns_now());
        table.remove(100);
        table.remove(101);
        l.tick(t0 + HOST_GRACE, &servers, &table, &|_| false);
        assert!(matches!(&l.take_notes()[..], [Note::Exited { .. }]));
    }
}
