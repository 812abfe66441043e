//! mcp-monitor: an eBPF runtime security monitor for MCP server processes.
//!
//! Data flows one way: kernel record → [`decode`] → process/MCP enrichment
//! ([`procs`]) → [`rules`] → alert sinks. The binary's subcommands live in [`cli`].
pub mod cli;
pub mod event;
pub mod rules;
