//! What each boot showed, from the guest's `VMTEST key=value` lines: the table
//! on the terminal and in docs/kernels.md, and the verdict.
use std::{fmt::Write as _, fs, path::Path, process::Command};

use anyhow::bail;

use super::{READY_LIMIT_S, REQUIRED_ALERTS, fetch::Image, qemu, stdout_of};
use crate::step;

/// Every kernel's outcome, and how qemu ran them.
pub struct Matrix {
    pub accel: &'static str,
    pub outcomes: Vec<Outcome>,
}

pub struct Outcome {
    kernel: &'static str,
    version: String,
    fetch_s: Option<f64>,
    wall_s: f64,
    ready_s: Option<String>,
    verified_insns: Option<String>,
    alerts_seen: usize,
    connect: Option<bool>,
    /// What prevent mode did to the key read: `denied`, `killed`, …
    prevent: Option<String>,
    failure: Option<String>,
    notes: Vec<String>,
}

impl Outcome {
    pub fn new(image: &Image, boot: &qemu::Boot) -> Self {
        let markers = Markers::parse(&boot.lines);
        let alerts: Vec<&str> = markers.all("alert").collect();
        Self {
            kernel: image.kernel,
            version: image.version.clone(),
            fetch_s: image.fetch_s,
            wall_s: boot.wall_s,
            ready_s: markers.get("ready_s").map(str::to_string),
            verified_insns: markers.get("verified_insns").map(str::to_string),
            alerts_seen: REQUIRED_ALERTS
                .iter()
                .filter(|r| alerts.contains(r))
                .count(),
            connect: markers.get("connect").map(|c| c == "yes"),
            prevent: markers.get("prevent").map(str::to_string),
            failure: failure(&markers, boot),
            notes: notes_of(&markers, boot),
        }
    }
}

/// The guest's `VMTEST key=value` lines, in order (`VMTEST done` has no value).
struct Markers<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Markers<'a> {
    fn parse(lines: &'a [String]) -> Self {
        Self(
            lines
                .iter()
                .filter_map(|line| {
                    let report = &line[line.find("VMTEST ")? + "VMTEST ".len()..];
                    Some(report.split_once('=').unwrap_or((report, "")))
                })
                .collect(),
        )
    }

    fn all(&self, key: &str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.all(key).next()
    }
}

/// The kernel's own report of a crash: the first oops or panic line and
/// where it happened.
fn crash(boot: &qemu::Boot) -> Option<String> {
    let first = boot
        .lines
        .iter()
        .position(|l| l.contains("Oops:") || l.contains("Kernel panic"))?;
    let at = boot.lines[first..]
        .iter()
        .find(|l| l.contains("RIP: 0010:"))
        .map(|l| {
            format!(
                " at {}",
                without_timestamp(l).trim_start_matches("RIP: 0010:")
            )
        });
    Some(format!(
        "{}{}",
        without_timestamp(&boot.lines[first]),
        at.unwrap_or_default()
    ))
}

/// A kernel message without its `[    2.961042] ` prefix.
fn without_timestamp(line: &str) -> &str {
    line.split_once("] ").map_or(line, |(_, message)| message)
}

/// Why the kernel failed, the first thing that went wrong; None if it passed.
fn failure(markers: &Markers, boot: &qemu::Boot) -> Option<String> {
    if crash(boot).is_some() {
        return Some("the kernel crashed".into());
    }
    let ready = markers.get("ready_s").is_some();
    match markers.get("ready") {
        Some("exited") => return Some("refused: the daemon exited before it was ready".into()),
        Some("timeout") => {
            return Some(format!("the daemon was not ready within {READY_LIMIT_S} s"));
        }
        _ => {}
    }
    if boot.timed_out {
        let stage = if ready {
            ""
        } else {
            " before the daemon was ready"
        };
        return Some(format!(
            "timed out after {} s{stage}",
            qemu::TIME_LIMIT.as_secs()
        ));
    }
    if !ready {
        return Some("the guest never started the daemon (see console.log)".into());
    }
    let alerts: Vec<&str> = markers.all("alert").collect();
    let missing: Vec<&str> = REQUIRED_ALERTS
        .iter()
        .copied()
        .filter(|r| !alerts.contains(r))
        .collect();
    if !missing.is_empty() {
        return Some(format!("no alert \"{}\"", missing.join("\", \"")));
    }
    if markers.get("connect") != Some("yes") {
        return Some("no connect event".into());
    }
    if let Some(why) = prevent_failure(markers) {
        return Some(why);
    }
    let exits: Vec<&str> = markers.all("daemon_exit").collect();
    if exits.len() < 2 {
        return Some("the guest stopped before stopping both daemons".into());
    }
    if let Some(other) = exits.iter().find(|e| **e != "0") {
        return Some(format!("the daemon's exit on SIGTERM: {other}"));
    }
    markers
        .get("done")
        .is_none()
        .then(|| "the guest stopped before its checks ended".into())
}

