//! Alerts: what a rule match becomes, and where it is written.
//!
//! [`Alert`] is Falco-shaped (`time`, `rule`, `priority`, `output`,
//! `output_fields`, `tags`, `source`, `hostname`) so existing pipelines accept
//! it, plus `mcp` and `process` objects. [`render_text`] is the one-line form
//! for people.
mod model;
mod text;

pub use model::{Alert, AlertMcp, AlertProcess, Ancestor, hostname};
pub use text::render_text;
