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

macro_rules! empty_base_hooks {
    ($($program:ident $category:literal $evt_type:literal $optional:literal;)*) => {
        empty_tracepoints!($($program,)*);
    };
}

monitor_common::for_each_base_hook!(empty_base_hooks);

macro_rules! empty_syscall_pairs {
    ($($variant:ident $name:literal $enter:ident $exit:ident;)*) => {
        empty_tracepoints!($($enter, $exit,)*);
    };
}

monitor_common::for_each_syscall!(empty_syscall_pairs);
