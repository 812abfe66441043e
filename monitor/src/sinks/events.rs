//! `--events`: every event as a JSON line on stdout.
use std::io::Write as _;

use crate::event::Event;

/// Where events go: JSON lines on stdout with `--events`, secrets redacted.
/// Whole lines are written under stdout's lock, so they never interleave with
/// the alert lines the stdout sink writes from its own thread.
pub struct EventSink {
    out: Option<Vec<u8>>,
    redactor: crate::redact::EventRedactor,
}

/// Buffered event bytes written out before a batch ends.
const EVENT_BUFFER: usize = 1 << 16;

impl EventSink {
    pub fn new(enabled: bool) -> Self {
        EventSink {
            out: enabled.then(Vec::new),
            redactor: Default::default(),
        }
    }

    /// Prints events from now on, or stops, as `enabled` says.
    pub fn reconfigure(&mut self, enabled: bool) {
        if enabled != self.out.is_some() {
            self.flush();
            *self = EventSink::new(enabled);
        }
    }

    pub fn event(&mut self, ev: &Event) {
        if let Some(out) = &mut self.out {
            out.extend_from_slice(self.redactor.event(ev).to_json_line().as_bytes());
            out.push(b'\n');
            if out.len() >= EVENT_BUFFER {
                self.flush();
            }
        }
    }

    pub fn flush(&mut self) {
        if let Some(out) = &mut self.out
            && !out.is_empty()
        {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(out).and_then(|()| stdout.flush()).is_err() {
                // The reader went away: stop writing rather than fail the daemon.
                self.out = None;
            } else {
                out.clear();
            }
        }
    }
}
