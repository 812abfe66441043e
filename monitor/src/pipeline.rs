//! The event path, as one sequence: a ring-buffer record is decoded, the
//! tracker enriches it into an [`Event`] (process, server, paths), the event
//! sink prints it (`--events`), and the rules turn it into alerts. Everything
//! the loop raises besides (lifecycle, reloads, health) goes through the same
//! alert sink.
use std::time::Instant;

use aya::maps::{MapData, RingBuf};
use monitor_common::KernelFailure;

use crate::{
    alerts::health,
    alerts::sink::AlertSink,
    control::conversation::{Command as ConversationCommand, What},
    decode,
    enforce::{
        actor::{Actor, Outcome, Scene},
        plan::KernelPlan,
    },
    event::Event,
    mcp::{
        conversation::Conversations,
        inventory::{Inventory, declared::Declared, scan::Patterns},
        jsonrpc,
    },
    metrics::{Snapshot, Tally},
    probes::{
        self,
        drops::{DropWatch, FailureWatch, LostKind},
    },
    procs::{TagStore, Tracker},
    rules::detector::{self, Compiled, Detector},
    rules::ruleset::Rule,
    sinks::events::EventSink,
};

/// The list of the rules naming discovery commands, whose bursts the tracker
/// counts (`mcp.recon.count`).
pub const DISCOVERY_LIST: &str = "mcp_discovery_binaries";

/// Records taken from the ring buffer per wake-up before other work gets a turn.
pub const BATCH: usize = 4096;

/// The event path: decode → tracker → event sink and rules → alerts.
pub struct Pipeline {
    pub tracker: Tracker,
    pub tags: probes::TagMap,
    pub sink: EventSink,
    pub alerts: AlertSink,
    pub detector: Detector,
    /// The rules the probes decide at the call (their slots).
    pub kernel_plan: KernelPlan,
    /// The servers' tools; its findings are events like the kernel's.
    pub inventory: Inventory,
    pub drops_watch: DropWatch,
    pub failure_watch: FailureWatch,
    pub counters: Counters,
    /// Prevent mode: what rules' actions do (`enforce`).
    pub actor: Actor,
    /// The stdio conversations the launch wrapper relays, which say which
    /// call each event of their server happened in.
    pub conversations: Conversations,
}

/// What the event loop counts for metrics: plain fields, no locks.
pub struct Counters {
    started: Instant,
    events: Tally,
    reloads: Tally,
    /// Rules' actions by result (`killed`, `skipped`, …, `would`).
    actions: Tally,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            started: Instant::now(),
            events: Tally::default(),
            reloads: Tally::default(),
            actions: Tally::default(),
        }
    }
}

impl Pipeline {
    /// Takes what a launch wrapper's relay sent: a conversation opened or
    /// closed, or one message of it.
    pub fn conversation(&mut self, cmd: ConversationCommand) {
        let clock = self.tracker.enricher.clock();
        match cmd.what {
            What::Open(reply) => {
                // The wrapper opens it before it registers: a process that
                // is a server already (or part of one) cannot speak for its
                // conversation.
                let tagged = self
                    .tracker
                    .table
                    .get(cmd.pid)
                    .is_some_and(|p| p.server_id != 0);
                let _ = reply.send(!tagged && self.conversations.open(cmd.pid));
            }
            What::Message(copy, ack) => {
                let time_ns = clock.epoch_ns(copy.t);
                let server = self.server_of(cmd.pid);
                self.conversations.message(
                    cmd.pid,
                    copy,
                    time_ns,
                    server.as_ref().map(|(n, c)| (n.as_str(), c.as_str())),
                    &mut self.inventory,
                );
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
                // What a tool list raised (a rug pull, a poisoned tool), as
                // events of the server's process.
                for mut ev in self.inventory.take_events() {
                    self.server_fields(cmd.pid, &mut ev);
                    self.event(&ev);
                }
                for (server, why) in self.inventory.take_unreadable() {
                    let alert = health::inventory_unreadable(&server, &why, self.alerts.hostname());
                    self.alerts.raise_health(alert);
                }
                self.sink.flush();
            }
            What::Closed => {
                if let Some(c) = self.conversations.get(cmd.pid) {
                    log::info!("conversation of pid {} ended: {:?}", cmd.pid, c.figures);
                }
                self.conversations
                    .closed(cmd.pid, clock.epoch_ns(jsonrpc::boottime_ns()));
            }
        }
    }

    /// The name and command line of the server whose root process is
    /// `pid`: how the tool inventory knows a server.
    fn server_of(&self, pid: u32) -> Option<(String, String)> {
        let p = self.tracker.table.get(pid).filter(|p| p.server_id != 0)?;
        let server = self.tracker.tagger.servers.get(p.server_id)?;
        Some((server.name.clone(), p.argv.join(" ")))
    }

