//! The user-space actor: what a matching rule's action does once its event
//! has reached user space, and what the alert says about it.
//!
//! In dry run (no `--enforce`) it does nothing and the alert carries the
//! would-word. In enforce mode, when the probe has already acted at the call
//! (`evt.enforced`), the alert reports that; otherwise the actor sends
//! SIGKILL through a pidfd, after [`Safety`] and the per-server
//! [`RateLimit`] agree and after checking that the pid still names the
//! process of the event (tagged for the server, started no later than the
//! event). `deny` cannot be done from user space: it kills instead.
use std::{
    collections::{HashMap, HashSet},
    time::Instant,
};

use super::{
    Action, EnforcementConfig,
    plan::Latency,
    safety::{Admit, RateLimit, Safety},
};
use crate::{event::Event, procs::table::ProcessTable};

/// How often kill-server looks for the server's processes again (children
/// forked while it was killing their parents).
const TREE_PASSES: usize = 3;

/// What a rule's action did, for its alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `kill`, `kill-server`, `deny`, or the would-word in dry run.
    pub action: &'static str,
    /// `killed`, `denied`, `failed: …`, `skipped: …`; `None` in dry run.
    pub result: Option<String>,
    pub latency: Option<Latency>,
}

impl Outcome {
    /// The result without its reason, for metrics: `killed`, `denied`,
    /// `failed`, `skipped`, or `would` in dry run.
    pub fn kind(&self) -> &str {
        match &self.result {
            None => "would",
            Some(r) => r.split(':').next().unwrap_or(r),
        }
    }
}

/// The event's server as the tracker knows it.
pub struct Scene<'a> {
    pub server_id: u32,
    pub server: &'a str,
    pub root_pid: u32,
    /// The process that started the server (the root's parent).
    pub host_pid: Option<u32>,
    /// The server's policy lets actions act (`enforce:`, default true).
    pub enforce: bool,
    pub table: &'a ProcessTable,
    /// The server id the kernel's tag map gives a pid now.
    pub tag_of: &'a dyn Fn(u32) -> Option<u32>,
    /// Every pid the kernel's tag map gives this server now (read only for
    /// kill-server).
    pub tagged: &'a dyn Fn() -> Vec<u32>,
}

/// A storm of actions the rate limit cut short, to report once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storm {
    pub server: String,
    pub rule: String,
    pub max: u32,
    pub window: std::time::Duration,
}

/// Sends SIGKILL to one process after `verify` accepted the process the
/// handle names (tests record instead).
pub trait Killer {
    fn kill(&mut self, pid: u32, verify: &dyn Fn() -> Result<(), String>) -> Result<(), String>;
}

/// The real one: pidfd_open, verify, pidfd_send_signal.
pub struct Pidfd;

impl Killer for Pidfd {
    fn kill(&mut self, pid: u32, verify: &dyn Fn() -> Result<(), String>) -> Result<(), String> {
        // SAFETY: plain system calls with integer arguments; the fd is ours
        // and closed below.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            return Err(gone_or(std::io::Error::last_os_error()));
        }
        let fd = fd as libc::c_int;
        // The handle holds this process: if the pid is reused from now on,
        // the signal still goes to it (or nowhere, once it is gone). What
        // it holds is checked once, after it is held.
        let result = verify().and_then(|()| {
            // SAFETY: as above; no siginfo.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd,
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            if rc < 0 {
                Err(gone_or(std::io::Error::last_os_error()))
            } else {
                Ok(())
            }
        });
        // SAFETY: closing the fd opened above.
        unsafe { libc::close(fd) };
        result
    }
}

fn gone_or(e: std::io::Error) -> String {
    if e.raw_os_error() == Some(libc::ESRCH) {
        "process already gone".into()
    } else {
        e.to_string()
    }
}

/// Acts on matches with an action (see the module doc).
pub struct Actor {
    enabled: bool,
    safety: Safety,
    limit: RateLimit,
    killer: Box<dyn Killer>,
    /// Servers whose root this actor killed, and by which rule.
    killed_roots: HashMap<u32, String>,
    storms: Vec<Storm>,
}

impl Actor {
    /// The daemon's actor: protects this process and its ancestors.
    pub fn new(config: &EnforcementConfig) -> Actor {
        Actor::with(config, Safety::of_this_process(), Box::new(Pidfd))
    }

