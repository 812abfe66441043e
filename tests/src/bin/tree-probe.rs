//! A process tree for the end-to-end tests. Each generation opens a file,
//! connects to a loopback port, then (if depth > 0) starts the next generation
//! by fork and exec and waits for it.
//!
//! `tree-probe DEPTH PREFIX PORT [GO_FILE]`: generation N opens `PREFIX.genN`
//! and connects to 127.0.0.1:PORT. With GO_FILE, the whole chain is started
//! first and every generation waits until GO_FILE exists before acting.
use std::{net::TcpStream, path::Path, process::Command, time::Duration};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: tree-probe DEPTH PREFIX PORT [GO_FILE]");
        std::process::exit(2);
    }
    let depth: u32 = args[1].parse().expect("DEPTH");
    let prefix = &args[2];
    let port: u16 = args[3].parse().expect("PORT");
    let go = args.get(4);

    let child = (depth > 0).then(|| {
        let mut cmd = Command::new(std::env::current_exe().expect("own path"));
        cmd.arg((depth - 1).to_string())
            .arg(prefix)
            .arg(port.to_string());
        if let Some(go) = go {
            cmd.arg(go);
        }
        cmd
    });
    // With a go file the whole chain exists before anyone acts.
    let mut running = if go.is_some() {
        let spawned = child.map(|mut cmd| cmd.spawn().expect("spawn child"));
        act(depth, prefix, port, go);
        spawned
    } else {
        act(depth, prefix, port, go);
        child.map(|mut cmd| cmd.spawn().expect("spawn child"))
    };
    if let Some(c) = running.as_mut() {
        let status = c.wait().expect("wait child");
        std::process::exit(status.code().unwrap_or(1));
    }
}

fn act(depth: u32, prefix: &str, port: u16, go: Option<&String>) {
    if let Some(go) = go {
        for _ in 0..6000 {
            if Path::new(go).exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let _ = std::fs::File::open(format!("{prefix}.gen{depth}"));
    let _ = TcpStream::connect(("127.0.0.1", port));
}
