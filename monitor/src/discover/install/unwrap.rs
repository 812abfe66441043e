//! Uninstall in one file: restore the backup when the file is still what
//! install wrote, else take the wrapper off each entry in place.
use std::fs;
use std::path::Path;

use serde_json::Value;

use super::document::{Doc, NodeKind, format_error, parse_doc};
use super::edits::{Edit, edited, remove_member_edit};
use super::entries::{Entry, command_args, entries, install_wrapped, is_wrapped, value_at_mut};
use super::files::{backup_path, checksum_path, load, read_checksum, sha256_hex, write_atomic};
use super::report::FileReport;
use super::targets::{InstallOptions, Kind, Target, selected, syntax_of};

pub(super) fn uninstall_file(
    t: &Target,
    opts: &InstallOptions,
    monitor: &str,
) -> Option<FileReport> {
    let mut r = FileReport::of(t);
    let (real, bytes, text, meta) = match load(&t.path) {
        Ok(None) => {
            let backup = backup_path(&t.path);
            if backup.exists() {
                r.notes.push(format!(
                    "the file is gone; its backup is left at {}",
                    backup.display()
                ));
                return Some(r);
            }
            return None;
        }
        Ok(Some(l)) => (l.real, l.bytes, l.text, l.meta),
        Err(m) => {
            r.error = Some(m);
            return Some(r);
        }
    };
    let syntax = syntax_of(t.kind)?;
    let backup = backup_path(&real);
    let backup_bytes = fs::read(&backup).ok();
    let untouched =
        backup_bytes.is_some() && read_checksum(&real).is_some_and(|c| c == sha256_hex(&bytes));
    // The whole file is restored only when every server is to be unwrapped.
    if untouched && opts.servers.is_empty() {
        if let Ok(doc) = parse_doc(&text, syntax) {
            for e in entries(t.kind, &doc) {
                if install_wrapped(e.value, monitor).is_some() {
                    r.changed.push(e.name.clone());
                }
            }
        }
        r.rewritten = true;
        r.notes.push("restored from the backup".into());
        if opts.dry_run {
            return Some(r);
        }
        let restored = backup_bytes.unwrap_or_default();
        if let Err(e) = write_atomic(&real, &restored, &meta, Some(&bytes)) {
            r.changed.clear();
            r.rewritten = false;
            r.error = Some(format!("{e:#}"));
            return Some(r);
        }
        remove_backup(&real, &mut r);
        return Some(r);
    }
    let doc = match parse_doc(&text, syntax) {
        Ok(d) => d,
        Err(e) => {
            r.error = Some(format!("{}; not changed", format_error(&e)));
            if backup_bytes.is_some() {
                r.notes.push(format!("backup kept: {}", backup.display()));
            }
            return Some(r);
        }
    };
    let original = backup_bytes
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| parse_doc(s, syntax).ok());
    let list = entries(t.kind, &doc);
    let mut edits = Vec::new();
    let mut expected = doc.value.clone();
    let mut remaining = 0usize;
    for e in &list {
        let Some(k) = install_wrapped(e.value, monitor) else {
            if is_wrapped(e.value, monitor) && selected(opts, &e.name) {
                r.skipped
                    .push((e.name.clone(), "not wrapped by install: left as is".into()));
            }
            continue;
        };
        if !selected(opts, &e.name) {
            remaining += 1;
            continue;
        }
        match unwrap_edits(&doc, e, k, original.as_ref(), t.kind) {
            Ok((mut more, (cmd, args))) => {
                edits.append(&mut more);
                if let Some(Value::Object(obj)) = value_at_mut(&mut expected, &e.path) {
                    obj.insert("command".into(), cmd);
                    match args {
                        Some(a) => obj.insert("args".into(), a),
                        None => obj.remove("args"),
                    };
                }
                r.changed.push(e.name.clone());
            }
            Err(m) => {
                remaining += 1;
                r.skipped.push((e.name.clone(), m));
            }
        }
    }
    if edits.is_empty() && backup_bytes.is_none() {
        return (!r.skipped.is_empty()).then_some(r);
    }
    let new_bytes = match edited(&doc, edits, syntax, &expected) {
        Ok(b) => b,
        Err(m) => {
            r.changed.clear();
            r.error = Some(m);
            return Some(r);
        }
    };
    if backup_bytes.is_none() {
        r.notes
            .push("no backup from install: unwrapped in place".into());
    } else if untouched {
        r.notes.push("unwrapped in place".into());
    } else if !r.changed.is_empty() {
        r.notes
            .push("edited since install: unwrapped in place, other edits kept".into());
    }
    r.rewritten = new_bytes != bytes;
    if opts.dry_run {
        return Some(r);
    }
    if r.rewritten
        && let Err(e) = write_atomic(&real, &new_bytes, &meta, Some(&bytes))
    {
        r.changed.clear();
        r.rewritten = false;
        r.error = Some(format!("{e:#}"));
        return Some(r);
    }
    if backup_bytes.is_some() {
        if remaining == 0 {
            remove_backup(&real, &mut r);
            r.notes.push("backup removed".into());
        } else {
            if untouched {
                let sum = format!("{}\n", sha256_hex(&new_bytes));
                if let Err(e) = write_atomic(&checksum_path(&real), sum.as_bytes(), &meta, None) {
                    r.error = Some(format!("updating the checksum: {e:#}"));
                }
            }
            r.notes.push(format!(
                "backup kept ({remaining} wrapped servers remain): {}",
                backup.display()
            ));
        }
    }
    Some(r)
}

