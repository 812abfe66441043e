//! Alerts: what a rule match becomes, and where it is written.
//!
//! [`Alert`] is Falco-shaped (`time`, `rule`, `priority`, `output`,
//! `output_fields`, `tags`, `source`, `hostname`) so existing pipelines accept
//! it, plus `mcp` and `process` objects. [`render_text`] is the one-line form
//! for people; [`AlertFilter`] is what a reader of the stream asks for.
mod filter;
mod model;
#[cfg(test)]
mod schema_tests;
mod text;

pub use filter::AlertFilter;
pub use model::{Alert, AlertMcp, AlertProcess, Ancestor, hostname, rfc3339_nanos};
pub use text::render_text;
