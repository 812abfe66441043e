//! What this kernel and this process offer: privileges, BTF, tracefs and the
//! tracepoints mcp-monitor hooks, ring buffers, and optional facilities
//! (BPF LSM, fentry, kprobes). Everything here only looks; nothing is changed
//! (the ring buffer test creates a map and closes it at once).
use std::path::{Path, PathBuf};

use super::btf::VMLINUX_BTF;
use super::tracefs::Tracefs;

/// Capability numbers (`linux/capability.h`).
pub mod cap {
    pub const DAC_READ_SEARCH: u32 = 2;
    pub const SYS_ADMIN: u32 = 21;
    pub const PERFMON: u32 = 38;
    pub const BPF: u32 = 39;
}

/// A tracepoint mcp-monitor hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WantedTracepoint {
    pub category: &'static str,
    pub name: &'static str,
    /// Absent on some architectures (`open`, `creat` on arm64), kernels
    /// (`fchmodat2`) or configurations (`init_module`); the monitor runs
    /// without it.
    pub optional: bool,
}

pub const fn tp(category: &'static str, name: &'static str, optional: bool) -> WantedTracepoint {
    WantedTracepoint {
        category,
        name,
        optional,
    }
}

/// A yes / no / cannot-tell answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Avail {
    Yes,
    No,
    Unknown,
}

impl Avail {
    pub fn mark(self) -> &'static str {
        match self {
            Avail::Yes => "✓",
            Avail::No => "✗",
            Avail::Unknown => "?",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Avail::Yes => "yes",
            Avail::No => "no",
            Avail::Unknown => "unknown",
        }
    }
}

impl From<bool> for Avail {
    fn from(b: bool) -> Avail {
        if b { Avail::Yes } else { Avail::No }
    }
}

/// An answer with the evidence behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub avail: Avail,
    pub detail: String,
}

impl Check {
    fn new(avail: Avail, detail: impl Into<String>) -> Check {
        Check {
            avail,
            detail: detail.into(),
        }
    }
}

/// A tracepoint and whether it exists here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracepointState {
    pub wanted: WantedTracepoint,
    /// `None` when tracefs is not mounted, so nobody can tell.
    pub present: Option<bool>,
}

/// Everything the doctor and the preflight look at.
#[derive(Clone, Debug)]
pub struct Capabilities {
    pub euid: u32,
    /// Effective capability set (`CapEff` of `/proc/self/status`).
    pub cap_eff: Option<u64>,
    /// `uname -r`.
    pub kernel_release: String,
    /// (major, minor, patch) parsed from the release.
    pub kernel_version: Option<(u32, u32, u32)>,
    pub btf: Check,
    /// Where tracefs is mounted, if anywhere.
    pub tracefs: Option<PathBuf>,
    /// Why tracefs is not usable, when it is not.
    pub tracefs_problem: Option<String>,
    pub tracepoints: Vec<TracepointState>,
    pub raw_tracepoints: Check,
    pub ring_buffer: Check,
    pub bpf_lsm: Check,
    pub fentry: Check,
    pub kprobes: Check,
    /// The active mode of `/sys/kernel/security/lockdown` (`none`,
    /// `integrity`, `confidentiality`).
    pub lockdown: Option<String>,
    /// `/proc/sys/kernel/unprivileged_bpf_disabled`.
    pub unprivileged_bpf_disabled: Option<u32>,
    /// RLIMIT_MEMLOCK (soft, hard); `u64::MAX` is unlimited.
    pub memlock: Option<(u64, u64)>,
}

impl Capabilities {
    /// Whether the effective set has capability `n` (false when unknown).
    pub fn has_cap(&self, n: u32) -> bool {
        self.cap_eff.is_some_and(|c| n < 64 && c & (1 << n) != 0)
    }

    /// Privileges enough to load and attach the programs: CAP_BPF with
    /// CAP_PERFMON (kernel ≥ 5.8), or CAP_SYS_ADMIN (which covers both).
    pub fn can_load_bpf(&self) -> bool {
        (self.has_cap(cap::BPF) && self.has_cap(cap::PERFMON)) || self.has_cap(cap::SYS_ADMIN)
    }

