//! The scenario suite (tests/scenarios/*.yaml): for every default rule, a real
//! attack from a tagged process tree must raise that rule's alert with the
//! expected fields, and its benign twin must raise no alert of that rule and
//! none above notice. One daemon for the whole suite, scenarios one after the
//! other; network scenarios inside a network namespace the suite creates.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use e2e::{Daemon, TempDir, monitor_bin, privileged, s, workspace_root};
use mcp_monitor::rules::{RuleSet, default_sources, yaml};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);

/// One scenario as written in its file.
#[derive(Clone, Debug)]
struct Scenario {
    name: String,
    file: String,
    rule: String,
    attack: Vec<String>,
    benign: Vec<String>,
    expect: BTreeMap<String, String>,
    netns: bool,
    roots: Vec<String>,
    setup: Option<String>,
    /// A tracepoint (`syscalls/sys_enter_x`) without which the kernel cannot
    /// show the behaviour: the scenario is skipped, saying so, when absent.
    needs: Option<String>,
    /// The test that shows the attack and its benign twin instead, for rules
    /// that need more than one tagged process (an MCP session: a client
    /// talking to a server through the launch wrapper).
    covered_by: Option<String>,
}

fn scenarios_dir() -> PathBuf {
    workspace_root().join("tests/scenarios")
}

fn strings(node: &yaml::Node, what: &str) -> Result<Vec<String>, String> {
    match &node.kind {
        yaml::NodeKind::Seq(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{what}: every item must be a string"))
            })
            .collect(),
        _ => Err(format!("{what} must be a list of strings")),
    }
}

/// Every scenario of every file, in file-name order.
fn load_scenarios() -> Vec<Scenario> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenarios_dir())
        .expect("tests/scenarios")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let docs =
            yaml::parse(&text).unwrap_or_else(|e| panic!("{file}:{}: {}", e.pos.line, e.message));
        for doc in docs {
            let yaml::NodeKind::Seq(entries) = &doc.kind else {
                panic!("{file}: the file must be a list of scenarios");
            };
            for entry in entries {
                let line = entry.span.start.line;
                let at = |msg: String| format!("{file}:{line}: {msg}");
                let get = |key: &str| {
                    entry
                        .get(key)
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                        .unwrap_or_else(|| panic!("{}", at(format!("`{key}` is missing"))))
                };
                let list = |key: &str| {
                    entry
                        .get(key)
                        .map(|v| strings(v, key).unwrap_or_else(|e| panic!("{}", at(e))))
                        .unwrap_or_default()
                };
                let mut expect = BTreeMap::new();
                if let Some(yaml::NodeKind::Map(pairs)) = entry.get("expect").map(|e| &e.kind) {
                    for (k, v) in pairs {
                        expect.insert(
                            k.as_str().unwrap_or_default().to_owned(),
                            v.as_str().unwrap_or_default().to_owned(),
                        );
                    }
                }
                let sc = Scenario {
                    name: get("scenario"),
                    file: file.clone(),
                    rule: get("rule"),
                    attack: list("attack"),
                    benign: list("benign"),
                    expect,
                    netns: entry.get("netns").and_then(yaml::Node::as_bool) == Some(true),
                    roots: list("roots"),
                    setup: entry
                        .get("setup")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned),
                    needs: entry
                        .get("needs")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned),
                    covered_by: entry
                        .get("covered_by")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned),
                };
                match &sc.covered_by {
                    None => assert!(
                        !sc.attack.is_empty() && !sc.benign.is_empty(),
                        "{}",
                        at("`attack` and `benign` are both needed (or `covered_by`)".into())
                    ),
                    Some(test) => {
                        // FILE::TEST names a test function of tests/tests.
                        let (file, name) = test.split_once("::").unwrap_or_else(|| {
                            panic!("{}", at("`covered_by` is FILE::TEST".into()))
                        });
                        let text = std::fs::read_to_string(
                            workspace_root().join("tests/tests").join(file),
                        )
                        .unwrap_or_else(|e| panic!("{}", at(format!("{file}: {e}"))));
                        assert!(
                            text.contains(&format!("fn {name}()")),
                            "{}",
                            at(format!("no test {name} in tests/tests/{file}"))
                        );
                    }
                }
                out.push(sc);
            }
        }
    }
    out
}