    /// The process and server fields of an event about the server whose
    /// root process is `pid` (the tool inventory's events).
    fn server_fields(&self, pid: u32, ev: &mut Event) {
        let Some(p) = self.tracker.table.get(pid) else {
            return;
        };
        let server = self.tracker.tagger.servers.get(p.server_id);
        ev.pid = p.pid;
        ev.tid = p.pid;
        ev.ppid = p.ppid;
        ev.name = p.comm.clone();
        ev.exepath = p.exepath.clone();
        ev.argv = p.argv.clone();
        let args = p.argv.get(1..).unwrap_or_default().join(" ");
        ev.cmdline = format!("{} {args}", p.comm).trim_end().into();
        ev.args = args.into();
        ev.cwd = p.cwd.clone();
        ev.uid = p.uid;
        ev.gid = p.gid;
        ev.container_id = p.container_id.clone();
        ev.mcp_root_pid = Some(pid);
        if let Some(s) = server {
            ev.mcp_host = s.host.clone();
            ev.mcp_tag_source = Some(crate::procs::servers::source_name(s.source).to_owned());
        }
    }

    /// Declared versus done: what the tools in flight declare about
    /// themselves (`mcp.tool.read_only`, `mcp.tool.open_world`,
    /// `mcp.tool.destructive`), from the server's last tool list.
    fn declare(&self, ev: &mut Event) {
        if ev.mcp_tool_name.is_empty() {
            return;
        }
        let Some((name, command)) = ev.mcp_root_pid.and_then(|root| self.server_of(root)) else {
            return;
        };
        let hints: Vec<_> = ev
            .mcp_tool_name
            .iter()
            .map(|tool| self.inventory.hints(&name, &command, tool))
            .collect();
        Declared::of(&hints).apply(ev);
    }

    /// Raises the servers' lifecycle alerts the tracker noted.
    pub fn lifecycle_alerts(&mut self) {
        for note in self.tracker.take_lifecycle_notes() {
            if matches!(note.what, crate::procs::lifecycle::Happened::Exited { .. }) {
                // No process carries its id any more: a restart need not name it.
                self.tags.forget_server(note.server.id);
                self.tracker.enricher.activity.forget(note.server.id);
            }
            let mut alert = health::from_note(&note, self.alerts.hostname());
            if let crate::procs::lifecycle::Happened::Exited { status, .. } = note.what {
                // Ended by SIGKILL (or its end not seen) after an action sent one.
                let signal = status.and_then(|s| crate::procs::lifecycle::decode_status(s).1);
                if let Some(rule) = self.actor.killed_by(note.server.id)
                    && (status.is_none() || signal == Some(libc::SIGKILL))
                {
                    health::killed_by(&mut alert, rule);
                }
                self.actor.forget(note.server.id);
            }
            self.alerts.lifecycle(alert);
        }
    }

    /// Puts the kernel plan of newly installed rules in force and says
    /// what enforce mode does with them.
    pub fn set_kernel_plan(&mut self, plan: KernelPlan) {
        self.kernel_plan = plan;
        self.say_enforcement();
    }

    /// Says on stderr whether rules' actions act, and what enforce mode
    /// cannot do as the rules ask (at start and after each reload, once the
    /// kernel plan is in place).
    pub fn say_enforcement(&self) {
        let acting: Vec<&Rule> = self
            .detector
            .rules()
            .rules()
            .iter()
            .filter(|r| r.enabled() && r.action().is_some())
            .collect();
        // Denies the probes make need no warning; the others kill.
        let unkept = acting
            .iter()
            .filter_map(|r| Some((r.name(), r.action()?)))
            .filter(|(name, _)| !self.kernel_plan.denies_in_kernel(name));
        let mode = if self.actor.enabled() {
            "enforce mode: rules' actions act"
        } else {
            "dry run: alerts say what rules' actions would do (enforce with --enforce)"
        };
        eprintln!(
            "mcp-monitor: {mode}; {} rule(s) with an action",
            acting.len()
        );
        for w in self.actor.warnings(unkept) {
            eprintln!("mcp-monitor: warning: {w}");
        }
    }

