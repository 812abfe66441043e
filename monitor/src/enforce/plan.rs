//! The kernel plan: the enforcing rules whose conditions a probe can decide
//! at the call (the identity of a file, the executable of an exec, the
//! destination of a connect, a syscall), each given a slot, with what the
//! maps need to hold for them (`monitor_common::enforce`).
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use monitor_common::{
    Syscall,
    enforce::{
        KernelRule, MAX_KERNEL_RULES, MAX_PREFIXES, PrefixRule, RULE_PORTS, access, action, class,
        comm_prefix_words, masks, rule_flags,
    },
};

use super::{
    Action,
    narrow::{Class, Cond, PathItem, narrow},
};
use crate::rules::{Rule, RuleSet, matchers::IpSet};

/// Where a rule's action is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latency {
    /// In the probe, before the call returns to the process.
    Kernel,
    /// In user space, after the event arrives (microseconds to milliseconds
    /// late: the call has returned).
    User,
}

impl Latency {
    pub fn as_str(self) -> &'static str {
        match self {
            Latency::Kernel => "kernel",
            Latency::User => "user",
        }
    }
}

/// What this kernel and this daemon's hooks can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The probes can tell a file's identity and a process's parent
    /// (`KernelOffsets::identity`).
    pub identity: bool,
    /// The BPF LSM `file_open` hook is attached: file rules can deny.
    pub lsm_deny: bool,
    /// The cgroup connect hooks are attached: connects can be refused.
    pub connect_hook: bool,
}

impl Capabilities {
    /// What a current kernel without BPF LSM offers (for `rules list`,
    /// which loads nothing).
    pub fn typical() -> Self {
        Capabilities {
            identity: true,
            lsm_deny: false,
            connect_hook: true,
        }
    }
}

/// One compiled rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    pub rule: String,
    pub action: Action,
    pub kernel: KernelRule,
    pub cond: Cond,
    /// The rule asked for `deny`, which this kernel cannot do at this
    /// call: it kills instead.
    pub deny_as_kill: bool,
}

/// Which rules of a set act in the kernel, in slot order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelPlan {
    pub slots: Vec<Slot>,
    /// Enforcing rules left to user space.
    pub user: Vec<String>,
}

/// The `OpenSyscall`s of the open rules' types, as bits.
const OPEN_TYPES: &[(&str, u8)] = &[("open", 0), ("openat", 1), ("openat2", 2), ("creat", 3)];
/// Event types a file rule may list that the kernel leaves to user space.
const FILE_ONLY_IN_USER: &[&str] = &["io_uring"];

impl KernelPlan {
    /// The plan for the enforcing rules of `set` on a kernel with `caps`.
    pub fn compile(set: &RuleSet, caps: Capabilities) -> KernelPlan {
        let mut plan = KernelPlan::default();
        for rule in set.rules().iter().filter(|r| r.enabled()) {
            let Some(act) = rule.action() else {
                continue;
            };
            let compiled = (plan.slots.len() < MAX_KERNEL_RULES as usize)
                .then(|| compile_rule(rule, act, caps))
                .flatten()
                .filter(|slot| plan.prefixes_fit(slot));
            match compiled {
                Some(slot) => plan.slots.push(slot),
                None => plan.user.push(rule.name().to_owned()),
            }
        }
        plan
    }

    /// Whether the name prefixes of the plan with `slot` still fit the
    /// kernel's table.
    fn prefixes_fit(&self, slot: &Slot) -> bool {
        let mut all: BTreeSet<&str> = BTreeSet::new();
        for s in self.slots.iter().chain([slot]) {
            for ex in [&s.cond.exempt_own, &s.cond.exempt_parent] {
                all.extend(ex.prefixes.iter().map(String::as_str));
            }
        }
        all.len() <= MAX_PREFIXES as usize
    }

    /// Whether the probes fail `rule`'s calls with EPERM (its action is
    /// deny and this kernel has the hook for its calls).
    pub fn denies_in_kernel(&self, rule: &str) -> bool {
        self.slots
            .iter()
            .any(|s| s.rule == rule && s.kernel.action == action::DENY)
    }

    /// Where `rule`'s action is decided (`None` for a rule without action).
    pub fn latency(&self, rule: &Rule) -> Option<Latency> {
        rule.action()?;
        Some(if self.slot_of(rule.name()).is_some() {
            Latency::Kernel
        } else {
            Latency::User
        })
    }

    pub fn slot_of(&self, rule: &str) -> Option<u32> {
        self.slots
            .iter()
            .position(|s| s.rule == rule)
            .map(|i| i as u32)
    }

    /// The rule of `slot`.
    pub fn rule_of(&self, slot: u32) -> Option<&str> {
        self.slots.get(slot as usize).map(|s| s.rule.as_str())
    }