fn default_rules() -> Vec<(String, bool)> {
    let (set, _) = RuleSet::load(&default_sources()).unwrap_or_else(|e| {
        panic!(
            "the default rules do not load:\n{}",
            e.errors.iter().map(|d| d.render(false)).collect::<String>()
        )
    });
    set.rules()
        .iter()
        .map(|r| (r.name().to_owned(), r.enabled()))
        .collect()
}

#[test]
fn every_default_rule_has_a_scenario_and_every_scenario_a_rule() {
    let scenarios = load_scenarios();
    let rules = default_rules();
    let missing: Vec<&str> = rules
        .iter()
        .filter(|(name, enabled)| *enabled && !scenarios.iter().any(|s| &s.rule == name))
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "default rules without a scenario in tests/scenarios/ (add an attack and a benign twin): {missing:#?}"
    );
    for sc in &scenarios {
        assert!(
            rules.iter().any(|(name, _)| name == &sc.rule),
            "{}: scenario {} expects rule {:?}, which is not a default rule",
            sc.file,
            sc.name,
            sc.rule
        );
    }
    let mut names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "scenario names must be unique");
}

/// The planted home: fake secrets and configs the scenarios reach for.
fn plant_home(home: &Path) {
    let files: &[(&str, &str)] = &[
        (".ssh/id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n"),
        (".aws/credentials", "[default]\naws_access_key_id = fake\n"),
        (".git-credentials", "https://user:fake@example.invalid\n"),
        (".gitconfig", "[user]\n\tname = scenario\n"),
        (".mozilla/firefox/default/logins.json", "{}\n"),
        (".claude/.credentials.json", "{}\n"),
        (".claude/settings.json", "{}\n"),
        (".cursor/mcp.json", "{\"mcpServers\": {}}\n"),
        (".bashrc", "# planted\n"),
        (
            ".bash_history",
            "curl -H 'Authorization: Bearer fake' https://example.invalid\n",
        ),
        ("project/README.md", "a project\n"),
        ("project/aws-notes.md", "notes\n"),
        ("project/logins.md", "notes\n"),
        ("project/.env", "API_KEY=fake\n"),
        ("project/.env.example", "API_KEY=\n"),
        ("project/.git/hooks/pre-commit.sample", "#!/bin/sh\n"),
    ];
    for (rel, content) in files {
        let p = home.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    std::fs::create_dir_all(home.join(".config/systemd/user")).unwrap();
}

/// A network namespace with `lo` up, the suite's addresses on it, and
/// listeners; removed (listeners killed by pid) on drop.
struct NetNs {
    name: String,
    listeners: Vec<Child>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl NetNs {
    fn new() -> NetNs {
        let name = format!("mcpmon-scn-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let mut ns = NetNs {
            name,
            listeners: Vec::new(),
        };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        for addr in ["10.0.0.5/32", "169.254.169.254/32"] {
            ip(&["-n", &ns.name, "addr", "add", addr, "dev", "lo"]);
        }
        for (addr, ports) in [
            ("10.0.0.5", &["22", "4444", "8080"][..]),
            ("169.254.169.254", &["80"][..]),
        ] {
            let mut child = Command::new("ip")
                .args(["netns", "exec", &ns.name, action_bin(), "listen", addr])
                .args(ports)
                .stdout(Stdio::piped())
                .spawn()
                .expect("starting a listener");
            // It says so once every port is bound.
            let mut line = String::new();
            let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
            std::io::BufRead::read_line(&mut out, &mut line).unwrap();
            assert_eq!(line.trim(), "listening", "listener on {addr}");
            ns.listeners.push(child);
        }
        ns
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        for c in &mut self.listeners {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn action_bin() -> &'static str {
    env!("CARGO_BIN_EXE_scn-action")
}

struct Suite<'a> {
    daemon: &'a Daemon,
    home: &'a Path,
    work: &'a Path,
    netns: &'a str,
    path_env: String,
    /// A sleeping process outside every server's tree, for ptrace and signals.
    victim: u32,
}

impl Suite<'_> {
    fn expand(&self, s: &str) -> String {
        s.replace("$HOME", &self.home.display().to_string())
            .replace("$WORK", &self.work.display().to_string())
            .replace("$VICTIM", &self.victim.to_string())
            .replace("$MONITOR", &self.daemon.pid().to_string())
    }

    /// Runs `argv` as server `name` through the launch wrapper (inside the
    /// namespace when asked); returns the root pid once it has exited.
    fn run(&self, name: &str, argv: &[String], netns: bool) -> u32 {
        let mut cmd = if netns {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", self.netns]).arg(monitor_bin());
            c
        } else {
            Command::new(monitor_bin())
        };
        cmd.args(["launch", "--require-monitor", "--name", name])
            .arg("--control-socket")
            .arg(&self.daemon.socket)
            .arg("--")
            .args(argv.iter().map(|a| self.expand(a)))
            .env("HOME", self.home)
            .env("PATH", &self.path_env)
            .current_dir(self.work)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("starting the launch wrapper");
        let pid = child.id();
        let _ = child.wait();
        pid
    }
}

/// Whether the kernel has the tracepoint `name` (`syscalls/sys_enter_x`).
fn has_tracepoint(name: &str) -> bool {
    [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ]
    .iter()
    .any(|base| Path::new(base).join(name).exists())
}

fn describe(alerts: &[Value]) -> String {
    if alerts.is_empty() {
        return " none".into();
    }
    alerts
        .iter()
        .map(|a| {
            format!(
                "\n      {} {:?}: {} (fields {})",
                s(a, "priority"),
                s(a, "rule"),
                s(a, "output"),
                a["output_fields"]
            )
        })
        .collect()
}

fn field_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<absent>".into(),
        other => other.to_string(),
    }
}