    /// Puts a reload's rules in force, reporting what changed, or reports why
    /// the old rules stay; true when the new rules are in force.
    pub fn reloaded(&mut self, why: &str, compiled: Compiled) -> bool {
        match compiled.map(|(set, warnings)| (self.detector.install(set), warnings)) {
            Ok((summary, warnings)) => {
                self.tracker
                    .enricher
                    .activity
                    .set_discovery_commands(self.detector.rules().list_items(DISCOVERY_LIST));
                self.inventory
                    .set_patterns(inventory_patterns(&self.detector));
                // As at start: a reload's warnings are said, not dropped.
                for w in &warnings {
                    eprintln!("mcp-monitor: warning: {w}");
                }
                eprintln!(
                    "mcp-monitor: rules reloaded ({why}): {} rules; added {:?}, removed {:?}, changed {:?}",
                    self.detector.rules().rules().len(),
                    summary.added,
                    summary.removed,
                    summary.changed
                );
                self.counters.reloads.add("ok", 1);
                for w in self
                    .alerts
                    .gate
                    .rules_reloaded(self.detector.rules(), &summary.changed)
                {
                    eprintln!("mcp-monitor: warning: {w}");
                }
                // A reload that changed nothing is said on stderr only.
                if !(summary.added.is_empty()
                    && summary.removed.is_empty()
                    && summary.changed.is_empty())
                {
                    let alert = health::rules_reloaded(
                        why,
                        self.detector.rules().rules().len(),
                        &summary,
                        self.alerts.hostname(),
                    );
                    self.alerts.raise_health(alert);
                }
                true
            }
            Err(e) => {
                eprintln!(
                    "mcp-monitor: rules reload ({why}) failed; the previous rules stay in force:"
                );
                detector::report_load_error(&e);
                self.counters.reloads.add("rejected", 1);
                let alert = health::rules_rejected(why, &e, self.alerts.hostname());
                self.alerts.raise_health(alert);
                false
            }
        }
    }

    /// The figures the metrics endpoint shows.
    pub fn snapshot(
        &self,
        lost: &[(LostKind, u64)],
        failures: &[(KernelFailure, u64)],
    ) -> Snapshot {
        let mut kernel_lost = Tally::default();
        for (kind, n) in lost {
            kernel_lost.add(&kind.key(), *n);
        }
        let mut kernel_failures = Tally::default();
        for (kind, n) in failures {
            kernel_failures.add(kind.name(), *n);
        }
        Snapshot {
            uptime_seconds: self.counters.started.elapsed().as_secs_f64(),
            events: self.counters.events.clone(),
            kernel_lost,
            kernel_failures,
            undecodable_records: self.drops_watch.bad_total,
            alerts: self.alerts.figures(),
            tracking: {
                let mut t = self.tracker.figures();
                let c = &self.conversations.totals;
                t.conversations = self.conversations.len() as u64;
                for (kind, n) in [
                    ("message", c.messages),
                    ("relay_dropped", c.relay_dropped),
                    ("not_json", c.not_json),
                    ("cut", c.cut),
                    ("evicted", c.evicted),
                ] {
                    t.conversation_messages.add(kind, n);
                }
                t
            },
            rules_loaded: self.detector.rules().rules().len() as u64,
            rule_reloads: self.counters.reloads.clone(),
            actions: self.counters.actions.clone(),
        }
    }

    /// Takes what `new` changes in the parts that can change while running:
    /// each compares with what it runs and changes only what differs.
    /// Returns the sinks' configuration now in force (the old one if the new
    /// one could not be started).
    pub fn reconfigure(
        &mut self,
        new: &crate::config::Config,
        rules: crate::rules::LoadOptions,
    ) -> crate::config::SinksConfig {
        self.detector.reconfigure(rules);
        self.sink.reconfigure(new.sinks.stdout.events);
        for w in self
            .alerts
            .reconfigure_suppression(&new.suppression, self.detector.rules())
        {
            eprintln!("mcp-monitor: warning: {w}");
        }
        self.tracker.reconfigure(&new.lifecycle);
        self.actor.reconfigure(&new.enforcement);
        match self.alerts.reconfigure(&new.sinks) {
            Ok(()) => new.sinks.clone(),
            Err(e) => {
                eprintln!("mcp-monitor: {e:#}");
                self.alerts.sinks_config().clone()
            }
        }
    }

    /// Once a second: drop reports, the process table's upkeep, servers'
    /// lifecycle, and the alert sink's timers.
    pub fn tick(&mut self, lost: &[(LostKind, u64)], failures: &[(KernelFailure, u64)]) {
        if let Some(lost) = self.drops_watch.check(lost) {
            let alert = lost.alert(self.alerts.hostname());
            self.alerts.raise_health(alert);
        }
        if let Some(alert) = self.failure_watch.check(failures, self.alerts.hostname()) {
            self.alerts.raise_health(alert);
        }
        self.inventory_events();
        self.tracker.prune();
        let now = self
            .tracker
            .enricher
            .clock()
            .epoch_ns(jsonrpc::boottime_ns());
        for (server, call) in self.conversations.settled(now) {
            let record = crate::mcp::calls::record(&server, &call, self.alerts.hostname());
            self.alerts.call_record(record);
        }
        self.conversations.prune(now);
        self.tracker.lifecycle_tick(Instant::now());
        self.lifecycle_alerts();
        self.alerts.tick();
    }

