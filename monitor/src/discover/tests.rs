//! Discovery over fixture homes written into a temporary directory, and
//! matchers over the command lines real launches exec.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::config::Transport;
use super::matcher::{ConfigMatch, ConfigMatchers};
use super::running::{Proc, running};
use super::table::{ServerReport, render_json, render_text, reports};
use super::*;

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "mcp-discover-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Every secret value in the fixtures contains this marker.
const SECRET: &str = "FIXTURESECRET";

/// Two homes: alice with a config for every host, bob with broken ones.
fn fixture(root: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let alice = root.join("home/alice");
    let bob = root.join("home/bob");
    let proj = alice.join("src/webapp");
    let ws = alice.join("ws one");
    let a = alice.display().to_string();
    let p = proj.display().to_string();

    // Claude Code: user and local scopes, projects, and the project's .mcp.json.
    write(
        &alice.join(".claude.json"),
        &format!(
            r#"{{
  "numStartups": 42,
  "theme": "dark",
  "mcpServers": {{
    "filesystem": {{
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "{a}/docs", "{a}/notes"],
      "env": {{}}
    }},
    "github": {{
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/",
      "headers": {{"Authorization": "Bearer ghp_{SECRET}0000000000000000000000000"}}
    }}
  }},
  "projects": {{
    "{p}": {{
      "allowedTools": [],
      "mcpServers": {{
        "sentry": {{
          "command": "npx",
          "args": ["-y", "@sentry/mcp-server@0.17.1"],
          "env": {{"SENTRY_ACCESS_TOKEN": "sntrys_{SECRET}1", "SENTRY_HOST": "sentry.io"}}
        }}
      }}
    }},
    "{a}/gone": {{ "mcpServers": {{}} }}
  }}
}}"#
        ),
    );
    write(
        &proj.join(".mcp.json"),
        &format!(
            r#"{{"mcpServers": {{
  "memory": {{"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory@2025.8.4"],
             "env": {{"MEMORY_FILE_PATH": "${{HOME}}/memory.json"}}}},
  "remote-docs": {{"type": "sse", "url": "https://mcp.example.invalid/sse?api_key={SECRET}2&lang=en"}}
}}}}"#
        ),
    );
    // Claude Desktop (uvx; a git source pinned to a commit).
    write(
        &alice.join(".config/Claude/claude_desktop_config.json"),
        r#"{
  "mcpServers": {
    "fetch": {"command": "uvx", "args": ["mcp-server-fetch"]},
    "git": {
      "command": "uvx",
      "args": ["--from", "git+https://github.com/modelcontextprotocol/servers@0123456789abcdef0123456789abcdef01234567#subdirectory=src/git",
               "mcp-server-git", "--repository", "/srv/repo"]
    }
  }
}"#,
    );
    // Cursor: docker with a passed-through token, a remote server; a broken project file.
    write(
        &alice.join(".cursor/mcp.json"),
        &format!(
            r#"{{"mcpServers": {{
  "github": {{
    "command": "docker",
    "args": ["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", "ghcr.io/github/github-mcp-server"],
    "env": {{"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_{SECRET}3xxxxxxxxxxxxxxxxxxxxxxxxx"}}
  }},
  "linear": {{"url": "https://mcp.linear.app/sse"}}
}}}}"#
        ),
    );
    write(
        &proj.join(".cursor/mcp.json"),
        "{\n  \"mcpServers\": {\n    \"x\": {\"command\": \"npx\",, }\n  }\n}\n",
    );
    // VS Code: user mcp.json with inputs, JSONC settings.json, a workspace's .vscode/mcp.json.
    write(
        &alice.join(".config/Code/User/mcp.json"),
        r#"{
  "inputs": [
    {"type": "promptString", "id": "perplexity-key", "description": "Perplexity API Key", "password": true}
  ],
  "servers": {
    "perplexity": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "server-perplexity-ask"],
      "env": {"PERPLEXITY_API_KEY": "${input:perplexity-key}"}
    },
    "playwright": {
      "command": "npx",
      "args": ["@playwright/mcp@latest", "--output-dir", "${workspaceFolder}/out"]
    }
  }
}"#,
    );
    write(
        &alice.join(".config/Code/User/settings.json"),
        r#"{
    // Editor
    "editor.fontSize": 14,
    "files.exclude": { "**/.git": true, },
    /* MCP servers, the older place */
    "mcp": {
        "servers": {
            "time": {
                "command": "uvx",
                "args": ["mcp-server-time==0.6.2", "--local-timezone=Europe/Paris",], // pinned
            },
        },
    },
}
"#,
    );
    write(
        &alice.join(".config/Code/User/workspaceStorage/6f1c0a/workspace.json"),
        &format!(r#"{{"folder": "file://{a}/ws%20one"}}"#),
    );
    write(
        &ws.join(".vscode/mcp.json"),
        &format!(
            r#"{{"servers": {{"db": {{"type": "stdio", "command": "uv",
  "args": ["--directory", "${{workspaceFolder}}", "run", "db_server.py"],
  "env": {{"DB_PASSWORD": "{SECRET}4", "DB_NAME": "app"}}}}}}}}"#
        ),
    );
    // Windsurf: serverUrl, a disabled server.
    write(
        &alice.join(".codeium/windsurf/mcp_config.json"),
        &format!(
            r#"{{"mcpServers": {{
  "context7": {{"serverUrl": "https://mcp.context7.com/mcp", "headers": {{"CONTEXT7_API_KEY": "{SECRET}5"}}}},
  "brave": {{"command": "npx", "args": ["-y", "@modelcontextprotocol/server-brave-search"],
             "env": {{"BRAVE_API_KEY": "{SECRET}6"}}, "disabled": true}}
}}}}"#
        ),
    );
    // Continue: config.yaml and blocks, one of them broken.
    write(
        &alice.join(".continue/config.yaml"),
        &format!(
            "name: Local Assistant\nversion: 1.0.0\nschema: v1\nmodels: []\nmcpServers:\n  - name: SQLite\n    command: npx\n    args:\n      - \"-y\"\n      - \"mcp-sqlite\"\n      - \"{a}/db.sqlite\"\n    env:\n      SQLITE_KEY: {SECRET}7\n  - name: Remote docs\n    type: streamable-http\n    url: https://docs.example.invalid/mcp\n"
        ),
    );
    write(
        &alice.join(".continue/mcpServers/playwright.yaml"),
        "name: Playwright mcpServer\nversion: 0.0.1\nschema: v1\nmcpServers:\n  - name: Browser search\n    command: npx\n    args:\n      - \"@playwright/mcp@0.0.30\"\n",
    );
    write(
        &alice.join(".continue/mcpServers/broken.yaml"),
        "mcpServers:\n  - name: x\n    args: [a, b\n  - name: y\n",
    );
    // Gemini CLI: stdio with env references, httpUrl, url (SSE).
    write(
        &alice.join(".gemini/settings.json"),
        &format!(
            r#"{{
  "theme": "Default",
  "mcpServers": {{
    "pythonTools": {{
      "command": "python",
      "args": ["-m", "my_mcp_server", "--port", "8080"],
      "env": {{"DATABASE_URL": "$DB_CONNECTION_STRING", "API_KEY": "${{EXTERNAL_API_KEY}}"}},
      "cwd": "./mcp-servers/python",
      "timeout": 15000
    }},
    "httpServer": {{"httpUrl": "http://localhost:3000/mcp", "headers": {{"Authorization": "Bearer {SECRET}8"}}}},
    "sseServer": {{"url": "http://localhost:8080/sse"}}
  }}
}}"#
        ),
    );
    // Codex: TOML.
    write(
        &alice.join(".codex/config.toml"),
        &format!(
            r#"model = "o3"

[mcp_servers.context7]
command = "npx"
args = ["-y", "@upstash/context7-mcp@1.0.14"]
env = {{ "CONTEXT7_API_KEY" = "{SECRET}9" }}

[mcp_servers.figma]
url = "https://mcp.figma.com/mcp"
bearer_token_env_var = "FIGMA_OAUTH_TOKEN"
http_headers = {{ "X-Figma-Region" = "us-east-1" }}

[mcp_servers.off]
command = "mcp-server-off"
enabled = false
"#
        ),
    );

    // bob: broken JSON, broken TOML, an entry without command or url.
    write(
        &bob.join(".claude.json"),
        "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"npx\" \"args\": []}\n  }\n}\n",
    );
    write(
        &bob.join(".codex/config.toml"),
        "[mcp_servers.x]\ncommand = \n",
    );
    write(
        &bob.join(".gemini/settings.json"),
        r#"{"mcpServers": {"ok": {"command": "mcp-server-ok"}, "bad": {"env": {"X": "1"}}, "worse": {"command": "x", "args": "not-a-list"}}}"#,
    );
    (alice, bob, proj, ws)
}

