use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;

const MONITOR: &str = "/opt/mcp-monitor/bin/mcp-monitor";

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "mcp-monitor-install-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

const CLAUDE_CODE: &str = r#"{
  "numStartups": 12,
  "theme": "dark",
  "mcpServers": {
    "fs": {
      "type": "stdio",
      "command": "npx",
      "args": [
        "-y",
        "@modelcontextprotocol/server-filesystem",
        "/home/me/projects"
      ],
      "env": {
        "DEBUG": "1"
      }
    },
    "linear": {
      "type": "http",
      "url": "https://mcp.linear.app/mcp"
    }
  },
  "projects": {
    "PROJECT": {
      "allowedTools": [],
      "mcpServers": {
        "git": {
          "command": "uvx",
          "args": ["mcp-server-git", "--repository", "."]
        }
      }
    }
  }
}
"#;

const PROJECT_MCP: &str = r#"{
  "mcpServers": {
    "local-tool": {
      "command": "node",
      "args": ["./tools/server.js"],
      "cwd": "./tools"
    }
  }
}
"#;

const CLAUDE_DESKTOP: &str = r#"{
  "mcpServers": {
    "memory": {
      "command": "mcp-server-memory"
    },
    "watched": {
      "command": "/usr/local/bin/mcp-monitor",
      "args": ["launch", "--name", "watched", "--", "npx", "-y", "some-mcp"]
    }
  },
  "globalShortcut": "Ctrl+Space"
}
"#;

const CURSOR: &str = r#"{
  "mcpServers": {
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/dir"],
      "env": { "TOKEN": "secret-value" }
    },
    "remote-sse": {
      "serverUrl": "https://example.com/sse"
    }
  }
}
"#;

const VSCODE_MCP: &str = r#"{
  // Servers for every workspace.
  "inputs": [
    { "type": "promptString", "id": "gh-token", "password": true }
  ],
  "servers": {
    /* GitHub, in a container */
    "github": {
      "type": "stdio",
      "command": "docker",
      "args": ["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", "ghcr.io/github/github-mcp-server"],
      "env": { "GITHUB_PERSONAL_ACCESS_TOKEN": "${input:gh-token}" }, // from the prompt
    },
    "empty-args": { "command": "my-server", "args": [] },
  },
}
"#;

const VSCODE_SETTINGS: &str = r#"{
  "editor.fontSize": 14,
  // MCP servers, the older way
  "mcp": {
    "servers": {
      "time": { "command": "uvx", "args": ["mcp-server-time", "--local-timezone=Europe/Paris"] }
    }
  },
  "files.autoSave": "afterDelay"
}
"#;

const WINDSURF_BROKEN: &str = "{\n  \"mcpServers\": {\n    \"x\": { \"command\": \"npx\", \"args\": [\"-y\" \"pkg\"] }\n  }\n}\n";

const GEMINI: &str = r#"{
  "theme": "Dracula",
  "mcpServers": {
    "pyserver": {
      "command": "python",
      "args": ["-m", "my_mcp_server", "--port", 8080],
      "cwd": "./mcp-servers/python",
      "timeout": 30000,
      "trust": false
    },
    "streamable": {
      "httpUrl": "https://api.example.com/mcp"
    }
  }
}
"#;

const CODEX: &str = r#"model = "o4-mini"

# Documentation server
[mcp_servers.docs]
command = "npx"
args = ["-y", "@upstash/context7-mcp"] # pinned later

[mcp_servers.plain]
command = "my-mcp"
env = { "LOG" = "debug" }

[mcp_servers.figma]
url = "https://mcp.figma.com/mcp"
bearer_token_env_var = "FIGMA_TOKEN"
"#;

const CONTINUE_YAML: &str = "name: cfg\nversion: 0.0.1\nmcpServers:\n  - name: sqlite\n    command: npx\n    args: [\"-y\", \"mcp-sqlite\"]\n";