    pub fn with(config: &EnforcementConfig, safety: Safety, killer: Box<dyn Killer>) -> Actor {
        Actor {
            enabled: config.enabled,
            safety,
            limit: RateLimit::new(config.max_actions, config.window.0),
            killer,
            killed_roots: HashMap::new(),
            storms: Vec::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// New settings (SIGHUP); the counts so far are kept when the limit is
    /// the same.
    pub fn reconfigure(&mut self, config: &EnforcementConfig) {
        self.enabled = config.enabled;
        if self.limit.max() != config.max_actions || self.limit.window() != config.window.0 {
            self.limit = RateLimit::new(config.max_actions, config.window.0);
        }
    }

    /// What enforce mode cannot do as the rules ask, said once per load:
    /// `deny` decided in user space (`rules`: those, with their actions)
    /// kills instead.
    pub fn warnings<'a>(&self, rules: impl IntoIterator<Item = (&'a str, Action)>) -> Vec<String> {
        if !self.enabled {
            return Vec::new();
        }
        rules
            .into_iter()
            .filter(|(_, a)| *a == Action::Deny)
            .map(|(name, _)| {
                format!(
                    "rule {name}: deny cannot fail this call on this kernel (it needs BPF LSM for files, \
                     the cgroup connect hook for connects); it kills instead"
                )
            })
            .collect()
    }

    /// Does what `rule`'s `action` says about `ev` and says what was done.
    pub fn act(
        &mut self,
        rule: &str,
        action: Action,
        ev: &Event,
        scene: &Scene<'_>,
        now: Instant,
    ) -> Outcome {
        if !self.enabled {
            return Outcome {
                action: action.would(),
                result: None,
                latency: None,
            };
        }
        let outcome = |result: String, latency: Latency| Outcome {
            action: action.as_str(),
            result: Some(result),
            latency: Some(latency),
        };
        let by_kernel = ev.enforced.as_deref();
        let by_this_rule = ev.enforced_by.as_deref() == Some(rule);
        if let Some(done) = by_kernel.filter(|_| by_this_rule) {
            // The probe acted at the call; kill-server still ends the rest
            // of the tree from here. A root it killed is the rule's to name
            // in the server's exit alert.
            if done == "killed" && ev.pid == scene.root_pid {
                self.killed_roots.insert(scene.server_id, rule.to_owned());
            }
            if action == Action::KillServer && scene.enforce {
                self.kill_tree(rule, scene, now, Some(ev.pid));
            }
            return outcome(done.to_owned(), Latency::Kernel);
        }
        if !scene.enforce {
            return outcome("skipped: server policy".into(), Latency::User);
        }
        if let Some(done) = by_kernel
            && action != Action::KillServer
        {
            let by = ev.enforced_by.as_deref().unwrap_or("another rule");
            return outcome(
                format!("skipped: {done} in the kernel by rule {by}"),
                Latency::Kernel,
            );
        }
        let result = match action {
            Action::Kill | Action::Deny => self.kill_one(rule, ev, scene, now),
            Action::KillServer => self.kill_tree(rule, scene, now, None),
        };
        outcome(result, Latency::User)
    }

    /// SIGKILL for the event's process.
    fn kill_one(&mut self, rule: &str, ev: &Event, scene: &Scene<'_>, now: Instant) -> String {
        if let Err(r) = self.safety.check(
            ev.pid,
            scene.server_id,
            (scene.tag_of)(ev.pid),
            scene.host_pid,
        ) {
            return format!("skipped: {}", r.as_str());
        }
        if let Some(skipped) = self.admit(rule, scene, now) {
            return skipped;
        }
        let known_start = scene.table.get(ev.pid).map_or(0, |p| p.start_time);
        let event_boot_ns = to_boot_ns(ev.time_ns);
        let (pid, sid, tag_of) = (ev.pid, scene.server_id, scene.tag_of);
        let verify = move || same_process(pid, sid, tag_of, known_start, event_boot_ns);
        match self.killer.kill(ev.pid, &verify) {
            Ok(()) => {
                if ev.pid == scene.root_pid {
                    self.killed_roots.insert(scene.server_id, rule.to_owned());
                }
                "killed".into()
            }
            Err(e) => format!("failed: {e}"),
        }
    }