fn find<'a>(r: &'a [ServerReport], host: &str, name: &str) -> &'a ServerReport {
    r.iter()
        .find(|x| x.host == host && x.name == name)
        .unwrap_or_else(|| panic!("no {host}/{name} in {r:#?}"))
}

#[test]
fn discovers_every_host_field_by_field() {
    let tmp = TempDir::new("hosts");
    let (alice, bob, proj, ws) = fixture(&tmp.0);
    let d = discover(&[alice.clone(), bob.clone()]);
    let r = reports(&d.servers, &HashMap::new());
    let a = alice.display().to_string();

    let fs = find(&r, "claude-code", "filesystem");
    assert_eq!(
        (fs.scope, fs.transport, fs.project.as_deref()),
        ("user", "stdio", None)
    );
    assert_eq!(fs.config_path, format!("{a}/.claude.json"));
    assert_eq!(fs.command.as_deref(), Some("npx"));
    assert_eq!(
        fs.args,
        s(&[
            "-y",
            "@modelcontextprotocol/server-filesystem",
            &format!("{a}/docs"),
            &format!("{a}/notes")
        ])
    );
    assert_eq!(fs.url, None);
    assert_eq!(
        fs.package.as_deref(),
        Some("@modelcontextprotocol/server-filesystem")
    );
    assert_eq!((fs.pinned, fs.pinning), (Some(false), "unpinned"));
    assert!(fs.secret_env.is_empty() && fs.env.is_empty());
    assert!(!fs.running && fs.pids.is_empty());

    let gh = find(&r, "claude-code", "github");
    assert_eq!((gh.scope, gh.transport), ("user", "http"));
    assert_eq!(
        gh.url.as_deref(),
        Some("https://api.githubcopilot.com/mcp/")
    );
    assert_eq!(gh.command, None);
    assert_eq!((gh.pinned, gh.pinning), (None, "remote"));
    assert_eq!(gh.secret_headers, s(&["Authorization"]));

    let sentry = find(&r, "claude-code", "sentry");
    assert_eq!(sentry.scope, "local");
    assert_eq!(sentry.project.as_deref(), Some(proj.to_str().unwrap()));
    assert_eq!(sentry.config_path, format!("{a}/.claude.json"));
    assert_eq!((sentry.pinned, sentry.pinning), (Some(true), "pinned"));
    assert_eq!(sentry.env, s(&["SENTRY_ACCESS_TOKEN", "SENTRY_HOST"]));
    assert_eq!(sentry.secret_env, s(&["SENTRY_ACCESS_TOKEN"]));

    let mem = find(&r, "claude-code", "memory");
    assert_eq!(mem.scope, "project");
    assert_eq!(
        mem.config_path,
        proj.join(".mcp.json").display().to_string()
    );
    assert_eq!(mem.pinned, Some(true));
    assert!(mem.secret_env.is_empty());
    let rd = find(&r, "claude-code", "remote-docs");
    assert_eq!(rd.transport, "sse");
    assert_eq!(
        rd.url.as_deref(),
        Some("https://mcp.example.invalid/sse?api_key=<redacted>&lang=en")
    );

    let fetch = find(&r, "claude-desktop", "fetch");
    assert_eq!((fetch.scope, fetch.transport), ("user", "stdio"));
    assert_eq!(fetch.command.as_deref(), Some("uvx"));
    assert_eq!(fetch.args, s(&["mcp-server-fetch"]));
    assert_eq!(
        (fetch.pinned, fetch.package.as_deref()),
        (Some(false), Some("mcp-server-fetch"))
    );
    let git = find(&r, "claude-desktop", "git");
    assert_eq!(git.pinned, Some(true), "{}", git.pinning_detail);

    let cgh = find(&r, "cursor", "github");
    assert_eq!(cgh.command.as_deref(), Some("docker"));
    assert_eq!(
        cgh.package.as_deref(),
        Some("ghcr.io/github/github-mcp-server")
    );
    assert_eq!(cgh.pinned, Some(false));
    assert_eq!(cgh.secret_env, s(&["GITHUB_PERSONAL_ACCESS_TOKEN"]));
    let linear = find(&r, "cursor", "linear");
    assert_eq!(
        (linear.transport, linear.url.as_deref()),
        ("sse", Some("https://mcp.linear.app/sse"))
    );

    let px = find(&r, "vscode", "perplexity");
    assert_eq!(px.config_path, format!("{a}/.config/Code/User/mcp.json"));
    assert_eq!(px.secret_env, s(&["PERPLEXITY_API_KEY"]));
    let pw = find(&r, "vscode", "playwright");
    assert_eq!(
        pw.args,
        s(&[
            "@playwright/mcp@latest",
            "--output-dir",
            "${workspaceFolder}/out"
        ])
    );
    assert_eq!(pw.pinned, Some(false));
    let time = find(&r, "vscode", "time");
    assert_eq!(
        time.config_path,
        format!("{a}/.config/Code/User/settings.json")
    );
    assert_eq!(
        time.args,
        s(&["mcp-server-time==0.6.2", "--local-timezone=Europe/Paris"])
    );
    assert_eq!(time.pinned, Some(true));
    let db = find(&r, "vscode", "db");
    assert_eq!(db.scope, "project");
    assert_eq!(db.project.as_deref(), Some(ws.to_str().unwrap()));
    assert_eq!((db.pinned, db.pinning), (None, "local"));
    assert_eq!(db.env, s(&["DB_NAME", "DB_PASSWORD"]));
    assert_eq!(db.secret_env, s(&["DB_PASSWORD"]));

    let c7 = find(&r, "windsurf", "context7");
    assert_eq!(
        (c7.transport, c7.url.as_deref()),
        ("http", Some("https://mcp.context7.com/mcp"))
    );
    assert_eq!(c7.secret_headers, s(&["CONTEXT7_API_KEY"]));
    let brave = find(&r, "windsurf", "brave");
    assert!(brave.disabled);
    assert_eq!(brave.secret_env, s(&["BRAVE_API_KEY"]));

    let sqlite = find(&r, "continue", "SQLite");
    assert_eq!(sqlite.config_path, format!("{a}/.continue/config.yaml"));
    assert_eq!(
        sqlite.args,
        s(&["-y", "mcp-sqlite", &format!("{a}/db.sqlite")])
    );
    assert_eq!(sqlite.secret_env, s(&["SQLITE_KEY"]));
    let rdocs = find(&r, "continue", "Remote docs");
    assert_eq!(rdocs.transport, "http");
    let bs = find(&r, "continue", "Browser search");
    assert_eq!(
        bs.config_path,
        format!("{a}/.continue/mcpServers/playwright.yaml")
    );
    assert_eq!(bs.pinned, Some(true));

    let py = find(&r, "gemini-cli", "pythonTools");
    assert_eq!(py.args, s(&["-m", "my_mcp_server", "--port", "8080"]));
    assert_eq!(py.pinning, "local");
    assert_eq!(py.secret_env, s(&["API_KEY", "DATABASE_URL"]));
    let hs = find(&r, "gemini-cli", "httpServer");
    assert_eq!(
        (hs.transport, hs.url.as_deref()),
        ("http", Some("http://localhost:3000/mcp"))
    );
    assert_eq!(hs.secret_headers, s(&["Authorization"]));
    assert_eq!(find(&r, "gemini-cli", "sseServer").transport, "sse");

    let cx = find(&r, "codex", "context7");
    assert_eq!(cx.config_path, format!("{a}/.codex/config.toml"));
    assert_eq!(cx.args, s(&["-y", "@upstash/context7-mcp@1.0.14"]));
    assert_eq!(
        (cx.pinned, cx.secret_env.clone()),
        (Some(true), s(&["CONTEXT7_API_KEY"]))
    );
    let figma = find(&r, "codex", "figma");
    assert_eq!(figma.transport, "http");
    assert_eq!(figma.headers, s(&["Authorization", "X-Figma-Region"]));
    assert_eq!(figma.secret_headers, s(&["Authorization"]));
    assert_eq!(figma.secret_env, s(&["FIGMA_OAUTH_TOKEN"]));
    assert!(find(&r, "codex", "off").disabled);
    assert_eq!(
        find(&r, "gemini-cli", "ok").config_path,
        bob.join(".gemini/settings.json").display().to_string()
    );

    // The broken project file is reported; its server is not listed.
    assert!(!r.iter().any(|x| x.host == "cursor" && x.name == "x"));
    assert_eq!(
        r.len(),
        25,
        "{:?}",
        r.iter().map(|x| (x.host, &x.name)).collect::<Vec<_>>()
    );

    // Malformed configs: file, reason, and line:col where the parser has them.
    let problem = |path: PathBuf| {
        d.problems
            .iter()
            .filter(|p| p.path == path)
            .collect::<Vec<_>>()
    };
    let cursor = problem(proj.join(".cursor/mcp.json"));
    assert_eq!(cursor.len(), 1);
    assert_eq!((cursor[0].line, cursor[0].col), (Some(3), Some(28)));
    assert_eq!(cursor[0].host, Host::Cursor);
    let yaml = problem(alice.join(".continue/mcpServers/broken.yaml"));
    assert!(yaml.len() == 1 && yaml[0].line.is_some(), "{yaml:?}");
    let bob_claude = problem(bob.join(".claude.json"));
    assert_eq!((bob_claude[0].line, bob_claude[0].col), (Some(3), Some(28)));
    assert!(
        bob_claude[0].message.contains("expected"),
        "{}",
        bob_claude[0].message
    );
    let toml = problem(bob.join(".codex/config.toml"));
    assert_eq!(toml[0].line, Some(2));
    let gem = problem(bob.join(".gemini/settings.json"));
    assert_eq!(gem.len(), 2, "{gem:?}");
    assert!(gem.iter().any(|p| p.message.contains("\"bad\"")));
    assert!(
        gem.iter()
            .any(|p| p.message.contains("\"args\" must be an array"))
    );
    assert_eq!(d.problems.len(), 6, "{:#?}", d.problems);
    let shown = d.problems[0].to_string();
    assert!(shown.contains(".json:") || shown.contains(".yaml:") || shown.contains(".toml:"));

    // No secret value anywhere in what is shown.
    let text = render_text(&r);
    let json = render_json(&r);
    let problems: String = d.problems.iter().map(|p| p.to_string()).collect();
    for out in [&text, &json, &problems, &format!("{r:?}")] {
        assert!(!out.contains(SECRET), "secret leaked:\n{out}");
    }
    assert!(text.contains("filesystem"));
    assert!(text.contains("header:Authorization"));

    // Stable JSON field names.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let first = v.as_array().unwrap()[0].as_object().unwrap();
    for key in [
        "host",
        "scope",
        "project",
        "name",
        "config_path",
        "transport",
        "command",
        "args",
        "url",
        "package",
        "pinned",
        "pinning",
        "pinning_detail",
        "env",
        "secret_env",
        "headers",
        "secret_headers",
        "secret_args",
        "disabled",
        "running",
        "pids",
    ] {
        assert!(first.contains_key(key), "{key}");
    }
}

