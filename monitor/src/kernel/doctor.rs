//! `mcp-monitor doctor`: what this kernel offers and what mcp-monitor will
//! use; and the preflight `run` does before loading anything.
use std::fmt;
use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use super::btf::VMLINUX_BTF;
use super::capabilities::{Avail, Capabilities, Check, cap};
use super::offsets;
use super::tracefs::{self, MountOutcome, TRACEFS_MOUNT_POINT};
use crate::probes::tracepoints;

/// What stops mcp-monitor from running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    NotPrivileged,
    NoBtf,
    NoTracefs,
    MissingTracepoint,
    Lockdown,
    NoRingBuffer,
    OldKernel,
}

/// The oldest kernel the programs load on: BPF ring buffers and
/// `bpf_ktime_get_boot_ns` (5.8). Older than 5.17 (no `bpf_loop`), paths are
/// resolved in user space; older than 5.12, the programs do without the newer
/// BPF atomics.
const MIN_KERNEL: (u32, u32, u32) = (5, 8, 0);

/// The first blocking problem, as one line saying what is wrong and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreflightError {
    pub problem: Problem,
    pub message: String,
}

impl fmt::Display for PreflightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PreflightError {}

fn problem(problem: Problem, message: impl Into<String>) -> PreflightError {
    PreflightError {
        problem,
        message: message.into(),
    }
}