    /// Tracepoints from [`tracepoints`] that exist here.
    /// Looks at the running system, for the tracepoints in `wanted`.
    pub fn probe(wanted: Vec<WantedTracepoint>) -> Capabilities {
        let (kernel_release, kernel_version) = kernel_release();
        let tracefs = Tracefs::find();
        let tracefs_problem = tracefs.as_ref().err().map(ToString::to_string);
        let tracefs = tracefs.ok();
        let btf = btf_check();
        let tracepoints = wanted
            .into_iter()
            .map(|wanted| TracepointState {
                wanted,
                present: tracefs
                    .as_ref()
                    .map(|t| t.tracepoint_exists(wanted.category, wanted.name)),
            })
            .collect();
        let config = KernelConfig::read(&kernel_release);
        let raw_tracepoints = raw_tracepoint_check(btf.avail, kernel_version);
        Capabilities {
            euid: unsafe_geteuid(),
            cap_eff: cap_eff(),
            kernel_version,
            btf: btf.clone(),
            tracepoints,
            raw_tracepoints,
            ring_buffer: ring_buffer_check(),
            bpf_lsm: bpf_lsm_check(config.as_ref()),
            fentry: fentry_check(btf.avail, config.as_ref()),
            kprobes: kprobes_check(tracefs.as_ref(), config.as_ref()),
            lockdown: lockdown(),
            unprivileged_bpf_disabled: read_trimmed("/proc/sys/kernel/unprivileged_bpf_disabled")
                .and_then(|s| s.parse().ok()),
            memlock: memlock(),
            tracefs: tracefs.map(|t| t.root().to_owned()),
            tracefs_problem,
            kernel_release,
        }
    }
}

fn unsafe_geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// `CapEff` from `/proc/self/status`.
pub fn cap_eff() -> Option<u64> {
    parse_cap_eff(&std::fs::read_to_string("/proc/self/status").ok()?)
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// This kernel's version, read once: the loader asks for it per program.
pub fn kernel_version() -> Option<(u32, u32, u32)> {
    static VERSION: std::sync::OnceLock<Option<(u32, u32, u32)>> = std::sync::OnceLock::new();
    *VERSION.get_or_init(|| kernel_release().1)
}

fn kernel_release() -> (String, Option<(u32, u32, u32)>) {
    // SAFETY: utsname is plain data; uname fills it with NUL-terminated strings.
    let release = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return ("unknown".to_owned(), None);
        }
        std::ffi::CStr::from_ptr(u.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    };
    let version = parse_version(&release);
    (release, version)
}

