//! The tool inventory: what each server (by name and command) offers in its
//! `tools/list` answers, kept across runs in the state directory. A new
//! answer is compared with the last one (a rug pull: tools added, removed or
//! changed), and every new or changed tool is scanned for instructions hidden
//! in its texts (tool poisoning). Findings become events (`mcp_tools_changed`,
//! `mcp_tool_suspicious`) that the pipeline takes with [`Inventory::take_events`]
//! and hands to the rules like any other. The tools' declared hints answer
//! [`Inventory::hints`] (declared versus done, see [`declared`]).
pub mod declared;
pub mod diff;
pub mod scan;
pub mod store;
#[cfg(test)]
mod tests;
pub mod tools;

use std::{collections::HashMap, path::Path};

use serde_json::Value;

use crate::event::Event;
use scan::Patterns;
use store::{Loaded, Store};
pub use tools::ToolHints;
use tools::{ToolList, parse_page};

/// Servers whose lists are kept in memory; past it, the oldest is forgotten
/// (its file stays).
const MAX_SERVERS: usize = 1024;
/// Events waiting for the pipeline; past it, new ones are counted and dropped.
const MAX_QUEUE: usize = 4096;

type Key = (String, String);

/// The last complete list of a server in this run.
struct Known {
    list: ToolList,
    order: u64,
}

pub struct Inventory {
    store: Option<Store>,
    patterns: Patterns,
    known: HashMap<Key, Known>,
    /// Pages of a list whose answer said there is more (`nextCursor`).
    pages: HashMap<Key, ToolList>,
    queue: Vec<Event>,
    /// Events dropped because the queue was full.
    pub dropped_events: u64,
    /// Servers whose file could not be read, and why, since the last call
    /// of [`Inventory::take_unreadable`].
    unreadable: Vec<(String, String)>,
    next_order: u64,
}

impl Inventory {
    /// An inventory kept in `state_dir` (`None`: in memory only).
    pub fn new(state_dir: Option<&Path>) -> Inventory {
        Inventory {
            store: state_dir.map(Store::new),
            patterns: Patterns::default(),
            known: HashMap::new(),
            pages: HashMap::new(),
            queue: Vec::new(),
            dropped_events: 0,
            unreadable: Vec::new(),
            next_order: 0,
        }
    }

    /// The word lists the poisoning scan uses (from the rules, at start and
    /// at each reload).
    pub fn set_patterns(&mut self, patterns: Patterns) {
        self.patterns = patterns;
    }

