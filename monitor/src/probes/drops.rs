//! What the kernel could not deliver: ring-buffer reserve failures counted
//! per kind and class by the programs, and records user space could not
//! decode, turned into rate-limited warnings and the `Kernel events lost`
//! alert.
use std::time::{Duration, Instant};

use aya::maps::{MapData, PerCpuArray};
use monitor_common::{DROP_SLOTS, EventKind, FAILURE_SLOTS, KernelFailure, drop_slot};

use crate::{alerts::Alert, decode};

/// At most one drop warning per this long.
const DROP_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Ring-buffer reserve failures counted by the kernel, per event kind and lane.
pub struct DropCounters(PerCpuArray<MapData, u64>);

impl DropCounters {
    pub fn new(map: PerCpuArray<MapData, u64>) -> Self {
        DropCounters(map)
    }
}

/// What was lost: records of one kind, in one lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LostKind {
    pub kind: EventKind,
    /// Priority records' (sensitive opens, privileged syscalls), which may
    /// use the ring buffer's reserve.
    pub priority: bool,
}

impl LostKind {
    /// A key for metrics and alert fields: `open`, `open_priority`.
    pub fn key(&self) -> String {
        if self.priority {
            format!("{}_priority", self.kind.name())
        } else {
            self.kind.name().to_owned()
        }
    }
}

impl std::fmt::Display for LostKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match (self.kind, self.priority) {
            (EventKind::Open, true) => "sensitive open",
            (EventKind::Call, _) => "privileged call",
            (kind, _) => kind.name(),
        };
        f.write_str(what)
    }
}

impl DropCounters {
    /// Totals over all CPUs, per event kind and lane.
    pub fn totals(&self) -> Vec<(LostKind, u64)> {
        EventKind::ALL
            .into_iter()
            .flat_map(|kind| [false, true].map(|priority| LostKind { kind, priority }))
            .filter(|l| drop_slot(l.kind, l.priority) < DROP_SLOTS)
            .map(|l| {
                let total = slot_total(&self.0, drop_slot(l.kind, l.priority));
                (l, total)
            })
            .collect()
    }
}

/// Turns kernel drop counters and undecodable records into rate-limited warnings.
#[derive(Default)]
pub struct DropWatch {
    reported: Vec<(LostKind, u64)>,
    bad_records: u64,
    /// Undecodable records over the whole run.
    pub bad_total: u64,
    last_warning: Option<Instant>,
}

impl DropWatch {
    pub fn bad_record(&mut self, e: &decode::DecodeError) {
        self.bad_records += 1;
        self.bad_total += 1;
        log::debug!("undecodable record: {e}");
    }

    /// At shutdown: what was lost over the whole run, whatever was said before.
    pub fn final_report(&self, totals: &[(LostKind, u64)]) {
        let lost = Lost {
            total: totals.iter().map(|(_, n)| n).sum(),
            by_kind: totals.iter().copied().filter(|(_, n)| *n > 0).collect(),
        };
        if lost.total > 0 {
            eprintln!(
                "mcp-monitor: {} event(s) were lost to a full ring buffer during this run ({}); \
                 consider a larger --ring-buffer-size",
                lost.total,
                lost.by_kind_text()
            );
        }
    }

    /// Reports new losses (at most every [`DROP_WARN_INTERVAL`]); returns them
    /// so the caller can raise an alert.
    pub fn check(&mut self, totals: &[(LostKind, u64)]) -> Option<Lost> {
        let new = since(&self.reported, totals);
        if new.is_empty() && self.bad_records == 0 {
            return None;
        }
        if self
            .last_warning
            .is_some_and(|t| t.elapsed() < DROP_WARN_INTERVAL)
        {
            return None;
        }
        let lost = Lost {
            total: new.iter().map(|(_, n)| n).sum(),
            by_kind: new,
        };
        if lost.total > 0 {
            eprintln!(
                "mcp-monitor: warning: the kernel ring buffer was full, {} event(s) lost ({}); \
                 a flood can be an attempt to blind the monitor",
                lost.total,
                lost.by_kind_text()
            );
        }
        if self.bad_records > 0 {
            eprintln!(
                "mcp-monitor: warning: {} undecodable record(s) skipped",
                self.bad_records
            );
            self.bad_records = 0;
        }
        self.reported = totals.to_vec();
        self.last_warning = Some(Instant::now());
        (lost.total > 0).then_some(lost)
    }
}

/// Events lost since the last report.
pub struct Lost {
    pub total: u64,
    pub by_kind: Vec<(LostKind, u64)>,
}

