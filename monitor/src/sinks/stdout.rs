//! Alerts on stdout: one coloured line each on a terminal, JSON lines otherwise.
use std::{
    io::{IsTerminal as _, Write as _},
    sync::Arc,
};

use super::sink::{Delivery, Sink};
use crate::{
    alerts::render_text,
    config::{AlertFormat, StdoutConfig},
};

/// Writes alerts to stdout. Lines are written whole under stdout's lock, so
/// they never interleave with the `--events` lines the event loop writes.
pub struct StdoutSink {
    json: bool,
    colour: bool,
    out: Box<dyn std::io::Write + Send>,
    buf: Vec<u8>,
    broken: bool,
}

impl StdoutSink {
    pub fn new(cfg: &StdoutConfig) -> Self {
        let tty = std::io::stdout().is_terminal();
        Self::to_writer(cfg.format, tty, Box::new(std::io::stdout()))
    }

    /// Writes to `out` instead (tests); `tty` stands for "stdout is a terminal".
    pub fn to_writer(format: AlertFormat, tty: bool, out: Box<dyn std::io::Write + Send>) -> Self {
        StdoutSink {
            json: match format {
                AlertFormat::Auto => !tty,
                AlertFormat::Text => false,
                AlertFormat::Json => true,
            },
            colour: tty && format != AlertFormat::Json,
            out,
            buf: Vec::new(),
            broken: false,
        }
    }
}

impl Sink for StdoutSink {
    fn deliver(&mut self, d: &Arc<Delivery>) -> Result<(), String> {
        if self.broken {
            return Err("stdout is closed".into());
        }
        if self.json {
            self.buf.extend_from_slice(d.json.as_bytes());
        } else {
            self.buf
                .extend_from_slice(render_text(&d.alert, self.colour).as_bytes());
        }
        self.buf.push(b'\n');
        Ok(())
    }

    fn idle(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        // `Stdout::write_all` holds stdout's lock for the whole batch.
        if self
            .out
            .write_all(&self.buf)
            .and_then(|()| self.out.flush())
            .is_err()
        {
            // The reader went away: stop writing rather than fail the daemon.
            self.broken = true;
        }
        self.buf.clear();
    }

    fn close(&mut self) {
        self.idle();
    }
}