    /// The events raised since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.queue)
    }

    /// The servers whose file could not be read (and was replaced) since
    /// the last call, with why.
    pub fn take_unreadable(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.unreadable)
    }

    /// The hints `tool` of this server declared in its last list.
    pub fn hints(&self, server_name: &str, server_command: &str, tool: &str) -> Option<ToolHints> {
        let key = key(server_name, server_command);
        let known = self.known.get(&key)?;
        known.list.get(tool).map(|t| t.hints)
    }

    /// One answer to a `tools/list` request (one page of it).
    pub fn on_tools_list(
        &mut self,
        server_name: &str,
        server_command: &str,
        result: &Value,
        time_ns: u64,
    ) {
        let key = key(server_name, server_command);
        let (page, cursor) = parse_page(result);
        self.scan_page(&key, result, &page, time_ns);
        let mut list = self.pages.remove(&key).unwrap_or_default();
        list.extend(page);
        if cursor.is_some() {
            if self.pages.len() < MAX_SERVERS {
                self.pages.insert(key, list);
            }
            return;
        }
        self.complete(key, list, time_ns);
    }

    /// Scans the tools of a page that differ from what this run saw.
    fn scan_page(&mut self, key: &Key, result: &Value, page: &ToolList, time_ns: u64) {
        let Some(raw) = result.get("tools").and_then(Value::as_array) else {
            return;
        };
        let known = self.known.get(key).map(|k| &k.list);
        let pending = self.pages.get(key);
        let mut names: Vec<&str> = page.tools.iter().map(|t| t.name.as_str()).collect();
        for l in known.into_iter().chain(pending) {
            names.extend(l.tools.iter().map(|t| t.name.as_str()));
        }
        names.sort_unstable();
        names.dedup();
        let mut findings = Vec::new();
        for t in raw.iter().take(tools::MAX_TOOLS) {
            let Some(name) = t.get("name").and_then(Value::as_str) else {
                continue;
            };
            let kept = page.get(&tools::cut(name, tools::MAX_NAME));
            if kept.is_some() && kept == known.and_then(|l| l.get(&kept.unwrap().name)) {
                continue;
            }
            findings.extend(scan::scan_tool(t, &names, &self.patterns));
        }
        for f in findings {
            let ev = Event {
                mcp_finding_tool: Some(f.tool),
                mcp_finding_kind: Some(f.kind.name().to_owned()),
                mcp_finding_match: Some(f.matched),
                mcp_finding_cue: f.cue,
                mcp_finding_excerpt: Some(f.excerpt),
                mcp_finding_location: Some(f.location),
                ..base_event("mcp_tool_suspicious", key, time_ns)
            };
            self.push(ev);
        }
    }

    /// A complete list: compared with the last one, kept, saved.
    fn complete(&mut self, key: Key, list: ToolList, time_ns: u64) {
        let (baseline, since) = match self.known.get(&key) {
            Some(k) => (Some(k.list.clone()), "earlier in this run".to_owned()),
            None => match self.store.as_ref().map(|s| s.load(&key.0, &key.1)) {
                Some(Loaded::Found { seen_ns, list: old }) => {
                    let since = format!(
                        "an earlier run (that list first seen {})",
                        crate::alerts::rfc3339_nanos(seen_ns)
                    );
                    (Some(old), since)
                }
                Some(Loaded::Unreadable(why)) => {
                    eprintln!(
                        "mcp-monitor: warning: the tool inventory of MCP server {} could not be read ({why}); it is replaced by the tools it offers now",
                        key.0
                    );
                    if self.unreadable.len() < MAX_QUEUE {
                        self.unreadable.push((key.0.clone(), why));
                    }
                    (None, String::new())
                }
                Some(Loaded::Missing) | None => (None, String::new()),
            },
        };
        if let Some(old) = &baseline {
            let d = diff::diff(old, &list);
            if !d.is_empty() {
                let ev = Event {
                    mcp_tools_added: d.added.clone(),
                    mcp_tools_removed: d.removed.clone(),
                    mcp_tools_changed: d.changed_names(),
                    mcp_tools_diff: Some(d.summary()),
                    mcp_tools_baseline: Some(since),
                    mcp_tools_count: Some(list.tools.len() as u64),
                    mcp_tools_dropped: (list.dropped > 0).then_some(list.dropped as u64),
                    ..base_event("mcp_tools_changed", &key, time_ns)
                };
                self.push(ev);
            }
        }
        // Saved when it differs from what the file (or this run) has.
        if baseline.as_ref() != Some(&list)
            && let Some(store) = &self.store
            && let Err(e) = store.save(&key.0, &key.1, time_ns, &list)
        {
            eprintln!(
                "mcp-monitor: warning: saving the tool inventory of MCP server {} in {}: {e}",
                key.0,
                store.path(&key.0, &key.1).display()
            );
        }
        if !self.known.contains_key(&key)
            && self.known.len() >= MAX_SERVERS
            && let Some(oldest) = self
                .known
                .iter()
                .min_by_key(|(_, k)| k.order)
                .map(|(k, _)| k.clone())
        {
            self.known.remove(&oldest);
        }
        self.next_order += 1;
        self.known.insert(
            key,
            Known {
                list,
                order: self.next_order,
            },
        );
    }

    fn push(&mut self, ev: Event) {
        if self.queue.len() < MAX_QUEUE {
            self.queue.push(ev);
        } else {
            self.dropped_events += 1;
        }
    }
}

impl crate::mcp::ToolsListObserver for Inventory {
    fn on_tools_list(
        &mut self,
        server_name: &str,
        server_command: &str,
        result: &Value,
        time_ns: u64,
    ) {
        Inventory::on_tools_list(self, server_name, server_command, result, time_ns);
    }
}

/// How a server is known: its name and its command line with secrets
/// redacted (a token on the command line is neither kept on disk nor shown,
/// and a new token does not make a new server).
fn key(server_name: &str, server_command: &str) -> Key {
    (
        server_name.to_owned(),
        crate::redact::text(server_command).into_owned(),
    )
}

/// The fields every inventory event has.
fn base_event(evt_type: &str, key: &Key, time_ns: u64) -> Event {
    Event {
        evt_type: evt_type.to_owned(),
        category: "mcp".to_owned(),
        time_ns,
        mcp_server: Some(key.0.clone()),
        mcp_server_command: Some(key.1.clone()),
        ..Default::default()
    }
}