#[test]
fn watch_list_covers_existing_and_possible_configs() {
    let tmp = TempDir::new("watch");
    let (alice, bob, proj, ws) = fixture(&tmp.0);
    let files = discover(&[alice.clone(), bob.clone()]).watch;
    for want in [
        alice.join(".claude.json"),
        alice.join(".config/Claude/claude_desktop_config.json"),
        alice.join(".cursor/mcp.json"),
        alice.join(".config/Code/User/mcp.json"),
        alice.join(".config/Code/User/settings.json"),
        alice.join(".codeium/windsurf/mcp_config.json"),
        alice.join(".continue/config.yaml"),
        alice.join(".continue/mcpServers"),
        alice.join(".continue/mcpServers/playwright.yaml"),
        alice.join(".gemini/settings.json"),
        alice.join(".codex/config.toml"),
        proj.join(".mcp.json"),
        proj.join(".cursor/mcp.json"),
        proj.join(".vscode/mcp.json"),
        ws.join(".vscode/mcp.json"),
        ws.join(".mcp.json"),
        alice.join("gone/.mcp.json"),
        // bob has none of these, yet they are watched.
        bob.join(".cursor/mcp.json"),
        bob.join(".config/Claude/claude_desktop_config.json"),
        PathBuf::from(MANAGED_CLAUDE_CODE),
    ] {
        assert!(
            files.contains(&want),
            "{} not in {files:#?}",
            want.display()
        );
    }
    let mut dedup = files.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), files.len());
}