/// Checks, in order, that mcp-monitor can run here, mounting tracefs at
/// `/sys/kernel/tracing` if it is mounted nowhere. Returns the first
/// blocking problem.
pub fn preflight() -> Result<(), PreflightError> {
    raise_memlock_on_old_kernels();
    let mut caps = Capabilities::probe(tracepoints());
    if let Some(e) = privilege_problem(&caps).or_else(|| btf_problem(&caps)) {
        return Err(e);
    }
    // Confidentiality lockdown empties tracefs: say so rather than mount it.
    if let Some(e) = blocking_problem(&caps).filter(|e| e.problem == Problem::Lockdown) {
        return Err(e);
    }
    if caps.tracefs.is_none() {
        match tracefs::ensure_mounted() {
            Ok((_, outcome @ MountOutcome::Mounted(_))) => {
                log::info!("{outcome} (it was not mounted)");
                caps = Capabilities::probe(tracepoints());
            }
            Ok((t, _)) => caps.tracefs = Some(t.root().to_owned()),
            Err(e) => return Err(problem(Problem::NoTracefs, e.to_string())),
        }
    }
    if let Some(e) = blocking_problem(&caps) {
        return Err(e);
    }
    if let (Some((soft, _)), Some(v)) = (caps.memlock, caps.kernel_version)
        && v < (5, 11, 0)
        && soft < 64 << 20
    {
        log::warn!(
            "RLIMIT_MEMLOCK is {} and this kernel (< 5.11) charges BPF maps to it; \
             loading may fail (raise it with `ulimit -l unlimited`)",
            bytes(soft)
        );
    }
    Ok(())
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK, often 64 KiB:
/// not even the ring buffer fits. Root may lift it, as loaders do; where it
/// cannot, the warning after the probe says what to do.
fn raise_memlock_on_old_kernels() {
    let old = super::capabilities::kernel_version().is_some_and(|v| v < (5, 11, 0));
    if !old {
        return;
    }
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid rlimit value.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
        log::debug!(
            "raising RLIMIT_MEMLOCK: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn privilege_problem(c: &Capabilities) -> Option<PreflightError> {
    let ok = match c.cap_eff {
        Some(_) => c.can_load_bpf(),
        None => c.euid == 0,
    };
    (!ok).then(|| {
        let who = if c.euid == 0 {
            "running as root but without CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)".to_owned()
        } else {
            format!(
                "not running as root (euid {}) and missing CAP_BPF and CAP_PERFMON",
                c.euid
            )
        };
        problem(
            Problem::NotPrivileged,
            format!("{who}: run as root or grant CAP_BPF,CAP_PERFMON,CAP_DAC_READ_SEARCH"),
        )
    })
}

fn btf_problem(c: &Capabilities) -> Option<PreflightError> {
    match c.btf.avail {
        Avail::Yes => None,
        Avail::No => Some(problem(
            Problem::NoBtf,
            format!(
                "this kernel has no BTF at {VMLINUX_BTF}: mcp-monitor needs CONFIG_DEBUG_INFO_BTF=y"
            ),
        )),
        Avail::Unknown => Some(problem(
            Problem::NoBtf,
            format!("cannot read {}: run as root", c.btf.detail),
        )),
    }
}

/// The first problem that stops mcp-monitor, without changing anything
/// (the doctor's view; [`preflight`] also mounts tracefs).
pub fn blocking_problem(c: &Capabilities) -> Option<PreflightError> {
    if let Some(e) = privilege_problem(c).or_else(|| btf_problem(c)) {
        return Some(e);
    }
    if let Some(v) = c.kernel_version
        && v < MIN_KERNEL
    {
        return Some(problem(
            Problem::OldKernel,
            format!(
                "kernel {} is older than {}.{}: mcp-monitor's programs need BPF ring buffers (5.8); \
                 run it on a newer kernel",
                c.kernel_release, MIN_KERNEL.0, MIN_KERNEL.1
            ),
        ));
    }
    // Before tracefs: confidentiality mode also empties tracefs, and the
    // lockdown is what the user has to change.
    if c.lockdown.as_deref() == Some("confidentiality") {
        return Some(problem(
            Problem::Lockdown,
            "kernel lockdown is in confidentiality mode, which forbids BPF programs from reading kernel memory: \
             boot with lockdown=integrity (or none)",
        ));
    }
    if c.tracefs.is_none() {
        let message = match c.tracefs_problem.as_deref() {
            Some(p) if !tracefs_unmounted(c) => p.to_owned(),
            _ => format!(
                "tracefs is not mounted: `mcp-monitor run` mounts it, or run `mount -t tracefs tracefs {TRACEFS_MOUNT_POINT}`"
            ),
        };
        return Some(problem(Problem::NoTracefs, message));
    }
    if let Some(t) = c
        .tracepoints
        .iter()
        .find(|t| !t.wanted.optional && t.present != Some(true))
    {
        let hint = if t.wanted.category == "syscalls" {
            "the kernel needs CONFIG_FTRACE_SYSCALLS=y"
        } else {
            "this kernel is too old or built without CONFIG_TRACEPOINTS"
        };
        return Some(problem(
            Problem::MissingTracepoint,
            format!(
                "tracepoint {}:{} does not exist: {hint}",
                t.wanted.category, t.wanted.name
            ),
        ));
    }
    if c.ring_buffer.avail != Avail::Yes {
        return Some(problem(
            Problem::NoRingBuffer,
            format!(
                "{}: mcp-monitor needs BPF ring buffers (Linux ≥ 5.8) and permission to create BPF maps",
                c.ring_buffer.detail
            ),
        ));
    }
    None
}

/// tracefs is absent (rather than present but unreadable).
fn tracefs_unmounted(c: &Capabilities) -> bool {
    c.tracefs.is_none()
        && c.tracefs_problem
            .as_deref()
            .is_none_or(|p| p == tracefs::TracefsError::NotMounted.to_string())
}

/// What mcp-monitor will attach here: "tracepoints (N), raw tracepoint sched_process_fork, ring buffer".
pub fn will_use(c: &Capabilities) -> Vec<String> {
    let tracepoints = c
        .tracepoints
        .iter()
        .filter(|t| t.present == Some(true) && t.wanted.name != "sched_process_fork")
        .count();
    let mut uses = Vec::new();
    if tracepoints > 0 {
        uses.push(format!("tracepoints ({tracepoints})"));
    }
    if c.raw_tracepoints.avail != Avail::No {
        uses.push("raw tracepoint sched_process_fork".to_owned());
    }
    if c.ring_buffer.avail == Avail::Yes {
        uses.push("ring buffer".to_owned());
    }
    uses
}

/// One line of the human report.
struct Row {
    label: String,
    mark: &'static str,
    detail: String,
}

fn row(label: impl Into<String>, avail: Avail, detail: impl Into<String>) -> Row {
    Row {
        label: label.into(),
        mark: avail.mark(),
        detail: detail.into(),
    }
}

fn check_row(label: &str, c: &Check, optional: bool) -> Row {
    let detail = if optional {
        format!("{} (optional)", c.detail)
    } else {
        c.detail.clone()
    };
    row(label, c.avail, detail)
}

fn bytes(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".to_owned()
    } else if v >= 1 << 20 && v.is_multiple_of(1 << 20) {
        format!("{} MiB", v >> 20)
    } else if v >= 1 << 10 && v.is_multiple_of(1 << 10) {
        format!("{} KiB", v >> 10)
    } else {
        format!("{v} B")
    }
}

const CAPS: [(&str, u32); 4] = [
    ("CAP_BPF", cap::BPF),
    ("CAP_PERFMON", cap::PERFMON),
    ("CAP_SYS_ADMIN", cap::SYS_ADMIN),
    ("CAP_DAC_READ_SEARCH", cap::DAC_READ_SEARCH),
];

fn memlock_check(c: &Capabilities) -> Check {
    let Some((soft, hard)) = c.memlock else {
        return Check {
            avail: Avail::Unknown,
            detail: "getrlimit failed".to_owned(),
        };
    };
    let limits = format!("{} soft, {} hard", bytes(soft), bytes(hard));
    let memcg = c.kernel_version.is_some_and(|v| v >= (5, 11, 0));
    if memcg {
        Check {
            avail: Avail::Yes,
            detail: format!("{limits}; kernel ≥ 5.11 charges BPF memory to the cgroup instead"),
        }
    } else if soft == u64::MAX || soft >= 64 << 20 {
        Check {
            avail: Avail::Yes,
            detail: limits,
        }
    } else {
        Check {
            avail: Avail::No,
            detail: format!("{limits}; this kernel charges BPF maps to it: `ulimit -l unlimited`"),
        }
    }
}

fn rows(c: &Capabilities, offsets: &Result<monitor_common::KernelOffsets, String>) -> Vec<Row> {
    let mut rows = Vec::new();
    let root = if c.euid == 0 {
        "root".to_owned()
    } else {
        format!("euid {}", c.euid)
    };
    rows.push(row(
        "privileges",
        Avail::from(c.can_load_bpf()),
        match c.cap_eff {
            Some(e) => format!("{root}, CapEff {e:016x}"),
            None => format!("{root}, CapEff unreadable"),
        },
    ));
    for (name, n) in CAPS {
        let avail = if c.cap_eff.is_none() {
            Avail::Unknown
        } else {
            Avail::from(c.has_cap(n))
        };
        let detail = match name {
            "CAP_SYS_ADMIN" => "covers CAP_BPF and CAP_PERFMON",
            "CAP_DAC_READ_SEARCH" => "reads other users' /proc entries",
            _ => "",
        };
        rows.push(row(format!("  {name}"), avail, detail));
    }
    let version_ok = c
        .kernel_version
        .map(|v| Avail::from(v >= MIN_KERNEL))
        .unwrap_or(Avail::Unknown);
    rows.push(row(
        "kernel",
        version_ok,
        format!(
            "{} (needs ≥ 5.8 for ring buffers; paths resolved in the kernel from 5.17, bpf_loop)",
            c.kernel_release
        ),
    ));
    rows.push(check_row("BTF", &c.btf, false));
    rows.push(match offsets {
        Ok(o) => row(
            "kernel offsets",
            Avail::Yes,
            format!(
                "task_struct tgid={} real_parent={} mm={} exit_code={}; mm_struct arg_start={} arg_end={}; \
                 exit group_dead={}, exec filename={}",
                o.task_tgid,
                o.task_real_parent,
                o.task_mm,
                o.task_exit_code,
                o.mm_arg_start,
                o.mm_arg_end,
                o.exit_group_dead,
                o.exec_filename
            ),
        ),
        Err(e) => row("kernel offsets", Avail::No, e.clone()),
    });
    rows.push(match offsets {
        Ok(o) if o.path_walk == 1 => row(
            "kernel path walk",
            Avail::Yes,
            format!(
                "fd.name is the file the kernel opened: dentry d_parent={} d_name.name={}, \
                 mount mnt={} mnt_parent={} mnt_mountpoint={}, fs_struct root={} pwd={}",
                o.dentry_d_parent,
                o.dentry_d_name_name,
                o.mount_mnt,
                o.mount_mnt_parent,
                o.mount_mnt_mountpoint,
                o.fs_root,
                o.fs_pwd
            ),
        ),
        _ => row(
            "kernel path walk",
            Avail::No,
            "no bpf_loop (5.17+) or struct offsets missing from BTF: paths are resolved in user space \
             (fd.name_source says so)",
        ),
    });
    rows.extend(prevent_rows(c, offsets));
    rows.push(match &c.tracefs {
        Some(p) => row("tracefs", Avail::Yes, format!("mounted at {}", p.display())),
        None if tracefs_unmounted(c) => row(
            "tracefs",
            Avail::No,
            format!("not mounted (`mcp-monitor run` mounts it at {TRACEFS_MOUNT_POINT})"),
        ),
        None => row(
            "tracefs",
            Avail::Unknown,
            c.tracefs_problem.clone().unwrap_or_default(),
        ),
    });
    for t in &c.tracepoints {
        let avail = match t.present {
            Some(p) => Avail::from(p),
            None => Avail::Unknown,
        };
        let mut detail = String::new();
        if t.wanted.name == "sched_process_fork" {
            detail.push_str("hooked as a raw tracepoint");
        }
        if t.wanted.optional {
            detail.push_str("optional (absent on some architectures, kernels or configurations)");
        }
        rows.push(row(
            format!("  {}:{}", t.wanted.category, t.wanted.name),
            avail,
            detail,
        ));
    }
    rows.push(check_row("raw tracepoints", &c.raw_tracepoints, false));
    rows.push(check_row("ring buffer", &c.ring_buffer, false));
    rows.push(check_row("BPF LSM", &c.bpf_lsm, true));
    rows.push(check_row("fentry/fexit", &c.fentry, true));
    rows.push(check_row("kprobes", &c.kprobes, true));
    rows.push(match c.lockdown.as_deref() {
        Some(m @ "confidentiality") => row(
            "lockdown",
            Avail::No,
            format!("{m}: BPF may not read kernel memory"),
        ),
        Some(m @ "integrity") => row(
            "lockdown",
            Avail::Yes,
            format!("{m}: bpf_probe_write_user is off; reads are fine"),
        ),
        Some(m) => row("lockdown", Avail::Yes, m),
        None => row(
            "lockdown",
            Avail::Unknown,
            "/sys/kernel/security/lockdown unreadable (securityfs not mounted?)",
        ),
    });
    rows.push(match c.unprivileged_bpf_disabled {
        Some(v) => row(
            "unprivileged_bpf_disabled",
            Avail::Yes,
            match v {
                0 => "0: unprivileged users may use bpf()".to_owned(),
                1 => "1: bpf() needs privileges (permanently)".to_owned(),
                2 => "2: bpf() needs privileges".to_owned(),
                v => v.to_string(),
            },
        ),
        None => row("unprivileged_bpf_disabled", Avail::Unknown, "unreadable"),
    });
    rows.push(check_row("memlock rlimit", &memlock_check(c), false));
    rows
}

/// What prevent mode (`run --enforce`) can do here: decide in the kernel,
/// fail a file's open, refuse a connect.
fn prevent_rows(
    c: &Capabilities,
    offsets: &Result<monitor_common::KernelOffsets, String>,
) -> Vec<Row> {
    let identity = matches!(offsets, Ok(o) if o.identity == 1);
    let lsm = c.bpf_lsm.avail == Avail::Yes;
    vec![
        if identity {
            row(
                "prevent mode in the kernel",
                Avail::Yes,
                "rules on files, execs, connects and syscalls are decided at the call (SIGKILL before it returns)",
            )
        } else {
            row(
                "prevent mode in the kernel",
                Avail::No,
                "offsets of a file's identity missing from BTF: every action is taken from user space, after the call",
            )
        },
        row(
            "  deny a file's open",
            Avail::from(identity && lsm),
            if lsm {
                "BPF LSM file_open: a denied open fails with EPERM"
            } else {
                "needs BPF LSM: `deny` on files kills instead"
            },
        ),
        match crate::probes::enforce::cgroup2_root() {
            Some(root) => row(
                "  refuse a connect",
                Avail::Yes,
                format!("cgroup v2 connect hooks on {root}"),
            ),
            None => row(
                "  refuse a connect",
                Avail::No,
                "no cgroup v2 hierarchy mounted: connect rules kill, and the connection may leave first",
            ),
        },
    ]
}

fn check_json(c: &Check) -> Value {
    json!({ "available": c.avail.as_str(), "detail": c.detail })
}

fn report_json(
    c: &Capabilities,
    offsets: &Result<monitor_common::KernelOffsets, String>,
    blocking: Option<&PreflightError>,
) -> Value {
    let caps: serde_json::Map<String, Value> = CAPS
        .iter()
        .map(|(name, n)| (name.to_string(), c.cap_eff.map(|_| c.has_cap(*n)).into()))
        .collect();
    let limit = |v: u64| if v == u64::MAX { Value::Null } else { json!(v) };
    json!({
        "privileges": {
            "euid": c.euid,
            "root": c.euid == 0,
            "cap_eff": c.cap_eff.map(|e| format!("{e:016x}")),
            "capabilities": caps,
            "can_load_bpf": c.can_load_bpf(),
        },
        "kernel": {
            "release": c.kernel_release,
            "version": c.kernel_version.map(|(a, b, p)| format!("{a}.{b}.{p}")),
        },
        "btf": check_json(&c.btf),
        "offsets": match offsets {
            Ok(o) => json!({
                "task_tgid": o.task_tgid,
                "task_real_parent": o.task_real_parent,
                "task_mm": o.task_mm,
                "task_exit_code": o.task_exit_code,
                "mm_arg_start": o.mm_arg_start,
                "mm_arg_end": o.mm_arg_end,
                "exit_group_dead": o.exit_group_dead,
                "exec_filename": o.exec_filename,
            }),
            Err(e) => json!({ "error": e }),
        },
        "tracefs": { "mounted": c.tracefs.is_some(), "path": c.tracefs.as_ref().map(|p| p.display().to_string()) },
        "tracepoints": c.tracepoints.iter().map(|t| json!({
            "category": t.wanted.category,
            "name": t.wanted.name,
            "present": t.present,
            "optional": t.wanted.optional,
        })).collect::<Vec<_>>(),
        "raw_tracepoints": check_json(&c.raw_tracepoints),
        "ring_buffer": check_json(&c.ring_buffer),
        "bpf_lsm": check_json(&c.bpf_lsm),
        "fentry": check_json(&c.fentry),
        "kprobes": check_json(&c.kprobes),
        "lockdown": c.lockdown,
        "unprivileged_bpf_disabled": c.unprivileged_bpf_disabled,
        "memlock": c.memlock.map(|(s, h)| json!({ "soft": limit(s), "hard": limit(h) })),
        "blocking": blocking.map(|b| b.message.clone()),
        "will_use": if blocking.is_some() { Vec::new() } else { will_use(c) },
    })
}

fn report_text(rows: &[Row], blocking: Option<&PreflightError>, uses: &[String]) -> String {
    let width = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for r in rows {
        let pad = width - r.label.chars().count();
        let line = format!("{} {}{}  {}", r.mark, r.label, " ".repeat(pad), r.detail);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push('\n');
    if let Some(b) = blocking {
        out.push_str(&format!("blocking: {b}\n"));
    }
    if uses.is_empty() {
        out.push_str("mcp-monitor will use: nothing until the problem above is fixed\n");
    } else {
        out.push_str(&format!("mcp-monitor will use: {}\n", uses.join(", ")));
    }
    out
}

/// Prints the report (a table, or one JSON object with `json`); returns the
/// exit code: 0 when mcp-monitor can run here, 1 when something blocks it.
pub fn run_doctor(json: bool) -> anyhow::Result<i32> {
    let caps = Capabilities::probe(tracepoints());
    let offsets = if caps.btf.avail == Avail::Yes && caps.tracefs.is_some() {
        offsets::kernel_offsets().map_err(|e| format!("{e:#}"))
    } else if caps.btf.avail != Avail::Yes {
        Err(format!("not read: {}", caps.btf.detail))
    } else {
        Err(format!(
            "not read: {}",
            caps.tracefs_problem.as_deref().unwrap_or("no tracefs")
        ))
    };
    let blocking = blocking_problem(&caps).or_else(|| {
        offsets.as_ref().err().map(|e| PreflightError {
            problem: Problem::NoBtf,
            message: e.clone(),
        })
    });
    // What the verifier makes of every program on this kernel: the cost of
    // start-up. Loading verifies; nothing is attached.
    let verified = match (&blocking, &offsets) {
        (None, Ok(o)) => Some(crate::probes::verify_all(*o).map_err(|e| format!("{e:#}"))),
        _ => None,
    };
    let mut stdout = std::io::stdout().lock();
    if json {
        let mut v = report_json(&caps, &offsets, blocking.as_ref());
        if let Some(verified) = &verified {
            v["verifier"] = verifier_json(verified);
        }
        writeln!(stdout, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        let uses = if blocking.is_some() {
            Vec::new()
        } else {
            will_use(&caps)
        };
        let text = report_text(&rows(&caps, &offsets), blocking.as_ref(), &uses);
        stdout.write_all(text.as_bytes())?;
        if let Some(verified) = &verified {
            stdout.write_all(verifier_text(verified).as_bytes())?;
        }
        stdout
            .write_all(pinned_state_text(Path::new(crate::config::DEFAULT_PIN_DIR)).as_bytes())?;
    }
    Ok(if blocking.is_some() { 1 } else { 0 })
}

/// What the kernel counted for the daemon whose state is pinned at `dir`
/// (the default `kernel.pin_dir`): lost records and kernel-side failures.
fn pinned_state_text(dir: &Path) -> String {
    let Some((lost, failures)) = crate::probes::drops::pinned_totals(dir) else {
        return format!("\nkernel state: none pinned at {}\n", dir.display());
    };
    let list = |items: Vec<(String, u64)>| {
        let total: u64 = items.iter().map(|(_, n)| n).sum();
        let named: Vec<String> = items
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if named.is_empty() {
            "0".to_owned()
        } else {
            format!("{total} ({})", named.join(", "))
        }
    };
    format!(
        "\nkernel state pinned at {}:\n  records lost to a full ring buffer  {}\n  kernel-side failures               {}\n",
        dir.display(),
        list(lost.into_iter().map(|(k, n)| (k.to_string(), n)).collect()),
        list(
            failures
                .into_iter()
                .map(|(k, n)| (k.name().to_owned(), n))
                .collect()
        ),
    )
}

type Verified = Result<Vec<(String, Option<u32>)>, String>;

/// Instructions the verifier processed, per program and in total.
fn verifier_text(verified: &Verified) -> String {
    let programs = match verified {
        Ok(p) => p,
        Err(e) => return format!("\nverifier: the programs did not load: {e}\n"),
    };
    let width = programs.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut out = String::from("\nverifier (instructions processed per program, at load):\n");
    for (name, n) in programs {
        let n = n.map_or("n/a".to_owned(), |n| n.to_string());
        out.push_str(&format!("  {name:<width$}  {n:>8}\n"));
    }
    let total = crate::probes::verified_total(programs);
    out.push_str(&format!(
        "  {:<width$}  {:>8}\n",
        "total",
        total.map_or("n/a (kernel < 5.16)".to_owned(), |t| t.to_string())
    ));
    out
}

fn verifier_json(verified: &Verified) -> serde_json::Value {
    match verified {
        Ok(programs) => serde_json::json!({
            "programs": programs.iter().map(|(n, v)| serde_json::json!({"program": n, "verified_insns": v})).collect::<Vec<_>>(),
            "total": crate::probes::verified_total(programs),
        }),
        Err(e) => serde_json::json!({ "error": e }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::capabilities::TracepointState;

    fn healthy() -> Capabilities {
        let yes = |d: &str| Check {
            avail: Avail::Yes,
            detail: d.to_owned(),
        };
        Capabilities {
            euid: 0,
            cap_eff: Some(0x1ff_ffff_ffff),
            kernel_release: "6.18.0".to_owned(),
            kernel_version: Some((6, 18, 0)),
            btf: yes(VMLINUX_BTF),
            tracefs: Some("/sys/kernel/tracing".into()),
            tracefs_problem: None,
            tracepoints: tracepoints()
                .into_iter()
                .map(|wanted| TracepointState {
                    wanted,
                    present: Some(true),
                })
                .collect(),
            raw_tracepoints: yes(""),
            ring_buffer: yes(""),
            bpf_lsm: yes(""),
            fentry: yes(""),
            kprobes: yes(""),
            lockdown: Some("integrity".to_owned()),
            unprivileged_bpf_disabled: Some(2),
            memlock: Some((8 << 20, 8 << 20)),
        }
    }

    /// Tracepoints the healthy machine offers: all but sched_process_fork,
    /// which is hooked as a raw tracepoint.
    fn tracepoints_used() -> String {
        format!("tracepoints ({})", tracepoints().len() - 1)
    }

    #[test]
    fn blocking_problems_in_order() {
        let c = healthy();
        assert_eq!(blocking_problem(&c), None);
        assert_eq!(
            will_use(&c),
            [
                tracepoints_used().as_str(),
                "raw tracepoint sched_process_fork",
                "ring buffer"
            ]
        );

        let mut c = healthy();
        c.euid = 1000;
        c.cap_eff = Some(0);
        c.btf.avail = Avail::No;
        let e = blocking_problem(&c).unwrap();
        assert_eq!(e.problem, Problem::NotPrivileged);
        assert!(
            e.message
                .contains("run as root or grant CAP_BPF,CAP_PERFMON,CAP_DAC_READ_SEARCH")
        );

        // CAP_BPF + CAP_PERFMON without root is enough.
        c.cap_eff = Some((1 << cap::BPF) | (1 << cap::PERFMON));
        let e = blocking_problem(&c).unwrap();
        assert_eq!(e.problem, Problem::NoBtf);
        assert!(e.message.contains("CONFIG_DEBUG_INFO_BTF=y"), "{e}");

        let mut c = healthy();
        c.kernel_version = Some((5, 4, 0));
        c.kernel_release = "5.4.0-150-generic".into();
        let e = blocking_problem(&c).unwrap();
        assert_eq!(e.problem, Problem::OldKernel);
        assert!(
            e.message.contains("5.4.0-150-generic is older than 5.8"),
            "{e}"
        );

        let mut c = healthy();
        c.tracefs = None;
        let e = blocking_problem(&c).unwrap();
        assert_eq!(e.problem, Problem::NoTracefs);
        assert!(
            e.message
                .contains("mount -t tracefs tracefs /sys/kernel/tracing"),
            "{e}"
        );

        let mut c = healthy();
        for t in &mut c.tracepoints {
            if t.wanted.optional {
                t.present = Some(false);
            }
        }
        assert_eq!(blocking_problem(&c), None);
        let required = tracepoints()
            .iter()
            .filter(|t| !t.optional && t.name != "sched_process_fork")
            .count();
        assert!(required > 60, "{required}");
        assert_eq!(will_use(&c)[0], format!("tracepoints ({required})"));
        c.tracepoints[3].present = Some(false);
        let e = blocking_problem(&c).unwrap();
        assert_eq!(e.problem, Problem::MissingTracepoint);
        assert!(
            e.message.contains("sys_enter_openat") && e.message.contains("CONFIG_FTRACE_SYSCALLS")
        );

        let mut c = healthy();
        c.lockdown = Some("confidentiality".to_owned());
        assert_eq!(blocking_problem(&c).unwrap().problem, Problem::Lockdown);
        // Confidentiality mode empties tracefs too: the lockdown is named.
        c.tracefs = None;
        assert_eq!(blocking_problem(&c).unwrap().problem, Problem::Lockdown);

        let mut c = healthy();
        c.kernel_version = Some((5, 10, 0));
        assert_eq!(blocking_problem(&c), None, "5.10 runs, degraded");

        let mut c = healthy();
        c.ring_buffer.avail = Avail::No;
        assert_eq!(blocking_problem(&c).unwrap().problem, Problem::NoRingBuffer);
    }

    #[test]
    fn report_is_aligned_and_ends_with_use_line() {
        let c = healthy();
        let offsets = Ok(monitor_common::KernelOffsets::absent());
        let text = report_text(&rows(&c, &offsets), None, &will_use(&c));
        assert_eq!(
            text.lines().last().unwrap(),
            format!(
                "mcp-monitor will use: {}, raw tracepoint sched_process_fork, ring buffer",
                tracepoints_used()
            )
        );
        // Details start in the same column on every row.
        let rows = rows(&c, &offsets);
        let width = rows.iter().map(|r| r.label.chars().count()).max().unwrap();
        for (r, line) in rows.iter().zip(text.lines()) {
            let detail: String = line.chars().skip(width + 4).collect();
            assert_eq!(detail, r.detail, "{line}");
            assert!(line.starts_with(r.mark));
        }
        let v = report_json(&c, &offsets, None);
        assert_eq!(
            v["tracepoints"].as_array().unwrap().len(),
            tracepoints().len()
        );
        assert_eq!(v["privileges"]["capabilities"]["CAP_BPF"], true);
        assert_eq!(v["blocking"], Value::Null);
    }

    #[test]
    fn doctor_runs_here() {
        let code = run_doctor(false).unwrap();
        assert!(code == 0 || code == 1);
        run_doctor(true).unwrap();
    }
}
