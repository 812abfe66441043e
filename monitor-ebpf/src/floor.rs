//! The benchmark floor: a program that does nothing on every hook the monitor
//! uses. What these cost is what the kernel's tracepoint machinery costs by
//! itself; `cargo xtask bench` measures the real programs against it.
#![no_std]
#![no_main]

mod runtime;

use aya_ebpf::{
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};

#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(_ctx: RawTracePointContext) -> i32 {
    0
}

macro_rules! empty_tracepoints {
    ($($name:ident),* $(,)?) => {
        $(
            #[tracepoint]
            pub fn $name(_ctx: TracePointContext) -> u32 {
                0
            }
        )*
    };
}

empty_tracepoints!(
    sched_process_exec,
    sched_process_exit,
    sys_enter_openat,
    sys_exit_openat,
    sys_enter_openat2,
    sys_exit_openat2,
    sys_enter_open,
    sys_exit_open,
    sys_enter_creat,
    sys_exit_creat,
    sys_enter_connect,
    sys_exit_connect,
    io_uring_complete,
);

macro_rules! empty_syscall_pairs {
    ($($variant:ident $name:literal $enter:ident $exit:ident;)*) => {
        empty_tracepoints!($($enter, $exit,)*);
    };
}

monitor_common::for_each_syscall!(empty_syscall_pairs);
