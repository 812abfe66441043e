//! Command-line interface of the `mcp-monitor` binary.
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::{config, control, daemon, discover, kernel, launch, rules, tail};

#[derive(Debug, Parser)]
#[command(
    name = "mcp-monitor",
    version,
    about = "eBPF runtime security monitor for MCP server processes"
)]
pub struct Cli {
    /// More detail on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the monitor in the foreground (as root) until Ctrl-C or SIGTERM.
    Run(Box<RunArgs>),
    /// Start an MCP server under watch: tag this process, then exec CMD in place.
    ///
    /// Put it in front of a server's command in an AI host's MCP configuration:
    /// `"command": "mcp-monitor", "args": ["launch", "--name", "fs", "--", "npx", "-y", "…"]`.
    Launch(LaunchArgs),
    /// List the MCP servers the AI hosts on this machine are configured to run.
    Discover {
        /// Look only in this home directory (repeatable; default: /root and /home/*).
        #[arg(long = "home", value_name = "DIR")]
        homes: Vec<PathBuf>,
        #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Put the launch wrapper in front of the stdio MCP servers in the AI hosts'
    /// configs (a backup of each file is kept; `uninstall` undoes it).
    Install(InstallArgs),
    /// Take the launch wrapper out of the AI hosts' configs again.
    Uninstall(InstallArgs),
    /// Show what this kernel offers and what mcp-monitor will use.
    Doctor {
        #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Follow the daemon's alerts live, optionally replaying recent ones first.
    Tail(tail::TailArgs),
    /// Follow the tool calls of the servers started through `launch`, each
    /// with what it did in the kernel (files, connects, execs, alerts).
    Calls(tail::CallsArgs),
    /// Work with detection rules.
    #[command(subcommand)]
    Rules(rules::cli::RulesCommand),
    /// Detach the programs and remove the kernel state a daemon left pinned
    /// (it keeps them across restarts so that nothing goes unwatched).
    Unload {
        /// The pin directory [default /sys/fs/bpf/mcp-monitor].
        #[arg(long, value_name = "DIR", default_value = crate::config::DEFAULT_PIN_DIR)]
        pin_dir: PathBuf,
    },
    /// Attach no-op programs to every hook and wait (the overhead benchmark's floor).
    #[command(hide = true)]
    Floor,
}

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Change the configs of this home directory (repeatable; default: $HOME,
    /// or every home when run as root).
    #[arg(long = "home", value_name = "DIR")]
    pub homes: Vec<PathBuf>,
    /// Only this host's configs (`claude-code`, `cursor`, …; repeatable).
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Only the servers of this name (repeatable).
    #[arg(long = "server", value_name = "NAME")]
    pub servers: Vec<String>,
    /// Print what would change and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl InstallArgs {
    fn options(self) -> anyhow::Result<discover::install::InstallOptions> {
        Ok(discover::install::InstallOptions {
            homes: self.homes,
            hosts: self.hosts,
            servers: self.servers,
            dry_run: self.dry_run,
            monitor_path: discover::install::current_monitor()?,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Follow a running process and its descendants as an MCP server: PID or PID=NAME.
    #[arg(long = "pid", value_name = "PID[=NAME]", value_parser = parse_pid)]
    pub pids: Vec<(u32, Option<String>)>,
    /// Every option of the config file, as a flag that wins over the file.
    #[command(flatten)]
    pub config: config::Flags,
}

#[derive(Debug, clap::Args)]
pub struct LaunchArgs {
    /// Name of the MCP server (shown as mcp.server).
    #[arg(long)]
    pub name: String,
    /// The AI host that starts it (shown as mcp.host).
    #[arg(long)]
    pub host: Option<String>,
    /// Refuse to start the server when no daemon answers.
    #[arg(long)]
    pub require_monitor: bool,
    /// Control socket of the daemon.
    #[arg(long, env = control::SOCKET_ENV, default_value = control::DEFAULT_SOCKET)]
    pub control_socket: PathBuf,
    /// The server's command and arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

fn parse_pid(s: &str) -> Result<(u32, Option<String>), String> {
    let (pid, name) = match s.split_once('=') {
        Some((p, n)) => (p, Some(n.to_owned())),
        None => (s, None),
    };
    let pid = pid
        .parse::<u32>()
        .map_err(|_| format!("{pid:?} is not a pid"))?;
    if let Some(n) = &name {
        control::validate_name(n)?;
    }
    Ok((pid, name))
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_target(false)
        .init();
    match cli.command {
        Command::Run(args) => daemon::run(daemon::RunOptions {
            config: config::ConfigSource::new(args.config),
            pids: args.pids,
        }),
        Command::Tail(args) => tail::run(args),
        Command::Calls(args) => tail::run_calls(args),
        Command::Launch(args) => Ok(launch::launch(&launch::LaunchOptions {
            name: &args.name,
            host: args.host.as_deref(),
            socket: &args.control_socket,
            require_monitor: args.require_monitor,
            command: &args.command,
        })),
        Command::Discover { homes, output } => {
            discover::cli::run_discover(homes, output == Format::Json)
        }
        Command::Install(args) => discover::install::run_install(args.options()?),
        Command::Uninstall(args) => discover::install::run_uninstall(args.options()?),
        Command::Doctor { output } => kernel::doctor::run_doctor(output == Format::Json),
        Command::Rules(cmd) => rules::cli::run(cmd),
        Command::Floor => daemon::run_floor(),
        Command::Unload { pin_dir } => {
            if crate::probes::pins::unload(&pin_dir)? {
                eprintln!(
                    "mcp-monitor: removed the state pinned at {}; its programs are detached",
                    pin_dir.display()
                );
            } else {
                eprintln!("mcp-monitor: nothing pinned at {}", pin_dir.display());
            }
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_arguments() {
        assert_eq!(parse_pid("42"), Ok((42, None)));
        assert_eq!(parse_pid("42=fs"), Ok((42, Some("fs".into()))));
        assert!(parse_pid("x").is_err());
        assert!(parse_pid("1=").is_err());
    }

    #[test]
    fn launch_takes_everything_after_the_double_dash() {
        let cli = Cli::try_parse_from([
            "mcp-monitor",
            "launch",
            "--name",
            "fs",
            "--",
            "npx",
            "-y",
            "--name",
            "x",
        ])
        .unwrap();
        let Command::Launch(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.name, "fs");
        assert_eq!(args.command, ["npx", "-y", "--name", "x"]);
    }
}
