//! Kernel programs of mcp-monitor.
//!
//! Only tasks whose thread group is in the `TAGGED` map (MCP servers and everything
//! they spawn) emit file and network events; every program checks that first and
//! returns at once for anything else. Exec events are emitted for every process so
//! user space can recognise MCP servers by their command line.
#![no_std]
#![no_main]
// Atomic read-modify-write on map values (see `emit`).
#![feature(core_intrinsics)]
#![allow(internal_features)]

/// BPF atomics beyond add (or, and, exchange, compare-and-exchange, Linux
/// 5.12) are used; `compat.rs` builds the same programs without them, since
/// older verifiers refuse such an instruction anywhere in a program, even
/// where it can never run.
const ATOMICS: bool = true;

mod emit;
mod enforce;
mod env;
mod file;
mod handoff;
mod kpath;
mod maps;
mod net;
mod process;
mod runtime;
mod syscalls;
mod uring;
