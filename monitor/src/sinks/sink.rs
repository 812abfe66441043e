//! What a sink is: the `Sink` trait its thread drives, the `Delivery` it
//! receives, and what its constructor is given. The sinks and the machinery
//! that runs them (`sinks/mod.rs`) both build on this; it builds on nothing
//! of theirs.
use std::{
    sync::{Arc, atomic::AtomicBool, mpsc::SyncSender},
    time::Duration,
};

use crate::alerts::Alert;

/// An alert on its way to the sinks, serialised once for all of them.
#[derive(Debug)]
pub struct Delivery {
    pub alert: Alert,
    /// One JSON line, no newline.
    pub json: String,
}

impl Delivery {
    pub fn new(alert: Alert) -> Arc<Delivery> {
        let json = alert.to_json_line();
        Arc::new(Delivery { alert, json })
    }
}

/// What a sink does with the alerts its thread takes from its queue.
pub trait Sink: Send + 'static {
    /// Handles one alert; an error means it did not reach its destination
    /// (counted as failed, and reported).
    fn deliver(&mut self, d: &Arc<Delivery>) -> Result<(), String>;
    /// After a run of alerts and at least every [`POLL`] while idle: flushing,
    /// fsync, serving new clients.
    fn idle(&mut self) {}
    /// Once, when the sink stops: make everything durable.
    fn close(&mut self) {}
}

/// How long a sink thread sleeps on an empty queue before its idle work.
pub const POLL: Duration = Duration::from_millis(100);
pub(super) enum Msg {
    Alert(Arc<Delivery>),
    /// Do the idle work now (a new live client is waiting).
    Wake,
}

/// A handle that makes a sink's thread do its idle work soon.
#[derive(Clone)]
pub struct Waker(pub(super) SyncSender<Msg>);

impl Waker {
    pub fn wake(&self) {
        let _ = self.0.try_send(Msg::Wake);
    }
}

/// What a sink's constructor is given besides its config.
pub struct SinkContext {
    /// Set when the daemon stops: cut retries and waits short.
    pub stopping: Arc<AtomicBool>,
    pub waker: Waker,
}