#[test]
fn given_homes_only() {
    let tmp = TempDir::new("only");
    let (alice, _bob, _, _) = fixture(&tmp.0);
    let d = discover(std::slice::from_ref(&alice));
    assert!(
        d.servers.iter().all(|s| s.config_path.starts_with(&alice)
            || s.config_path == Path::new(MANAGED_CLAUDE_CODE))
    );
    assert!(d.problems.iter().all(|p| p.path.starts_with(&alice)));
}

/// A configured stdio server, for matcher tests.
fn server(host: Host, name: &str, command: &str, args: &[&str]) -> ServerConfig {
    ServerConfig {
        host,
        scope: Scope::User,
        project: None,
        name: name.to_owned(),
        config_path: PathBuf::from(format!("/home/u/.{name}.json")),
        transport: Transport::Stdio,
        command: Some(command.to_owned()),
        args: s(args),
        url: None,
        cwd: None,
        env: Vec::new(),
        headers: Vec::new(),
        env_refs: Vec::new(),
        disabled: false,
    }
}

fn argv(cmd: &str) -> Vec<String> {
    cmd.split_whitespace().map(str::to_owned).collect()
}

fn servers() -> Vec<ServerConfig> {
    vec![
        server(
            Host::ClaudeDesktop,
            "fs",
            "npx",
            &[
                "-y",
                "@modelcontextprotocol/server-filesystem",
                "/tmp/fsroot",
            ],
        ),
        server(Host::Cursor, "fetch", "uvx", &["mcp-server-fetch"]),
        server(
            Host::Vscode,
            "github",
            "docker",
            &[
                "run",
                "-i",
                "--rm",
                "-e",
                "GITHUB_PERSONAL_ACCESS_TOKEN",
                "ghcr.io/github/github-mcp-server",
            ],
        ),
        server(
            Host::Vscode,
            "playwright",
            "npx",
            &[
                "@playwright/mcp@latest",
                "--output-dir",
                "${workspaceFolder}/out",
            ],
        ),
        server(
            Host::GeminiCli,
            "py",
            "python",
            &["-m", "my_mcp_server", "--port", "8080"],
        ),
        server(
            Host::Codex,
            "local",
            "node",
            &["/srv/weather/build/index.js"],
        ),
        server(
            Host::Windsurf,
            "git",
            "/home/u/.local/bin/mcp-server-git",
            &["--repository", "/r"],
        ),
        server(
            Host::Continue,
            "wrapped",
            "bash",
            &["-lc", "exec npx -y mcp-remote@0.1.29 https://x.invalid/sse"],
        ),
        server(Host::ClaudeCode, "script", "python", &["server.py"]),
    ]
}

