//! Alerts: what a rule match becomes, and where it is written.
//!
//! [`Alert`] is Falco-shaped (`time`, `rule`, `priority`, `output`,
//! `output_fields`, `tags`, `source`, `hostname`) so existing pipelines accept
//! it, plus `mcp` and `process` objects. [`render_text`] is the one-line form
//! for people; [`AlertFilter`] is what a reader of the stream asks for.
//! [`suppress`] and [`keys`] keep floods in check, [`health`] builds the
//! monitor's own and the servers' lifecycle alerts, [`gate`] puts them together
//! in front of the sinks.
mod filter;
pub mod gate;
pub mod health;
pub mod keys;
mod model;
pub mod sink;
pub mod suppress;
#[cfg(test)]
mod tests;
mod text;

pub use filter::{AlertFilter, CALL_RULE};
pub use model::{
    Alert, AlertConversation, AlertMcp, AlertProcess, Ancestor, hostname, parse_rfc3339_nanos,
    rfc3339_nanos,
};
pub use text::{render_call, render_text};
