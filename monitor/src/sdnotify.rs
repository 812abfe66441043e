//! The service manager's notification protocol (`sd_notify`): readiness, and
//! the watchdog that notices a daemon which stopped running without exiting.
//!
//! A SIGSTOP (or a hang) leaves the kernel programs recording but nothing
//! reading or alerting. Under systemd with `WatchdogSec=`, the daemon sends
//! `WATCHDOG=1` from its event loop; when those stop, systemd kills and
//! restarts it, and the restarted daemon reads what was recorded meanwhile
//! from the pinned ring buffer. Without `NOTIFY_SOCKET` this does nothing.
use std::{
    os::unix::net::{SocketAddr, UnixDatagram},
    time::{Duration, Instant},
};

/// Where and how often to notify.
pub struct Notifier {
    socket: Option<(UnixDatagram, SocketAddr)>,
    /// Half the watchdog interval the manager asked for.
    every: Option<Duration>,
    last: Option<Instant>,
}

impl Notifier {
    /// From `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket),
    /// `WATCHDOG_USEC` and `WATCHDOG_PID` (the watchdog is ours only when it
    /// names this process or no process).
    pub fn from_env() -> Notifier {
        let var = |k| std::env::var(k).ok();
        let socket = var("NOTIFY_SOCKET").and_then(|s| {
            let addr = address(&s)?;
            let sock = UnixDatagram::unbound().ok()?;
            Some((sock, addr))
        });
        let ours =
            var("WATCHDOG_PID").is_none_or(|p| p.parse::<u32>().ok() == Some(std::process::id()));
        let every = var("WATCHDOG_USEC")
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|u| ours && *u > 0)
            .map(|u| Duration::from_micros(u / 2));
        Notifier {
            socket,
            every,
            last: None,
        }
    }

    /// The daemon watches: `READY=1` with a status line.
    pub fn ready(&mut self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
        self.last = Some(Instant::now());
    }

    /// From the event loop: a watchdog ping when one is due.
    pub fn tick(&mut self, now: Instant) {
        let Some(every) = self.every else {
            return;
        };
        if self
            .last
            .is_none_or(|l| now.saturating_duration_since(l) >= every)
        {
            self.send("WATCHDOG=1");
            self.last = Some(now);
        }
    }

    /// The daemon is on its way out.
    pub fn stopping(&mut self) {
        self.send("STOPPING=1");
    }

    fn send(&self, message: &str) {
        if let Some((sock, addr)) = &self.socket
            && let Err(e) = sock.send_to_addr(message.as_bytes(), addr)
        {
            log::debug!("sd_notify: {e}");
        }
    }
}

fn address(s: &str) -> Option<SocketAddr> {
    use std::os::linux::net::SocketAddrExt as _;
    match s.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()).ok(),
        None if s.starts_with('/') => SocketAddr::from_pathname(s).ok(),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abstract_and_path_addresses() {
        use std::os::linux::net::SocketAddrExt as _;
        let a = address("@/org/freedesktop/systemd1/notify/1").unwrap();
        assert_eq!(
            a.as_abstract_name(),
            Some(&b"/org/freedesktop/systemd1/notify/1"[..])
        );
        assert!(
            address("/run/systemd/notify")
                .unwrap()
                .as_pathname()
                .is_some()
        );
        assert!(address("relative").is_none());
    }

    #[test]
    fn pings_come_at_half_the_interval_and_only_when_due() {
        let dir = std::env::temp_dir().join(format!("mcpmon-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        server.set_nonblocking(true).unwrap();
        let mut n = Notifier {
            socket: Some((
                UnixDatagram::unbound().unwrap(),
                SocketAddr::from_pathname(&path).unwrap(),
            )),
            every: Some(Duration::from_secs(5)),
            last: None,
        };
        let t0 = Instant::now();
        n.ready("watching");
        n.tick(t0 + Duration::from_secs(1));
        n.tick(t0 + Duration::from_secs(6));
        n.stopping();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(len) = server.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
        }
        assert_eq!(
            got,
            ["READY=1\nSTATUS=watching", "WATCHDOG=1", "STOPPING=1"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