    /// SIGKILL for every process of the server's tree but `done` (already
    /// killed in the kernel).
    fn kill_tree(
        &mut self,
        rule: &str,
        scene: &Scene<'_>,
        now: Instant,
        done: Option<u32>,
    ) -> String {
        if let Some(skipped) = self.admit(rule, scene, now) {
            return skipped;
        }
        let (mut killed, mut first_problem) = (0, None);
        let mut seen: HashSet<u32> = done.into_iter().collect();
        // A process may fork between the look and the kill: its child is
        // tagged by the kernel, and the next pass finds it.
        for _ in 0..TREE_PASSES {
            let mut pids: Vec<u32> = scene
                .table
                .pids()
                .filter(|p| {
                    scene
                        .table
                        .get(*p)
                        .is_some_and(|i| i.server_id == scene.server_id)
                })
                .chain((scene.tagged)())
                .chain([scene.root_pid])
                .filter(|p| seen.insert(*p))
                .collect();
            if pids.is_empty() {
                break;
            }
            pids.sort_unstable();
            // The root first: a server that respawns its workers loses its head.
            if let Some(i) = pids.iter().position(|p| *p == scene.root_pid) {
                pids[..=i].rotate_right(1);
            }
            for pid in pids {
                let tag = (scene.tag_of)(pid);
                if let Err(r) = self.safety.check(pid, scene.server_id, tag, scene.host_pid) {
                    // Untagged: gone (its exit ended its tag), nothing to say.
                    if tag.is_some() {
                        first_problem.get_or_insert_with(|| format!("skipped: {}", r.as_str()));
                    }
                    continue;
                }
                let known_start = scene.table.get(pid).map_or(0, |p| p.start_time);
                let (sid, tag_of) = (scene.server_id, scene.tag_of);
                let verify = move || same_process(pid, sid, tag_of, known_start, u64::MAX);
                match self.killer.kill(pid, &verify) {
                    Ok(()) => killed += 1,
                    Err(e) => {
                        first_problem.get_or_insert_with(|| format!("failed: {e}"));
                    }
                }
            }
        }
        if killed > 0 || done.is_some() {
            self.killed_roots.insert(scene.server_id, rule.to_owned());
            return "killed".into();
        }
        first_problem.unwrap_or_else(|| "failed: no process of the server left".into())
    }

    /// One more action for the server, or why not.
    fn admit(&mut self, rule: &str, scene: &Scene<'_>, now: Instant) -> Option<String> {
        match self.limit.admit(scene.server_id, now) {
            Admit::Yes => None,
            Admit::No { first } => {
                if first {
                    self.storms.push(Storm {
                        server: scene.server.to_owned(),
                        rule: rule.to_owned(),
                        max: self.limit.max(),
                        window: self.limit.window(),
                    });
                }
                Some("skipped: rate-limited".into())
            }
        }
    }

    /// Storms cut short since the last call, to report as health alerts.
    pub fn take_storms(&mut self) -> Vec<Storm> {
        std::mem::take(&mut self.storms)
    }

    /// The rule whose action killed server `id`'s root, if one did.
    pub fn killed_by(&self, server_id: u32) -> Option<&str> {
        self.killed_roots.get(&server_id).map(String::as_str)
    }

    /// Forgets an ended server.
    pub fn forget(&mut self, server_id: u32) {
        self.killed_roots.remove(&server_id);
        self.limit.forget(server_id);
    }
}

/// Whether `pid` is still the process meant: tagged for server `sid`, and
/// either with the start time the tracker knows or started no later than the
/// event (`event_boot_ns`; a reused pid started after it).
fn same_process(
    pid: u32,
    sid: u32,
    tag_of: &dyn Fn(u32) -> Option<u32>,
    known_start: u64,
    event_boot_ns: u64,
) -> Result<(), String> {
    if tag_of(pid) != Some(sid) {
        return Err("pid no longer tagged for the server".into());
    }
    let start = crate::procs::scan::start_time(pid).ok_or("process already gone")?;
    if known_start != 0 && start != known_start {
        return Err("pid reused by another process".into());
    }
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let start_ns = start.saturating_mul(1_000_000_000) / hz;
    // One tick of slack: start times are counted in ticks.
    if start_ns > event_boot_ns.saturating_add(1_000_000_000 / hz) {
        return Err("pid reused by another process".into());
    }
    Ok(())
}

/// An event's wall-clock time as boot time (the clock of start times).
fn to_boot_ns(epoch_ns: u64) -> u64 {
    let real_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let boot_now = crate::procs::lifecycle::boot_ns_now();
    boot_now.saturating_sub(real_now.saturating_sub(epoch_ns))
}

#[cfg(test)]
mod tests;