    /// The mask of every slot whose rule is in `names`.
    pub fn mask_of<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> u32 {
        names
            .into_iter()
            .filter_map(|n| self.slot_of(n))
            .fold(0, |m, s| m | (1 << s))
    }

    /// The paths the file and exec slots protect, expanded into `homes`,
    /// with the slots each stands for: (exact, below).
    pub fn paths(&self, homes: &[String]) -> BTreeMap<String, (u32, u32)> {
        let mut out: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for (i, slot) in self.slots.iter().enumerate() {
            for item in slot.cond.files.iter().flatten() {
                for path in expand(item, homes) {
                    let e = out.entry(path).or_default();
                    if item.below {
                        e.1 |= 1 << i;
                    } else {
                        e.0 |= 1 << i;
                    }
                }
            }
        }
        out
    }

    /// The destination networks of the connect slots, (address, prefix
    /// length in IPv6 bits) → slots, each carrying the slots of the shorter
    /// prefixes that contain it (the trie returns the longest match only).
    pub fn nets(&self) -> BTreeMap<([u8; 16], u32), u32> {
        let mut nets: BTreeMap<([u8; 16], u32), u32> = BTreeMap::new();
        for (i, slot) in self.slots.iter().enumerate() {
            for n in slot.cond.nets.iter().flatten() {
                if let Ok((ip, len)) = IpSet::parse_net(n) {
                    *nets.entry(mapped(ip, len)).or_default() |= 1 << i;
                }
            }
        }
        let all = nets.clone();
        for ((addr, len), mask) in nets.iter_mut() {
            for ((other, olen), omask) in &all {
                if olen < len && same_prefix(addr, other, *olen) {
                    *mask |= omask;
                }
            }
        }
        nets
    }

    /// Process names → slots they exempt, as the process's own name and as
    /// its parent's.
    pub fn comms(&self) -> BTreeMap<[u8; 16], (u32, u32)> {
        let mut out: BTreeMap<[u8; 16], (u32, u32)> = BTreeMap::new();
        for (i, slot) in self.slots.iter().enumerate() {
            for name in &slot.cond.exempt_own.names {
                if let Some(c) = comm(name) {
                    out.entry(c).or_default().0 |= 1 << i;
                }
            }
            for name in &slot.cond.exempt_parent.names {
                if let Some(c) = comm(name) {
                    out.entry(c).or_default().1 |= 1 << i;
                }
            }
        }
        out
    }

    /// The slot masks by property of a call (`enforce::masks`).
    pub fn masks(&self) -> [u32; masks::LEN as usize] {
        let mut m = [0u32; masks::LEN as usize];
        for (i, slot) in self.slots.iter().enumerate() {
            let bit = 1u32 << i;
            let k = &slot.kernel;
            m[(masks::CLASS + k.class as u32) as usize] |= bit;
            for a in 1..=3u8 {
                if k.access == 0 || k.access & a != 0 {
                    m[(masks::ACCESS + a as u32) as usize] |= bit;
                }
            }
            for t in 0..8u32 {
                if k.open_types & (1 << t) != 0 {
                    m[(masks::OPEN_TYPE + t) as usize] |= bit;
                }
            }
            if k.flags & rule_flags::NOT_DIR == 0 {
                m[masks::DIR_OK as usize] |= bit;
            }
            if k.flags & rule_flags::NOT_ROOT == 0 {
                m[masks::ROOT_OK as usize] |= bit;
            }
            if k.action == action::DENY {
                m[masks::DENY as usize] |= bit;
            }
            if k.nports == 0 {
                m[masks::ANY_PORT as usize] |= bit;
            }
        }
        m
    }

    /// Destination port → the connect slots that name it.
    pub fn ports(&self) -> BTreeMap<u16, u32> {
        let mut out: BTreeMap<u16, u32> = BTreeMap::new();
        for (i, slot) in self.slots.iter().enumerate() {
            for p in &slot.kernel.ports[..slot.kernel.nports as usize] {
                *out.entry(*p).or_default() |= 1 << i;
            }
        }
        out
    }

    /// The name prefixes that exempt a process or its parent, with their
    /// slots.
    pub fn prefixes(&self) -> Vec<PrefixRule> {
        let mut out: BTreeMap<String, PrefixRule> = BTreeMap::new();
        for (i, slot) in self.slots.iter().enumerate() {
            for (parent, ex) in [
                (false, &slot.cond.exempt_own),
                (true, &slot.cond.exempt_parent),
            ] {
                for p in &ex.prefixes {
                    let e = out.entry(p.clone()).or_insert_with(|| {
                        let (words, mask) = comm_prefix_words(p.as_bytes());
                        PrefixRule {
                            words,
                            mask,
                            ..Default::default()
                        }
                    });
                    if parent {
                        e.parent |= 1 << i;
                    } else {
                        e.own |= 1 << i;
                    }
                }
            }
        }
        out.into_values().collect()
    }

