//! Real attacks through a real MCP server: the filesystem server, given a
//! planted HOME as its root, is asked by the real SDK client to read the fake
//! SSH key and AWS credentials; and the symlink escape of CVE-2025-53109/53110
//! (a link inside the root pointing at a secret outside it), which current
//! servers refuse and server-filesystem 2025.3.28 follows.
use std::{path::Path, time::Duration};

use e2e::{Daemon, McpSession, TempDir, mcp_deps, n, old_filesystem_dir, privileged, s};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const SSH_RULE: &str = "MCP server read SSH keys or configuration";
const CLOUD_RULE: &str = "MCP server read cloud or cluster credentials";

/// A HOME under /home with a fake SSH key and AWS credentials.
fn planted_home() -> TempDir {
    let home = TempDir::home("attack");
    let h = home.path();
    std::fs::create_dir_all(h.join(".ssh")).unwrap();
    std::fs::create_dir_all(h.join(".aws")).unwrap();
    std::fs::create_dir_all(h.join("project")).unwrap();
    std::fs::write(
        h.join(".ssh/id_rsa"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nfake key planted by the test\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(
        h.join(".aws/credentials"),
        "[default]\naws_access_key_id = fake-planted-by-the-test\n",
    )
    .unwrap();
    std::fs::write(h.join("project/README.md"), "a project\n").unwrap();
    home
}

fn session<'a>(
    python: &'a Path,
    name: &'a str,
    root: &Path,
    calls: Vec<(&'a str, Value)>,
    cwd: &'a Path,
) -> McpSession<'a> {
    McpSession {
        python,
        name,
        command: vec![
            "npx".into(),
            "-y".into(),
            "@modelcontextprotocol/server-filesystem".into(),
            root.display().to_string(),
        ],
        calls,
        cwd,
        env: vec![],
    }
}

fn result<'a>(results: &'a [Value], tool: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["tool"] == tool)
        .unwrap_or_else(|| panic!("no result for {tool} in {results:?}"))
}

/// Waits for the alert of `rule` from `server` naming `file`, or fails with
/// what arrived instead.
fn expect_alert(daemon: &Daemon, rule: &str, server: &str, file: &str) -> Value {
    daemon
        .wait_for_alert(WAIT, |a| {
            s(a, "rule") == rule
                && a["mcp"]["server"] == server
                && a["output_fields"]["fd.name"] == file
        })
        .unwrap_or_else(|| {
            let got: Vec<String> = daemon
                .alerts()
                .iter()
                .map(|a| {
                    format!(
                        "{} [{}] {}",
                        s(a, "rule"),
                        a["mcp"]["server"],
                        s(a, "output")
                    )
                })
                .collect();
            panic!("expected {rule:?} from {server} naming {file}; alerts were: {got:#?}")
        })
}

#[test]
fn a_real_server_asked_to_read_planted_secrets_raises_alerts_naming_file_server_and_host() {
    if !privileged("real_secret_reads") {
        return;
    }
    let Some((python, node_dir)) = mcp_deps("real_secret_reads") else {
        return;
    };
    let home = planted_home();
    let key = home.path().join(".ssh/id_rsa").display().to_string();
    let creds = home.path().join(".aws/credentials").display().to_string();
    let daemon = Daemon::start(&[]);
    let results = session(
        &python,
        "fs-home",
        home.path(),
        vec![
            ("read_text_file", json!({ "path": key })),
            ("read_text_file", json!({ "path": creds })),
        ],
        &node_dir,
    )
    .run(&daemon);
    // The server does what it was asked: the secrets reach the client.
    let texts: Vec<&str> = results[1..].iter().map(|r| s(r, "text")).collect();
    assert!(texts[0].contains("fake key planted"), "{results:?}");
    assert!(texts[1].contains("fake-planted"), "{results:?}");

    for (rule, file) in [(SSH_RULE, &key), (CLOUD_RULE, &creds)] {
        let a = expect_alert(&daemon, rule, "fs-home", file);
        assert_eq!(s(&a, "priority"), "Critical", "{a}");
        assert_eq!(a["mcp"]["host"], "test-client", "{a}");
        assert_eq!(a["mcp"]["tag_source"], "wrapper", "{a}");
        assert_eq!(a["process"]["name"], "node", "{a}");
        assert!(s(&a, "output").contains(file.as_str()), "{a}");
    }
    let ssh = expect_alert(&daemon, SSH_RULE, "fs-home", &key);
    assert_eq!(ssh["output_fields"]["mcp.host"], "test-client");
    assert!(daemon.stop().success());
}

