//! Where alerts go: stdout, the alert log, the live socket, a webhook; several
//! at once.
//!
//! Detection must never wait for a sink: the event loop hands each alert to
//! every sink's bounded queue with `try_send` and moves on. Each sink drains its
//! queue on its own thread, so a full disk, a stuck webhook or a slow terminal
//! cost that sink alerts (counted as overflow), never the others and never the
//! kernel ring buffer. Counters live in [`SinkStats`], which other code (health
//! alerts, metrics) reads without locks.
pub mod config;
pub mod events;
pub mod log;
pub mod sink;
pub mod socket;
pub mod stdout;
pub mod webhook;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError},
    },
    thread,
    time::{Duration, Instant},
};

use config::SinksConfig;
use sink::Msg;
pub use sink::{Delivery, POLL, Sink, SinkContext, Waker};

/// The kinds of sink, each with a fixed slot in [`SinkStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkKind {
    Stdout,
    Log,
    Socket,
    Webhook,
}

impl SinkKind {
    pub const ALL: [SinkKind; 4] = [
        SinkKind::Stdout,
        SinkKind::Log,
        SinkKind::Socket,
        SinkKind::Webhook,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SinkKind::Stdout => "stdout",
            SinkKind::Log => "log",
            SinkKind::Socket => "socket",
            SinkKind::Webhook => "webhook",
        }
    }
}

/// Counters of one sink.
#[derive(Debug, Default)]
pub struct Counters {
    /// Alerts handed on (written, sent, posted).
    pub delivered: AtomicU64,
    /// Alerts dropped because the sink's queue was full.
    pub overflow: AtomicU64,
    /// Alerts the sink took but could not deliver (webhook out of retries, a
    /// write error), and live clients dropped for being slow.
    pub failed: AtomicU64,
    /// Alerts put in the queue, and taken out of it by the sink's thread: the
    /// difference is what waits (for metrics).
    pub queued: AtomicU64,
    pub taken: AtomicU64,
}

impl Counters {
    /// Alerts waiting in the queue now.
    pub fn depth(&self) -> u64 {
        let taken = self.taken.load(Ordering::Relaxed);
        self.queued.load(Ordering::Relaxed).saturating_sub(taken)
    }
}

/// Counters of every sink, for the life of the daemon (they survive reloads).
#[derive(Debug, Default)]
pub struct SinkStats {
    counters: [Counters; 4],
}

impl SinkStats {
    pub fn of(&self, kind: SinkKind) -> &Counters {
        &self.counters[kind as usize]
    }