#[test]
fn matches_what_launches_exec() {
    let m = ConfigMatchers::new(&servers()).resolve_links(false);
    assert_eq!(m.len(), 9);
    let fs_npm_title = vec![
        "npm exec @modelcontextprotocol/server-filesystem /tmp/fsroot".to_owned(),
        String::new(),
        String::new(),
        String::new(),
    ];
    let fs_sh = s(&["sh", "-c", "'mcp-server-filesystem' /tmp/fsroot"]);
    let host_sh = s(&[
        "/bin/bash",
        "-lc",
        "npx -y @modelcontextprotocol/server-filesystem /tmp/fsroot",
    ]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        // What `ps` shows for `npx -y @modelcontextprotocol/server-filesystem /tmp/fsroot`.
        (
            argv("npx -y @modelcontextprotocol/server-filesystem /tmp/fsroot"),
            "fs",
        ),
        (fs_npm_title, "fs"),
        (fs_sh, "fs"),
        (
            argv(
                "node /root/.npm/_npx/a3241bba59c344f5/node_modules/.bin/mcp-server-filesystem /tmp/fsroot",
            ),
            "fs",
        ),
        (
            argv(
                "/usr/bin/node /root/.npm/_npx/a3/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js /tmp/fsroot",
            ),
            "fs",
        ),
        (host_sh, "fs"),
        (
            argv("cmd /c npx -y @modelcontextprotocol/server-filesystem /tmp/fsroot"),
            "fs",
        ),
        (
            argv("npm exec -y -- @modelcontextprotocol/server-filesystem@2025.8.21 /tmp/fsroot"),
            "fs",
        ),
        (argv("uvx mcp-server-fetch"), "fetch"),
        (
            argv(
                "/root/.cache/uv/archive-v0/Xk2/bin/python /root/.cache/uv/archive-v0/Xk2/bin/mcp-server-fetch",
            ),
            "fetch",
        ),
        (argv("python3 -m mcp_server_fetch"), "fetch"),
        (
            argv(
                "docker run -i --rm -e GITHUB_PERSONAL_ACCESS_TOKEN ghcr.io/github/github-mcp-server",
            ),
            "github",
        ),
        (
            argv(
                "docker run -i --rm -e GITHUB_PERSONAL_ACCESS_TOKEN ghcr.io/github/github-mcp-server:latest",
            ),
            "github",
        ),
        (
            argv(
                "node /root/.npm/_npx/9c/node_modules/.bin/mcp-server-playwright --output-dir /home/u/proj/out",
            ),
            "playwright",
        ),
        (
            argv("node /root/.npm/_npx/9c/node_modules/@playwright/mcp/cli.js --output-dir /w/out"),
            "playwright",
        ),
        (
            argv("/usr/bin/python3.12 -m my_mcp_server --port 8080"),
            "py",
        ),
        (argv("node /srv/weather/build/index.js"), "local"),
        (
            argv("/home/u/.local/bin/mcp-server-git --repository /r"),
            "git",
        ),
        (
            argv("/usr/bin/python3 /home/u/.local/bin/mcp-server-git --repository /r"),
            "git",
        ),
        (
            argv("npx -y mcp-remote@0.1.29 https://x.invalid/sse"),
            "wrapped",
        ),
        (
            argv("node /root/.npm/_npx/1f/node_modules/.bin/mcp-remote https://x.invalid/sse"),
            "wrapped",
        ),
    ];
    for (cmd, want) in cases {
        let got = m.match_argv(&cmd);
        assert_eq!(got.as_ref().map(|g| g.name.as_str()), Some(want), "{cmd:?}");
    }
    let hit = m
        .match_argv(&argv(
            "npx -y @modelcontextprotocol/server-filesystem /tmp/fsroot",
        ))
        .unwrap();
    assert_eq!(
        hit,
        ConfigMatch {
            name: "fs".into(),
            host: Host::ClaudeDesktop,
            scope: Scope::User,
            config_path: PathBuf::from("/home/u/.fs.json"),
            project: None,
        }
    );
}