struct Fixture {
    _dir: TempDir,
    home: PathBuf,
    project: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = TempDir::new("fx");
        let home = dir.0.join("home/me");
        let project = dir.0.join("work/app");
        fs::create_dir_all(&project).unwrap();
        let claude = CLAUDE_CODE.replace("PROJECT", project.to_str().unwrap());
        write(&home.join(".claude.json"), &claude);
        write(&project.join(".mcp.json"), PROJECT_MCP);
        write(
            &home.join(".config/Claude/claude_desktop_config.json"),
            CLAUDE_DESKTOP,
        );
        let cursor = home.join(".cursor/mcp.json");
        write(&cursor, CURSOR);
        fs::set_permissions(&cursor, fs::Permissions::from_mode(0o600)).unwrap();
        write(&home.join(".config/Code/User/mcp.json"), VSCODE_MCP);
        write(
            &home.join(".config/Code/User/settings.json"),
            VSCODE_SETTINGS,
        );
        write(
            &home.join(".codeium/windsurf/mcp_config.json"),
            WINDSURF_BROKEN,
        );
        write(&home.join(".gemini/settings.json"), GEMINI);
        write(&home.join(".codex/config.toml"), CODEX);
        write(&home.join(".continue/config.yaml"), CONTINUE_YAML);
        Fixture {
            _dir: dir,
            home,
            project,
        }
    }

    fn opts(&self) -> InstallOptions {
        InstallOptions {
            homes: vec![self.home.clone()],
            monitor_path: PathBuf::from(MONITOR),
            ..Default::default()
        }
    }

    fn cursor(&self) -> PathBuf {
        self.home.join(".cursor/mcp.json")
    }

    /// Every file under the fixture, with its content and mode.
    fn snapshot(&self) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (Vec<u8>, u32)>) {
            for e in fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                let m = fs::symlink_metadata(&p).unwrap();
                if m.is_dir() {
                    walk(&p, out);
                } else {
                    out.insert(p.clone(), (fs::read(&p).unwrap(), m.mode() & 0o7777));
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self._dir.0, &mut out);
        out
    }
}

fn json_of(path: &Path) -> Value {
    parse_jsonc(&fs::read_to_string(path).unwrap()).unwrap()
}

fn wrapped(name: &str, host: &str, line: &[Value]) -> Value {
    let mut args = vec![
        json!("launch"),
        json!("--name"),
        json!(name),
        json!("--host"),
        json!(host),
        json!("--"),
    ];
    args.extend(line.iter().cloned());
    Value::Array(args)
}

/// `before` with the entry at `path` wrapped.
fn wrap_value(before: &mut Value, path: &[&str], host: &str) {
    let mut v = &mut *before;
    for k in path {
        v = v.get_mut(*k).unwrap();
    }
    let name = path.last().unwrap();
    let mut line = vec![v["command"].clone()];
    line.extend(
        v.get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    );
    v["command"] = json!(MONITOR);
    v["args"] = wrapped(name, host, &line);
}

fn report<'r>(reports: &'r [FileReport], path: &Path) -> &'r FileReport {
    reports
        .iter()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("no report for {}: {reports:#?}", path.display()))
}

