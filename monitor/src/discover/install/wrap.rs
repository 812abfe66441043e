//! Install in one file: wrap its selected stdio servers, back the file up
//! before its first change, and record the checksum of what was written.
use serde_json::Value;

use super::document::{format_error, parse_doc};
use super::edits::{edited, quote, wrap_edits};
use super::entries::{command_args, entries, skip_reason, value_at_mut};
use super::files::{backup_path, load, write_install};
use super::report::FileReport;
use super::targets::{InstallOptions, Target, selected, syntax_of};
use crate::discover::formats::{FormatError, parse_yaml};

/// Servers named in a YAML file (reported as not supported).
fn yaml_servers(text: &str) -> Result<Vec<String>, FormatError> {
    let v = parse_yaml(text)?;
    Ok(match v.get("mcpServers") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect(),
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    })
}

pub(super) fn install_file(t: &Target, opts: &InstallOptions, monitor: &str) -> Option<FileReport> {
    let mut r = FileReport::of(t);
    let (real, bytes, text, meta) = match load(&t.path) {
        Ok(None) => return None,
        Ok(Some(l)) => (l.real, l.bytes, l.text, l.meta),
        Err(m) => {
            r.error = Some(m);
            return Some(r);
        }
    };
    let Some(syntax) = syntax_of(t.kind) else {
        let names = match yaml_servers(&text) {
            Ok(n) => n,
            Err(e) => {
                r.notes.push(format!("{}; not changed", format_error(&e)));
                return Some(r);
            }
        };
        if names.is_empty() {
            return None;
        }
        for n in names.into_iter().filter(|n| selected(opts, n)) {
            r.skipped
                .push((n, "YAML configs are not supported yet".into()));
        }
        return Some(r);
    };
    let doc = match parse_doc(&text, syntax) {
        Ok(d) => d,
        Err(e) => {
            r.error = Some(format!("{}; not changed", format_error(&e)));
            return Some(r);
        }
    };
    let list = entries(t.kind, &doc);
    if list.is_empty() {
        return None;
    }
    if !list.iter().any(|e| selected(opts, &e.name)) {
        return None;
    }
    let mut edits = Vec::new();
    let mut expected = doc.value.clone();
    for e in &list {
        if !selected(opts, &e.name) {
            continue;
        }
        if let Some(why) = skip_reason(t, e, monitor) {
            r.skipped.push((e.name.clone(), why));
            continue;
        }
        let launch = ["launch", "--name", &e.name, "--host", t.host.as_str(), "--"];
        let prefix: Vec<String> = launch.iter().map(|s| quote(s)).collect();
        match wrap_edits(&doc, e.node, monitor, &prefix) {
            Ok(mut more) => edits.append(&mut more),
            Err(m) => {
                r.skipped.push((e.name.clone(), m));
                continue;
            }
        }
        if let Some(Value::Object(obj)) = value_at_mut(&mut expected, &e.path) {
            let (cmd, args) = command_args(e.value);
            let mut new_args: Vec<Value> = launch
                .iter()
                .map(|s| Value::String((*s).to_owned()))
                .collect();
            new_args.push(Value::String(cmd.unwrap_or_default().to_owned()));
            new_args.extend(args.iter().cloned());
            obj.insert("command".into(), Value::String(monitor.to_owned()));
            obj.insert("args".into(), Value::Array(new_args));
        }
        r.changed.push(e.name.clone());
    }
    if edits.is_empty() {
        return Some(r);
    }
    let new_bytes = match edited(&doc, edits, syntax, &expected) {
        Ok(b) => b,
        Err(m) => {
            r.changed.clear();
            r.error = Some(m);
            return Some(r);
        }
    };
    r.rewritten = true;
    let backup = backup_path(&real);
    let has_backup = backup.exists();
    if opts.dry_run {
        if !has_backup {
            r.notes.push(format!("backup: {}", backup.display()));
        }
        return Some(r);
    }
    if let Err(e) = write_install(&real, &bytes, &new_bytes, &meta, has_backup) {
        r.changed.clear();
        r.rewritten = false;
        r.error = Some(format!("{e:#}"));
        return Some(r);
    }
    if !has_backup {
        r.notes.push(format!("backup: {}", backup.display()));
    }
    Some(r)
}