/// What is wrong with prevent mode's check, if anything: the key must never
/// reach the server's output, and where BPF LSM runs the read is denied.
fn prevent_failure(markers: &Markers) -> Option<String> {
    let lsm_bpf = markers
        .get("lsm")
        .is_some_and(|l| l.split(',').any(|m| m == "bpf"));
    match markers.get("prevent") {
        Some("denied") => None,
        Some("killed") if !lsm_bpf => None,
        Some("killed") => Some("BPF LSM is active, yet the key read was killed, not denied".into()),
        Some("leaked") => Some("prevent mode: the key reached the server's output".into()),
        Some("none") => Some("prevent mode: no action on the key read".into()),
        Some(other) => Some(format!("prevent mode: {other}")),
        None => Some("the guest stopped before prevent mode's check".into()),
    }
}

/// A crash, what the daemon said when it did not get ready, mounts that failed.
fn notes_of(markers: &Markers, boot: &qemu::Boot) -> Vec<String> {
    let crash = crash(boot).map(|c| format!("`{c}`"));
    let said = markers.get("daemon_said").map(|said| {
        let said = shortened(said);
        match markers.get("ready") {
            Some("timeout") => format!("still loading after {READY_LIMIT_S} s: `{said}`"),
            _ => format!("`{said}`"),
        }
    });
    let mounts = markers
        .all("mount_failed")
        .map(|fs| format!("mounting {fs} failed"));
    crash.into_iter().chain(said).chain(mounts).collect()
}

fn table(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| kernel | ready s | verified insns | alerts | connect | prevent | result |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for o in outcomes {
        let result = match &o.failure {
            None => "pass".to_string(),
            Some(why) => format!("FAIL: {why}"),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}/{} | {} | {} | {result} |",
            o.version,
            o.ready_s.as_deref().unwrap_or("-"),
            o.verified_insns.as_deref().unwrap_or("-"),
            o.alerts_seen,
            REQUIRED_ALERTS.len(),
            match o.connect {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            },
            o.prevent.as_deref().unwrap_or("-"),
        );
    }
    out
}

fn notes(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    for o in outcomes {
        for note in &o.notes {
            let _ = writeln!(out, "- {}: {note}", o.version);
        }
    }
    out
}

/// `note` cut to a line's worth: a verifier's complaint can run long.
fn shortened(note: &str) -> String {
    const MAX: usize = 200;
    match note.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &note[..at]),
        None => note.to_string(),
    }
}

const DOC_HEADER: &str = "\
# Kernels

Written by `cargo xtask vm-test` (xtask/src/vm/). Each kernel is Debian's cloud
kernel package, booted with an initramfs that holds busybox and the release
binary: `mcp-monitor run` starts, then a server under `mcp-monitor launch`
reads /root/.ssh/id_rsa and /proc/1/environ and connects to 127.0.0.1:9.
*ready s*: from starting the daemon to its `watching` line, on the guest's
clock; *verified insns*: the verifier's count the daemon reports (n/a before
5.16); *alerts*: the expected alerts seen; *connect*: the connect event seen.
*prevent*: a second daemon runs `--enforce` with the SSH-key rule set to
`action: deny`, and a server reads the key: `denied` (BPF LSM failed the open
with EPERM and the server went on) or `killed` (no BPF LSM: the probe killed
the reader at the open). No byte of the key may reach the server's output,
and where BPF LSM is active the read must be denied.
";

