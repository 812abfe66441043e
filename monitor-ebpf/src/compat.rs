//! The kernel programs of `main.rs` for kernels without BPF atomics beyond
//! add (before 5.12): tag bits are flipped with a checked atomic add and opens
//! pair through the hash map only. User space loads this object there.
#![no_std]
#![no_main]
#![feature(core_intrinsics)]
#![allow(internal_features)]

const ATOMICS: bool = false;

#[path = "emit.rs"]
mod emit;
#[path = "enforce.rs"]
mod enforce;
#[path = "env.rs"]
mod env;
#[path = "file.rs"]
mod file;
#[path = "handoff.rs"]
mod handoff;
#[path = "kpath.rs"]
mod kpath;
#[path = "maps.rs"]
mod maps;
#[path = "net.rs"]
mod net;
#[path = "process.rs"]
mod process;
#[path = "runtime.rs"]
mod runtime;
#[path = "syscalls.rs"]
mod syscalls;
#[path = "uring.rs"]
mod uring;
