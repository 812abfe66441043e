//! Which kernel program goes on which hook.
use std::collections::BTreeSet;

use monitor_common::Syscall;

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

macro_rules! base_hooks {
    ($($program:ident $category:literal $evt_type:literal $optional:literal;)*) => {
        /// The programs on hooks of their own (`for_each_base_hook!`), with
        /// the evt.type each reports ("" for the lifecycle, always attached).
        const BASE_HOOKS: &[(&str, ProgramSpec)] = &[
            ("", ProgramSpec {
                program: "sched_process_fork",
                hook: Hook::RawTracePoint("sched_process_fork"),
            }),
            $(($evt_type, tp(stringify!($program), $category)),)*
        ];

        /// The base programs whose hook may be missing.
        const OPTIONAL_BASE: &[&str] = &[$(
            if $optional { stringify!($program) } else { "" },
        )*];
    };
}

monitor_common::for_each_base_hook!(base_hooks);

/// The program that names the files io_uring requests used.
pub const URING_PROGRAM: &str = "io_uring_complete";

/// Every program mcp-monitor attaches: the base ones, the single ones, then
/// an enter and an exit program for each generically paired syscall.
pub fn programs() -> impl Iterator<Item = ProgramSpec> {
    BASE_HOOKS.iter().map(|(_, spec)| *spec).chain(
        Syscall::ALL
            .iter()
            .flat_map(|s| [s.enter_tracepoint(), s.exit_tracepoint()])
            .map(|name| tp(name, "syscalls")),
    )
}

/// Every tracepoint mcp-monitor uses, from the list of programs it attaches
/// (`sched_process_fork` is hooked as a raw tracepoint; its tracefs entry is
/// listed as evidence it exists), for `doctor`.
pub fn tracepoints() -> Vec<crate::kernel::capabilities::WantedTracepoint> {
    use crate::kernel::capabilities::tp;
    programs()
        .map(|spec| match spec.hook {
            Hook::TracePoint(category, name) => tp(category, name, is_optional(&spec)),
            Hook::RawTracePoint(name) => tp("sched", name, false),
        })
        .collect()
}

/// Event types whose meaning depends on others: a `dup2` of a socket onto
/// standard input carries the address the socket was connected, bound or
/// accepted with, which only those calls tell.
const NEEDS: &[(&[&str], &[&str])] = &[(
    &["dup", "dup2", "dup3"],
    &["connect", "bind", "accept", "accept4"],
)];

/// The programs that see the event types `types` (evt.type values), or every
/// program for `None` (a rule that looks at any type, or `--events`). The
/// process lifecycle is always watched: tagging follows it.
pub fn programs_for(types: Option<&BTreeSet<&str>>) -> Vec<ProgramSpec> {
    let Some(types) = types else {
        return programs().collect();
    };
    let mut wanted: BTreeSet<&str> = types.iter().copied().collect();
    for (when, also) in NEEDS {
        if when.iter().any(|t| types.contains(t)) {
            wanted.extend(also.iter().copied());
        }
    }
    let pair = |enter, exit| [tp(enter, "syscalls"), tp(exit, "syscalls")];
    let base = BASE_HOOKS
        .iter()
        .filter(|(t, _)| t.is_empty() || wanted.contains(t))
        .map(|(_, spec)| *spec);
    let generic = Syscall::ALL
        .iter()
        .filter(|s| wanted.contains(s.name()))
        .flat_map(|s| pair(s.enter_tracepoint(), s.exit_tracepoint()));
    base.chain(generic).collect()
}

/// Programs whose hook may legitimately be missing: the base hooks marked
/// optional in `for_each_base_hook!`, and the generic syscalls marked so in
/// the syscall table (`Syscall::optional`).
pub fn is_optional(spec: &ProgramSpec) -> bool {
    if OPTIONAL_BASE.contains(&spec.program) {
        return true;
    }
    Syscall::ALL.iter().any(|s| {
        s.optional()
            && (s.enter_tracepoint() == spec.program || s.exit_tracepoint() == spec.program)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_syscall_has_both_hooks_and_names_are_unique() {
        let all: Vec<ProgramSpec> = programs().collect();
        assert_eq!(all.len(), BASE_HOOKS.len() + 2 * Syscall::ALL.len());
        for (i, p) in all.iter().enumerate() {
            assert!(
                all[i + 1..].iter().all(|q| q.program != p.program),
                "{} twice",
                p.program
            );
        }
        let names = |program| ProgramSpec {
            program,
            hook: Hook::RawTracePoint(program),
        };
        assert!(is_optional(&names("sys_exit_fchmodat2")));
        assert!(is_optional(&names("sys_enter_open")));
        assert!(!is_optional(&names("sys_enter_openat")));
        assert!(!is_optional(&names("sys_enter_mount")));
        assert!(!is_optional(&names("sys_exit_unlinkat")));
    }

    fn selected(types: &[&str]) -> Vec<&'static str> {
        let set: BTreeSet<&str> = types.iter().copied().collect();
        programs_for(Some(&set)).iter().map(|p| p.program).collect()
    }

    #[test]
    fn only_the_hooks_the_rules_need() {
        assert_eq!(programs_for(None).len(), programs().count());
        assert_eq!(
            selected(&[]),
            [
                "sched_process_fork",
                "sched_process_exec",
                "sched_process_exit"
            ]
        );
        assert_eq!(
            selected(&["openat", "mount", "execve"]),
            [
                "sched_process_fork",
                "sched_process_exec",
                "sched_process_exit",
                "sys_enter_openat",
                "sys_exit_openat",
                "sys_enter_mount",
                "sys_exit_mount"
            ]
        );
        let dup = selected(&["dup2"]);
        for p in [
            "sys_exit_connect",
            "sys_exit_bind",
            "sys_exit_accept4",
            "sys_exit_dup2",
        ] {
            assert!(dup.contains(&p), "{p} in {dup:?}");
        }
        assert!(!dup.contains(&"sys_exit_openat"));
        assert!(selected(&["umount2"]).contains(&"sys_enter_umount"));
        assert!(selected(&["io_uring"]).contains(&URING_PROGRAM));
        assert!(!selected(&["io_uring_setup"]).contains(&URING_PROGRAM));
    }
}
