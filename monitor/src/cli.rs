//! Command-line interface of the `mcp-monitor` binary.
use clap::{Parser, Subcommand};

use crate::rules;

#[derive(Debug, Parser)]
#[command(name = "mcp-monitor", version, about = "eBPF runtime security monitor for MCP server processes")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with detection rules.
    #[command(subcommand)]
    Rules(rules::cli::RulesCommand),
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Rules(cmd) => rules::cli::run(cmd),
    }
}
