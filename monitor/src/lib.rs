//! mcp-monitor: an eBPF runtime security monitor for MCP server processes.
//!
//! Data flows one way: kernel record ([`probes`]) → [`decode`] → process/MCP
//! enrichment ([`procs`]) → [`rules`] → [`sinks`]; [`daemon`] wires it together,
//! configured by [`config`].
//! The binary's subcommands live in [`cli`]. Modules are crate-private unless
//! the binary, the benchmarks, the fuzz targets or the end-to-end tests use
//! them, so the compiler reports what nothing calls.
pub mod alerts;
pub mod cli;
pub mod config;
pub(crate) mod control;
pub(crate) mod daemon;
pub mod decode;
pub(crate) mod discover;
pub mod enforce;
pub mod event;
pub(crate) mod glob;
pub(crate) mod kernel;
pub(crate) mod launch;
pub(crate) mod mcp;
pub(crate) mod metrics;
pub(crate) mod names;
pub(crate) mod paths;
pub(crate) mod pipeline;
pub mod priority;
pub(crate) mod probes;
pub mod procs;
pub mod redact;
pub mod rules;
pub(crate) mod sdnotify;
pub mod sinks;
pub(crate) mod tail;
pub(crate) mod textfile;
pub mod units;
pub(crate) mod watch;
pub mod yaml;
