//! Harness for the end-to-end tests: privileges, the daemon under test, and
//! waiting for the events it prints.
use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;

/// The unprivileged user the tests' attackers and outsiders run as.
pub const NOBODY: u32 = 65534;

/// Makes `cmd` run as uid and gid 65534 (nobody), without root's groups.
pub fn as_nobody(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(NOBODY) != 0
                || libc::setuid(NOBODY) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Whether the tests run in CI, where a missing privilege is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// True if this test may load eBPF. Otherwise prints why it is skipped, or
/// panics in CI.
pub fn privileged(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let why = "needs root to load eBPF programs";
    if in_ci() {
        panic!("{test}: {why}, and CI=true makes that a failure");
    }
    eprintln!("SKIP {test}: {why}; run `sudo cargo xtask test`");
    false
}

/// Python with the `mcp` SDK and the directory holding the npm MCP servers,
/// both set up by `cargo xtask test`; `None` (with a printed reason, or a
/// failure in CI) when they are not there.
pub fn mcp_deps(test: &str) -> Option<(PathBuf, PathBuf)> {
    let python = std::env::var_os("MCP_E2E_PYTHON").map(PathBuf::from);
    let node_dir = std::env::var_os("MCP_E2E_NODE_DIR").map(PathBuf::from);
    match (python, node_dir) {
        (Some(p), Some(n)) => Some((p, n)),
        _ => {
            let why = "MCP_E2E_PYTHON and MCP_E2E_NODE_DIR are not set (run `cargo xtask test`)";
            assert!(!in_ci(), "{test}: {why}");
            eprintln!("SKIP {test}: {why}");
            None
        }
    }
}

/// The prefix holding the old, vulnerable server-filesystem (before 2025.7.1),
/// set up by `cargo xtask test`; `None` with a printed reason (a failure in
/// CI) when it is not there.
pub fn old_filesystem_dir(test: &str) -> Option<PathBuf> {
    match std::env::var_os("MCP_E2E_OLD_FS_DIR").map(PathBuf::from) {
        Some(p) => Some(p),
        None => {
            let why = "MCP_E2E_OLD_FS_DIR is not set (run `cargo xtask test`)";
            assert!(!in_ci(), "{test}: {why}");
            eprintln!("SKIP {test}: {why}");
            None
        }
    }
}

/// One session of the real `mcp` SDK client (tests/mcp_client.py) with a
/// server started as `mcp-monitor launch --name NAME --host test-client --
/// CMD…` against `daemon`, making `calls` (tool, JSON arguments) in order;
/// arguments given as the string `"@FILE"` are read from FILE by the client.
pub struct McpSession<'a> {
    pub python: &'a Path,
    pub name: &'a str,
    pub command: Vec<String>,
    pub calls: Vec<(&'a str, Value)>,
    pub cwd: &'a Path,
    pub env: Vec<(&'a str, String)>,
}

impl McpSession<'_> {
    /// Runs the session; returns the client's result lines (the tool list
    /// first, then one per call), failing the test if the client fails.
    pub fn run(&self, daemon: &Daemon) -> Vec<Value> {
        let out = self.output(daemon);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "MCP client for {} failed: {}\n{stdout}\n{}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Runs the session and returns what the client printed and how it
    /// ended, whatever that was (a server killed mid-call fails it).
    pub fn output(&self, daemon: &Daemon) -> std::process::Output {
        let mut cmd = Command::new(self.python);
        cmd.arg(workspace_root().join("tests/mcp_client.py"));
        for (tool, args) in &self.calls {
            // "@FILE": the client reads the arguments from FILE.
            let text = match args {
                Value::String(file) if file.starts_with('@') => file.clone(),
                other => other.to_string(),
            };
            cmd.arg("--call").arg(tool).arg(text);
        }
        cmd.arg("--")
            .arg(monitor_bin())
            .args(["launch", "--name", self.name, "--host", "test-client"])
            .arg("--control-socket")
            .arg(&daemon.socket)
            .arg("--")
            .args(&self.command)
            .current_dir(self.cwd)
            // Local addresses only, whatever proxy the environment names.
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env("NO_PROXY", "*");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().expect("starting the MCP client")
    }
}

/// The `mcp-monitor` binary under test.
pub fn monitor_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MCP_MONITOR_BIN") {
        return p.into();
    }
    let p = workspace_root().join("target/release/mcp-monitor");
    assert!(
        p.exists(),
        "{} is missing: run the tests with `cargo xtask test`, which builds it",
        p.display()
    );
    p
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// A loopback listener that accepts and drops connections in the background:
/// somewhere for the test programs to connect to.
pub fn listener() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = l.local_addr().expect("the port bound").port();
    std::thread::spawn(move || for _ in l.incoming() {});
    port
}