#[test]
fn install_wraps_exactly_the_stdio_servers() {
    let fx = Fixture::new();
    let h = &fx.home;
    let before_claude = json_of(&h.join(".claude.json"));
    let reports = install(&fx.opts()).unwrap();

    // Claude Code: user and local servers wrapped, the remote one and every
    // other key untouched.
    let mut want = before_claude.clone();
    wrap_value(&mut want, &["mcpServers", "fs"], "claude-code");
    let project = fx.project.to_str().unwrap();
    wrap_value(
        &mut want,
        &["projects", project, "mcpServers", "git"],
        "claude-code",
    );
    assert_eq!(json_of(&h.join(".claude.json")), want);
    let r = report(&reports, &h.join(".claude.json"));
    assert_eq!(r.changed, ["fs", "git"]);
    assert_eq!(
        r.skipped,
        [("linear".to_owned(), "remote (http)".to_owned())]
    );

    // The project's .mcp.json, through the project named in ~/.claude.json.
    let mut want = parse_jsonc(PROJECT_MCP).unwrap();
    wrap_value(&mut want, &["mcpServers", "local-tool"], "claude-code");
    assert_eq!(json_of(&fx.project.join(".mcp.json")), want);

    // Claude Desktop: a server without args gains them; the hand-wrapped one stays.
    let desktop = h.join(".config/Claude/claude_desktop_config.json");
    let mut want = parse_jsonc(CLAUDE_DESKTOP).unwrap();
    wrap_value(&mut want, &["mcpServers", "memory"], "claude-desktop");
    assert_eq!(json_of(&desktop), want);
    let r = report(&reports, &desktop);
    assert_eq!(r.changed, ["memory"]);
    assert_eq!(
        r.skipped,
        [("watched".to_owned(), "already wrapped".to_owned())]
    );

    // Cursor: the example of the brief, env kept.
    let cursor = json_of(&fx.cursor());
    assert_eq!(
        cursor["mcpServers"]["filesystem"],
        json!({
            "command": MONITOR,
            "args": ["launch", "--name", "filesystem", "--host", "cursor", "--",
                     "npx", "-y", "@modelcontextprotocol/server-filesystem", "/dir"],
            "env": {"TOKEN": "secret-value"}
        })
    );
    assert_eq!(
        cursor["mcpServers"]["remote-sse"],
        json!({"serverUrl": "https://example.com/sse"})
    );

    // VS Code mcp.json (JSONC): comments and trailing commas kept.
    let vs = h.join(".config/Code/User/mcp.json");
    let text = fs::read_to_string(&vs).unwrap();
    for kept in [
        "// Servers for every workspace.",
        "/* GitHub, in a container */",
        "// from the prompt",
    ] {
        assert!(text.contains(kept), "{kept} lost:\n{text}");
    }
    let mut want = parse_jsonc(VSCODE_MCP).unwrap();
    wrap_value(&mut want, &["servers", "github"], "vscode");
    wrap_value(&mut want, &["servers", "empty-args"], "vscode");
    assert_eq!(parse_jsonc(&text).unwrap(), want);

    // VS Code settings.json: mcp.servers.
    let settings = h.join(".config/Code/User/settings.json");
    let mut want = parse_jsonc(VSCODE_SETTINGS).unwrap();
    wrap_value(&mut want, &["mcp", "servers", "time"], "vscode");
    assert_eq!(json_of(&settings), want);
    assert!(
        fs::read_to_string(&settings)
            .unwrap()
            .contains("// MCP servers, the older way")
    );

    // Windsurf: broken, left byte for byte, reported as a failure.
    let windsurf = h.join(".codeium/windsurf/mcp_config.json");
    assert_eq!(fs::read_to_string(&windsurf).unwrap(), WINDSURF_BROKEN);
    assert!(!backup_path(&windsurf).exists());
    let r = report(&reports, &windsurf);
    assert!(
        r.error.as_deref().unwrap().contains("parse error at 3:"),
        "{r:?}"
    );
    assert_eq!(exit_code(&reports), 1);

    // Gemini CLI: numeric args and other keys kept, httpUrl skipped.
    let mut want = parse_jsonc(GEMINI).unwrap();
    wrap_value(&mut want, &["mcpServers", "pyserver"], "gemini-cli");
    assert_eq!(json_of(&h.join(".gemini/settings.json")), want);

    // Codex TOML: edited in place, comments kept.
    let codex = fs::read_to_string(h.join(".codex/config.toml")).unwrap();
    assert!(codex.contains("# Documentation server"));
    assert!(codex.contains("# pinned later"));
    let v = parse_toml(&codex).unwrap();
    let mut want = parse_toml(CODEX).unwrap();
    wrap_value(&mut want, &["mcp_servers", "docs"], "codex");
    wrap_value(&mut want, &["mcp_servers", "plain"], "codex");
    assert_eq!(v, want);

    // Continue YAML: reported, not changed.
    let cont = h.join(".continue/config.yaml");
    assert_eq!(fs::read_to_string(&cont).unwrap(), CONTINUE_YAML);
    let r = report(&reports, &cont);
    assert_eq!(r.skipped[0].0, "sqlite");
    assert!(r.skipped[0].1.contains("not supported yet"));

    // Backups of the originals, with their checksums.
    assert_eq!(
        fs::read_to_string(backup_path(&fx.cursor())).unwrap(),
        CURSOR
    );
    assert_eq!(
        read_checksum(&fx.cursor()).unwrap(),
        sha256_hex(&fs::read(fx.cursor()).unwrap())
    );
}