fn remove_backup(real: &Path, r: &mut FileReport) {
    let backup = backup_path(real);
    if let Err(e) = fs::remove_file(&backup)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        r.error = Some(format!("removing {}: {e}", backup.display()));
    }
    let _ = fs::remove_file(checksum_path(real));
}

/// The new `command` and `args` (`None`: no args key) of an unwrapped entry.
type Unwrapped = (Value, Option<Value>);

/// Edits that take the wrapper off an entry: back to the backup's own text
/// when the backup has this server with the same command line, else to the
/// command and arguments after `--`.
fn unwrap_edits(
    doc: &Doc,
    e: &Entry<'_>,
    k: usize,
    original: Option<&Doc>,
    kind: Kind,
) -> Result<(Vec<Edit>, Unwrapped), String> {
    let node = e.node;
    let cmd = node.member("command").ok_or("no command")?;
    let args_m = node.member("args").ok_or("no args")?;
    let NodeKind::Array(items) = &args_m.value.kind else {
        return Err("\"args\" is not a list".into());
    };
    let (_, args) = command_args(e.value);
    let inner = &args[k..];
    if let Some(orig) = original {
        let same = entries(kind, orig)
            .into_iter()
            .find(|o| o.container == e.container && o.name == e.name);
        if let Some(o) = same {
            let (ocmd, oargs) = command_args(o.value);
            let mut line = vec![Value::String(ocmd.unwrap_or_default().to_owned())];
            line.extend(oargs.iter().cloned());
            let ocmd_m = o.node.member("command");
            if ocmd.is_some()
                && line == inner
                && let Some(ocmd_m) = ocmd_m
            {
                let mut edits = vec![Edit {
                    start: cmd.value.start,
                    end: cmd.value.end,
                    with: orig.text[ocmd_m.value.start..ocmd_m.value.end].to_owned(),
                }];
                let cmd_v = o.value.get("command").cloned().unwrap_or(Value::Null);
                let args_v = o.value.get("args").cloned();
                match o.node.member("args") {
                    Some(oa) => edits.push(Edit {
                        start: args_m.value.start,
                        end: args_m.value.end,
                        with: orig.text[oa.value.start..oa.value.end].to_owned(),
                    }),
                    None => edits.push(remove_member_edit(doc, node, args_m)),
                }
                return Ok((edits, (cmd_v, args_v)));
            }
        }
    }
    let cmd_item = items.get(k).ok_or("nothing after \"--\"")?;
    let mut edits = vec![Edit {
        start: cmd.value.start,
        end: cmd.value.end,
        with: doc.text[cmd_item.start..cmd_item.end].to_owned(),
    }];
    match items.get(k + 1) {
        Some(next) => edits.push(Edit {
            start: items[0].start,
            end: next.start,
            with: String::new(),
        }),
        None => edits.push(Edit {
            start: args_m.value.start,
            end: args_m.value.end,
            with: "[]".into(),
        }),
    }
    Ok((
        edits,
        (inner[0].clone(), Some(Value::Array(inner[1..].to_vec()))),
    ))
}
