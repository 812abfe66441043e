//! The MCP side of a server: its JSON-RPC conversation with the AI host
//! ([`jsonrpc`] frames and reduces it, [`conversation`] follows it per
//! server and attributes events to the calls in flight).
pub mod calls;
pub mod conversation;
pub mod jsonrpc;

/// Told of each `tools/list` answer a server gives.
pub trait ToolsListObserver {
    /// `result` is the response's `result` object (`{"tools": […]}`);
    /// `time_ns` is when it was read, in nanoseconds since the Unix epoch.
    fn on_tools_list(
        &mut self,
        server_name: &str,
        server_command: &str,
        result: &serde_json::Value,
        time_ns: u64,
    );
}

/// An observer that does nothing with the tool lists.
#[derive(Default)]
pub struct IgnoreToolsLists;

impl ToolsListObserver for IgnoreToolsLists {
    fn on_tools_list(&mut self, _: &str, _: &str, _: &serde_json::Value, _: u64) {}
}
