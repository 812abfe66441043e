//! Which kernel program goes on which hook.

/// Where a program attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// A tracefs tracepoint: category and name.
    TracePoint(&'static str, &'static str),
    /// A raw tracepoint by name.
    RawTracePoint(&'static str),
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hook::TracePoint(cat, name) => write!(f, "tracepoint {cat}:{name}"),
            Hook::RawTracePoint(name) => write!(f, "raw tracepoint {name}"),
        }
    }
}

/// One program of the eBPF object and its hook.
#[derive(Clone, Copy, Debug)]
pub struct ProgramSpec {
    /// Function name in `monitor-ebpf`.
    pub program: &'static str,
    pub hook: Hook,
}

const fn tp(program: &'static str, category: &'static str) -> ProgramSpec {
    ProgramSpec {
        program,
        hook: Hook::TracePoint(category, program),
    }
}

/// Every program mcp-monitor attaches. Syscall programs are named after their
/// tracepoint.
pub const PROGRAMS: &[ProgramSpec] = &[
    ProgramSpec {
        program: "sched_process_fork",
        hook: Hook::RawTracePoint("sched_process_fork"),
    },
    tp("sched_process_exec", "sched"),
    tp("sched_process_exit", "sched"),
    tp("sys_enter_openat", "syscalls"),
    tp("sys_exit_openat", "syscalls"),
    tp("sys_enter_openat2", "syscalls"),
    tp("sys_exit_openat2", "syscalls"),
    tp("sys_enter_open", "syscalls"),
    tp("sys_exit_open", "syscalls"),
    tp("sys_enter_creat", "syscalls"),
    tp("sys_exit_creat", "syscalls"),
    tp("sys_enter_connect", "syscalls"),
    tp("sys_exit_connect", "syscalls"),
];

/// Programs whose hook may legitimately be missing on some architectures
/// (`open` and `creat` do not exist on arm64, for example).
pub fn is_optional(spec: &ProgramSpec) -> bool {
    matches!(
        spec.program,
        "sys_enter_open" | "sys_exit_open" | "sys_enter_creat" | "sys_exit_creat"
    )
}
