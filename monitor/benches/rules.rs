//! The default rule set over a realistic event mix: mostly benign opens and
//! execs of MCP server processes, some connects, process lifecycle events, and
//! about 2% events that match a rule.
//!
//! `cargo bench -p monitor --bench rules` prints events/s for a plain timed
//! loop first, then criterion's figures (throughput in elements = events).
use std::{hint::black_box, time::Instant};

use criterion::{Criterion, Throughput, criterion_group};
use mcp_monitor::{
    event::Event,
    redact,
    rules::{RuleSet, default_sources},
};

fn base(evt_type: &str, category: &str, i: usize) -> Event {
    Event {
        evt_type: evt_type.into(),
        category: category.into(),
        time_ns: 1_700_000_000_000_000_000 + i as u64,
        pid: 4000 + (i % 50) as u32,
        tid: 4000 + (i % 50) as u32,
        ppid: 3999,
        name: "node".into(),
        exepath: "/usr/bin/node".into(),
        cmdline:
            "node /home/u/.npm/_npx/1a2b/node_modules/.bin/mcp-server-filesystem /home/u/project"
                .into(),
        args: "/home/u/.npm/_npx/1a2b/node_modules/.bin/mcp-server-filesystem /home/u/project"
            .into(),
        argv: vec![
            "node".into(),
            "/home/u/.npm/_npx/1a2b/node_modules/.bin/mcp-server-filesystem".into(),
            "/home/u/project".into(),
        ]
        .into(),
        cwd: "/home/u/project".into(),
        pname: "npm exec @mode".into(),
        anames: vec!["npm exec @mode".into(), "claude".into(), "bash".into()].into(),
        apids: vec![3999, 3000, 2000].into(),
        uid: 1000,
        user_name: "u".into(),
        gid: 1000,
        mcp_server: Some("filesystem".into()),
        mcp_host: Some("claude-code".into()),
        mcp_tag_source: Some("config".into()),
        mcp_root_pid: Some(3999),
        mcp_roots: vec!["/home/u/project".into()],
        ..Default::default()
    }
}

fn open(i: usize, path: &str, write: bool) -> Event {
    let mut e = base(
        if i.is_multiple_of(3) {
            "open"
        } else {
            "openat"
        },
        "file",
        i,
    );
    e.fd_name = Some(path.into());
    e.fd_name_source = Some("absolute".into());
    e.fd_typechar = Some("f".into());
    e.arg_path = Some(path.into());
    e.arg_flags = Some(
        if write {
            "O_WRONLY|O_CREAT|O_TRUNC"
        } else {
            "O_RDONLY|O_CLOEXEC"
        }
        .into(),
    );
    e.is_open_read = Some(!write);
    e.is_open_write = Some(write);
    e.res = Some("SUCCESS".into());
    e.rawres = Some(20);
    e.fd_num = Some(20);
    e
}

fn exec(i: usize, name: &str, argv: &[&str]) -> Event {
    let mut e = base("execve", "process", i);
    e.name = name.into();
    e.exepath = format!("/usr/bin/{name}");
    e.argv = argv.iter().map(|s| s.to_string()).collect();
    e.args = argv[1..].join(" ").into();
    e.cmdline = format!("{name} {}", e.args).into();
    e.pname = "node".into();
    e
}

fn connect(i: usize, ip: &str, port: u16) -> Event {
    let mut e = base("connect", "net", i);
    e.fd_typechar = Some("4".into());
    e.fd_dip = Some(ip.parse().expect("ip"));
    e.fd_dport = Some(port);
    e.fd_name = Some(format!("{ip}:{port}"));
    e.res = Some("EINPROGRESS".into());
    e
}