#[test]
fn edits_keep_the_layout() {
    let fx = Fixture::new();
    install(&fx.opts()).unwrap();
    let cursor = fs::read_to_string(fx.cursor()).unwrap();
    let want = CURSOR.replace(
        r#""command": "npx",
      "args": ["-y","#,
        &format!(
            r#""command": "{MONITOR}",
      "args": ["launch", "--name", "filesystem", "--host", "cursor", "--", "npx", "-y","#
        ),
    );
    assert_eq!(cursor, want);
    // A multi-line list stays one item a line.
    let claude = fs::read_to_string(fx.home.join(".claude.json")).unwrap();
    assert!(
        claude.contains(&format!(
            "\"command\": \"{MONITOR}\",\n      \"args\": [\n        \"launch\",\n        \"--name\",\n        \"fs\",\n        \"--host\",\n        \"claude-code\",\n        \"--\",\n        \"npx\",\n        \"-y\",\n"
        )),
        "{claude}"
    );
    // A missing args key is added after the command, in the same style.
    let desktop =
        fs::read_to_string(fx.home.join(".config/Claude/claude_desktop_config.json")).unwrap();
    assert!(
        desktop.contains(&format!(
            "\"command\": \"{MONITOR}\",\n      \"args\": [\"launch\", \"--name\", \"memory\", \"--host\", \"claude-desktop\", \"--\", \"mcp-server-memory\"]\n    }},"
        )),
        "{desktop}"
    );
    let codex = fs::read_to_string(fx.home.join(".codex/config.toml")).unwrap();
    assert!(
        codex.contains(&format!(
            "[mcp_servers.plain]\ncommand = \"{MONITOR}\"\nargs = [\"launch\", \"--name\", \"plain\", \"--host\", \"codex\", \"--\", \"my-mcp\"]\nenv ="
        )),
        "{codex}"
    );
}

#[test]
fn install_is_idempotent() {
    let fx = Fixture::new();
    install(&fx.opts()).unwrap();
    let once = fx.snapshot();
    let reports = install(&fx.opts()).unwrap();
    assert_eq!(fx.snapshot(), once);
    assert!(
        reports.iter().all(|r| r.changed.is_empty() && !r.rewritten),
        "{reports:#?}"
    );
    let r = report(&reports, &fx.cursor());
    assert!(
        r.skipped
            .contains(&("filesystem".to_owned(), "already wrapped".to_owned()))
    );
}

#[test]
fn dry_run_writes_nothing() {
    let fx = Fixture::new();
    let before = fx.snapshot();
    let mut opts = fx.opts();
    opts.dry_run = true;
    let reports = install(&opts).unwrap();
    assert_eq!(fx.snapshot(), before);
    assert_eq!(report(&reports, &fx.cursor()).changed, ["filesystem"]);
    let text = render(&reports, Mode::Install, true);
    assert!(text.contains("would wrap: filesystem"), "{text}");
    assert!(text.contains("nothing written"), "{text}");

    install(&fx.opts()).unwrap();
    let installed = fx.snapshot();
    let reports = uninstall(&opts).unwrap();
    assert_eq!(fx.snapshot(), installed);
    assert_eq!(report(&reports, &fx.cursor()).changed, ["filesystem"]);
}

#[test]
fn uninstall_restores_untouched_files_byte_for_byte() {
    let fx = Fixture::new();
    let before = fx.snapshot();
    install(&fx.opts()).unwrap();
    assert_ne!(fx.snapshot(), before);
    let reports = uninstall(&fx.opts()).unwrap();
    assert_eq!(fx.snapshot(), before);
    let r = report(&reports, &fx.cursor());
    assert_eq!(r.changed, ["filesystem"]);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("restored from the backup")),
        "{r:?}"
    );
    // Nothing left to undo.
    let again = uninstall(&fx.opts()).unwrap();
    assert_eq!(fx.snapshot(), before);
    assert!(again.iter().all(|r| r.changed.is_empty()), "{again:#?}");
}

