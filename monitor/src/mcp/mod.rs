//! What the monitor learns from the MCP conversation of the servers it
//! watches.
pub mod inventory;
