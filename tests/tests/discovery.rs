//! Servers named in an AI host's config are recognised when they start, with no
//! wrapper: by the configured name and host, and a config edit takes effect on
//! the next launch.
use std::{path::PathBuf, process::Command, time::Duration};

use e2e::{
    Daemon, TempDir, listener, mcp_deps, monitor_bin, privileged, s, tree_args, workspace_root,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn write_config(home: &std::path::Path, name: &str, root: &std::path::Path) {
    std::fs::create_dir_all(home.join(".cursor")).unwrap();
    let config = serde_json::json!({
        "mcpServers": {
            name: {
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-filesystem", root],
                "env": { "GITHUB_TOKEN": "ghp_not_a_real_token_0123456789" }
            }
        }
    });
    std::fs::write(home.join(".cursor/mcp.json"), config.to_string()).unwrap();
}

/// Starts the configured command the way a host does (through a shell, no
/// wrapper) and has a real MCP client read `file` through it.
fn run_session(
    python: &PathBuf,
    node_dir: &PathBuf,
    root: &std::path::Path,
    file: &std::path::Path,
) {
    let out = Command::new(python)
        .arg(workspace_root().join("tests/mcp_client.py"))
        .args(["--call", "read_text_file"])
        .arg(serde_json::json!({ "path": file }).to_string())
        .args(["--", "sh", "-c"])
        .arg(format!(
            "exec npx -y @modelcontextprotocol/server-filesystem {}",
            root.display()
        ))
        .current_dir(node_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn configured_servers_are_tagged_by_name_and_host_and_config_edits_apply() {
    if !privileged("configured_servers") {
        return;
    }
    let Some((python, node_dir)) = mcp_deps("configured_servers") else {
        return;
    };
    let home = TempDir::new("home");
    let root = TempDir::new("cfgroot");
    let file = root.path().join("readme.txt");
    std::fs::write(&file, "configured\n").unwrap();
    write_config(home.path(), "docs", root.path());

    // discover lists it, with the secret's name and never its value.
    let out = Command::new(monitor_bin())
        .args(["discover", "-o", "json", "--home"])
        .arg(home.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("ghp_not_a_real_token"),
        "no secret values: {text}"
    );
    let listed: Value = serde_json::from_str(&text).expect("discover -o json is JSON");
    let docs = listed
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "docs"))
        .unwrap_or_else(|| panic!("docs listed: {text}"));
    assert_eq!(docs["host"], "cursor");
    assert!(
        text.contains("GITHUB_TOKEN"),
        "secret names are listed: {text}"
    );

    let daemon = Daemon::start(&["--home", home.path().to_str().unwrap()]);
    run_session(&python, &node_dir, root.path(), &file);
    let path = file.to_str().unwrap();
    let open = daemon
        .wait_for(WAIT, |e| s(e, "fd.name") == path)
        .unwrap_or_else(|| panic!("no open of {path}; stderr:\n{}", daemon.stderr_text()));
    assert_eq!(s(&open, "mcp.server"), "docs");
    assert_eq!(s(&open, "mcp.host"), "cursor");
    assert_eq!(s(&open, "mcp.tag_source"), "config");

    // Rename the server in the config while the daemon runs.
    write_config(home.path(), "docs-renamed", root.path());
    assert!(
        daemon.wait_for_stderr(WAIT, "AI host configs changed"),
        "config change noticed: {}",
        daemon.stderr_text()
    );
    run_session(&python, &node_dir, root.path(), &file);
    let open = daemon
        .wait_for(WAIT, |e| {
            s(e, "fd.name") == path && s(e, "mcp.server") == "docs-renamed"
        })
        .unwrap_or_else(|| {
            panic!(
                "no open under the new name; stderr:\n{}",
                daemon.stderr_text()
            )
        });
    assert_eq!(s(&open, "mcp.host"), "cursor");
    assert!(daemon.stop().success());
}

#[test]
fn children_of_a_known_host_with_stdio_pipes_are_candidate_servers() {
    if !privileged("host_children") {
        return;
    }
    let dir = TempDir::new("fakehost");
    // A test-built host binary under a real host's name.
    let host = dir.path().join("claude");
    std::fs::copy(env!("CARGO_BIN_EXE_fake-host"), &host).unwrap();
    let server = dir.path().join("some-tool");
    std::fs::copy(env!("CARGO_BIN_EXE_tree-probe"), &server).unwrap();
    let port = listener();
    let prefix = dir.path().join("cand");
    let go = dir.path().join("go");

    let daemon = Daemon::start(&[]);
    // claude → some-tool (pipes; gen 1) → some-tool (gen 0, grandchild of the host).
    let mut host_proc = Command::new(&host)
        .arg(&server)
        .args(tree_args(1, &prefix, port, Some(&go)))
        .spawn()
        .unwrap();
    let exec = daemon
        .wait_for(WAIT, |e| {
            s(e, "evt.type") == "execve" && s(e, "proc.exepath") == server.to_str().unwrap()
        })
        .unwrap_or_else(|| {
            panic!(
                "the host's child is tagged; stderr:\n{}",
                daemon.stderr_text()
            )
        });
    assert_eq!(s(&exec, "mcp.tag_source"), "host-child");
    assert_eq!(s(&exec, "mcp.host"), "claude-code");
    assert_eq!(s(&exec, "mcp.server"), "some-tool");
    std::fs::write(&go, b"").unwrap();
    assert!(host_proc.wait().unwrap().success());
    for g in 0..=1 {
        let path = format!("{}.gen{g}", prefix.display());
        let open = daemon
            .wait_for(WAIT, |e| s(e, "fd.name") == path)
            .unwrap_or_else(|| panic!("no open of {path}"));
        assert_eq!(s(&open, "mcp.server"), "some-tool");
        assert_eq!(s(&open, "mcp.tag_source"), "host-child");
    }
    // The host itself is not a server, and helpers it starts are left alone.
    let status = Command::new(&host)
        .args(["git", "--version"])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(500));
    let events = daemon.events();
    assert!(
        !events.iter().any(|e| s(e, "proc.name") == "claude"),
        "the host is not tagged"
    );
    assert!(
        !events.iter().any(|e| s(e, "proc.name") == "git"),
        "git is not a server"
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_server_policy_file_declares_roots_that_scope_rules_use() {
    if !privileged("server_policy") {
        return;
    }
    let dir = TempDir::new("policy");
    let servers = dir.path().join("servers.d");
    std::fs::create_dir(&servers).unwrap();
    let root = dir.path().join("allowed");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("inside.txt"), "x").unwrap();
    std::fs::write(
        servers.join("scoped.yaml"),
        format!("roots: [{}]\ndestinations: [10.0.0.0/8]\n", root.display()),
    )
    .unwrap();
    let rules = dir.path().join("scope.yaml");
    std::fs::write(
        &rules,
        "- rule: Read outside declared roots\n  desc: test\n  condition: evt.type = openat and mcp.in_roots = false and fd.name startswith /etc/host\n  output: \"%mcp.server read %fd.name outside %mcp.roots\"\n  priority: WARNING\n",
    )
    .unwrap();
    let daemon = Daemon::start(&[
        "--servers-dir",
        servers.to_str().unwrap(),
        "--no-default-rules",
        "--rules",
        rules.to_str().unwrap(),
    ]);
    let inside = root.join("inside.txt");
    let status = daemon
        .launch(
            "scoped",
            &["cat", inside.to_str().unwrap(), "/etc/hostname"],
        )
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let open = daemon
        .wait_for(WAIT, |e| s(e, "fd.name") == "/etc/hostname")
        .expect("open of /etc/hostname");
    assert_eq!(open["mcp.roots"][0], root.to_str().unwrap());
    assert_eq!(open["mcp.destinations"][0], "10.0.0.0/8");
    let alert = daemon
        .wait_for_alert(WAIT, |a| s(a, "rule") == "Read outside declared roots")
        .expect("the scope rule fires outside the roots");
    assert_eq!(alert["output_fields"]["fd.name"], "/etc/hostname");
    // The read inside the roots did not fire it.
    assert_eq!(
        daemon
            .alerts()
            .iter()
            .filter(|a| s(a, "rule") == "Read outside declared roots")
            .count(),
        1
    );
    assert!(daemon.stop().success());
}

/// `install` puts the launch wrapper in front of a configured server: the host
/// then starts the wrapper, which has the server tagged before it runs, under
/// its configured name and host; `uninstall` gives the file back byte for byte.
#[test]
fn install_wraps_configured_servers_and_uninstall_restores_them() {
    if !privileged("install_wraps") {
        return;
    }
    let dir = TempDir::new("install");
    let home = dir.path().join("home");
    let marker = dir.path().join("marker.txt");
    std::fs::write(&marker, b"m").unwrap();
    std::fs::create_dir_all(home.join(".cursor")).unwrap();
    let config = home.join(".cursor/mcp.json");
    let original = format!(
        "{{\n  // a comment the edit keeps\n  \"mcpServers\": {{\n    \"notes\": {{ \"command\": \"cat\", \"args\": [\"{}\"] }}\n  }}\n}}\n",
        marker.display()
    );
    std::fs::write(&config, &original).unwrap();
    let home_arg = home.to_str().unwrap();
    let run = |verb: &str| {
        let out = Command::new(monitor_bin())
            .args([verb, "--home", home_arg])
            .output()
            .unwrap();
        assert!(out.status.success(), "{verb}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let report = run("install");
    assert!(report.contains("wrapped: notes"), "{report}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("// a comment the edit keeps"), "{text}");
    let wrapped: Value = serde_json::from_str(&without_comment_lines(&text)).unwrap();
    let server = &wrapped["mcpServers"]["notes"];
    let command = server["command"].as_str().unwrap();
    let args: Vec<&str> = server["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        std::fs::canonicalize(command).unwrap(),
        std::fs::canonicalize(monitor_bin()).unwrap()
    );

    // The host starts exactly what the config says.
    let daemon = Daemon::start(&["--no-default-patterns"]);
    let status = Command::new(command)
        .args(&args)
        .env("MCP_MONITOR_CONTROL_SOCKET", &daemon.socket)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let open = daemon
        .wait_for(WAIT, |e| s(e, "fd.name") == marker.to_str().unwrap())
        .unwrap_or_else(|| panic!("no open of the marker; stderr:\n{}", daemon.stderr_text()));
    assert_eq!(s(&open, "mcp.server"), "notes");
    assert_eq!(s(&open, "mcp.host"), "cursor");
    assert_eq!(s(&open, "mcp.tag_source"), "wrapper");
    assert!(daemon.stop().success());

    let report = run("uninstall");
    assert!(report.contains("unwrapped: notes"), "{report}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
}

/// Drops the `//` comment line the test's JSONC config carries.
fn without_comment_lines(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}