/// A planted HOME whose project directory (the server's root) holds
/// `notes.md`, a symlink to the fake SSH key outside the root.
fn home_with_escaping_link() -> (TempDir, std::path::PathBuf, String, String) {
    let home = planted_home();
    let root = home.path().join("project");
    let target = home.path().join(".ssh/id_rsa");
    let link = root.join("notes.md");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (target, link) = (target.display().to_string(), link.display().to_string());
    (home, root, target, link)
}

#[test]
fn current_servers_refuse_the_symlink_escape_and_never_open_the_target() {
    if !privileged("symlink_escape_refused") {
        return;
    }
    let Some((python, node_dir)) = mcp_deps("symlink_escape_refused") else {
        return;
    };
    let (_home, root, target, link) = home_with_escaping_link();
    let daemon = Daemon::start(&[]);

    // Current server-filesystem resolves the link, sees it leave the root,
    // and refuses: the secret is never opened.
    let results = session(
        &python,
        "fs-current",
        &root,
        vec![("read_text_file", json!({ "path": link }))],
        &node_dir,
    )
    .run(&daemon);
    let refused = result(&results, "read_text_file");
    assert_eq!(
        refused["ok"], false,
        "current server read through the link: {refused}"
    );
    assert!(
        !s(refused, "text").contains("fake key planted"),
        "{refused}"
    );
    let first = daemon
        .wait_for(WAIT, |e| s(e, "mcp.server") == "fs-current")
        .expect("events of the current server");
    assert!(daemon.wait_for_exit(n(&first, "mcp.root_pid") as u32, WAIT));
    let opened: Vec<Value> = daemon
        .events()
        .into_iter()
        .filter(|e| {
            s(e, "mcp.server") == "fs-current"
                && s(e, "evt.category") == "file"
                && (s(e, "fd.name") == target || s(e, "fd.name") == link)
                && s(e, "evt.res") == "SUCCESS"
        })
        .collect();
    assert!(
        opened.is_empty(),
        "the current server opened the secret: {opened:#?}"
    );
    assert!(
        !daemon
            .alerts()
            .iter()
            .any(|a| a["mcp"]["server"] == "fs-current"
                // Its start and exit are reported, at informational level.
                && !matches!(s(a, "priority"), "Informational" | "Debug")),
        "alerts for a refused read: {:#?}",
        daemon.alerts()
    );
    assert!(daemon.stop().success());
}

#[test]
fn an_old_server_reads_through_the_symlink_and_the_alert_names_the_real_target() {
    if !privileged("symlink_escape_old_server") {
        return;
    }
    let Some((python, _)) = mcp_deps("symlink_escape_old_server") else {
        return;
    };
    let Some(old_dir) = old_filesystem_dir("symlink_escape_old_server") else {
        return;
    };
    let (_home, root, target, link) = home_with_escaping_link();
    let daemon = Daemon::start(&[]);

    // server-filesystem 2025.3.28 catches its own "outside the root" error and
    // falls back to the link's parent, which is inside: it opens the link, and
    // the kernel follows it to the secret. The alert must name the file the
    // kernel opened, not the link.
    let results = session(
        &python,
        "fs-2025.3.28",
        &root,
        vec![("read_file", json!({ "path": link }))],
        &old_dir,
    )
    .run(&daemon);
    let read = result(&results, "read_file");
    assert!(
        s(read, "text").contains("fake key planted"),
        "the old server did not read through the link: {read}"
    );
    let opens: Vec<Value> = daemon
        .events()
        .into_iter()
        .filter(|e| {
            s(e, "mcp.server") == "fs-2025.3.28"
                && s(e, "evt.category") == "file"
                && (s(e, "fd.name") == target || s(e, "fd.name") == link)
        })
        .collect();
    eprintln!(
        "symlink escape, old server: opens of the link or its target: {}",
        opens
            .iter()
            .map(|e| format!(
                "\n    {} fd.name={} evt.arg.path={} fd.name_source={} res={}",
                s(e, "evt.type"),
                s(e, "fd.name"),
                s(e, "evt.arg.path"),
                s(e, "fd.name_source"),
                s(e, "evt.res")
            ))
            .collect::<String>()
    );
    let a = expect_alert(&daemon, SSH_RULE, "fs-2025.3.28", &target);
    assert!(s(&a, "output").contains(&target), "{a}");
    assert!(daemon.stop().success());
}
