//! The launch wrapper relays its server's stdio and tells the daemon each
//! JSON-RPC message, so every event and alert of the server's tree names the
//! call it happened in: real servers (filesystem, memory and everything from
//! npm, fetch from PyPI) driven by the real `mcp` SDK client, and the relay
//! itself with what real hosts and servers do to it (messages split across
//! reads, several in one read, a 1 MiB message, lines that are not JSON, a
//! server that never answers).
use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpListener,
    process::Stdio,
    time::Duration,
};

use e2e::{Daemon, McpSession, TempDir, mcp_deps, monitor_bin, n, privileged, s};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const SSH_RULE: &str = "MCP server read SSH keys or configuration";

/// The strings of a list field of an event (or an alert's object).
fn list(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits for an event of `server` satisfying `pred`, failing with the
/// server's events if none comes.
fn event_of(daemon: &Daemon, server: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    daemon
        .wait_for(WAIT, |e| s(e, "mcp.server") == server && pred(e))
        .unwrap_or_else(|| {
            let seen: Vec<String> = daemon
                .events()
                .iter()
                .filter(|e| s(e, "mcp.server") == server)
                .map(|e| {
                    format!(
                        "{} {} {} {:?} {}",
                        s(e, "evt.type"),
                        s(e, "fd.name"),
                        s(e, "mcp.call.state"),
                        list(e, "mcp.tool.name"),
                        s(e, "proc.name")
                    )
                })
                .collect();
            panic!(
                "{server}: no event {what}; its events were:\n{}",
                seen.join("\n")
            )
        })
}

/// `mcp-monitor calls --since 10m --no-follow -o FORMAT` against the daemon.
fn calls(daemon: &Daemon, format: &str) -> String {
    let out = std::process::Command::new(monitor_bin())
        .args([
            "calls",
            "--since",
            "10m",
            "--no-follow",
            "-o",
            format,
            "--socket",
        ])
        .arg(daemon.dir().join("alerts.sock"))
        .output()
        .unwrap();
    assert!(out.status.success(), "calls: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until `calls` has a record of `tool` from `server`, returning it.
fn call_record(daemon: &Daemon, server: &str, tool: &str) -> Value {
    call_record_where(daemon, server, tool, |_| true)
}

/// The same, of a record that also satisfies `pred`.
fn call_record_where(
    daemon: &Daemon,
    server: &str,
    tool: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let started = std::time::Instant::now();
    loop {
        let text = calls(daemon, "json");
        let found = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|r| {
                r["mcp"]["server"] == server
                    && r["output_fields"]["mcp.tool.name"] == tool
                    && pred(r)
            });
        if let Some(r) = found {
            return r;
        }
        assert!(
            started.elapsed() < WAIT,
            "no record of {server} {tool} in:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn npx(package: &str) -> Vec<String> {
    ["npx", "-y", package].map(String::from).to_vec()
}

#[test]
fn filesystem_calls_name_their_tool_in_events_and_in_the_secret_alert() {
    if !privileged("conversation_filesystem") {
        return;
    }
    let Some((python, node_dir)) = mcp_deps("conversation_filesystem") else {
        return;
    };
    let home = TempDir::home("conv");
    let h = home.path();
    std::fs::create_dir_all(h.join(".ssh")).unwrap();
    std::fs::create_dir_all(h.join("project")).unwrap();
    std::fs::write(
        h.join(".ssh/id_rsa"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nfake key planted by the test\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(h.join("project/notes.txt"), "notes\n").unwrap();
    let key = h.join(".ssh/id_rsa").display().to_string();
    let project = h.join("project").display().to_string();
    let out = h.join("project/out.txt").display().to_string();
    let big = h.join("project/big.txt").display().to_string();
    // Too large for a command line: the client reads it from a file.
    let big_args = h.join("big-args.json");
    // The path first, as a host writes it: the relay keeps the first KiB.
    std::fs::write(
        &big_args,
        format!(
            r#"{{"path":"{big}","content":"{}"}}"#,
            "b".repeat(1024 * 1024)
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&[]);
    let results = McpSession {
        python: &python,
        name: "fs-conv",
        command: [
            npx("@modelcontextprotocol/server-filesystem"),
            vec![h.display().to_string()],
        ]
        .concat(),
        calls: vec![
            ("list_directory", json!({ "path": project })),
            ("read_text_file", json!({ "path": key })),
            (
                "write_file",
                json!({ "path": out, "content": "written by the test\n" }),
            ),
            // A message of over 1 MiB: the relay reads only its ends.
            ("write_file", json!(format!("@{}", big_args.display()))),
        ],
        cwd: &node_dir,
        env: vec![],
    }
    .run(&daemon);
    assert!(
        s(&results[2], "text").contains("fake key planted"),
        "{results:?}"
    );

    // The secret read: the alert names the call.
    let alert = daemon
        .wait_for_alert(WAIT, |a| {
            s(a, "rule") == SSH_RULE && a["mcp"]["server"] == "fs-conv"
        })
        .unwrap_or_else(|| panic!("no SSH alert; alerts: {:#?}", daemon.alerts()));
    let mcp = &alert["mcp"];
    eprintln!("the alert's mcp object: {mcp}");
    assert_eq!(mcp["call"]["state"], "in_call", "{alert}");
    assert_eq!(list(&mcp["tool"], "name"), ["read_text_file"], "{alert}");
    assert_eq!(list(mcp, "method"), ["tools/call"], "{alert}");
    let ids = list(&mcp["tool"], "call_id");
    assert_eq!(ids.len(), 1, "{alert}");
    assert!(!ids[0].is_empty());
    let args = list(&mcp["tool"], "args");
    assert!(args[0].contains(&key), "the path in the arguments: {alert}");
    assert_eq!(
        mcp["client"]["name"], "mcp",
        "the SDK's client name: {alert}"
    );
    assert!(
        mcp["protocol_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{alert}"
    );
    // The event behind it carries the same fields.
    let open = event_of(&daemon, "fs-conv", "opening the key", |e| {
        s(e, "fd.name") == key
    });
    assert_eq!(list(&open, "mcp.tool.name"), ["read_text_file"]);
    assert_eq!(list(&open, "mcp.tool.call_id"), ids);
    assert_eq!(s(&open, "mcp.client.name"), "mcp");

    // The listing and the write, each under its own call.
    let listing = event_of(&daemon, "fs-conv", "listing the project", |e| {
        s(e, "fd.name").trim_end_matches('/') == project && s(e, "fd.typechar") == "d"
    });
    assert_eq!(
        list(&listing, "mcp.tool.name"),
        ["list_directory"],
        "{listing}"
    );
    let write = event_of(&daemon, "fs-conv", "writing out.txt", |e| {
        s(e, "fd.name").starts_with(&out) && e["evt.is_open_write"] == true
    });
    assert_eq!(list(&write, "mcp.tool.name"), ["write_file"], "{write}");
    assert!(list(&write, "mcp.tool.args")[0].contains("out.txt"));
    // The 1 MiB call is known by its id and tool all the same.
    let big_write = event_of(&daemon, "fs-conv", "writing big.txt", |e| {
        s(e, "fd.name").starts_with(&big) && e["evt.is_open_write"] == true
    });
    assert_eq!(
        list(&big_write, "mcp.tool.name"),
        ["write_file"],
        "{big_write}"
    );
    assert!(
        list(&big_write, "mcp.tool.args")[0].contains("big.txt"),
        "{big_write}"
    );
    assert_ne!(
        list(&big_write, "mcp.tool.call_id"),
        list(&write, "mcp.tool.call_id")
    );
    // Three different calls, three different ids.
    let all_ids = [
        ids[0].clone(),
        list(&listing, "mcp.tool.call_id")[0].clone(),
        list(&write, "mcp.tool.call_id")[0].clone(),
    ];
    assert!(
        all_ids[0] != all_ids[1] && all_ids[1] != all_ids[2],
        "{all_ids:?}"
    );
    // `mcp-monitor calls`: each call with what it did.
    let listed = call_record(&daemon, "fs-conv", "list_directory");
    let f = &listed["output_fields"];
    assert_eq!(f["call.outcome"], "ok", "{listed}");
    assert!(
        list(f, "call.files_read")
            .iter()
            .any(|p| p.trim_end_matches('/') == project),
        "{listed}"
    );
    let wrote = call_record_where(&daemon, "fs-conv", "write_file", |r| {
        list(&r["output_fields"], "call.files_written")
            .iter()
            .any(|p| p.starts_with(&out))
    });
    assert_eq!(wrote["output_fields"]["call.outcome"], "ok", "{wrote}");
    let read = call_record(&daemon, "fs-conv", "read_text_file");
    assert!(
        list(&read["output_fields"], "call.files_read").contains(&key),
        "{read}"
    );
    assert!(
        list(&read["output_fields"], "call.alerts")
            .iter()
            .any(|r| r == SSH_RULE),
        "{read}"
    );
    assert!(
        read["output_fields"]["call.duration_ms"].as_f64().is_some(),
        "{read}"
    );
    let text = calls(&daemon, "text");
    eprintln!("mcp-monitor calls:\n{text}");
    assert!(text.contains("[fs-conv] read_text_file"), "{text}");
    assert!(text.contains(&format!("ALERT   {SSH_RULE}")), "{text}");
    // Records are not alerts: tail leaves them out.
    let tail = std::process::Command::new(monitor_bin())
        .args([
            "tail",
            "--since",
            "10m",
            "--no-follow",
            "-o",
            "json",
            "--socket",
        ])
        .arg(daemon.dir().join("alerts.sock"))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&tail.stdout).contains("MCP tool call"));
    // Every event of the server's tree is observed: in a call or idle.
    let root = n(&open, "mcp.root_pid") as u32;
    assert!(daemon.wait_for_exit(root, WAIT));
    for e in daemon
        .events()
        .iter()
        .filter(|e| s(e, "mcp.server") == "fs-conv")
    {
        assert!(matches!(s(e, "mcp.call.state"), "in_call" | "idle"), "{e}");
    }
    assert!(daemon.stop().success());
}

/// A loopback HTTP server answering every request with a small page.
fn local_web_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in l.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = "<html><body><h1>Local page</h1></body></html>";
            let status = if line.contains("robots") {
                "404 Not Found"
            } else {
                "200 OK"
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

#[test]
fn memory_everything_and_fetch_servers_are_attributed() {
    if !privileged("conversation_servers") {
        return;
    }
    let Some((python, node_dir)) = mcp_deps("conversation_servers") else {
        return;
    };
    let work = TempDir::new("conv-servers");
    let memory_file = work.path().join("memory.jsonl").display().to_string();
    let port = local_web_server();
    let fetch_bin = python.parent().unwrap().join("mcp-server-fetch");
    let daemon = Daemon::start(&[]);

    McpSession {
        python: &python,
        name: "memory-conv",
        command: npx("@modelcontextprotocol/server-memory"),
        calls: vec![(
            "create_entities",
            json!({ "entities": [{ "name": "mcp-monitor", "entityType": "project", "observations": ["watches"] }] }),
        )],
        cwd: &node_dir,
        env: vec![("MEMORY_FILE_PATH", memory_file.clone())],
    }
    .run(&daemon);
    let write = event_of(&daemon, "memory-conv", "writing the memory file", |e| {
        // Written beside it, then renamed into place.
        s(e, "fd.name").starts_with(&memory_file) && e["evt.is_open_write"] == true
    });
    assert_eq!(
        list(&write, "mcp.tool.name"),
        ["create_entities"],
        "{write}"
    );

    McpSession {
        python: &python,
        name: "fetch-conv",
        command: vec![
            fetch_bin.display().to_string(),
            "--allow-private-ips".into(),
        ],
        calls: vec![(
            "fetch",
            json!({ "url": format!("http://127.0.0.1:{port}/page") }),
        )],
        cwd: work.path(),
        env: vec![],
    }
    .run(&daemon);
    let connect = event_of(
        &daemon,
        "fetch-conv",
        "connecting to the page's server",
        |e| s(e, "evt.type") == "connect" && n(e, "fd.dport") == i64::from(port),
    );
    assert_eq!(list(&connect, "mcp.tool.name"), ["fetch"], "{connect}");
    assert!(list(&connect, "mcp.tool.args")[0].contains(&format!("127.0.0.1:{port}/page")));
    let fetched = call_record(&daemon, "fetch-conv", "fetch");
    assert!(
        list(&fetched["output_fields"], "call.connects").contains(&format!("127.0.0.1:{port}")),
        "{fetched}"
    );

    McpSession {
        python: &python,
        name: "everything-conv",
        command: npx("@modelcontextprotocol/server-everything"),
        calls: vec![("echo", json!({ "message": "hello" }))],
        cwd: &node_dir,
        env: vec![],
    }
    .run(&daemon);
    let first = event_of(&daemon, "everything-conv", "at all", |_| true);
    let root = n(&first, "mcp.root_pid") as u32;
    assert!(daemon.wait_for_exit(root, WAIT));
    for e in daemon
        .events()
        .iter()
        .filter(|e| s(e, "mcp.server") == "everything-conv")
    {
        assert!(matches!(s(e, "mcp.call.state"), "in_call" | "idle"), "{e}");
    }
    assert!(daemon.stop().success());
}

/// What the host writes reaches the server unchanged and what the server
/// writes reaches the host unchanged, whatever it is: JSON-RPC in pieces and
/// in bunches, a 1 MiB message, lines that are not JSON. The server's exit
/// status is the wrapper's, and the daemon keeps going.
#[test]
fn the_relay_passes_every_byte_and_the_exit_status() {
    if !privileged("conversation_relay") {
        return;
    }
    let daemon = Daemon::start(&[]);
    let big = "z".repeat(1024 * 1024);
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"clientInfo\":{\"name\":\"relay-test\",\"version\":\"9\"},\"capabilities\":{}}}\n");
    input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
    input.extend_from_slice(b"not json at all\n\n");
    input.extend_from_slice(format!("{{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{{\"name\":\"big\",\"arguments\":{{\"data\":\"{big}\"}}}}}}\n").as_bytes());
    input.extend_from_slice("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"ünïcode\"}}".as_bytes());
    let mut child = daemon
        .launch("relay", &["sh", "-c", "cat; echo server says bye; exit 3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = input.clone();
    let writer = std::thread::spawn(move || {
        // In uneven pieces, so messages are split across reads.
        for piece in feed.chunks(7919) {
            stdin.write_all(piece).unwrap();
        }
    });
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    writer.join().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "the server's status");
    let mut expected = input.clone();
    expected.extend_from_slice(b"server says bye\n");
    assert!(
        out == expected,
        "{} bytes out, {} expected",
        out.len(),
        expected.len()
    );
    // The daemon took it all and still works.
    daemon.read_as_server(std::path::Path::new("/etc/hostname"));
    assert!(daemon.stop().success());
}

/// A server that reads a request and never answers it: what it does after is
/// attributed to that call, its children's work included; a server tagged
/// without the wrapper says its conversation is not observed.
#[test]
fn work_after_an_unanswered_request_is_attributed_and_unwrapped_servers_say_unobserved() {
    if !privileged("conversation_unanswered") {
        return;
    }
    let work = TempDir::new("conv-unanswered");
    let file = work.path().join("touched-in-call").display().to_string();
    std::fs::write(&file, "x").unwrap();
    let daemon = Daemon::start(&[]);
    let script =
        format!("head -n 1 >/dev/null; cat '{file}' >/dev/null; echo not-json-at-all; sleep 0.2");
    let mut child = daemon
        .launch("silent", &["sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":\"q-1\",\"method\":\"tools/call\",\"params\":{\"name\":\"slow_tool\",\"arguments\":{\"what\":\"never answered\"}}}\n")
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    drop(stdin);
    child.wait().unwrap();
    assert_eq!(out, "not-json-at-all\n");
    let open = event_of(&daemon, "silent", "of cat opening the file", |e| {
        s(e, "fd.name") == file && s(e, "proc.name") == "cat"
    });
    assert_eq!(s(&open, "mcp.call.state"), "in_call", "{open}");
    assert_eq!(list(&open, "mcp.tool.name"), ["slow_tool"], "{open}");
    assert_eq!(list(&open, "mcp.tool.call_id"), ["q-1"], "{open}");
    assert!(list(&open, "mcp.tool.args")[0].contains("never answered"));
    assert!(daemon.stop().success());

    // Tagged by pid: no conversation.
    let go = work.path().join("go");
    let mut held = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "while [ ! -e '{}' ]; do sleep 0.05; done; cat '{file}' >/dev/null",
                go.display()
            ),
        ])
        .spawn()
        .unwrap();
    let daemon = Daemon::start(&["--pid", &format!("{}=held", held.id())]);
    std::fs::write(&go, b"").unwrap();
    assert!(held.wait().unwrap().success());
    let open = event_of(&daemon, "held", "of cat opening the file", |e| {
        s(e, "fd.name") == file
    });
    assert_eq!(s(&open, "mcp.call.state"), "unobserved", "{open}");
    assert!(open.get("mcp.tool.name").is_none(), "{open}");
    assert!(daemon.stop().success());
}