/// `6.18.44-fc-v669` → (6, 18, 44).
pub fn parse_version(release: &str) -> Option<(u32, u32, u32)> {
    let mut nums = release.split(|c: char| !c.is_ascii_digit());
    let major = nums.next()?.parse().ok()?;
    let minor = nums.next()?.parse().ok()?;
    let patch = nums.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

fn btf_check() -> Check {
    match std::fs::File::open(VMLINUX_BTF) {
        Ok(_) => Check::new(Avail::Yes, VMLINUX_BTF),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::new(
            Avail::No,
            format!("no {VMLINUX_BTF} (kernel needs CONFIG_DEBUG_INFO_BTF=y)"),
        ),
        Err(e) => Check::new(Avail::Unknown, format!("{VMLINUX_BTF}: {e}")),
    }
}

fn raw_tracepoint_check(btf: Avail, version: Option<(u32, u32, u32)>) -> Check {
    match version {
        Some(v) if v >= (4, 17, 0) && btf == Avail::Yes => {
            Check::new(Avail::Yes, "kernel ≥ 4.17 with BTF")
        }
        Some(v) if v < (4, 17, 0) => Check::new(Avail::No, "kernel older than 4.17"),
        Some(_) => Check::new(Avail::Unknown, "kernel ≥ 4.17 but BTF not readable"),
        None => Check::new(Avail::Unknown, "kernel version not known"),
    }
}

/// `bpf(BPF_MAP_CREATE)` attributes for a map without BTF; the kernel zero-fills
/// the rest of `union bpf_attr`.
#[repr(C)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_TYPE_RINGBUF: u32 = 27;

/// Creates (and closes) a small BPF ring buffer: proves ring buffers exist
/// here and that this process may create BPF maps.
pub fn ring_buffer_check() -> Check {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = u32::try_from(page)
        .ok()
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096);
    let attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_RINGBUF,
        key_size: 0,
        value_size: 0,
        max_entries: page * 16,
        map_flags: 0,
    };
    // SAFETY: attr is a valid, initialised bpf_attr prefix of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_CREATE,
            &attr as *const MapCreateAttr,
            std::mem::size_of::<MapCreateAttr>() as libc::c_uint,
        )
    };
    if fd >= 0 {
        // SAFETY: fd was just returned by the kernel and is ours to close.
        unsafe { libc::close(fd as libc::c_int) };
        return Check::new(Avail::Yes, "created a BPF ring buffer map");
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) => Check::new(Avail::No, "kernel has no BPF ring buffer (needs ≥ 5.8)"),
        Some(libc::EPERM) | Some(libc::EACCES) => Check::new(
            Avail::Unknown,
            format!("not allowed to create BPF maps ({e})"),
        ),
        Some(libc::ENOSYS) => Check::new(Avail::No, "kernel has no bpf() system call"),
        _ => Check::new(Avail::No, format!("creating a ring buffer map failed: {e}")),
    }
}

/// The kernel build configuration, when the system exposes it.
pub struct KernelConfig {
    pub source: String,
    text: String,
}

impl KernelConfig {
    /// `/proc/config.gz` (via `gzip -dc`, to need no decompressor here), else
    /// `/boot/config-<release>`.
    pub fn read(release: &str) -> Option<KernelConfig> {
        if Path::new("/proc/config.gz").exists() {
            let out = std::process::Command::new("gzip")
                .args(["-dc", "/proc/config.gz"])
                .stderr(std::process::Stdio::null())
                .output();
            if let Ok(out) = out
                && out.status.success()
            {
                return Some(KernelConfig {
                    source: "/proc/config.gz".to_owned(),
                    text: String::from_utf8_lossy(&out.stdout).into_owned(),
                });
            }
        }
        let boot = format!("/boot/config-{release}");
        std::fs::read_to_string(&boot)
            .ok()
            .map(|text| KernelConfig { source: boot, text })
    }

    /// `Some(true)` for `=y`/`=m`, `Some(false)` for "is not set" or absent.
    pub fn enabled(&self, option: &str) -> Option<bool> {
        config_enabled(&self.text, option)
    }
}

fn config_enabled(text: &str, option: &str) -> Option<bool> {
    for line in text.lines() {
        if let Some(v) = line.strip_prefix(option).and_then(|r| r.strip_prefix('=')) {
            return Some(matches!(v.trim(), "y" | "m"));
        }
        if line.strip_prefix("# ").and_then(|r| r.strip_prefix(option)) == Some(" is not set") {
            return Some(false);
        }
    }
    Some(false)
}

fn bpf_lsm_check(config: Option<&KernelConfig>) -> Check {
    match std::fs::read_to_string("/sys/kernel/security/lsm") {
        Ok(list) => {
            let active = list.trim().split(',').any(|l| l == "bpf");
            Check::new(Avail::from(active), format!("active LSMs: {}", list.trim()))
        }
        Err(_) => {
            let built = config.and_then(|c| c.enabled("CONFIG_BPF_LSM"));
            let detail = match built {
                Some(true) => {
                    "securityfs not mounted; built with CONFIG_BPF_LSM (active only if `bpf` is in lsm=)"
                }
                Some(false) => "not built (CONFIG_BPF_LSM off)",
                None => "securityfs not mounted (/sys/kernel/security/lsm unreadable)",
            };
            let avail = if built == Some(false) {
                Avail::No
            } else {
                Avail::Unknown
            };
            Check::new(avail, detail)
        }
    }
}