#[test]
fn does_not_match_look_alikes() {
    let m = ConfigMatchers::new(&servers()).resolve_links(false);
    for cmd in [
        // Same package, other directory or none.
        "npx -y @modelcontextprotocol/server-filesystem /etc",
        "node /root/.npm/_npx/a3/node_modules/.bin/mcp-server-filesystem",
        "node /root/.npm/_npx/a3/node_modules/.bin/mcp-server-filesystem /tmp/fsroot /etc",
        // Other packages with the same arguments.
        "npx -y @modelcontextprotocol/server-memory /tmp/fsroot",
        "node /x/node_modules/.bin/mcp-server-memory /tmp/fsroot",
        // Interpreters and tools alone.
        "node",
        "node /tmp/fsroot",
        "node server.js /tmp/fsroot",
        "python3",
        "python3 -c import this",
        "sh -c ls",
        "vim /tmp/fsroot",
        "cat mcp-server-filesystem /tmp/fsroot",
        "grep -r mcp-server-fetch .",
        "uvx mcp-server-fetch --ignore-robots-txt",
        "uvx mcp-server-time",
        "docker ps",
        "docker run -i --rm ghcr.io/other/image",
        "docker run -i --rm -e GITHUB_PERSONAL_ACCESS_TOKEN ghcr.io/github/github-mcp-server --read-only",
        "python -m my_mcp_server --port 9090",
        "node /srv/other/build/index.js",
        "npx -y mcp-remote@0.1.29 https://y.invalid/sse",
        "python app/server.py",
        // The configured `python server.py` (relative, generic name) is too weak.
        "python server.py",
        "",
    ] {
        assert_eq!(m.match_argv(&argv(cmd)), None, "{cmd}");
    }
    // A bare generic script name is too weak to stand on its own.
    let weak = ConfigMatchers::new(&[server(Host::Cursor, "s", "node", &["index.js"])]);
    assert_eq!(weak.match_argv(&argv("node index.js")), None);
}

