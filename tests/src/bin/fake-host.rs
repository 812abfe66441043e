//! Stands in for an AI host in the end-to-end tests: copied to a file named
//! like a real host (`claude`, `cursor`, …), it starts `argv[1..]` with pipes on
//! stdin and stdout, as hosts start stdio MCP servers, and waits for it.
use std::process::{Command, Stdio};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((program, rest)) = args.split_first() else {
        eprintln!("usage: <host-name> CMD [ARGS…]");
        std::process::exit(2);
    };
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server");
    // Keep the pipes open until the server is done, as a host would.
    let status = child.wait().expect("wait for the server");
    std::process::exit(status.code().unwrap_or(1));
}
