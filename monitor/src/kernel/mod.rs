//! Kernel introspection: what the running kernel offers and where its data
//! lives, read at start-up so nothing is hard-coded for one kernel.
//!
//! - [`btf`]: a small BTF reader (struct member offsets and sizes).
//! - [`tracefs`]: finding/mounting tracefs and parsing tracepoint formats.
//! - [`offsets`]: the [`monitor_common::KernelOffsets`] the probes need.
//! - [`capabilities`]: privileges and kernel facilities, probed.
//! - [`doctor`]: the `doctor` report and the `run` preflight.
pub mod btf;
pub mod capabilities;
pub mod doctor;
pub mod offsets;
pub mod tracefs;

pub use doctor::{PreflightError, preflight, run_doctor};
pub use offsets::kernel_offsets;