fn is_loud(a: &Value) -> bool {
    !matches!(s(a, "priority"), "Notice" | "Informational" | "Debug")
}

#[test]
fn every_scenario_fires_its_rule_and_its_benign_twin_stays_quiet() {
    if !privileged("scenarios") {
        return;
    }
    let scenarios = load_scenarios();
    let home = TempDir::home("scn");
    let work = TempDir::new("scn");
    plant_home(home.path());
    let servers = work.path().join("servers.d");
    std::fs::create_dir_all(&servers).unwrap();
    let suite_work = work.path().join("work");
    std::fs::create_dir_all(&suite_work).unwrap();
    let expand = |s: &str| {
        s.replace("$HOME", &home.path().display().to_string())
            .replace("$WORK", &suite_work.display().to_string())
    };
    for sc in scenarios.iter().filter(|s| !s.roots.is_empty()) {
        let roots: Vec<String> = sc.roots.iter().map(|r| expand(r)).collect();
        let policy = format!("roots: {}\n", serde_json::to_string(&roots).unwrap());
        for name in [format!("scn-{}", sc.name), format!("scn-{}-ok", sc.name)] {
            std::fs::write(servers.join(format!("{name}.yaml")), &policy).unwrap();
        }
    }
    let netns = NetNs::new();
    let rules_dir = workspace_root().join("rules");
    let daemon = Daemon::start(&[
        "--servers-dir",
        servers.to_str().unwrap(),
        "--no-default-rules",
        "--rules",
        rules_dir.to_str().unwrap(),
    ]);
    let mut victim = Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("starting the victim process");
    let bin_dir = Path::new(action_bin())
        .parent()
        .unwrap()
        .display()
        .to_string();
    let suite = Suite {
        daemon: &daemon,
        home: home.path(),
        work: &suite_work,
        netns: &netns.name,
        path_env: format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default()),
        victim: victim.id(),
    };

    let mut failures = Vec::new();
    let mut skipped = 0;
    for sc in &scenarios {
        if let Some(test) = &sc.covered_by {
            eprintln!("scenario {} ({}): run by {test}", sc.name, sc.rule);
            skipped += 1;
            continue;
        }
        if let Some(tp) = sc.needs.as_deref().filter(|tp| !has_tracepoint(tp)) {
            eprintln!(
                "SKIP scenario {} ({}): this kernel has no {tp} tracepoint",
                sc.name, sc.rule
            );
            skipped += 1;
            continue;
        }
        if let Some(setup) = &sc.setup {
            let ok = Command::new("sh")
                .args(["-c", &suite.expand(setup)])
                .status()
                .is_ok_and(|st| st.success());
            assert!(
                ok,
                "{}: scenario {}: setup failed: {setup}",
                sc.file, sc.name
            );
        }
        let (attacker, twin) = (format!("scn-{}", sc.name), format!("scn-{}-ok", sc.name));
        // The twin first: once the attack's alert is in, every alert of the
        // twin (an earlier, finished tree) is in too.
        let twin_pid = suite.run(&twin, &sc.benign, sc.netns);
        if !daemon.wait_for_exit(twin_pid, WAIT) {
            failures.push(format!(
                "{}: scenario {}: the benign twin's process {twin_pid} was never seen to exit \
                 (not tagged? daemon stderr:\n{})",
                sc.file,
                sc.name,
                daemon.stderr_text()
            ));
            continue;
        }
        suite.run(&attacker, &sc.attack, sc.netns);
        // The alert of that rule with the expected fields: an attack can raise
        // the rule more than once (the reverse shell's command line is also
        // in its parent's).
        let expect: Vec<(&str, String)> = sc
            .expect
            .iter()
            .map(|(f, v)| (f.as_str(), suite.expand(v)))
            .collect();
        let fired = daemon.wait_for_alert(WAIT, |a| {
            a["mcp"]["server"] == attacker.as_str()
                && s(a, "rule") == sc.rule
                && expect
                    .iter()
                    .all(|(f, v)| field_text(&a["output_fields"][*f]) == *v)
        });
        let of = |server: &str| -> Vec<Value> {
            daemon
                .alerts()
                .into_iter()
                .filter(|a| a["mcp"]["server"] == server)
                .collect()
        };
        if fired.is_none() {
            let want: Vec<String> = expect.iter().map(|(f, v)| format!("{f}={v}")).collect();
            failures.push(format!(
                "{}: scenario {}: expected alert {:?} with {} from `{}`; alerts of that server:{}",
                sc.file,
                sc.name,
                sc.rule,
                want.join(" "),
                sc.attack.join(" "),
                describe(&of(&attacker))
            ));
        }
        let noisy: Vec<Value> = of(&twin)
            .into_iter()
            .filter(|a| s(a, "rule") == sc.rule || is_loud(a))
            .collect();
        if !noisy.is_empty() {
            failures.push(format!(
                "{}: scenario {}: the benign twin ({}) raised:{}",
                sc.file,
                sc.name,
                sc.benign.join(" "),
                describe(&noisy)
            ));
        }
    }
    let _ = victim.kill();
    let _ = victim.wait();
    eprintln!(
        "scenarios: {} run, {skipped} skipped, {} failures, {} alerts in all",
        scenarios.len() - skipped,
        failures.len(),
        daemon.alerts().len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n  {}",
        failures.len(),
        scenarios.len(),
        failures.join("\n  ")
    );
    assert!(daemon.stop().success());
}
