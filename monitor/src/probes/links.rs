//! A hook's attachment as this process holds it.
use aya::programs::{
    links::{FdLink, Link as _, PinnedLink},
    trace_point::TracePointLink,
};

/// An attached program. Dropping an owned link detaches the program; a
/// pinned one stays attached until its pin is removed.
pub enum Held {
    /// A BPF link pinned in bpffs: it outlives this process.
    Pinned(PinnedLink),
    /// A BPF link only this process holds.
    Fd(FdLink),
    /// A perf-event attachment (kernels before 5.15 have no BPF link for
    /// tracepoints): it cannot be pinned and ends with this process.
    Perf(TracePointLink),
}

impl Held {
    /// A tracepoint attachment: a BPF link on kernels that make one for
    /// perf events (5.15+), else the perf event itself.
    pub fn from_tracepoint(link: TracePointLink) -> anyhow::Result<Held> {
        if !perf_links() {
            return Ok(Held::Perf(link));
        }
        FdLink::try_from(link)
            .map(Held::Fd)
            .map_err(|e| anyhow::anyhow!("holding a tracepoint link: {e}"))
    }

    /// Detaches the program, pinned or not.
    pub fn detach(self) {
        match self {
            Held::Pinned(p) => match p.unpin() {
                Ok(fd) => drop(fd),
                Err(e) => log::warn!("removing a pinned link: {e}"),
            },
            Held::Fd(fd) => drop(fd),
            Held::Perf(link) => {
                let _ = link.detach();
            }
        }
    }
}

/// Whether tracepoint attachments are BPF links (`BPF_LINK_TYPE_PERF_EVENT`,
/// Linux 5.15), which can be pinned.
fn perf_links() -> bool {
    crate::kernel::capabilities::kernel_version().is_none_or(|v| v >= (5, 15, 0))
}