    /// At shutdown: what is buffered goes out, the sinks get `wait` to
    /// deliver, and what was lost over the run is said.
    pub fn finish(mut self, wait: std::time::Duration, lost: &[(LostKind, u64)]) {
        self.sink.flush();
        // The records of the calls answered lately go out without waiting.
        for (server, call) in self.conversations.settled(u64::MAX) {
            let record = crate::mcp::calls::record(&server, &call, self.alerts.hostname());
            self.alerts.call_record(record);
        }
        self.alerts.finish();
        self.alerts.shutdown(wait);
        self.drops_watch.final_report(lost);
    }

    /// Handles up to [`BATCH`] records; returns how many there were.
    pub fn drain(&mut self, ring: &mut RingBuf<MapData>) -> usize {
        let mut n = 0;
        while n < BATCH {
            let Some(item) = ring.next() else { break };
            n += 1;
            match decode::decode(&item) {
                Ok(record) => {
                    if let Some(mut ev) = self.tracker.ingest(record, &mut self.tags) {
                        if let Some(slot) = ev.enforced_slot {
                            ev.enforced_by = self.kernel_plan.rule_of(slot).map(str::to_owned);
                        }
                        self.conversations.attribute(&mut ev);
                        self.declare(&mut ev);
                        self.event(&ev);
                    }
                }
                Err(e) => self.drops_watch.bad_record(&e),
            }
        }
        self.inventory_events();
        self.sink.flush();
        self.lifecycle_alerts();
        n
    }

    /// One event: counted, printed (`--events`), matched by the rules, and
    /// acted on by the rules that have an action.
    fn event(&mut self, ev: &Event) {
        self.counters.events.add(&ev.evt_type, 1);
        self.sink.event(ev);
        // The kernel acted on a narrower condition than the rule's: it
        // should match too. Should the two ever disagree (a bind mount gives
        // a file another name), the action is still reported under its rule.
        let rules = self.detector.rules();
        let mut matched: Vec<&Rule> = rules.matching(ev).collect();
        if let Some(r) = ev.enforced_by.as_deref().and_then(|r| rules.rule(r))
            && !matched.iter().any(|m| m.name() == r.name())
        {
            matched.push(r);
        }
        let sid = if matched.is_empty() {
            None
        } else {
            self.tracker.server_id_of(ev)
        };
        for rule in matched {
            // An exception of the server's policy: no alert, no action
            // (unless the kernel already acted).
            let by_kernel = ev.enforced_by.as_deref() == Some(rule.name());
            if !by_kernel && sid.is_some_and(|id| self.tracker.allowed(id, rule.name(), ev)) {
                continue;
            }
            let acted = act(&mut self.actor, &self.tracker, &self.tags, rule, sid, ev);
            if let Some(o) = &acted {
                self.counters.actions.add(o.kind(), 1);
            }
            self.conversations.alert_raised(ev, rule.name());
            self.alerts.raise_match(rule, ev, acted.as_ref());
        }
        for storm in self.actor.take_storms() {
            let alert = health::actions_rate_limited(&storm, self.alerts.hostname());
            self.alerts.raise_health(alert);
        }
    }

    /// The events the tool inventory raised (rug pulls, poisoned
    /// descriptions) since last time, through the same path.
    pub fn inventory_events(&mut self) {
        for ev in self.inventory.take_events() {
            self.event(&ev);
        }
    }
}

/// The poisoning scan's word lists, from the rules in force.
pub fn inventory_patterns(detector: &Detector) -> Patterns {
    Patterns::of(detector.rules())
}

/// What `rule`'s action does about `ev` of server `sid` (`None` for a rule
/// without action).
fn act(
    actor: &mut Actor,
    tracker: &Tracker,
    tags: &probes::TagMap,
    rule: &Rule,
    sid: Option<u32>,
    ev: &crate::event::Event,
) -> Option<Outcome> {
    let action = rule.action()?;
    let id = sid.unwrap_or(0);
    let tag_of = |pid: u32| TagStore::get(tags, pid).map(|t| t.server_id);
    let tagged = || -> Vec<u32> {
        tags.entries()
            .into_iter()
            .filter(|(_, t)| t.server_id == id && id != 0)
            .map(|(pid, _)| pid)
            .collect()
    };
    let scene = Scene {
        server_id: id,
        server: ev.mcp_server.as_deref().unwrap_or(""),
        root_pid: ev.mcp_root_pid.unwrap_or(0),
        host_pid: sid.and_then(|id| tracker.host_of(id)),
        enforce: sid.is_none_or(|id| tracker.enforcement_of(id).enabled),
        table: &tracker.table,
        tag_of: &tag_of,
        tagged: &tagged,
    };
    Some(actor.act(rule.name(), action, ev, &scene, Instant::now()))
}
