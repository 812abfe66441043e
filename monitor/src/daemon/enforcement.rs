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

/// Gives the kernel each server's policy: the slots it must leave to user
/// space for that server (all of them when the policy turns enforcement
/// off; the rules it has exceptions for, which user space applies to the
/// paths named). Cheap when nothing changed: called after every batch.
pub(super) fn sync_policies(maps: &mut EnforceMaps, pipeline: &crate::pipeline::Pipeline) {
    let plan = &pipeline.kernel_plan;
    // In a dry run the kernel decides nothing: no policy to give it.
    if plan.slots.is_empty() || !pipeline.actor.enabled() {
        return;
    }
    let all = plan.mask_of(plan.slots.iter().map(|s| s.rule.as_str()));
    let wanted = pipeline
        .tracker
        .server_ids()
        .filter_map(|id| {
            let e = pipeline.tracker.enforcement_of(id);
            let mask = if e.enabled {
                plan.mask_of(e.excepted_rules.iter().copied())
            } else {
                all
            };
            (mask != 0).then_some((id, mask))
        })
        .collect();
    maps.sync_skips(wanted);
}