impl Lost {
    pub fn by_kind_text(&self) -> String {
        self.by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn fields(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        let mut f = std::collections::BTreeMap::new();
        f.insert("monitor.lost".into(), self.total.into());
        for (k, n) in &self.by_kind {
            f.insert(format!("monitor.lost.{}", k.key()), (*n).into());
        }
        f
    }
}

impl Lost {
    /// The `Kernel events lost` health alert.
    pub fn alert(&self, hostname: &str) -> Alert {
        crate::alerts::health::events_lost(
            &format!(
                "the kernel ring buffer was full and {} event(s) were lost ({}); a flood can be an attempt to blind the monitor",
                self.total,
                self.by_kind_text()
            ),
            self.fields(),
            hostname,
        )
    }
}

/// A per-CPU counter's total over all CPUs (0 if it cannot be read).
fn slot_total(map: &PerCpuArray<MapData, u64>, slot: u32) -> u64 {
    map.get(&slot, 0)
        .map(|per_cpu| per_cpu.iter().sum())
        .unwrap_or(0)
}

/// What grew in `totals` since `before` (counters per kind), and by how much.
fn since<K: Copy + PartialEq>(before: &[(K, u64)], totals: &[(K, u64)]) -> Vec<(K, u64)> {
    totals
        .iter()
        .map(|(kind, total)| {
            let was = before
                .iter()
                .find(|(k, _)| k == kind)
                .map_or(0, |(_, n)| *n);
            (*kind, total.saturating_sub(was))
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Kernel-side failures counted by the programs, per kind (`FAILURES`).
pub struct FailureCounters(PerCpuArray<MapData, u64>);

impl FailureCounters {
    pub fn new(map: PerCpuArray<MapData, u64>) -> Self {
        FailureCounters(map)
    }

    /// Totals over all CPUs, per kind.
    pub fn totals(&self) -> Vec<(KernelFailure, u64)> {
        KernelFailure::ALL
            .into_iter()
            .filter(|k| (*k as u32) < FAILURE_SLOTS)
            .map(|k| {
                let total = slot_total(&self.0, k as u32);
                (k, total)
            })
            .collect()
    }
}

/// Turns new kernel-side failures into a warning and an alert.
#[derive(Default)]
pub struct FailureWatch {
    reported: Vec<(KernelFailure, u64)>,
}

impl FailureWatch {
    /// The failures since the last call, said on stderr, as an alert.
    pub fn check(&mut self, totals: &[(KernelFailure, u64)], hostname: &str) -> Option<Alert> {
        let new = since(&self.reported, totals);
        self.reported = totals.to_vec();
        if new.is_empty() {
            return None;
        }
        let what = new
            .iter()
            .map(|(k, n)| format!("{} {n}", k.name()))
            .collect::<Vec<_>>()
            .join(", ");
        let output = format!(
            "the kernel programs could not keep up ({what}); with tag_map_full, children of tagged processes go unwatched"
        );
        eprintln!("mcp-monitor: warning: {output}");
        let fields = new
            .iter()
            .map(|(k, n)| (format!("monitor.failures.{}", k.name()), (*n).into()))
            .collect();
        Some(crate::alerts::health::events_lost(
            &output, fields, hostname,
        ))
    }
}

/// Lost records and kernel-side failures, per kind.
pub type PinnedTotals = (Vec<(LostKind, u64)>, Vec<(KernelFailure, u64)>);

/// What the kernel state pinned under `dir` (a `kernel.pin_dir`) counted:
/// lost records and kernel-side failures, for `doctor`. `None` when no
/// daemon of this state layout left its maps there.
pub fn pinned_totals(dir: &std::path::Path) -> Option<PinnedTotals> {
    let state = dir.join(format!("abi-{}", monitor_common::STATE_ABI));
    let open = |name: &str| -> Option<PerCpuArray<MapData, u64>> {
        let data = MapData::from_pin(state.join(name)).ok()?;
        PerCpuArray::try_from(aya::maps::Map::PerCpuArray(data)).ok()
    };
    let drops = DropCounters::new(open(monitor_common::names::DROPS)?);
    let failures = FailureCounters::new(open(monitor_common::names::FAILURES)?);
    Some((drops.totals(), failures.totals()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_failures_are_reported() {
        let mut watch = FailureWatch::default();
        let totals = [(KernelFailure::TagMapFull, 2), (KernelFailure::Unpaired, 0)];
        let alert = watch.check(&totals, "h").expect("new failures");
        assert!(alert.output.contains("tag_map_full 2"), "{}", alert.output);
        assert_eq!(
            alert.output_fields["monitor.failures.tag_map_full"],
            serde_json::json!(2)
        );
        assert!(watch.check(&totals, "h").is_none(), "nothing new");
        let more = [(KernelFailure::TagMapFull, 5), (KernelFailure::Unpaired, 1)];
        let alert = watch.check(&more, "h").expect("three more");
        assert!(
            alert.output.contains("tag_map_full 3, unpaired 1"),
            "{}",
            alert.output
        );
    }
}
