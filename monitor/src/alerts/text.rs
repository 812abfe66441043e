use super::Alert;
use crate::priority::Priority;

/// One line for a terminal: time, priority, server, the rule's output, the rule
/// name; coloured by priority when `colour` is set.
pub fn render_text(alert: &Alert, colour: bool) -> String {
    let time = alert.time.get(11..23).unwrap_or(&alert.time);
    let server = alert.mcp.server.as_deref().unwrap_or("-");
    // The tool call it happened in, when the conversation is seen.
    let server = match alert.mcp.conversation.label() {
        Some(call) => format!("{server} {}", call.replace(char::is_control, " ")),
        None => server.to_owned(),
    };
    let priority = alert.priority.as_str().to_uppercase();
    // The output is the rule author's text: keep it on one line.
    let output: String = alert
        .output
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    // What the rule's action did (`[killed]`), or would do in dry run.
    let mark = alert.action_result.as_ref().or(alert.action.as_ref());
    if !colour {
        let mark = mark.map(|m| format!(" [{m}]")).unwrap_or_default();
        return format!(
            "{time} {priority:<8} [{server}] {output}{mark} ({})",
            alert.rule
        );
    }
    let mark = mark
        .map(|m| {
            let code = if m == "killed" || m == "denied" {
                "1;35"
            } else {
                "35"
            };
            format!(" \x1b[{code}m[{m}]\x1b[0m")
        })
        .unwrap_or_default();
    let code = match alert.priority {
        Priority::Emergency | Priority::Alert | Priority::Critical => "1;31",
        Priority::Error => "31",
        Priority::Warning => "33",
        Priority::Notice => "36",
        Priority::Informational | Priority::Debug => "2",
    };
    format!(
        "\x1b[2m{time}\x1b[0m \x1b[{code}m{priority:<8}\x1b[0m \x1b[1m[{server}]\x1b[0m {output}{mark} \x1b[2m({})\x1b[0m",
        alert.rule
    )
}

/// A tool call's record (`mcp-monitor calls`): a line for the call — time,
/// server, tool and arguments, outcome, duration — then one indented line
/// per kind of thing it did in the kernel.
pub fn render_call(alert: &Alert, colour: bool) -> String {
    let f = &alert.output_fields;
    let text = |k: &str| {
        f.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .replace(char::is_control, " ")
    };
    let time = alert.time.get(11..23).unwrap_or(&alert.time);
    let server = alert.mcp.server.as_deref().unwrap_or("-");
    let tool = match text("mcp.tool.name") {
        t if t.is_empty() => text("mcp.method"),
        t => t,
    };
    let outcome = text("call.outcome");
    let duration = f
        .get("call.duration_ms")
        .and_then(|v| v.as_f64())
        .map(|ms| format!(" {ms:.1} ms"))
        .unwrap_or_default();
    let error = match text("call.error") {
        e if e.is_empty() => e,
        e => format!(": {e}"),
    };
    let (dim, bold, off, good, bad) = if colour {
        ("\x1b[2m", "\x1b[1m", "\x1b[0m", "\x1b[32m", "\x1b[31m")
    } else {
        ("", "", "", "", "")
    };
    let hue = if outcome == "ok" { good } else { bad };
    let mut out = format!(
        "{dim}{time}{off} {bold}[{server}] {tool}{off} {} {dim}#{}{off} {hue}{outcome}{error}{off}{duration}",
        text("mcp.tool.args"),
        text("mcp.tool.call_id"),
    );
    for (label, key) in [
        ("read", "call.files_read"),
        ("wrote", "call.files_written"),
        ("connect", "call.connects"),
        ("exec", "call.execs"),
        ("ALERT", "call.alerts"),
    ] {
        let items = f.get(key).and_then(|v| v.as_array());
        for item in items.into_iter().flatten().filter_map(|v| v.as_str()) {
            let item = item.replace(char::is_control, " ");
            let (on, end) = if label == "ALERT" {
                (bad, off)
            } else {
                ("", "")
            };
            out.push_str(&format!("\n    {on}{label:<7}{end} {item}"));
        }
    }
    if let Some(n) = f
        .get("call.left_out")
        .and_then(|v| v.as_u64())
        .filter(|&n| n > 0)
    {
        out.push_str(&format!("\n    {dim}… and {n} more{off}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::{AlertMcp, AlertProcess};

    #[test]
    fn one_line_with_and_without_colour() {
        let a = Alert {
            time: "2026-11-25T06:14:03.123456789Z".into(),
            rule: "Read of SSH key".into(),
            priority: Priority::Critical,
            output: "node read /home/u/.ssh/id_rsa\n(injected)".into(),
            output_fields: Default::default(),
            tags: vec![],
            source: "mcp-monitor".into(),
            hostname: "h".into(),
            mcp: AlertMcp {
                server: Some("fs".into()),
                host: None,
                tag_source: None,
                root_pid: None,
                roots: vec![],
                conversation: Default::default(),
            },
            process: Some(AlertProcess {
                pid: 1,
                ppid: 0,
                name: "node".into(),
                exepath: String::new(),
                cmdline: String::new(),
                uid: 0,
                ancestors: vec![],
            }),
            action: None,
            action_result: None,
            action_latency: None,
        };
        assert_eq!(
            render_text(&a, false),
            "06:14:03.123 CRITICAL [fs] node read /home/u/.ssh/id_rsa (injected) (Read of SSH key)"
        );
        let c = render_text(&a, true);
        assert!(c.contains("\x1b[1;31mCRITICAL"));
        assert!(!c.contains('\n'));
        // An action's result is shown before the rule name; in dry run, the
        // word for what would have been done.
        let mut acted = a.clone();
        acted.action = Some("kill".into());
        acted.action_result = Some("killed".into());
        assert!(
            render_text(&acted, false).ends_with("(injected) [killed] (Read of SSH key)"),
            "{}",
            render_text(&acted, false)
        );
        assert!(render_text(&acted, true).contains("[killed]"));
        acted.action = Some("would-kill".into());
        acted.action_result = None;
        assert!(render_text(&acted, false).contains(" [would-kill] ("));
        // Inside a tool call: the tool's name beside the server's.
        let mut a = a;
        a.mcp.conversation.tool.name = vec!["read_text_file".into()];
        a.mcp.conversation.method = vec!["tools/call".into()];
        assert_eq!(
            render_text(&a, false),
            "06:14:03.123 CRITICAL [fs read_text_file] node read /home/u/.ssh/id_rsa (injected) (Read of SSH key)"
        );
        a.mcp.conversation.tool.name.clear();
        a.mcp.conversation.method = vec!["resources/read".into()];
        assert!(render_text(&a, false).contains("[fs resources/read]"));
    }
}
