//! `mcp-monitor rules …`
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Check rule files and report errors with file:line:col.
    Check { files: Vec<std::path::PathBuf> },
}

pub fn run(cmd: RulesCommand) -> anyhow::Result<i32> {
    match cmd {
        RulesCommand::Check { files } => {
            anyhow::bail!("rules check is not implemented yet ({} files)", files.len())
        }
    }
}
