//! A real MCP server (`@modelcontextprotocol/server-filesystem` from npm) started
//! through `mcp-monitor launch`, driven by a real client (the `mcp` Python SDK).
use std::{process::Command, time::Duration};

use e2e::{Daemon, TempDir, mcp_deps, monitor_bin, privileged, s, workspace_root};
use serde_json::Value;

#[test]
fn filesystem_server_reads_appear_with_the_server_name() {
    if !privileged("filesystem_server") {
        return;
    }
    let Some((python, node_dir)) = mcp_deps("filesystem_server") else {
        return;
    };
    let root = TempDir::new("fsroot");
    let file = root.path().join("notes.txt");
    std::fs::write(&file, "hello from the test\n").unwrap();
    let daemon = Daemon::start(&[]);

    let out = Command::new(&python)
        .arg(workspace_root().join("tests/mcp_client.py"))
        .args(["--call", "read_text_file"])
        .arg(serde_json::json!({ "path": file }).to_string())
        .arg("--")
        .arg(monitor_bin())
        .args([
            "launch",
            "--name",
            "fs",
            "--host",
            "test-client",
            "--control-socket",
        ])
        .arg(&daemon.socket)
        .args(["--", "npx", "-y", "@modelcontextprotocol/server-filesystem"])
        .arg(root.path())
        .current_dir(&node_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let call = lines
        .iter()
        .find(|l| l["tool"] == "read_text_file")
        .expect("call result");
    assert_eq!(call["ok"], true, "{call}");
    assert!(
        call["text"]
            .as_str()
            .unwrap()
            .contains("hello from the test")
    );

    let path = file.to_str().unwrap();
    let open = daemon
        .wait_for(Duration::from_secs(20), |e| {
            s(e, "fd.name") == path && s(e, "evt.res") == "SUCCESS"
        })
        .unwrap_or_else(|| {
            panic!(
                "no successful open of {path}; stderr:\n{}",
                daemon.stderr_text()
            )
        });
    assert_eq!(s(&open, "mcp.server"), "fs");
    assert_eq!(s(&open, "mcp.host"), "test-client");
    assert_eq!(s(&open, "mcp.tag_source"), "wrapper");
    assert_eq!(s(&open, "proc.name"), "node");
    let roots: Vec<&str> = open["mcp.roots"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(roots, [root.path().to_str().unwrap()], "declared roots");
    // A normal session with the default rules raises nothing above notice: not
    // npx's own shell, its cache writes, nor npm reading its .npmrc.
    let loud: Vec<Value> = daemon
        .alerts()
        .into_iter()
        .filter(|a| !matches!(s(a, "priority"), "Notice" | "Informational" | "Debug"))
        .collect();
    assert!(loud.is_empty(), "alerts in a normal session: {loud:#?}");
    assert!(daemon.stop().success());
}
