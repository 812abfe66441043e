//! Booting a kernel under qemu within a time limit: the serial console goes to
//! target/vm/<kernel>/console.log and its `VMTEST` lines to the terminal as
//! they come.
use std::{
    fs::{self, File, OpenOptions},
    io::{BufRead as _, BufReader, Write as _},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc::{self, RecvTimeoutError},
    thread,
    time::{Duration, Instant},
};

use anyhow::Context as _;

use super::fetch::Image;
use crate::step;

/// Per kernel, boot to power-off: the guest gives up on its own well before
/// (`READY_LIMIT_S` + `ALERTS_LIMIT_S` plus the boot, under TCG); this catches
/// a guest that hangs.
pub const TIME_LIMIT: Duration = Duration::from_secs(300);
/// A working KVM guest panics (no root file system) in a second or two.
const KVM_PROBE_LIMIT: Duration = Duration::from_secs(10);
/// The guest machine.
pub const CPUS: u32 = 2;
pub const MEMORY_MIB: u32 = 2048;
/// How often a quiet guest is reported as still running.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// What a boot left on the console.
pub struct Boot {
    pub lines: Vec<String>,
    pub timed_out: bool,
    pub wall_s: f64,
}

pub fn boot(image: &Image, initrd: &Path, accel: &str, dir: &Path) -> anyhow::Result<Boot> {
    let log = dir.join("console.log");
    step(&format!(
        "booting {} ({}) under qemu ({accel}), at most {} s; console in {}",
        image.kernel,
        image.version,
        TIME_LIMIT.as_secs(),
        log.display()
    ));
    run(
        qemu(&image.vmlinuz, Some(initrd), accel),
        &log,
        TIME_LIMIT,
        Some(image.kernel),
    )
}

/// One host thread for all vCPUs under TCG: with a thread per vCPU, about one
/// boot in four of 6.12 died of an int3 oops while the guest kernel patched
/// its own code during the daemon's first bpf() calls.
const TCG: &str = "tcg,thread=single";

/// "kvm" when a guest really runs under KVM, else TCG. That /dev/kvm opens
/// is not enough: some sandboxes create VMs whose guests never run.
pub fn accelerator(vmlinuz: &Path, base: &Path) -> &'static str {
    let opens = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !opens {
        step("no usable /dev/kvm: qemu emulates the CPU (TCG), which is slow");
        return TCG;
    }
    step("probing KVM with a guest that has no root file system");
    let mut probe = qemu(vmlinuz, None, "kvm");
    // qemu's warnings about CPU features the host lacks say nothing here.
    probe.stderr(Stdio::null());
    let probe = run(probe, &base.join("kvm-probe.log"), KVM_PROBE_LIMIT, None);
    let works =
        probe.is_ok_and(|b| !b.timed_out && b.lines.iter().any(|l| l.contains("Kernel panic")));
    if works {
        "kvm"
    } else {
        step(&format!(
            "KVM guest did not boot in {} s: qemu emulates the CPU (TCG), which is slow",
            KVM_PROBE_LIMIT.as_secs()
        ));
        TCG
    }
}

fn qemu(vmlinuz: &Path, initrd: Option<&Path>, accel: &str) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.arg("-m")
        .arg(MEMORY_MIB.to_string())
        .arg("-smp")
        .arg(CPUS.to_string())
        .args(["-nographic", "-no-reboot", "-accel", accel])
        .arg("-kernel")
        .arg(vmlinuz);
    if let Some(initrd) = initrd {
        cmd.arg("-initrd").arg(initrd);
    }
    // panic=-1 reboots at once on a panic, and -no-reboot turns that into an exit.
    cmd.args(["-append", "console=ttyS0 panic=-1 quiet"]);
    cmd
}

/// Runs `qemu` until it exits or `limit` passes (then kills it), saving the
/// console to `log`; with a `label`, shows progress.
fn run(
    mut qemu: Command,
    log: &Path,
    limit: Duration,
    label: Option<&str>,
) -> anyhow::Result<Boot> {
    if let Some(dir) = log.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut log = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let started = Instant::now();
    // No terminal on stdin: qemu leaves the user's terminal alone.
    let mut child = qemu
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting qemu-system-x86_64")?;
    let console = child.stdout.take().expect("stdout is piped");
    let (tx, lines_rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut console = BufReader::new(console);
        let mut line = Vec::new();
        while console.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            if log.write_all(&line).is_err() || tx.send(line.clone()).is_err() {
                break;
            }
            line.clear();
        }
    });

    let mut lines = Vec::new();
    let mut timed_out = false;
    let mut beat = Instant::now();
    loop {
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            // Our own child, by its PID.
            child.kill().context("killing qemu")?;
            timed_out = true;
            break;
        }
        match lines_rx.recv_timeout(left.min(HEARTBEAT)) {
            Ok(raw) => {
                let line = String::from_utf8_lossy(&raw).trim_end().to_string();
                if let Some(label) = label {
                    show(label, &line);
                }
                lines.push(line);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(label) = label.filter(|_| beat.elapsed() >= HEARTBEAT) {
            eprintln!(
                "    {label}: {} s, still running",
                started.elapsed().as_secs()
            );
            beat = Instant::now();
        }
    }
    child.wait().context("waiting for qemu")?;
    let _ = reader.join();
    if timed_out && let Some(label) = label {
        eprintln!("    {label}: killed qemu after {} s", limit.as_secs());
    }
    Ok(Boot {
        lines,
        timed_out,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// The guest's reports and a kernel crash; the rest stays in console.log.
fn show(label: &str, line: &str) {
    if let Some(at) = line.find("VMTEST ") {
        eprintln!("    {label}: {}", &line[at + "VMTEST ".len()..]);
    } else if line.contains("Oops:") || line.contains("Kernel panic") {
        eprintln!("    {label}: {line}");
    }
}
