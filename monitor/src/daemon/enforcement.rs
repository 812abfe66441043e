//! Prevent mode at start and reload: which enforcing rules the probes can
//! decide on this kernel, the hooks that needs, and the maps it fills.
use monitor_common::enforce::class;

use crate::{
    enforce::{
        Action,
        plan::{Capabilities, KernelPlan},
    },
    probes::{Probes, enforce::EnforceMaps},
    rules::RuleSet,
};

/// Compiles `rules`' kernel plan with what this kernel can do (attaching
/// the hooks that fail calls if the plan needs them) and, in enforce mode
/// (`enabled`), hands it to the probes. Says at start what is decided where
/// and what falls back.
pub(super) fn apply(
    probes: &mut Probes,
    maps: &mut EnforceMaps,
    rules: &RuleSet,
    identity: bool,
    enabled: bool,
) -> KernelPlan {
    let most = Capabilities {
        identity,
        lsm_deny: true,
        connect_hook: true,
    };
    let wanted = KernelPlan::compile(rules, most);
    let mut caps = Capabilities {
        identity,
        lsm_deny: false,
        connect_hook: false,
    };
    if enabled
        && wanted
            .slots
            .iter()
            .any(|s| s.kernel.class == class::CONNECT)
    {
        match probes.connect_hooks() {
            Ok(()) => caps.connect_hook = true,
            Err(e) => eprintln!(
                "mcp-monitor: warning: connects cannot be refused in the kernel ({e}); \
                 connect rules kill the caller, and its connection may leave first"
            ),
        }
    }
    let file_deny =
        |s: &&crate::enforce::plan::Slot| s.action == Action::Deny && s.kernel.class == class::FILE;
    if enabled && wanted.slots.iter().any(|s| file_deny(&s)) {
        match probes.lsm_hook() {
            Ok(()) => caps.lsm_deny = true,
            Err(e) => log::info!("file rules cannot deny: {e}"),
        }
    }
    let plan = KernelPlan::compile(rules, caps);
    if enabled {
        for s in plan.slots.iter().filter(|s| s.deny_as_kill) {
            eprintln!(
                "mcp-monitor: rule {:?}: deny needs BPF LSM (files) or the cgroup connect hook, \
                 which this kernel does not offer here; it kills instead",
                s.rule
            );
        }
    }
    let homes = crate::rules::fields::home_dirs();
    if let Err(e) = maps.apply(enabled.then_some(&plan), &homes) {
        eprintln!(
            "mcp-monitor: warning: prevent mode could not be given to the kernel ({e:#}); \
             every action is decided in user space"
        );
    }
    if enabled {
        eprintln!(
            "mcp-monitor: prevent mode: {} rule(s) act in the kernel at the call, {} from user space",
            plan.slots.len(),
            plan.user.len()
        );
    }
    plan
}

/// Which of the kernel plan's rules each server's policy leaves to user
/// space (`enforce: false`: all of them; `allow:` exceptions: those rules),
/// as last written to the kernel.
#[derive(Default)]
pub(super) struct ServerSkips {
    written: std::collections::HashMap<u32, u32>,
}

impl ServerSkips {
    /// Writes what changed for the servers the tracker knows.
    pub(super) fn sync(
        &mut self,
        maps: &mut EnforceMaps,
        plan: &KernelPlan,
        tracker: &crate::procs::Tracker,
    ) {
        let all = plan.mask_of(plan.slots.iter().map(|s| s.rule.as_str()));
        let mut wanted = std::collections::HashMap::new();
        for id in tracker.tagger.servers.ids() {
            let e = tracker.enforcement_of(id);
            let mask = if e.enabled {
                plan.mask_of(e.excepted_rules.iter().copied())
            } else {
                all
            };
            if mask != 0 {
                wanted.insert(id, mask);
            }
        }
        for id in self.written.keys().filter(|id| !wanted.contains_key(id)) {
            maps.set_server_skip(*id, 0);
        }
        for (id, mask) in &wanted {
            if self.written.get(id) != Some(mask) {
                maps.set_server_skip(*id, *mask);
            }
        }
        self.written = wanted;
    }

    /// After a new plan: its slots mean other rules, so everything is
    /// written again.
    pub(super) fn resync(
        &mut self,
        maps: &mut EnforceMaps,
        plan: &KernelPlan,
        tracker: &crate::procs::Tracker,
    ) {
        for id in std::mem::take(&mut self.written).keys() {
            maps.set_server_skip(*id, 0);
        }
        self.sync(maps, plan, tracker);
    }
}
