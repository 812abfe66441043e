//! What an action must never hit, and how many actions a server may cause:
//! the guards the user-space actor asks before it sends a signal.
//!
//! Never acted on: pid 1, the monitor and its ancestors (whoever started it),
//! the host that started the server (the root's parent, outside the tree),
//! and any process the kernel's tag map does not put in the server's tree.
use std::{
    collections::{HashMap, HashSet, VecDeque},
    time::{Duration, Instant},
};

/// Why a process is not acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Init,
    Monitor,
    Host,
    Untagged,
}

impl Refusal {
    /// The words after `skipped: ` in the alert.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Init => "pid 1",
            Refusal::Monitor => "the monitor or its ancestor",
            Refusal::Host => "the host that started the server",
            Refusal::Untagged => "untagged process",
        }
    }
}

/// The processes no action may hit, whatever a rule says.
#[derive(Clone, Debug, Default)]
pub struct Safety {
    /// The monitor and every ancestor it had when it started.
    protected: HashSet<u32>,
}

impl Safety {
    /// The monitor's own pid and its ancestors, from procfs.
    pub fn of_this_process() -> Safety {
        let mut protected = HashSet::new();
        let mut pid = std::process::id();
        while pid > 1 && protected.insert(pid) {
            match crate::procs::scan::read_process(pid) {
                Some(p) => pid = p.ppid,
                None => break,
            }
        }
        Safety { protected }
    }

    /// With these pids protected (tests).
    pub fn protecting(pids: impl IntoIterator<Item = u32>) -> Safety {
        Safety {
            protected: pids.into_iter().collect(),
        }
    }

    /// Whether `pid` may be acted on for server `server_id`: `tag` is the
    /// server id the kernel's tag map gives the pid now (`None` untagged),
    /// `host` the pid of the process that started the server.
    pub fn check(
        &self,
        pid: u32,
        server_id: u32,
        tag: Option<u32>,
        host: Option<u32>,
    ) -> Result<(), Refusal> {
        if pid <= 1 {
            return Err(Refusal::Init);
        }
        if self.protected.contains(&pid) {
            return Err(Refusal::Monitor);
        }
        if host == Some(pid) {
            return Err(Refusal::Host);
        }
        if server_id == 0 || tag != Some(server_id) {
            return Err(Refusal::Untagged);
        }
        Ok(())
    }
}

/// At most `max` actions per server in any `window`; beyond that the server's
/// actions are skipped (`rate-limited`) and the storm is reported once.
#[derive(Debug)]
pub struct RateLimit {
    max: u32,
    window: Duration,
    recent: HashMap<u32, VecDeque<Instant>>,
    /// Servers whose storm has been reported, with its last refusal: a
    /// window without refusals ends it.
    storming: HashMap<u32, Instant>,
}

/// What the limiter says about one more action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// Over the limit; `first` the first refusal of this storm (report it).
    No {
        first: bool,
    },
}

impl RateLimit {
    pub fn new(max: u32, window: Duration) -> RateLimit {
        RateLimit {
            max,
            window,
            recent: HashMap::new(),
            storming: HashMap::new(),
        }
    }

    pub fn max(&self) -> u32 {
        self.max
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Counts an action of server `server_id` at `now` if the limit allows it.
    pub fn admit(&mut self, server_id: u32, now: Instant) -> Admit {
        let times = self.recent.entry(server_id).or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.len() < self.max as usize {
            times.push_back(now);
            return Admit::Yes;
        }
        // A window without refusals ended the last storm: this is a new one.
        let first = self
            .storming
            .insert(server_id, now)
            .is_none_or(|last| now.saturating_duration_since(last) >= self.window);
        Admit::No { first }
    }

    /// Forgets an ended server.
    pub fn forget(&mut self, server_id: u32) {
        self.recent.remove(&server_id);
        self.storming.remove(&server_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_init_monitor_host_or_untagged() {
        let s = Safety::protecting([500, 400]);
        assert_eq!(s.check(1, 7, Some(7), None), Err(Refusal::Init));
        assert_eq!(s.check(0, 7, Some(7), None), Err(Refusal::Init));
        assert_eq!(s.check(500, 7, Some(7), None), Err(Refusal::Monitor));
        assert_eq!(s.check(400, 7, Some(7), None), Err(Refusal::Monitor));
        assert_eq!(s.check(90, 7, Some(7), Some(90)), Err(Refusal::Host));
        assert_eq!(s.check(91, 7, None, Some(90)), Err(Refusal::Untagged));
        // Tagged for another server: not this server's to kill.
        assert_eq!(s.check(91, 7, Some(8), Some(90)), Err(Refusal::Untagged));
        assert_eq!(s.check(91, 0, Some(0), None), Err(Refusal::Untagged));
        assert_eq!(s.check(91, 7, Some(7), Some(90)), Ok(()));
    }

    #[test]
    fn the_monitor_protects_itself_and_its_ancestors() {
        let s = Safety::of_this_process();
        let me = std::process::id();
        assert_eq!(s.check(me, 3, Some(3), None), Err(Refusal::Monitor));
        let parent = crate::procs::scan::read_process(me).unwrap().ppid;
        if parent > 1 {
            assert_eq!(s.check(parent, 3, Some(3), None), Err(Refusal::Monitor));
        }
    }

    #[test]
    fn storms_are_limited_per_server_and_reported_once() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(3, Duration::from_secs(10));
        for _ in 0..3 {
            assert_eq!(r.admit(1, t0), Admit::Yes);
        }
        assert_eq!(
            r.admit(1, t0 + Duration::from_secs(1)),
            Admit::No { first: true }
        );
        assert_eq!(
            r.admit(1, t0 + Duration::from_secs(2)),
            Admit::No { first: false }
        );
        // Another server has its own budget.
        assert_eq!(r.admit(2, t0 + Duration::from_secs(2)), Admit::Yes);
        // Once the first actions leave the window, actions go through again,
        // and the storm, still going, is not reported twice.
        assert_eq!(r.admit(1, t0 + Duration::from_secs(10)), Admit::Yes);
        assert_eq!(r.admit(1, t0 + Duration::from_secs(10)), Admit::Yes);
        assert_eq!(r.admit(1, t0 + Duration::from_secs(10)), Admit::Yes);
        assert_eq!(
            r.admit(1, t0 + Duration::from_secs(11)),
            Admit::No { first: false }
        );
        // A window without refusals ends the storm: the next one is
        // reported again.
        for _ in 0..3 {
            assert_eq!(r.admit(1, t0 + Duration::from_secs(30)), Admit::Yes);
        }
        assert_eq!(
            r.admit(1, t0 + Duration::from_secs(30)),
            Admit::No { first: true }
        );
        r.forget(1);
        assert_eq!(r.admit(1, t0 + Duration::from_secs(30)), Admit::Yes);
    }
}