fn fentry_check(btf: Avail, config: Option<&KernelConfig>) -> Check {
    if btf == Avail::No {
        return Check::new(Avail::No, "needs BTF");
    }
    let Some(config) = config else {
        return Check::new(
            Avail::Unknown,
            "kernel config not readable (/proc/config.gz, /boot/config-*)",
        );
    };
    let tracer = config.enabled("CONFIG_FUNCTION_TRACER");
    let direct = config.enabled("CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS");
    match (tracer, direct) {
        (Some(true), Some(true)) => Check::new(
            Avail::Yes,
            format!(
                "kernel supports it: BTF, CONFIG_FUNCTION_TRACER, CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS ({}); not load-tested",
                config.source
            ),
        ),
        _ => Check::new(
            Avail::No,
            format!(
                "CONFIG_FUNCTION_TRACER or CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS off ({})",
                config.source
            ),
        ),
    }
}

fn kprobes_check(tracefs: Option<&Tracefs>, config: Option<&KernelConfig>) -> Check {
    if let Some(t) = tracefs {
        let path = t.root().join("kprobe_events");
        return if t.has_kprobe_events() {
            Check::new(Avail::Yes, path.display().to_string())
        } else {
            Check::new(Avail::No, format!("no {}", path.display()))
        };
    }
    match config.and_then(|c| c.enabled("CONFIG_KPROBES")) {
        Some(true) => Check::new(Avail::Yes, "CONFIG_KPROBES=y (tracefs not mounted)"),
        Some(false) => Check::new(Avail::No, "CONFIG_KPROBES off"),
        None => Check::new(Avail::Unknown, "tracefs not mounted"),
    }
}

/// The bracketed (active) word of `/sys/kernel/security/lockdown`.
fn lockdown() -> Option<String> {
    parse_lockdown(&std::fs::read_to_string("/sys/kernel/security/lockdown").ok()?)
}

fn parse_lockdown(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(text[start..end].to_owned())
}

// rlim_t is u64 on 64-bit targets only.
#[allow(clippy::unnecessary_cast)]
fn memlock() -> Option<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) } != 0 {
        return None;
    }
    let conv = |v: libc::rlim_t| {
        if v == libc::RLIM_INFINITY {
            u64::MAX
        } else {
            v as u64
        }
    };
    Some((conv(r.rlim_cur), conv(r.rlim_max)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(parse_version("6.18.44-fc-v669"), Some((6, 18, 44)));
        assert_eq!(parse_version("5.4.0"), Some((5, 4, 0)));
        assert_eq!(parse_version("6.1-rc1"), Some((6, 1, 0)));
        assert_eq!(parse_version("x"), None);
        assert_eq!(
            parse_cap_eff("Name:\tx\nCapEff:\t000001fffeffffff\n"),
            Some(0x1fffeffffff)
        );
        assert_eq!(parse_cap_eff("Name:\tx\n"), None);
        assert_eq!(
            parse_lockdown("none [integrity] confidentiality\n").as_deref(),
            Some("integrity")
        );
        assert_eq!(parse_lockdown("none integrity"), None);
        let cfg = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\nCONFIG_AB=y\n";
        assert_eq!(config_enabled(cfg, "CONFIG_A"), Some(true));
        assert_eq!(config_enabled(cfg, "CONFIG_B"), Some(false));
        assert_eq!(config_enabled(cfg, "CONFIG_C"), Some(true));
        assert_eq!(config_enabled(cfg, "CONFIG_D"), Some(false));
        assert_eq!(config_enabled("CONFIG_AB=y\n", "CONFIG_A"), Some(false));
    }

    #[test]
    fn probe_this_machine() {
        let c = Capabilities::probe(crate::probes::tracepoints());
        eprintln!("{c:#?}");
        assert!(!c.kernel_release.is_empty());
        assert_eq!(c.tracepoints.len(), crate::probes::tracepoints().len());
        if c.euid == 0 && c.can_load_bpf() {
            assert_eq!(c.ring_buffer.avail, Avail::Yes, "{}", c.ring_buffer.detail);
        }
    }
}