/// The arguments of `tree-probe` (see its doc): `depth` generations below the
/// first, each opening `prefix.genN` and connecting to `port`, all waiting for
/// `go` to exist first when given.
pub fn tree_args(depth: u32, prefix: &Path, port: u16, go: Option<&Path>) -> Vec<String> {
    let mut args = vec![
        depth.to_string(),
        prefix.display().to_string(),
        port.to_string(),
    ];
    args.extend(go.map(|g| g.display().to_string()));
    args
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("mcpmon-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    /// A fresh directory under /home, so that rules written for home
    /// directories (`fd.homerel`) see it as one: a planted HOME for a test.
    pub fn home(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = Path::new("/home").join(format!("mcpmon-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp home under /home");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The daemon under test, run with `--events`.
pub struct Daemon {
    child: Option<Child>,
    events: Arc<Mutex<Vec<Value>>>,
    alerts: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    pub socket: PathBuf,
    /// Its own directory: control socket, config, alert log and socket.
    dir: Option<TempDir>,
    /// Its own pin directory, removed (detaching what it left) after it exits;
    /// `None` when the test shares one between daemons.
    _pins: Option<PinDir>,
}

/// A pin directory in the BPF filesystem for a test's daemons, so that no
/// test takes over another's kernel state. Removing it (on drop) detaches
/// whatever the daemons left attached there, even after a SIGKILL.
pub struct PinDir(PathBuf);

impl PinDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        PinDir(
            Path::new("/sys/fs/bpf").join(format!("mcpmon-e2e-{tag}-{}-{n}", std::process::id())),
        )
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The config of a test daemon: its alert log and socket in its own
/// directory (`{dir}`). Tests that need more append their keys to it.
pub const DEFAULT_CONFIG: &str =
    "sinks:\n  log: {path: \"{dir}/alerts.jsonl\"}\n  socket: {path: \"{dir}/alerts.sock\"}\n";

/// How long the daemon may take to load and attach.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl Daemon {
    /// Starts `mcp-monitor run --events` with `extra` arguments and waits until it
    /// says it is watching. It reads an empty config file (not the machine's)
    /// and keeps its alert log and alert socket in its own directory
    /// (`alerts.jsonl`, `alerts.sock`).
    pub fn start(extra: &[&str]) -> Daemon {
        Daemon::start_configured(DEFAULT_CONFIG, extra)
    }

    /// Like [`Daemon::start`], with `config` as its config file; `{dir}` in it
    /// stands for the daemon's own directory.
    pub fn start_configured(config: &str, extra: &[&str]) -> Daemon {
        Daemon::start_with_env(config, extra, &[])
    }

    /// Like [`Daemon::start_configured`], with variables added to the
    /// daemon's environment.
    pub fn start_with_env(config: &str, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        let pins = PinDir::new("daemon");
        let mut d = Daemon::start_in(config, &[&["--events"], extra].concat(), pins.path(), env);
        d._pins = Some(pins);
        d
    }

    /// Like [`Daemon::start`], keeping the kernel state in `pins`, which the
    /// caller may hand to a later daemon (a restart).
    pub fn start_pinned(pins: &PinDir, extra: &[&str]) -> Daemon {
        Daemon::start_in(
            DEFAULT_CONFIG,
            &[&["--events"], extra].concat(),
            pins.path(),
            &[],
        )
    }

    /// Like [`Daemon::start_pinned`] without `--events`: the daemon attaches
    /// only the hooks its rules need, and prints alerts only.
    pub fn start_rules_only(pins: &PinDir, extra: &[&str]) -> Daemon {
        Daemon::start_in(DEFAULT_CONFIG, extra, pins.path(), &[])
    }

    fn start_in(config: &str, extra: &[&str], pins: &Path, env: &[(&str, &str)]) -> Daemon {
        let dir = TempDir::new("daemon");
        let socket = dir.path().join("control.sock");
        let config_file = dir.path().join("config.yaml");
        let dir_text = dir.path().to_str().expect("a UTF-8 temp dir");
        std::fs::write(&config_file, config.replace("{dir}", dir_text)).expect("config file");
        let mut child = Command::new(monitor_bin())
            .arg("run")
            .arg("--config")
            .arg(&config_file)
            .arg("--control-socket")
            .arg(&socket)
            .arg("--pin-dir")
            .arg(pins)
            .args(extra)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting mcp-monitor");
        let events = Arc::new(Mutex::new(Vec::new()));
        let alerts = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let (ev, al) = (events.clone(), alerts.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
                // Alerts and events share stdout; an alert names its rule.
                if v.get("rule").is_some() {
                    al.lock().unwrap().push(v);
                } else {
                    ev.lock().unwrap().push(v);
                }
            }
        });
        let err = child.stderr.take().expect("stderr");
        let errs = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[daemon] {line}");
                errs.lock().unwrap().push(line);
            }
        });
        let mut d = Daemon {
            child: Some(child),
            events,
            alerts,
            stderr,
            socket,
            dir: Some(dir),
            _pins: None,
        };
        let started = Instant::now();
        loop {
            if d.stderr_text().contains("mcp-monitor: watching") {
                break;
            }
            if let Some(status) = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "mcp-monitor exited during start-up ({status}):\n{}",
                    d.stderr_text()
                );
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "mcp-monitor did not start within {START_TIMEOUT:?}:\n{}",
                d.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// The daemon's own directory.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("running").path()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Every event printed so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// Every alert printed so far.
    pub fn alerts(&self) -> Vec<Value> {
        self.alerts.lock().unwrap().clone()
    }

    /// Waits until an event satisfies `pred`, returning it.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        wait_in(&self.events, timeout, pred)
    }

    /// Waits until an alert satisfies `pred`, returning it.
    pub fn wait_for_alert(
        &self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        wait_in(&self.alerts, timeout, pred)
    }

    /// Waits until the process `pid` has exited as far as the daemon knows
    /// (its procexit event was printed), so every event before it is in.
    pub fn wait_for_exit(&self, pid: u32, timeout: Duration) -> bool {
        self.wait_for(timeout, |e| {
            s(e, "evt.type") == "procexit" && n(e, "proc.pid") == i64::from(pid)
        })
        .is_some()
    }

    /// Waits until the daemon's stderr contains `text`.
    pub fn wait_for_stderr(&self, timeout: Duration, text: &str) -> bool {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if self.stderr_text().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling the daemon this harness started.
        unsafe { libc::kill(self.pid() as i32, sig) };
    }

    /// `mcp-monitor launch --name NAME -- CMD…` against this daemon.
    pub fn launch(&self, name: &str, cmd: &[&str]) -> Command {
        let mut c = Command::new(monitor_bin());
        c.arg("launch")
            .arg("--name")
            .arg(name)
            .arg("--control-socket")
            .arg(&self.socket)
            .arg("--")
            .args(cmd);
        c
    }

    /// A server named `reader` reads `file` (with `cat`) and exits successfully.
    pub fn read_as_server(&self, file: &Path) {
        let status = self
            .launch("reader", &["cat", file.to_str().unwrap()])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "cat {} as a server: {status}",
            file.display()
        );
    }

    /// SIGTERM, wait for the exit, and return everything the daemon wrote on
    /// stderr, its last words at shutdown included.
    pub fn stop_with_stderr(self) -> (ExitStatus, String) {
        let stderr = self.stderr.clone();
        let status = self.stop();
        // The reader thread sees EOF just after the exit.
        let started = Instant::now();
        let text = || stderr.lock().unwrap().join("\n");
        while !text().contains("mcp-monitor: stopped") && started.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        (status, text())
    }

    /// SIGTERM, then wait for the exit.
    pub fn stop(self) -> ExitStatus {
        self.stop_keeping_dir().0
    }

    /// SIGTERM, wait for the exit, and keep the daemon's directory (its log)
    /// until the returned [`TempDir`] is dropped.
    pub fn stop_keeping_dir(mut self) -> (ExitStatus, TempDir) {
        let dir = self.dir.take().expect("running");
        (self.terminate(), dir)
    }

    /// Sends `sig` (SIGTERM, SIGKILL…) and waits for the daemon to end.
    pub fn stop_with(mut self, sig: i32) -> ExitStatus {
        self.end_with(sig)
    }

    fn terminate(&mut self) -> ExitStatus {
        self.end_with(libc::SIGTERM)
    }

    fn end_with(&mut self, sig: i32) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: signalling the daemon this harness started.
        unsafe { libc::kill(child.id() as i32, sig) };
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("mcp-monitor did not stop within 20 s of signal {sig}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_in(
    list: &Mutex<Vec<Value>>,
    timeout: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let started = Instant::now();
    loop {
        if let Some(v) = list.lock().unwrap().iter().find(|v| pred(v)) {
            return Some(v.clone());
        }
        if started.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `v[field]` as a string, or "".
pub fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

/// `v[field]` as an integer, or -1.
pub fn n(v: &Value, field: &str) -> i64 {
    v.get(field).and_then(Value::as_i64).unwrap_or(-1)
}