impl Matrix {
    /// The table, the notes and each kernel's timings, on the terminal.
    pub fn print(&self) {
        let (outcomes, accel) = (&self.outcomes, self.accel);
        step("kernel matrix");
        eprint!("{}", table(outcomes));
        eprint!("{}", notes(outcomes));
        for o in outcomes {
            let fetched = o
                .fetch_s
                .map_or("cached".into(), |s| format!("fetched in {s:.1} s"));
            eprintln!(
                "{} ({}): {fetched}, qemu ({accel}) {:.1} s, daemon ready {}",
                o.kernel,
                o.version,
                o.wall_s,
                o.ready_s
                    .as_deref()
                    .map_or("never".into(), |s| format!("in {s} s")),
            );
        }
    }

    /// Replaces docs/kernels.md with this run's table.
    pub fn write_doc(&self, path: &Path) -> anyhow::Result<()> {
        let date = stdout_of(Command::new("date").args(["-u", "+%Y-%m-%d"]))?;
        let mut doc = format!(
            "{DOC_HEADER}\nLast run {} under qemu ({}, {} vCPUs, {} MiB):\n\n{}",
            date.trim(),
            self.accel,
            qemu::CPUS,
            qemu::MEMORY_MIB,
            table(&self.outcomes)
        );
        let notes = notes(&self.outcomes);
        if !notes.is_empty() {
            doc = format!("{doc}\n{notes}");
        }
        fs::write(path, doc)?;
        step(&format!("wrote {}", path.display()));
        Ok(())
    }

    /// Fails naming every kernel that did not pass.
    pub fn verdict(&self) -> anyhow::Result<()> {
        let failed: Vec<&str> = self
            .outcomes
            .iter()
            .filter(|o| o.failure.is_some())
            .map(|o| o.kernel)
            .collect();
        if !failed.is_empty() {
            bail!("the monitor failed on kernel(s) {}", failed.join(", "));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_markers_amid_console_noise() {
        let lines: Vec<String> = [
            "[    1.2] random: crng init done",
            "VMTEST ready_s=8.52",
            "\x1b[0mVMTEST alert=MCP server read another process's environment",
            "VMTEST alert=MCP server started",
            "VMTEST prevent=killed",
            "VMTEST done",
        ]
        .map(String::from)
        .into();
        let markers = Markers::parse(&lines);
        assert_eq!(markers.get("ready_s"), Some("8.52"));
        assert_eq!(markers.all("alert").count(), 2);
        assert_eq!(markers.get("done"), Some(""));
        assert_eq!(
            prevent_failure(&markers),
            None,
            "killed is right without BPF LSM"
        );
        let boot = qemu::Boot {
            lines: lines.clone(),
            timed_out: false,
            wall_s: 9.0,
        };
        assert_eq!(
            failure(&markers, &boot).as_deref(),
            Some("no alert \"MCP server read SSH keys or configuration\"")
        );
    }

    #[test]
    fn prevent_mode_must_deny_where_bpf_lsm_runs() {
        let lines = |l: &[&str]| -> Vec<String> { l.iter().map(|s| s.to_string()).collect() };
        let with_lsm = lines(&[
            "VMTEST lsm=lockdown,capability,bpf",
            "VMTEST prevent=killed",
        ]);
        assert!(prevent_failure(&Markers::parse(&with_lsm)).is_some());
        let denied = lines(&[
            "VMTEST lsm=lockdown,capability,bpf",
            "VMTEST prevent=denied",
        ]);
        assert_eq!(prevent_failure(&Markers::parse(&denied)), None);
        let leaked = lines(&["VMTEST lsm=capability", "VMTEST prevent=leaked"]);
        assert!(prevent_failure(&Markers::parse(&leaked)).is_some());
    }

    #[test]
    fn names_a_kernel_crash() {
        let lines: Vec<String> = [
            "[    2.961042] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI",
            "[    2.961550] RIP: 0010:syscall_trace_enter+0xd6/0x190",
            "[    2.964114] Kernel panic - not syncing: Fatal exception in interrupt",
        ]
        .map(String::from)
        .into();
        let boot = qemu::Boot {
            lines,
            timed_out: false,
            wall_s: 5.0,
        };
        assert_eq!(
            crash(&boot).as_deref(),
            Some("Oops: int3: 0000 [#1] PREEMPT SMP NOPTI at syscall_trace_enter+0xd6/0x190")
        );
    }
}