    /// `(sink, delivered, overflow, failed)` for each kind.
    pub fn snapshot(&self) -> Vec<(&'static str, u64, u64, u64)> {
        SinkKind::ALL
            .iter()
            .map(|k| {
                let c = self.of(*k);
                (
                    k.name(),
                    c.delivered.load(Ordering::Relaxed),
                    c.overflow.load(Ordering::Relaxed),
                    c.failed.load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}

/// Alerts a sink takes from its queue before its idle work gets a turn.
const RUN: usize = 256;
/// Lost alerts are reported at most this often.
const LOSS_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// A running sink: its queue and its thread.
struct Running {
    kind: SinkKind,
    tx: SyncSender<Msg>,
    stopping: Arc<AtomicBool>,
    done: Receiver<()>,
}

impl Running {
    fn start(
        kind: SinkKind,
        queue: usize,
        stats: Arc<SinkStats>,
        make: impl FnOnce(SinkContext) -> anyhow::Result<Box<dyn Sink>>,
    ) -> anyhow::Result<Running> {
        let (tx, rx) = mpsc::sync_channel(queue);
        let stopping = Arc::new(AtomicBool::new(false));
        let sink = make(SinkContext {
            stopping: stopping.clone(),
            waker: Waker(tx.clone()),
        })?;
        let (done_tx, done) = mpsc::channel();
        let stop = stopping.clone();
        thread::Builder::new()
            .name(format!("sink-{}", kind.name()))
            .spawn(move || {
                drain(sink, &rx, stats.of(kind), &stop);
                let _ = done_tx.send(());
            })?;
        Ok(Running {
            kind,
            tx,
            stopping,
            done,
        })
    }

    /// Lets the thread empty its queue and close, for at most `wait`;
    /// returns false if it did not finish in time.
    fn stop(self, wait: Duration) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        drop(self.tx);
        self.done.recv_timeout(wait).is_ok()
    }
}

/// A sink thread's loop: alerts as they come, idle work in between, and on
/// stop whatever is still queued, then close.
fn drain(mut sink: Box<dyn Sink>, rx: &Receiver<Msg>, counters: &Counters, stopping: &AtomicBool) {
    let deliver = |m: Msg, sink: &mut Box<dyn Sink>| {
        if let Msg::Alert(d) = m {
            counters.taken.fetch_add(1, Ordering::Relaxed);
            match sink.deliver(&d) {
                Ok(()) => counters.delivered.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    ::log::debug!("alert not delivered: {e}");
                    counters.failed.fetch_add(1, Ordering::Relaxed)
                }
            };
        }
    };
    loop {
        match rx.recv_timeout(POLL) {
            Ok(m) => {
                deliver(m, &mut sink);
                for m in rx.try_iter().take(RUN) {
                    deliver(m, &mut sink);
                }
                sink.idle();
            }
            Err(RecvTimeoutError::Timeout) => {
                sink.idle();
                // Other senders (a socket's waker) keep the queue open: an
                // empty queue after the stop is the end.
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    sink.close();
}

/// Alerts lost since the last report, per sink.
#[derive(Debug, PartialEq, Eq)]
pub struct Losses {
    /// `(sink, dropped because the queue was full, failed)`.
    pub by_sink: Vec<(SinkKind, u64, u64)>,
}

impl Losses {
    pub fn text(&self) -> String {
        self.by_sink
            .iter()
            .map(|(k, overflow, failed)| {
                let mut parts = Vec::new();
                if *overflow > 0 {
                    parts.push(format!("{overflow} dropped on a full queue"));
                }
                if *failed > 0 {
                    parts.push(format!("{failed} failed"));
                }
                format!("{}: {}", k.name(), parts.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn fields(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        let mut f = std::collections::BTreeMap::new();
        for (k, overflow, failed) in &self.by_sink {
            f.insert(
                format!("monitor.sink.{}.overflow", k.name()),
                (*overflow).into(),
            );
            f.insert(
                format!("monitor.sink.{}.failed", k.name()),
                (*failed).into(),
            );
        }
        f
    }
}

/// The running sinks.
pub struct Sinks {
    running: Vec<Running>,
    stats: Arc<SinkStats>,
    /// overflow + failed per kind at the last report.
    reported: [(u64, u64); 4],
    last_report: Option<Instant>,
}

/// A sink constructor, for [`Sinks::from_parts`].
pub type MakeSink = Box<dyn FnOnce(SinkContext) -> anyhow::Result<Box<dyn Sink>>>;

impl Sinks {
    /// Starts the sinks `cfg` enables.
    pub fn start(cfg: &SinksConfig) -> anyhow::Result<Sinks> {
        let mut sinks = Sinks::from_parts(Vec::new())?;
        for kind in SinkKind::ALL {
            sinks.start_kind(kind, cfg)?;
        }
        Ok(sinks)
    }

    /// Sinks built by the given constructors, each with its queue size
    /// (tests plug their own in here).
    pub fn from_parts(parts: Vec<(SinkKind, usize, MakeSink)>) -> anyhow::Result<Sinks> {
        let stats = Arc::new(SinkStats::default());
        let mut running = Vec::new();
        for (kind, queue, make) in parts {
            running.push(Running::start(kind, queue, stats.clone(), make)?);
        }
        Ok(Sinks {
            running,
            stats,
            reported: [(0, 0); 4],
            last_report: None,
        })
    }

    fn start_kind(&mut self, kind: SinkKind, cfg: &SinksConfig) -> anyhow::Result<()> {
        let make: MakeSink = match kind {
            SinkKind::Stdout if cfg.stdout.enabled => {
                let c = cfg.stdout.clone();
                Box::new(move |_| Ok(Box::new(stdout::StdoutSink::new(&c)) as Box<dyn Sink>))
            }
            SinkKind::Log if cfg.log.enabled => {
                let c = cfg.log.clone();
                Box::new(move |_| Ok(Box::new(log::LogSink::open(&c)?) as Box<dyn Sink>))
            }
            SinkKind::Socket if cfg.socket.enabled => {
                let c = cfg.clone();
                Box::new(move |ctx| {
                    Ok(Box::new(socket::SocketSink::bind(&c, ctx)?) as Box<dyn Sink>)
                })
            }
            SinkKind::Webhook if cfg.webhook.url.is_some() => {
                let c = cfg.webhook.clone();
                Box::new(move |ctx| {
                    Ok(Box::new(webhook::WebhookSink::new(&c, ctx.stopping)?) as Box<dyn Sink>)
                })
            }
            _ => return Ok(()),
        };
        self.running.push(Running::start(
            kind,
            cfg.queue_size,
            self.stats.clone(),
            make,
        )?);
        Ok(())
    }

    /// Applies a changed config: restarts the sinks whose settings changed.
    /// A sink that cannot start with its new settings is started again with
    /// the old ones, and the error is returned.
    pub fn reconfigure(&mut self, old: &SinksConfig, new: &SinksConfig) -> anyhow::Result<()> {
        let changed = |k: SinkKind| {
            old.queue_size != new.queue_size
                || match k {
                    SinkKind::Stdout => old.stdout != new.stdout,
                    SinkKind::Log => old.log != new.log,
                    // The socket replays from the log, so it follows the log's path.
                    SinkKind::Socket => old.socket != new.socket || old.log != new.log,
                    SinkKind::Webhook => old.webhook != new.webhook,
                }
        };
        let mut first_error = None;
        for kind in SinkKind::ALL.into_iter().filter(|k| changed(*k)) {
            if let Some(i) = self.running.iter().position(|r| r.kind == kind) {
                self.running.remove(i).stop(STOP_WAIT);
            }
            if let Err(e) = self.start_kind(kind, new) {
                // Back to the previous settings; if even that fails, the
                // sink is down and the error says so.
                let e = match self.start_kind(kind, old) {
                    Ok(()) => e.context(format!(
                        "the {} sink keeps its previous settings",
                        kind.name()
                    )),
                    Err(back) => e.context(format!(
                        "the {} sink is stopped: restarting it with its previous settings failed too ({back:#})",
                        kind.name()
                    )),
                };
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The counters, shared: read them any time from anywhere.
    pub fn stats(&self) -> Arc<SinkStats> {
        self.stats.clone()
    }

    /// Which sinks are running.
    pub fn kinds(&self) -> Vec<SinkKind> {
        self.running.iter().map(|r| r.kind).collect()
    }

    /// Hands `d` to every sink; a full queue drops it for that sink only.
    pub fn send(&self, d: &Arc<Delivery>) {
        self.send_except(d, &[]);
    }

    /// Hands `d` to every sink but those in `skip`.
    pub fn send_except(&self, d: &Arc<Delivery>, skip: &[SinkKind]) {
        for r in self.running.iter().filter(|r| !skip.contains(&r.kind)) {
            match r.tx.try_send(Msg::Alert(d.clone())) {
                Ok(()) => {
                    self.stats.of(r.kind).queued.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Full(_)) => {
                    self.stats
                        .of(r.kind)
                        .overflow
                        .fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.stats.of(r.kind).failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Alerts lost since the last report, if there are any and the last report
    /// is at least [`LOSS_REPORT_INTERVAL`] old.
    pub fn losses(&mut self) -> Option<Losses> {
        if self
            .last_report
            .is_some_and(|t| t.elapsed() < LOSS_REPORT_INTERVAL)
        {
            return None;
        }
        let mut by_sink = Vec::new();
        for kind in SinkKind::ALL {
            let c = self.stats.of(kind);
            let now = (
                c.overflow.load(Ordering::Relaxed),
                c.failed.load(Ordering::Relaxed),
            );
            let before = self.reported[kind as usize];
            if now != before {
                by_sink.push((kind, now.0 - before.0, now.1 - before.1));
                self.reported[kind as usize] = now;
            }
        }
        if by_sink.is_empty() {
            return None;
        }
        self.last_report = Some(Instant::now());
        Some(Losses { by_sink })
    }

    /// Stops every sink: each empties its queue and makes its output durable,
    /// all within `wait` in total. Returns the sinks that did not finish.
    pub fn shutdown(self, wait: Duration) -> Vec<SinkKind> {
        for r in &self.running {
            r.stopping.store(true, Ordering::SeqCst);
        }
        let deadline = Instant::now() + wait;
        self.running
            .into_iter()
            .filter_map(|r| {
                let kind = r.kind;
                let left = deadline.saturating_duration_since(Instant::now());
                (!r.stop(left)).then_some(kind)
            })
            .collect()
    }
}

/// How long a reload waits for a sink it restarts.
const STOP_WAIT: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests;
