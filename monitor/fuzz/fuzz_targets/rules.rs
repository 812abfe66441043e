//! Fuzzes the rule loader end to end: YAML with positions, entries and
//! overrides, the condition parser, macro and list resolution, type checking,
//! compilation, diagnostics rendering, and evaluation of what compiled.
//!
//! The first byte picks a mode: whole rule files (one or two sources split at
//! a NUL byte), or a bare condition placed in a rule next to a few macros and
//! lists, which reaches the condition parser and compiler more directly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_monitor::{
    event::Event,
    rules::{CompileOptions, RuleSet, RuleSource},
};

const PRELUDE: &str = "
- list: shells
  items: [bash, sh, zsh]
- list: nets
  items: [10.0.0.0/8, 169.254.169.254]
- macro: spawned
  condition: evt.type = execve
- macro: tagged
  condition: mcp.server exists
";

fn events() -> Vec<Event> {
    vec![
        Event {
            evt_type: "openat".into(),
            name: "node".into(),
            fd_name: Some("/home/u/.ssh/id_rsa".into()),
            fd_typechar: Some("f".into()),
            mcp_server: Some("fs".into()),
            mcp_roots: vec!["/srv".into()],
            anames: vec!["npm".into(), "claude".into()],
            apids: vec![2, 1],
            ..Default::default()
        },
        Event {
            evt_type: "connect".into(),
            fd_typechar: Some("4".into()),
            fd_dip: Some("169.254.169.254".parse().unwrap()),
            fd_dport: Some(80),
            mcp_server: Some("fetch".into()),
            ..Default::default()
        },
        Event {
            evt_type: "execve".into(),
            name: "sh".into(),
            argv: vec!["sh".into(), "-c".into(), "id".into()],
            ..Default::default()
        },
    ]
}

fn exercise(sources: &[RuleSource]) {
    for skip in [false, true] {
        let opts = CompileOptions {
            skip_unsupported: skip,
        };
        match RuleSet::load_with(sources, &opts) {
            Ok((set, warnings)) => {
                for w in &warnings {
                    let _ = w.render(true);
                }
                for ev in events() {
                    set.evaluate(&ev, |m| {
                        let _ = m.output.len();
                    });
                }
                let _ = mcp_monitor::rules::diff(&set, &set);
            }
            Err(e) => {
                for d in e.errors.iter().chain(&e.warnings) {
                    let _ = d.render(false);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if mode & 1 == 0 {
        let sources: Vec<RuleSource> = text
            .split('\0')
            .take(2)
            .enumerate()
            .map(|(i, t)| RuleSource::new(format!("f{i}.yaml"), t))
            .collect();
        exercise(&sources);
    } else {
        // A condition in a folded block scalar, indented under the key.
        let cond: String = text.lines().map(|l| format!("    {l}\n")).collect();
        let rule = format!(
            "{PRELUDE}- rule: fuzz\n  desc: d\n  condition: >\n{cond}  output: o %proc.name %fd.name\n  priority: notice\n"
        );
        exercise(&[RuleSource::new("cond.yaml", rule)]);
    }
});
