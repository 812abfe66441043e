//! What can change while the daemon runs, and how each part takes it: the
//! rules' sources, the hooks the rules need, the configuration on SIGHUP,
//! the AI hosts' configs and the server policies.
use std::{io::IsTerminal as _, path::PathBuf};

use crate::{
    config::{Config, ConfigSource},
    discover::{self, ConfigMatchers},
    pipeline::Pipeline,
    probes,
    rules::detector::Detector,
};

/// What the rules are loaded from, with the monitor's own files (wherever the
/// configuration put them, its pinned kernel state included) for the rule
/// that guards them.
pub(super) fn rule_options(config: &Config, source: &ConfigSource) -> crate::rules::LoadOptions {
    let mut opts = config.rules.load_options();
    opts.protected = std::iter::once(source.path().to_path_buf())
        .chain(opts.rules_dir.clone())
        .chain(opts.extra.iter().cloned())
        .chain([config.servers.policy_dir.clone()])
        .chain(config.kernel.pin_dir())
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .collect();
    opts
}

/// The hooks the rules look at, or every hook when every event is printed.
pub(super) fn wanted_hooks(detector: &Detector, every_event: bool) -> Vec<probes::ProgramSpec> {
    let (types, catch_all) = detector.rules().event_types();
    let types = (!every_event && !catch_all).then_some(&types);
    probes::programs_for(types)
}

/// After a reload: attaches what the new rules need, detaches the rest.
pub(super) fn reselect_hooks(probes: &mut probes::Probes, detector: &Detector, config: &Config) {
    match probes.select(&wanted_hooks(detector, config.sinks.stdout.events)) {
        Ok((0, 0)) => {}
        Ok((added, removed)) => eprintln!(
            "mcp-monitor: hooks for the new rules: {} attached ({added} added, {removed} removed)",
            probes.attached().len()
        ),
        Err(e) => eprintln!("mcp-monitor: warning: attaching the hooks the new rules need: {e:#}"),
    }
}

/// SIGHUP: reads the config again and applies what can change while running;
/// a config that does not load leaves the running one in force.
pub(super) fn reload_config(source: &ConfigSource, running: &mut Config, p: &mut Pipeline) {
    let new = match source.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "mcp-monitor: config reload failed; the running configuration stays in force:"
            );
            eprint!("{}", e.render(std::io::stderr().is_terminal()));
            return;
        }
    };
    let later = running.restart_needed(&new);
    if !later.is_empty() {
        eprintln!(
            "mcp-monitor: warning: changes to {} in {} take effect at the next restart",
            later.join(", "),
            source.path().display()
        );
    }
    let rules = rule_options(&new, source);
    let sinks = p.reconfigure(&new, rules);
    // What needs a restart stays as it runs, so the warning repeats until then.
    *running = Config {
        rules: new.rules,
        sinks,
        suppression: new.suppression,
        lifecycle: new.lifecycle,
        enforcement: new.enforcement,
        ..running.clone()
    };
    eprintln!(
        "mcp-monitor: configuration reloaded (SIGHUP); alerts to {}",
        running.sinks.summary()
    );
}

/// Reads the AI hosts' MCP configs under `homes`: matchers for their servers,
/// and a watch on every file that could change them.
pub(super) fn read_host_configs(homes: &[PathBuf]) -> (ConfigMatchers, crate::watch::FileWatch) {
    let found = discover::discover(homes);
    for p in &found.problems {
        log::warn!("{p}");
    }
    (
        ConfigMatchers::from_discovery(&found),
        crate::watch::FileWatch::new(found.watch),
    )
}

/// The per-server policy files, reporting broken ones.
pub(super) fn read_policies(dir: &std::path::Path) -> crate::procs::policy::Policies {
    let (policies, problems) = crate::procs::policy::Policies::load(dir);
    for p in problems {
        eprintln!("mcp-monitor: server policy {p}; ignored");
    }
    policies
}