#[test]
fn disabled_and_remote_servers_are_not_matched() {
    let mut off = server(Host::Windsurf, "off", "uvx", &["mcp-server-fetch"]);
    off.disabled = true;
    let mut remote = server(Host::Cursor, "remote", "unused", &[]);
    remote.transport = Transport::Http;
    remote.command = None;
    remote.url = Some("https://x.invalid/mcp".into());
    let m = ConfigMatchers::new(&[off, remote]);
    assert!(m.is_empty());
    assert_eq!(m.match_argv(&argv("uvx mcp-server-fetch")), None);
}

#[test]
fn best_match_and_discovery_order() {
    let list = vec![
        server(
            Host::Cursor,
            "by-bin",
            "mcp-server-filesystem",
            &["/tmp/fsroot"],
        ),
        server(
            Host::ClaudeCode,
            "by-package",
            "npx",
            &[
                "-y",
                "@modelcontextprotocol/server-filesystem",
                "/tmp/fsroot",
            ],
        ),
        server(
            Host::Vscode,
            "same-package",
            "npx",
            &["@modelcontextprotocol/server-filesystem", "/tmp/fsroot"],
        ),
    ];
    let m = ConfigMatchers::new(&list).resolve_links(false);
    let exec = argv(
        "node /r/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js /tmp/fsroot",
    );
    assert_eq!(m.match_argv(&exec).unwrap().name, "by-package");
    // The global executable's name is one the package provides: a weaker match.
    assert_eq!(m.match_indices(&exec), vec![0, 1, 2]);
    let bin = argv("node /r/node_modules/.bin/mcp-server-filesystem /tmp/fsroot");
    // The executable name matches all three; the first in order wins.
    assert_eq!(m.match_indices(&bin), vec![0, 1, 2]);
    assert_eq!(m.match_argv(&bin).unwrap().name, "by-bin");
}

#[test]
fn follows_bin_links_and_learns_package_bins() {
    let tmp = TempDir::new("links");
    let home = tmp.0.join("home/u");
    // An npx cache entry: a package whose executable name says nothing of it.
    let nm = home.join(".npm/_npx/0a1b2c/node_modules");
    write(
        &nm.join("@acme/tool-mcp/package.json"),
        r#"{"name": "@acme/tool-mcp", "bin": {"acme-srv": "dist/index.js"}}"#,
    );
    write(
        &nm.join("@acme/tool-mcp/dist/index.js"),
        "#!/usr/bin/env node\n",
    );
    std::fs::create_dir_all(nm.join(".bin")).unwrap();
    std::os::unix::fs::symlink("../@acme/tool-mcp/dist/index.js", nm.join(".bin/acme-srv"))
        .unwrap();
    write(
        &home.join(".cursor/mcp.json"),
        r#"{"mcpServers": {"acme": {"command": "npx", "args": ["-y", "@acme/tool-mcp", "--safe"]}}}"#,
    );
    let d = discover(std::slice::from_ref(&home));
    let bin = nm.join(".bin/acme-srv").display().to_string();
    let exec = vec!["node".to_owned(), bin.clone(), "--safe".to_owned()];

    // Neither a guess nor a link: no match.
    let plain = ConfigMatchers::new(&d.servers).resolve_links(false);
    assert_eq!(plain.match_argv(&exec), None);
    // The symlink leads into the package.
    let links = ConfigMatchers::new(&d.servers);
    assert_eq!(links.match_argv(&exec).unwrap().name, "acme");
    // package.json in the npx cache names the executable.
    let learned = ConfigMatchers::from_discovery(&d).resolve_links(false);
    assert_eq!(learned.match_argv(&exec).unwrap().name, "acme");
    let exec_elsewhere = argv("node /opt/x/node_modules/.bin/acme-srv --safe");
    assert_eq!(
        learned.match_argv(&exec_elsewhere).unwrap().host,
        Host::Cursor
    );
    assert_eq!(
        learned.match_argv(&argv("node /opt/x/node_modules/.bin/acme-srv")),
        None
    );
}

