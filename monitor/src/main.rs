use clap::Parser as _;

fn main() {
    let cli = mcp_monitor::cli::Cli::parse();
    match mcp_monitor::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("mcp-monitor: {e:#}");
            std::process::exit(1);
        }
    }
}