/// 1000 events: the mix repeats every 100.
fn event_mix() -> Vec<Event> {
    let benign_paths = [
        "/home/u/project/src/index.ts",
        "/home/u/project/README.md",
        "/home/u/.npm/_npx/1a2b/node_modules/@modelcontextprotocol/sdk/dist/server/index.js",
        "/home/u/.npm/_npx/1a2b/node_modules/zod/lib/index.js",
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/etc/ld.so.cache",
        "/proc/self/maps",
        "/home/u/project/package.json",
        "/dev/null",
        "/etc/hosts",
    ];
    let mut out = Vec::with_capacity(1000);
    for i in 0..1000 {
        let ev = match i % 100 {
            // 60 benign reads, 8 benign writes inside the roots.
            0..=59 => open(i, benign_paths[i % benign_paths.len()], false),
            60..=67 => open(i, "/home/u/project/out.json", true),
            // 12 benign execs.
            68..=71 => exec(i, "git", &["git", "status", "--porcelain"]),
            72..=75 => exec(i, "ls", &["ls", "-la", "/home/u/project"]),
            76..=79 => exec(i, "rg", &["rg", "TODO", "/home/u/project"]),
            // 8 benign connects, 4 clones, 4 exits.
            80..=87 => connect(i, "140.82.112.3", 443),
            88..=91 => base("clone", "process", i),
            92..=95 => base("procexit", "process", i),
            // 2 benign look-alikes.
            96 => open(i, "/home/u/project/.env.example", false),
            97 => exec(i, "sh", &["sh", "-c", "mcp-server-filesystem"]),
            // 2 that match.
            98 => open(i, "/home/u/.ssh/id_ed25519", false),
            _ => connect(i, "169.254.169.254", 80),
        };
        out.push(ev);
    }
    // The launcher's own shell (benign) has the launcher as its parent.
    for e in out.iter_mut().filter(|e| e.name == "sh") {
        e.pname = "npm exec @mode".into();
    }
    out
}

fn load() -> RuleSet {
    let (set, _) = RuleSet::load(&default_sources()).expect("default rules load");
    set
}

/// A plain timed loop, printed as events/s (one core).
fn print_events_per_second(set: &RuleSet, events: &[Event]) {
    let rounds = 2000;
    let mut matched = 0usize;
    let start = Instant::now();
    for _ in 0..rounds {
        for ev in events {
            set.evaluate(black_box(ev), |m| {
                matched += 1;
                black_box(m);
            });
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let n = (rounds * events.len()) as f64;
    println!(
        "rules: {} rules, {:.0} events/s ({:.1} ns/event), {:.1}% of events alerted",
        set.rules().len(),
        n / secs,
        secs * 1e9 / n,
        100.0 * matched as f64 / n
    );
}

fn bench(c: &mut Criterion) {
    let set = load();
    let events = event_mix();
    print_events_per_second(&set, &events);
    let mut g = c.benchmark_group("rules");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("evaluate_default_rules_1000_events", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for ev in &events {
                set.evaluate(black_box(ev), |m| {
                    n += 1;
                    black_box(m);
                });
            }
            n
        })
    });
    g.bench_function("match_only_default_rules_1000_events", |b| {
        b.iter(|| {
            events
                .iter()
                .map(|ev| set.matching(black_box(ev)).count())
                .sum::<usize>()
        })
    });
    // What `run --events` adds per printed event: the redaction check (and,
    // for the one event in 100 that carries a token, the redacted copy).
    let mut with_tokens = events.clone();
    for (i, e) in with_tokens
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| i % 100 == 42)
    {
        *e = exec(
            i,
            "node",
            &[
                "node",
                "server.js",
                "--token",
                "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
            ],
        );
    }
    g.bench_function("redact_events_1000_events", |b| {
        b.iter(|| {
            with_tokens
                .iter()
                .filter(|ev| matches!(redact::event(black_box(ev)), std::borrow::Cow::Owned(_)))
                .count()
        })
    });
    let mut redactor = redact::EventRedactor::default();
    g.bench_function("redact_events_remembered_1000_events", |b| {
        b.iter(|| {
            with_tokens
                .iter()
                .filter(|ev| matches!(redactor.event(black_box(ev)), std::borrow::Cow::Owned(_)))
                .count()
        })
    });
    g.finish();
    c.bench_function("rules/load_and_compile_defaults", |b| b.iter(load));
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