#[test]
fn running_servers_are_reported_once_per_tree() {
    let list = servers();
    let m = ConfigMatchers::new(&list).resolve_links(false);
    let p = |pid, ppid, argv: Vec<String>| Proc { pid, ppid, argv };
    let procs = vec![
        p(50, 1, argv("claude")),
        p(
            100,
            50,
            argv("npx -y @modelcontextprotocol/server-filesystem /tmp/fsroot"),
        ),
        p(
            101,
            100,
            vec![
                "npm exec @modelcontextprotocol/server-filesystem /tmp/fsroot".into(),
                String::new(),
            ],
        ),
        p(
            102,
            101,
            s(&["sh", "-c", "'mcp-server-filesystem' /tmp/fsroot"]),
        ),
        p(
            103,
            102,
            argv("node /root/.npm/_npx/a3/node_modules/.bin/mcp-server-filesystem /tmp/fsroot"),
        ),
        p(200, 50, argv("uvx mcp-server-fetch")),
        p(
            201,
            200,
            argv(
                "/root/.cache/uv/archive-v0/X/bin/python /root/.cache/uv/archive-v0/X/bin/mcp-server-fetch",
            ),
        ),
        // A second, independent instance (its parent is not a server).
        p(
            300,
            1,
            argv("node /root/.npm/_npx/a3/node_modules/.bin/mcp-server-filesystem /tmp/fsroot"),
        ),
        p(400, 1, argv("vim notes.md")),
    ];
    let running = running(&m, &procs);
    assert_eq!(running.get(&0), Some(&vec![100, 300]));
    assert_eq!(running.get(&1), Some(&vec![200]));
    assert_eq!(running.len(), 2);
    let r = reports(&list, &running);
    assert!(r[0].running && r[0].pids == [100, 300]);
    assert!(!r[2].running);
}

/// Starts the real `@modelcontextprotocol/server-filesystem` with `npx` (which
/// needs the npm registry or npx's cache) and finds it running through every
/// process npx leaves between it and the server.
#[test]
#[ignore = "needs npx and the npm registry or npx's cache"]
fn real_npx_server_is_seen_running() {
    use std::process::{Command, Stdio};
    let tmp = TempDir::new("real");
    let home = tmp.0.join("home/u");
    let root = tmp.0.join("fsroot");
    std::fs::create_dir_all(&root).unwrap();
    write(
        &home.join(".config/Claude/claude_desktop_config.json"),
        &format!(
            r#"{{"mcpServers": {{"files": {{"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "{}"]}}}}}}"#,
            root.display()
        ),
    );
    let mut child = Command::new("npx")
        .args(["-y", "@modelcontextprotocol/server-filesystem"])
        .arg(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("npx");
    let d = discover(std::slice::from_ref(&home));
    let m = ConfigMatchers::from_discovery(&d);
    let mut seen = Vec::new();
    for _ in 0..120 {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let procs = super::running::processes();
        let mine: Vec<&Proc> = procs
            .iter()
            .filter(|p| p.argv.iter().any(|a| a.contains(root.to_str().unwrap())))
            .collect();
        seen = mine
            .iter()
            .filter(|p| !m.match_indices(&p.argv).is_empty())
            .map(|p| p.argv.clone())
            .collect();
        // npx, npm exec, sh -c and node: every one of them is recognised.
        if mine.iter().any(|p| p.argv[0] == "node") {
            assert_eq!(seen.len(), mine.len(), "{mine:#?}");
            let r = running(&m, &procs);
            assert_eq!(r.get(&0), Some(&vec![child.id()]));
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.len() >= 2, "{seen:#?}");
}

#[test]
fn the_command_runs_over_given_homes() {
    let tmp = TempDir::new("cli");
    let (alice, _, _, _) = fixture(&tmp.0);
    assert_eq!(cli::run_discover(vec![alice.clone()], true).unwrap(), 0);
    assert_eq!(cli::run_discover(vec![alice], false).unwrap(), 0);
    let empty = tmp.0.join("home/nobody");
    std::fs::create_dir_all(&empty).unwrap();
    assert_eq!(cli::run_discover(vec![empty], false).unwrap(), 0);
}
