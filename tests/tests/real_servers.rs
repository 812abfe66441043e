//! Real MCP servers in normal use raise nothing above notice, and in enforce
//! mode not one action is taken: the filesystem,
//! everything and memory servers (npm) and the fetch server (PyPI), each
//! started through `mcp-monitor launch` and driven through a session of its
//! tools by the real `mcp` SDK client. Prints, per server, the events seen and
//! the alerts raised.
use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::TcpListener,
    time::Duration,
};

use e2e::{Daemon, McpSession, TempDir, mcp_deps, n, privileged, s};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// A loopback HTTP server for the fetch server: `/robots.txt` is 404 (fetching
/// allowed), every other path a small HTML page. Returns its port.
fn local_web_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in l.incoming().map_while(Result::ok) {
            let mut request = String::new();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // Read the headers to their end before answering.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let (status, body) = if request.contains("/robots.txt") {
                ("404 Not Found", "")
            } else {
                (
                    "200 OK",
                    "<html><head><title>Local page</title></head><body><h1>Local page</h1>\
                     <p>Served on loopback by the end-to-end test.</p></body></html>",
                )
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// Runs one session, checks every call succeeded, waits until the server's
/// tree has exited, and returns (events, alerts) of that server.
fn drive(daemon: &Daemon, session: &McpSession) -> (Vec<Value>, Vec<Value>) {
    let results = session.run(daemon);
    let tools = results
        .first()
        .and_then(|r| r.get("tools"))
        .unwrap_or_else(|| panic!("{}: no tool list in {results:?}", session.name));
    for (tool, _) in &session.calls {
        assert!(
            tools.as_array().unwrap().iter().any(|t| t == tool),
            "{}: no tool {tool} in {tools}",
            session.name
        );
    }
    for r in &results[1..] {
        assert_eq!(r["ok"], true, "{}: call failed: {r}", session.name);
    }
    let name = session.name;
    let first = daemon
        .wait_for(WAIT, |e| s(e, "mcp.server") == name)
        .unwrap_or_else(|| panic!("{name}: no event of the server at all"));
    let root = n(&first, "mcp.root_pid") as u32;
    assert!(
        daemon.wait_for_exit(root, WAIT),
        "{name}: no exit of the server's root process {root}"
    );
    let events: Vec<Value> = daemon
        .events()
        .into_iter()
        .filter(|e| s(e, "mcp.server") == name)
        .collect();
    let alerts: Vec<Value> = daemon
        .alerts()
        .into_iter()
        .filter(|a| a["mcp"]["server"] == name)
        .collect();
    (events, alerts)
}

fn is_loud(alert: &Value) -> bool {
    !matches!(s(alert, "priority"), "Notice" | "Informational" | "Debug")
}

fn npx(package: &str) -> Vec<String> {
    ["npx", "-y", package].map(String::from).to_vec()
}

#[test]
fn real_servers_in_normal_sessions_raise_nothing_above_notice() {
    if !privileged("real_servers") {
        return;
    }
    let Some((python, node_dir)) = mcp_deps("real_servers") else {
        return;
    };
    let work = TempDir::new("real-servers");
    let root = work.path().join("project");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("notes.txt"), "hello from the test\n").unwrap();
    std::fs::write(root.join("src/main.rs"), "fn main() {}\n").unwrap();
    let port = local_web_server();
    let fetch_bin = python.parent().unwrap().join("mcp-server-fetch");
    let p = |rel: &str| root.join(rel).display().to_string();

    let sessions = [
        McpSession {
            python: &python,
            name: "filesystem",
            command: [npx("@modelcontextprotocol/server-filesystem"), vec![p("")]].concat(),
            calls: vec![
                ("list_allowed_directories", json!({})),
                ("list_directory", json!({ "path": p("") })),
                ("read_text_file", json!({ "path": p("notes.txt") })),
                (
                    "write_file",
                    json!({ "path": p("out.txt"), "content": "written by the test\n" }),
                ),
                ("get_file_info", json!({ "path": p("out.txt") })),
                ("search_files", json!({ "path": p(""), "pattern": "*.rs" })),
                ("create_directory", json!({ "path": p("build") })),
            ],
            cwd: &node_dir,
            env: vec![],
        },
        McpSession {
            python: &python,
            name: "everything",
            command: npx("@modelcontextprotocol/server-everything"),
            calls: vec![
                ("echo", json!({ "message": "hello" })),
                ("get-sum", json!({ "a": 2, "b": 3 })),
                ("get-structured-content", json!({ "location": "Chicago" })),
                ("get-tiny-image", json!({})),
                ("get-annotated-message", json!({ "messageType": "success" })),
            ],
            cwd: &node_dir,
            env: vec![],
        },
        McpSession {
            python: &python,
            name: "memory",
            command: npx("@modelcontextprotocol/server-memory"),
            calls: vec![
                (
                    "create_entities",
                    json!({ "entities": [
                        { "name": "mcp-monitor", "entityType": "project", "observations": ["watches MCP servers"] },
                        { "name": "eBPF", "entityType": "technology", "observations": ["runs in the kernel"] }
                    ]}),
                ),
                (
                    "create_relations",
                    json!({ "relations": [{ "from": "mcp-monitor", "to": "eBPF", "relationType": "uses" }] }),
                ),
                (
                    "add_observations",
                    json!({ "observations": [{ "entityName": "mcp-monitor", "contents": ["written in Rust"] }] }),
                ),
                ("read_graph", json!({})),
                ("search_nodes", json!({ "query": "kernel" })),
            ],
            cwd: &node_dir,
            env: vec![(
                "MEMORY_FILE_PATH",
                work.path().join("memory.jsonl").display().to_string(),
            )],
        },
        McpSession {
            python: &python,
            name: "fetch",
            // Loopback is refused unless allowed: the test serves its page there.
            command: vec![
                fetch_bin.display().to_string(),
                "--allow-private-ips".into(),
            ],
            calls: vec![
                (
                    "fetch",
                    json!({ "url": format!("http://127.0.0.1:{port}/page") }),
                ),
                (
                    "fetch",
                    json!({ "url": format!("http://127.0.0.1:{port}/other"), "raw": true }),
                ),
            ],
            cwd: work.path(),
            env: vec![],
        },
    ];

    // In enforce mode: normal sessions must not trip a single action.
    let daemon = Daemon::start(&["--enforce"]);
    let mut loud = Vec::new();
    for session in &sessions {
        let (events, alerts) = drive(&daemon, session);
        let by_type = |t: &str| events.iter().filter(|e| s(e, "evt.category") == t).count();
        eprintln!(
            "real server {}: {} events ({} process, {} file, {} net), {} alerts ({} above notice){}",
            session.name,
            events.len(),
            by_type("process"),
            by_type("file"),
            by_type("net"),
            alerts.len(),
            alerts.iter().filter(|a| is_loud(a)).count(),
            alerts
                .iter()
                .map(|a| format!(
                    "\n    {} {}: {}",
                    s(a, "priority"),
                    s(a, "rule"),
                    s(a, "output")
                ))
                .collect::<String>()
        );
        assert!(!events.is_empty(), "{}: no events", session.name);
        loud.extend(alerts.into_iter().filter(is_loud));
    }
    // The fetch really went to the local page, through the monitored tree.
    assert!(
        daemon.events().iter().any(|e| s(e, "mcp.server") == "fetch"
            && s(e, "evt.type") == "connect"
            && n(e, "fd.dport") == i64::from(port)),
        "no connect of the fetch server to 127.0.0.1:{port}"
    );
    assert!(
        loud.is_empty(),
        "alerts above notice in normal sessions: {loud:#?}"
    );
    let acted: Vec<Value> = daemon
        .alerts()
        .into_iter()
        .filter(|a| a.get("action.result").is_some() || a.get("action").is_some())
        .collect();
    assert!(acted.is_empty(), "actions in normal sessions: {acted:#?}");
    assert!(
        daemon
            .stderr_text()
            .contains("enforce mode: rules' actions act"),
        "the daemon was not in enforce mode"
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_file_server_walking_a_home_lists_its_secrets_without_alerting_above_notice() {
    if !privileged("real_servers") {
        return;
    }
    let Some((python, node_dir)) = mcp_deps("real_servers") else {
        return;
    };
    // A home with secrets in it, given whole to the filesystem server: its
    // walks open ~/.ssh, ~/.aws, ~/.gnupg as directories and read nothing.
    let home = TempDir::home("walk");
    for (rel, text) in [
        (
            ".ssh/id_ed25519",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n",
        ),
        (".ssh/known_hosts", "example.invalid ssh-ed25519 AAAA\n"),
        (".aws/credentials", "[default]\naws_access_key_id = fake\n"),
        (".gnupg/pubring.kbx", "fake"),
        (".config/gcloud/configurations/config_default", "[core]\n"),
        ("project/README.md", "a project\n"),
        ("project/docs/guide.md", "a guide\n"),
    ] {
        let p = home.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let h = |rel: &str| home.path().join(rel).display().to_string();
    let session = McpSession {
        python: &python,
        name: "home-walker",
        command: [npx("@modelcontextprotocol/server-filesystem"), vec![h("")]].concat(),
        calls: vec![
            ("directory_tree", json!({ "path": h("") })),
            ("search_files", json!({ "path": h(""), "pattern": "*.md" })),
            ("list_directory", json!({ "path": h("") })),
            ("list_directory", json!({ "path": h(".ssh") })),
            ("read_text_file", json!({ "path": h("project/README.md") })),
        ],
        cwd: &node_dir,
        env: vec![],
    };
    let daemon = Daemon::start(&[]);
    let (events, alerts) = drive(&daemon, &session);
    let listed: Vec<&Value> = events
        .iter()
        .filter(|e| s(e, "fd.typechar") == "d" && s(e, "fd.name") == h(".ssh"))
        .collect();
    assert!(
        !listed.is_empty(),
        "the walk never opened {} as a directory",
        h(".ssh")
    );
    assert!(
        alerts
            .iter()
            .any(|a| s(a, "rule") == "MCP server listed a secret directory"),
        "no Notice for the listing: {alerts:#?}"
    );
    let loud: Vec<&Value> = alerts.iter().filter(|a| is_loud(a)).collect();
    assert!(loud.is_empty(), "a walk over a home raised: {loud:#?}");
    assert!(daemon.stop().success());
}
