//! The kernel plan of the default rules and of rules written to test it.
use monitor_common::enforce::{action, class, rule_flags};

use super::{
    Action,
    plan::{Capabilities, KernelPlan, Latency},
};
use crate::rules::{RuleSet, RuleSource, default_sources};

fn defaults_with(extra: &str) -> RuleSet {
    let mut sources = default_sources();
    sources.push(RuleSource::new("extra.yaml", extra));
    RuleSet::load(&sources).expect("rules load").0
}

fn one(text: &str) -> RuleSet {
    RuleSet::load(&[RuleSource::new("t.yaml", text)])
        .expect("rules load")
        .0
}

fn enforce(rule: &str, act: &str) -> String {
    format!("- rule: {rule}\n  action: {act}\n  override:\n    action: replace\n")
}

#[test]
fn the_secret_read_compiles_to_the_ssh_directory_with_its_clients_exempt() {
    let set = defaults_with(&enforce(
        "MCP server read SSH keys or configuration",
        "kill",
    ));
    let plan = KernelPlan::compile(&set, Capabilities::typical());
    let rule = set
        .rule("MCP server read SSH keys or configuration")
        .unwrap();
    assert_eq!(plan.latency(rule), Some(Latency::Kernel));
    let i = plan.slot_of(rule.name()).unwrap();
    let slot = &plan.slots[i as usize];
    assert_eq!(slot.kernel.class, class::FILE);
    assert_eq!(slot.kernel.action, action::KILL);
    assert_ne!(slot.kernel.flags & rule_flags::NOT_DIR, 0);
    assert_eq!(
        slot.kernel.open_types, 0b1111,
        "open, openat, openat2, creat"
    );
    let paths = plan.paths(&["/home/a".into()]);
    assert_eq!(
        paths.get("/home/a/.ssh").map(|m| m.1 & (1 << i)),
        Some(1 << i)
    );
    let comms = plan.comms();
    let ssh = *b"ssh\0\0\0\0\0\0\0\0\0\0\0\0\0";
    let exempt = comms.get(&ssh).map_or(0, |m| m.0);
    assert_eq!(exempt & (1 << i), 1 << i, "ssh itself may read ~/.ssh");
}

#[test]
fn metadata_connects_exec_from_tmp_and_module_loads_compile() {
    let set = defaults_with(
        &[
            enforce("MCP server contacted a cloud metadata endpoint", "deny"),
            enforce("MCP server ran a binary from a temporary directory", "kill"),
            enforce("MCP server loaded a kernel module", "kill-server"),
        ]
        .concat(),
    );
    let plan = KernelPlan::compile(&set, Capabilities::typical());
    let slot = |name: &str| &plan.slots[plan.slot_of(name).expect(name) as usize];
    let meta = slot("MCP server contacted a cloud metadata endpoint");
    assert_eq!(meta.kernel.class, class::CONNECT);
    assert_eq!(meta.kernel.action, action::DENY, "the cgroup hook refuses");
    let mapped = std::net::Ipv4Addr::new(169, 254, 169, 254)
        .to_ipv6_mapped()
        .octets();
    assert!(plan.nets().contains_key(&(mapped, 128)));
    let tmp = slot("MCP server ran a binary from a temporary directory");
    assert_eq!(tmp.kernel.class, class::EXEC);
    assert_ne!(tmp.kernel.flags & rule_flags::NOT_ROOT, 0);
    let prefixes = plan.prefixes();
    let npm = prefixes
        .iter()
        .find(|p| p.words == monitor_common::enforce::comm_prefix_words(b"npm exec ").0)
        .expect("the npm launcher prefix");
    let tmp_slot = plan
        .slot_of("MCP server ran a binary from a temporary directory")
        .unwrap();
    assert_eq!(npm.parent, 1 << tmp_slot);
    let parents: Vec<_> = plan.comms().into_iter().filter(|(_, m)| m.1 != 0).collect();
    assert!(
        parents.len() >= 3,
        "launchers and shells as parents: {parents:?}"
    );
    let module = slot("MCP server loaded a kernel module");
    assert_eq!(module.kernel.class, class::CALL);
    assert_eq!(module.action, Action::KillServer);
    let calls = plan.calls();
    let finit = monitor_common::Syscall::FinitModule as usize;
    assert_ne!(calls[finit], 0);
}

#[test]
fn deny_without_lsm_kills_and_says_so() {
    let name = "MCP server read SSH keys or configuration";
    let set = defaults_with(&enforce(name, "deny"));
    let slot = |plan: &KernelPlan| plan.slots[plan.slot_of(name).unwrap() as usize].clone();
    let plan = KernelPlan::compile(&set, Capabilities::typical());
    assert_eq!(slot(&plan).kernel.action, action::KILL);
    assert!(slot(&plan).deny_as_kill);
    assert!(!plan.denies_in_kernel(name));
    let lsm = Capabilities {
        lsm_deny: true,
        ..Capabilities::typical()
    };
    let plan = KernelPlan::compile(&set, lsm);
    assert_eq!(slot(&plan).kernel.action, action::DENY);
    assert!(!slot(&plan).deny_as_kill);
    assert!(plan.denies_in_kernel(name));
}

#[test]
fn conditions_the_probe_cannot_check_stay_in_user_space() {
    let rule = |cond: &str| {
        format!(
            "- rule: r\n  desc: d\n  condition: {cond}\n  output: o\n  priority: warning\n  action: kill\n"
        )
    };
    for cond in [
        // A check on the command line: not in the kernel.
        "evt.type = execve and proc.cmdline contains curl",
        // A glob is not an inode.
        "evt.type = openat and fd.name glob '/tmp/*.key'",
        // Two path sets would need their intersection.
        "evt.type = openat and fd.name pmatch (/etc) and fd.name pmatch (/etc/ssh)",
        // Types of two classes.
        "evt.type in (openat, connect) and fd.name = /etc/shadow",
    ] {
        let set = one(&rule(cond));
        let plan = KernelPlan::compile(&set, Capabilities::typical());
        assert!(plan.slots.is_empty(), "{cond} compiled: {:?}", plan.slots);
        assert_eq!(plan.user, vec!["r".to_string()]);
    }
    // An alternative the probe cannot check is left out, the rest compiles.
    let set = one(&rule(
        "evt.type = openat and (fd.name = /etc/shadow or proc.cmdline contains x)",
    ));
    let plan = KernelPlan::compile(&set, Capabilities::typical());
    assert_eq!(plan.slots.len(), 1);
    // Without identity offsets, file rules stay in user space.
    let no_identity = Capabilities {
        identity: false,
        ..Capabilities::typical()
    };
    let set = one(&rule("evt.type = openat and fd.name = /etc/shadow"));
    assert!(KernelPlan::compile(&set, no_identity).slots.is_empty());
}

#[test]
fn nested_networks_carry_the_outer_slots() {
    let set = one(
        "- rule: a\n  desc: d\n  condition: evt.type = connect and fd.dip in (10.0.0.0/8)\n  output: o\n  priority: warning\n  action: kill\n\
         - rule: b\n  desc: d\n  condition: evt.type = connect and fd.dip = 10.1.2.3\n  output: o\n  priority: warning\n  action: deny\n",
    );
    let plan = KernelPlan::compile(&set, Capabilities::typical());
    let nets = plan.nets();
    let inner = std::net::Ipv4Addr::new(10, 1, 2, 3)
        .to_ipv6_mapped()
        .octets();
    assert_eq!(nets.get(&(inner, 128)), Some(&0b11));
}
