//! `cargo xtask bench`: what the monitor costs the processes it watches and the
//! ones it does not, measured against no monitor and against the floor (no-op
//! programs on the same hooks) in the same run.
//!
//! Each round runs, in order: no monitor; the floor; the monitor with the load
//! untagged; the monitor with the load tagged (started through `launch`). The
//! loads are a syscall storm (open+close of one file, `iterations` times), a
//! mixed storm of the other hooked calls ordinary programs make often (dup,
//! rename, chmod, unlink, bind, kill; `iterations / 10` rounds), a read/write
//! storm (64 bytes into a pipe and back, `iterations` times: the small I/O
//! that kernel capture of MCP stdio through read/write hooks would tax for
//! every process; the monitor hooks neither, its launch wrapper relays stdio
//! instead) and a real workload (`tar` of /usr/share into a pipe). Figures
//! are medians over the rounds.
use std::{
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use crate::{cargo, checked, setup, step, target_dir};

const WORKLOAD: &str = "tar -cf - /usr/share 2>/dev/null | wc -c >/dev/null";

pub fn run(iterations: u64, rounds: usize, enforce: bool) -> anyhow::Result<()> {
    if !setup::is_root() {
        bail!("the benchmark loads eBPF programs: run it as root");
    }
    step("building release binaries (monitor, syscall-storm)");
    checked(cargo().args([
        "build",
        "--release",
        "--package",
        "monitor",
        "--package",
        "e2e",
        "--bins",
    ]))?;
    let release = target_dir().join("release");
    let monitor = release.join("mcp-monitor");
    let storm = release.join("syscall-storm");
    let socket = std::env::temp_dir().join(format!("mcpmon-bench-{}.sock", std::process::id()));

    step("warming the page cache for the workload");
    shell(WORKLOAD, None)?;
    let scratch = std::env::temp_dir().join(format!("mcpmon-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let mixed_iterations = (iterations / 10).max(1);

    // results[configuration][load]: open storm ns, mixed storm ns, workload s,
    // read/write storm ns.
    let mut results: [[Vec<f64>; 4]; 4] = Default::default();
    let mut drop_warnings = 0;
    // The monitor's time from start to its `watching` line, per round.
    let mut ready_s = Vec::new();
    let mut verifier: Option<String> = None;
    let loads = |via: &dyn Fn(&str) -> Option<Command>| -> anyhow::Result<[f64; 4]> {
        Ok([
            storm_run(&storm, &[&iterations.to_string()], via("storm"))?,
            storm_run(
                &storm,
                &[
                    "--mixed",
                    &mixed_iterations.to_string(),
                    path_str(&scratch)?,
                ],
                via("storm"),
            )?,
            shell(WORKLOAD, via("tar"))?,
            storm_run(&storm, &["--pipe", &iterations.to_string()], via("storm"))?,
        ])
    };
    let mut record = |config: usize, figures: [f64; 4]| {
        for (load, v) in figures.into_iter().enumerate() {
            results[config][load].push(v);
        }
    };
    for round in 1..=rounds {
        step(&format!("round {round}/{rounds}"));
        record(0, loads(&|_| None)?);

        let floor = Daemon::start(Command::new(&monitor).arg("floor"), "floor:")?;
        record(1, loads(&|_| None)?);
        floor.stop()?;

        let starting = Instant::now();
        let daemon = Daemon::start(
            Command::new(&monitor)
                .arg("run")
                // Nothing may stay attached after it: the next round's
                // baseline runs with no monitor at all.
                .arg("--no-pin")
                .arg("--control-socket")
                .arg(&socket)
                // The sinks are idle in the benchmark; keep them off the machine's paths.
                .args(["--no-alert-log", "--no-alert-socket"])
                .args(enforce.then_some("--enforce")),
            "watching",
        )?;
        ready_s.push(starting.elapsed().as_secs_f64());
        verifier = daemon
            .seen
            .iter()
            .find_map(|l| {
                l.split_once("(verifier: ")
                    .map(|(_, v)| v.trim_end_matches(')').to_owned())
            })
            .or(verifier);
        record(2, loads(&|_| None)?);
        let launch = |name: &str| {
            let mut c = Command::new(&monitor);
            c.args([
                "launch",
                "--require-monitor",
                "--name",
                name,
                "--control-socket",
            ])
            .arg(&socket)
            .arg("--");
            Some(c)
        };
        record(3, loads(&launch)?);
        let stderr = daemon.stop()?;
        drop_warnings += stderr.matches("ring buffer was full").count();
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let m: Vec<[f64; 4]> = results
        .iter_mut()
        .map(|loads| {
            [
                median(&mut loads[0]),
                median(&mut loads[1]),
                median(&mut loads[2]),
                median(&mut loads[3]),
            ]
        })
        .collect();
    let names = if enforce {
        [
            "no monitor",
            "floor (no-op programs)",
            "monitor --enforce, load untagged",
            "monitor --enforce, load tagged",
        ]
    } else {
        [
            "no monitor",
            "floor (no-op programs)",
            "monitor, load untagged",
            "monitor, load tagged",
        ]
    };
    println!();
    println!(
        "open+close storm, {iterations} iterations; mixed storm (dup, dup2, rename ×2, chmod, \
         unlink, bind, kill 0, plus the unhooked calls between), {mixed_iterations} iterations; \
         workload `{WORKLOAD}`; read/write storm (64 bytes through a pipe and back), \
         {iterations} iterations; medians of {rounds} rounds"
    );
    println!();
    println!(
        "| configuration | storm ns/iter | × none | × floor | mixed ns/iter | × none | × floor | workload s | × none | × floor | read/write ns/iter | × none | × floor |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let per_iter = [
        iterations as f64,
        mixed_iterations as f64,
        1.0,
        iterations as f64,
    ];
    for (i, name) in names.iter().enumerate() {
        let mut row = format!("| {name} |");
        for load in 0..4 {
            let v = m[i][load] / per_iter[load];
            let v = if load == 2 {
                format!("{v:.3}")
            } else {
                format!("{v:.0}")
            };
            row.push_str(&format!(
                " {v} | {:.3} | {:.3} |",
                m[i][load] / m[0][load],
                m[i][load] / m[1][load]
            ));
        }
        println!("{row}");
    }
    println!();
    for (load, what) in [
        (0, "open storm"),
        (1, "mixed storm"),
        (3, "read/write storm"),
    ] {
        println!(
            "{what}: untagged ≤ floor + 3% → {:+.1}% over floor ({}); tagged ≤ 2× none → {:.2}× ({})",
            (m[2][load] / m[1][load] - 1.0) * 100.0,
            verdict(m[2][load] <= m[1][load] * 1.03),
            m[3][load] / m[0][load],
            verdict(m[3][load] <= m[0][load] * 2.0),
        );
    }
    println!("ring-buffer overflow warnings during tagged runs: {drop_warnings}");
    let (fastest, slowest) = (
        ready_s.iter().copied().fold(f64::MAX, f64::min),
        ready_s.iter().copied().fold(0.0, f64::max),
    );
    println!(
        "start-up (run to `watching`, every hook): median {:.3} s over {rounds} starts \
         ({fastest:.3}–{slowest:.3} s); verifier: {}",
        median(&mut ready_s),
        verifier.as_deref().unwrap_or("not reported")
    );
    Ok(())
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not UTF-8", p.display()))
}

fn verdict(ok: bool) -> &'static str {
    if ok { "within budget" } else { "OVER budget" }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the storm with `args` (through `via` if given) and returns its own
/// timing in ns.
fn storm_run(storm: &Path, args: &[&str], via: Option<Command>) -> anyhow::Result<f64> {
    let mut cmd = via.unwrap_or_else(|| Command::new(storm));
    if cmd.get_program() != storm.as_os_str() {
        cmd.arg(storm);
    }
    let out = cmd.args(args).output().context("running the storm")?;
    if !out.status.success() {
        bail!("storm failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("storm output")
}

/// Runs a shell line (through `via` if given); returns wall seconds.
fn shell(line: &str, via: Option<Command>) -> anyhow::Result<f64> {
    let mut cmd = via.unwrap_or_else(|| Command::new("sh"));
    if cmd.get_program() != "sh" {
        cmd.arg("sh");
    }
    let start = Instant::now();
    let status = cmd
        .args(["-c", line])
        .status()
        .context("running the workload")?;
    let secs = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("workload failed: {status}");
    }
    Ok(secs)
}

/// A background mcp-monitor that is ready once it printed `marker` on stderr.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn start(cmd: &mut Command, marker: &str) -> anyhow::Result<Daemon> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting mcp-monitor")?;
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut d = Daemon {
            child,
            lines,
            seen: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match d.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let ready = line.contains(marker);
                    d.seen.push(line);
                    if ready {
                        return Ok(d);
                    }
                }
                Err(_) if Instant::now() > deadline => {
                    bail!("mcp-monitor did not start:\n{}", d.seen.join("\n"))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("mcp-monitor exited:\n{}", d.seen.join("\n"))
                }
                Err(_) => {}
            }
        }
    }

    /// SIGTERM; returns everything it printed on stderr.
    fn stop(mut self) -> anyhow::Result<String> {
        // SAFETY: signalling the child this harness started.
        unsafe { kill(self.child.id() as i32, 15) };
        let status = self.child.wait()?;
        self.seen.extend(self.lines.try_iter());
        if !status.success() {
            bail!(
                "mcp-monitor exited with {status}:\n{}",
                self.seen.join("\n")
            );
        }
        Ok(self.seen.join("\n"))
    }
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