    /// `Syscall` index → call-class slots.
    pub fn calls(&self) -> Vec<u32> {
        let mut out = vec![0u32; Syscall::ALL.len()];
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.kernel.class != class::CALL {
                continue;
            }
            for t in slot.cond.types.iter().flatten() {
                if let Some(s) = Syscall::ALL.iter().position(|s| s.name() == t) {
                    out[s] |= 1 << i;
                }
            }
        }
        out
    }
}

fn compile_rule(rule: &Rule, act: Action, caps: Capabilities) -> Option<Slot> {
    let types: BTreeSet<&str> = rule.event_types()?.iter().map(String::as_str).collect();
    let class = class_of(&types)?;
    if matches!(class, Class::File | Class::Exec) && !caps.identity {
        return None;
    }
    let cond = narrow(rule.resolved(), class)?;
    let narrowed: BTreeSet<&str> = cond
        .types
        .as_ref()?
        .iter()
        .map(String::as_str)
        .filter(|t| types.contains(t))
        .collect();
    let mut k = KernelRule::default();
    match class {
        Class::File => {
            k.class = class::FILE;
            cond.files.as_ref()?;
            for (name, bit) in OPEN_TYPES {
                if narrowed.contains(name) {
                    k.open_types |= 1 << bit;
                }
            }
            if k.open_types == 0 {
                return None;
            }
        }
        Class::Exec => {
            k.class = class::EXEC;
            cond.files.as_ref()?;
        }
        Class::Connect => {
            k.class = class::CONNECT;
            cond.nets.as_ref()?;
        }
        Class::Call => k.class = class::CALL,
    }
    k.access = match cond.access {
        1 => access::READ,
        2 => access::WRITE,
        0 => 0,
        // Read and write both required: the probe checks one of them.
        _ => return None,
    };
    if cond.not_dir {
        k.flags |= rule_flags::NOT_DIR;
    }
    if cond.not_root {
        k.flags |= rule_flags::NOT_ROOT;
    }
    if let Some(ports) = &cond.ports {
        if ports.is_empty() || ports.len() > RULE_PORTS {
            return None;
        }
        k.nports = ports.len() as u8;
        k.ports[..ports.len()].copy_from_slice(ports);
    }
    let all_opens = OPEN_TYPES.iter().all(|(_, b)| k.open_types & (1 << b) != 0);
    let can_deny = match class {
        Class::File => caps.lsm_deny && all_opens,
        Class::Connect => caps.connect_hook,
        Class::Exec | Class::Call => false,
    };
    k.action = if act == Action::Deny && can_deny {
        action::DENY
    } else {
        action::KILL
    };
    Some(Slot {
        rule: rule.name().to_owned(),
        action: act,
        kernel: k,
        cond,
        deny_as_kill: act == Action::Deny && !can_deny,
    })
}

/// The class of a rule's event types, if they share one.
fn class_of(types: &BTreeSet<&str>) -> Option<Class> {
    let is_open =
        |t: &&str| OPEN_TYPES.iter().any(|(n, _)| n == t) || FILE_ONLY_IN_USER.contains(t);
    if types.iter().all(is_open) {
        return Some(Class::File);
    }
    if types.len() == 1 && types.contains("execve") {
        return Some(Class::Exec);
    }
    if types.len() == 1 && types.contains("connect") {
        return Some(Class::Connect);
    }
    if types
        .iter()
        .all(|t| Syscall::ALL.iter().any(|s| s.name() == *t))
    {
        return Some(Class::Call);
    }
    None
}

/// The paths of `item`: itself, or under each home.
fn expand(item: &PathItem, homes: &[String]) -> Vec<String> {
    if item.home {
        homes
            .iter()
            .map(|h| format!("{}/{}", h.trim_end_matches('/'), item.path))
            .collect()
    } else {
        vec![item.path.clone()]
    }
}

/// A process name as the kernel keeps it: at most 15 bytes, NUL-padded.
/// Longer names can never be a task's name.
fn comm(name: &str) -> Option<[u8; 16]> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 15 {
        return None;
    }
    let mut c = [0u8; 16];
    c[..b.len()].copy_from_slice(b);
    Some(c)
}

/// An address as IPv6 (IPv4 mapped) and its prefix length in IPv6 bits.
fn mapped(ip: IpAddr, len: u8) -> ([u8; 16], u32) {
    match ip {
        IpAddr::V4(v4) => (v4.to_ipv6_mapped().octets(), 96 + len as u32),
        IpAddr::V6(v6) => (v6.octets(), len as u32),
    }
}

fn same_prefix(a: &[u8; 16], b: &[u8; 16], len: u32) -> bool {
    let a = u128::from_be_bytes(*a);
    let b = u128::from_be_bytes(*b);
    if len == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - len.min(128));
    a & mask == b & mask
}
