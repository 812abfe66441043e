//! Declared versus done: what the tools in flight when a process acted said
//! about themselves, as the fields `mcp.tool.read_only`,
//! `mcp.tool.destructive` and `mcp.tool.open_world`.
//!
//! Several calls may be in flight at once, and an action cannot be pinned on
//! one of them, so the fields say what holds for all of them:
//! - `read_only` is true when every tool in flight declares readOnlyHint
//!   true, false otherwise;
//! - `open_world` is false when every tool in flight declares openWorldHint
//!   false, true otherwise (the specification's default is true);
//! - `destructive` is true when some tool in flight may be destructive: it
//!   does not declare readOnlyHint true, and does not declare
//!   destructiveHint false (the specification's default is true).
//!
//! A tool the inventory does not know (no `tools/list` answer seen) counts as
//! declaring nothing. With no call in flight the fields are absent.
use super::tools::ToolHints;
use crate::event::Event;

/// The combined declaration of the tools in flight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Declared {
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
    pub open_world: Option<bool>,
}

impl Declared {
    /// Combines the hints of each tool in flight (`None`: an unknown tool).
    pub fn of(in_flight: &[Option<ToolHints>]) -> Declared {
        if in_flight.is_empty() {
            return Declared::default();
        }
        let hints = || in_flight.iter().map(|h| h.unwrap_or_default());
        let every_read_only = hints().all(|h| h.read_only == Some(true));
        let every_closed = hints().all(|h| h.open_world == Some(false));
        let some_destructive =
            hints().any(|h| h.read_only != Some(true) && h.destructive != Some(false));
        Declared {
            read_only: Some(every_read_only),
            destructive: Some(some_destructive),
            open_world: Some(!every_closed),
        }
    }

    /// Sets the event's `mcp.tool.*` declaration fields.
    pub fn apply(self, ev: &mut Event) {
        ev.mcp_tool_read_only = self.read_only;
        ev.mcp_tool_destructive = self.destructive;
        ev.mcp_tool_open_world = self.open_world;
    }
}