#[test]
fn uninstall_without_checksum_unwraps_to_the_same_bytes() {
    // Without the checksum the in-place unwrap is used; it gives back the
    // original text too.
    let fx = Fixture::new();
    let before = fx.snapshot();
    install(&fx.opts()).unwrap();
    for p in fx.snapshot().keys() {
        if p.to_string_lossy().ends_with(".sha256") {
            fs::remove_file(p).unwrap();
        }
    }
    uninstall(&fx.opts()).unwrap();
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn uninstall_after_user_edits_unwraps_in_place() {
    let fx = Fixture::new();
    install(&fx.opts()).unwrap();
    // The user adds a key and a server to Cursor's config.
    let text = fs::read_to_string(fx.cursor()).unwrap();
    let edited = text
        .replacen("{\n", "{\n  \"newKey\": true,\n", 1)
        .replace(
            "    \"remote-sse\": {",
            "    \"added\": { \"command\": \"uvx\", \"args\": [\"mcp-added\"] },\n    \"remote-sse\": {",
        );
    fs::write(fx.cursor(), &edited).unwrap();
    // Claude Code rewrites its state file its own way.
    let claude = fx.home.join(".claude.json");
    let mut v = json_of(&claude);
    v["numStartups"] = json!(13);
    fs::write(&claude, serde_json::to_string_pretty(&v).unwrap()).unwrap();

    let reports = uninstall(&fx.opts()).unwrap();
    let r = report(&reports, &fx.cursor());
    assert_eq!(r.changed, ["filesystem"]);
    assert!(
        r.notes.iter().any(|n| n.contains("edited since install")),
        "{r:?}"
    );
    let mut want = parse_jsonc(CURSOR).unwrap();
    want["newKey"] = json!(true);
    want["mcpServers"]["added"] = json!({"command": "uvx", "args": ["mcp-added"]});
    assert_eq!(json_of(&fx.cursor()), want);
    // Exactly the user's edits on the original text.
    let want_text = CURSOR.replacen("{\n", "{\n  \"newKey\": true,\n", 1).replace(
        "    \"remote-sse\": {",
        "    \"added\": { \"command\": \"uvx\", \"args\": [\"mcp-added\"] },\n    \"remote-sse\": {",
    );
    assert_eq!(fs::read_to_string(fx.cursor()).unwrap(), want_text);
    assert!(!backup_path(&fx.cursor()).exists());
    assert!(!checksum_path(&fx.cursor()).exists());

    let mut want =
        parse_jsonc(&CLAUDE_CODE.replace("PROJECT", fx.project.to_str().unwrap())).unwrap();
    want["numStartups"] = json!(13);
    assert_eq!(json_of(&claude), want);
    assert_eq!(fs::metadata(fx.cursor()).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn servers_added_after_install_are_unwrapped_from_their_own_args() {
    let fx = Fixture::new();
    install(&fx.opts()).unwrap();
    let text = fs::read_to_string(fx.cursor()).unwrap().replace(
        "    \"remote-sse\": {",
        "    \"late\": { \"command\": \"uvx\", \"args\": [\"mcp-late\", \"--x\"] },\n    \"remote-sse\": {",
    );
    fs::write(fx.cursor(), &text).unwrap();
    let reports = install(&fx.opts()).unwrap();
    assert_eq!(report(&reports, &fx.cursor()).changed, ["late"]);
    // The backup stays the original of the first install.
    assert_eq!(
        fs::read_to_string(backup_path(&fx.cursor())).unwrap(),
        CURSOR
    );
    uninstall(&fx.opts()).unwrap();
    let mut want = parse_jsonc(CURSOR).unwrap();
    want["mcpServers"]["late"] = json!({"command": "uvx", "args": ["mcp-late", "--x"]});
    assert_eq!(json_of(&fx.cursor()), want);
}

#[test]
fn modes_are_kept() {
    let fx = Fixture::new();
    let gemini = fx.home.join(".gemini/settings.json");
    fs::set_permissions(&gemini, fs::Permissions::from_mode(0o640)).unwrap();
    install(&fx.opts()).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(mode(&fx.cursor()), 0o600);
    assert_eq!(mode(&backup_path(&fx.cursor())), 0o600);
    assert_eq!(mode(&gemini), 0o640);
    assert_eq!(mode(&backup_path(&gemini)), 0o640);
    uninstall(&fx.opts()).unwrap();
    assert_eq!(mode(&fx.cursor()), 0o600);
    assert_eq!(mode(&gemini), 0o640);
}

#[test]
fn symlinked_configs_stay_symlinks() {
    let fx = Fixture::new();
    let real = fx._dir.0.join("dotfiles/cursor-mcp.json");
    write(&real, CURSOR);
    fs::remove_file(fx.cursor()).unwrap();
    std::os::unix::fs::symlink(&real, fx.cursor()).unwrap();
    install(&fx.opts()).unwrap();
    assert!(
        fs::symlink_metadata(fx.cursor())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(fs::read_to_string(&real).unwrap().contains(MONITOR));
    assert!(backup_path(&real).exists());
    uninstall(&fx.opts()).unwrap();
    assert_eq!(fs::read_to_string(&real).unwrap(), CURSOR);
    assert!(
        fs::symlink_metadata(fx.cursor())
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn host_and_server_selectors() {
    let fx = Fixture::new();
    let mut opts = fx.opts();
    opts.hosts = vec!["cursor".into(), "gemini-cli".into()];
    let reports = install(&opts).unwrap();
    let touched: Vec<&Path> = reports
        .iter()
        .filter(|r| r.rewritten)
        .map(|r| r.path.as_path())
        .collect();
    assert_eq!(
        touched,
        [fx.cursor(), fx.home.join(".gemini/settings.json")]
    );
    assert!(
        !fs::read_to_string(fx.home.join(".claude.json"))
            .unwrap()
            .contains(MONITOR)
    );

    let fx = Fixture::new();
    let before = fx.snapshot();
    let mut opts = fx.opts();
    opts.servers = vec!["github".into()];
    let reports = install(&opts).unwrap();
    let changed: Vec<&str> = reports
        .iter()
        .flat_map(|r| r.changed.iter().map(String::as_str))
        .collect();
    assert_eq!(changed, ["github"]);
    opts.servers = vec!["empty-args".into()];
    install(&opts).unwrap();
    // Unwrapping one of two keeps the backup; the second restores everything.
    opts.servers = vec!["github".into()];
    let reports = uninstall(&opts).unwrap();
    let vs = fx.home.join(".config/Code/User/mcp.json");
    assert_eq!(report(&reports, &vs).changed, ["github"]);
    assert!(backup_path(&vs).exists());
    opts.servers.clear();
    uninstall(&opts).unwrap();
    assert_eq!(fx.snapshot(), before);

    assert!(
        install(&InstallOptions {
            hosts: vec!["nope".into()],
            ..fx.opts()
        })
        .is_err()
    );
    assert!(
        install(&InstallOptions {
            monitor_path: "mcp-monitor".into(),
            ..fx.opts()
        })
        .is_err()
    );
}

#[test]
fn toml_round_trip_and_inline_tables() {
    let dir = TempDir::new("toml");
    let home = dir.0.join("h");
    let text = "[mcp_servers]\na = { command = \"x\" }\nb = { command = 'y', args = [] }\n";
    write(&home.join(".codex/config.toml"), text);
    let opts = InstallOptions {
        homes: vec![home.clone()],
        monitor_path: MONITOR.into(),
        ..Default::default()
    };
    let reports = install(&opts).unwrap();
    assert_eq!(reports[0].changed, ["a", "b"], "{reports:#?}");
    let v = parse_toml(&fs::read_to_string(home.join(".codex/config.toml")).unwrap()).unwrap();
    assert_eq!(
        v["mcp_servers"]["a"]["args"],
        wrapped("a", "codex", &[json!("x")])
    );
    assert_eq!(
        v["mcp_servers"]["b"]["args"],
        wrapped("b", "codex", &[json!("y")])
    );
    // Without the checksum: the in-place unwrap restores the same text.
    fs::remove_file(checksum_path(&home.join(".codex/config.toml"))).unwrap();
    uninstall(&opts).unwrap();
    assert_eq!(
        fs::read_to_string(home.join(".codex/config.toml")).unwrap(),
        text
    );
}

#[test]
fn hand_wrapped_servers_are_left_by_uninstall() {
    let fx = Fixture::new();
    install(&fx.opts()).unwrap();
    let desktop = fx.home.join(".config/Claude/claude_desktop_config.json");
    // Edited since: the in-place path sees the hand-wrapped server.
    let text = fs::read_to_string(&desktop)
        .unwrap()
        .replace("Ctrl+Space", "Alt+Space");
    fs::write(&desktop, &text).unwrap();
    let reports = uninstall(&fx.opts()).unwrap();
    let r = report(&reports, &desktop);
    assert_eq!(r.changed, ["memory"]);
    assert_eq!(r.skipped[0].0, "watched");
    assert_eq!(
        fs::read_to_string(&desktop).unwrap(),
        CLAUDE_DESKTOP.replace("Ctrl+Space", "Alt+Space")
    );
}

#[test]
fn report_text() {
    let fx = Fixture::new();
    let reports = install(&fx.opts()).unwrap();
    let text = render(&reports, Mode::Install, false);
    assert!(
        text.contains(&format!(
            "cursor {}\n  wrapped: filesystem\n  skipped remote-sse: remote (sse)\n  backup: ",
            fx.cursor().display()
        )),
        "{text}"
    );
    assert!(text.contains("error: parse error at 3:"), "{text}");
    assert!(
        text.contains("skipped sqlite: YAML configs are not supported yet"),
        "{text}"
    );
}

#[test]
fn sha256_vectors() {
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(&[b'a'; 1000]),
        "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
    );
}

#[test]
fn span_parser_matches_serde() {
    let text = "\u{feff}{\"a\": [1, {\"b\": \"x\\\"y\"}], \"c\": null, // c\n \"d\": {},}";
    let doc = parse_doc(text, Syntax::Json).unwrap();
    let a = doc.root.get("a").unwrap();
    assert_eq!(&doc.text[a.start..a.end], "[1, {\"b\": \"x\\\"y\"}]");
    assert_eq!(doc.root.members().len(), 3);
    assert!(doc.bom);
}

#[test]
fn crlf_files_keep_their_line_endings() {
    let dir = TempDir::new("crlf");
    let home = dir.0.join("h");
    let cursor = CLAUDE_DESKTOP.replace('\n', "\r\n");
    let codex = "[mcp_servers.plain]\r\ncommand = \"my-mcp\"\r\nenv = { \"LOG\" = \"debug\" }\r\n";
    let claude = CLAUDE_CODE
        .replace("PROJECT", "/nonexistent")
        .replace('\n', "\r\n");
    write(&home.join(".cursor/mcp.json"), &cursor);
    write(&home.join(".codex/config.toml"), codex);
    write(&home.join(".claude.json"), &claude);
    let opts = InstallOptions {
        homes: vec![home.clone()],
        monitor_path: MONITOR.into(),
        ..Default::default()
    };
    install(&opts).unwrap();
    for p in [".cursor/mcp.json", ".codex/config.toml", ".claude.json"] {
        let text = fs::read_to_string(home.join(p)).unwrap();
        assert!(text.contains(MONITOR), "{p}");
        assert_eq!(
            text.matches('\n').count(),
            text.matches("\r\n").count(),
            "{p}: {text:?}"
        );
        fs::remove_file(checksum_path(&home.join(p))).unwrap();
    }
    uninstall(&opts).unwrap();
    assert_eq!(
        fs::read_to_string(home.join(".cursor/mcp.json")).unwrap(),
        cursor
    );
    assert_eq!(
        fs::read_to_string(home.join(".codex/config.toml")).unwrap(),
        codex
    );
    assert_eq!(
        fs::read_to_string(home.join(".claude.json")).unwrap(),
        claude
    );
}

#[test]
fn continue_json_blocks_are_wrapped() {
    let dir = TempDir::new("continue");
    let home = dir.0.join("h");
    let text = "{\n  \"mcpServers\": [\n    { \"name\": \"sqlite\", \"command\": \"npx\", \"args\": [\"-y\", \"mcp-sqlite\"] }\n  ]\n}\n";
    let path = home.join(".continue/mcpServers/sqlite.json");
    write(&path, text);
    let opts = InstallOptions {
        homes: vec![home.clone()],
        monitor_path: MONITOR.into(),
        ..Default::default()
    };
    let reports = install(&opts).unwrap();
    assert_eq!(report(&reports, &path).changed, ["sqlite"]);
    let v = json_of(&path);
    assert_eq!(
        v["mcpServers"][0]["args"],
        wrapped(
            "sqlite",
            "continue",
            &[json!("npx"), json!("-y"), json!("mcp-sqlite")]
        )
    );
    uninstall(&opts).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
}
