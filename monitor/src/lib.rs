//! mcp-monitor: an eBPF runtime security monitor for MCP server processes.
//!
//! Data flows one way: kernel record ([`probes`]) → [`decode`] → process/MCP
//! enrichment ([`procs`]) → [`rules`] → [`sinks`]; [`daemon`] wires it together,
//! configured by [`config`].
//! The binary's subcommands live in [`cli`].
pub mod alerts;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod decode;
pub mod detect;
pub mod discover;
pub mod event;
pub mod glob;
pub mod kernel;
pub mod launch;
pub mod metrics;
pub mod names;
pub mod paths;
pub mod pipeline;
pub mod priority;
pub mod probes;
pub mod procs;
pub mod redact;
pub mod rules;
pub mod sdnotify;
pub mod sinks;
pub mod tail;
pub mod textfile;
pub mod units;
pub mod watch;
