//! What every event of a process carries alike: its command line joined
//! (`proc.cmdline`, `proc.args`) and its ancestors (`proc.aname`,
//! `proc.apid`). They are made once per process and shared with its events;
//! before each use they are checked against the table (the same argv, the
//! same name, the same chain of ancestors with the same names), so a rename,
//! an exec or a changed parent makes them again.
use std::{collections::HashMap, sync::Arc};

use crate::procs::table::{ProcInfo, ProcessTable};

/// The shared parts of one process's events.
#[derive(Clone, Default)]
pub struct Shared {
    pub cmdline: Arc<str>,
    pub args: Arc<str>,
    pub anames: Arc<[String]>,
    pub apids: Arc<[u32]>,
}

/// The command line as joined for one argv and name.
struct Joined {
    /// The argv it was joined from (the table's, compared by pointer).
    argv: Arc<[String]>,
    /// The name it starts with (the record's comm).
    comm: String,
    cmdline: Arc<str>,
    args: Arc<str>,
}

struct Entry {
    joined: Joined,
    anames: Arc<[String]>,
    apids: Arc<[u32]>,
}

/// The shared parts by pid.
#[derive(Default)]
pub struct SharedByProcess {
    entries: HashMap<u32, Entry>,
}

impl SharedByProcess {
    /// The shared parts of the events of `p`, named `comm` by the record.
    pub fn of(&mut self, table: &ProcessTable, p: &ProcInfo, comm: &str) -> Shared {
        let entry = self.entries.entry(p.pid).or_insert_with(|| Entry {
            joined: join(&p.argv, comm),
            anames: Arc::default(),
            apids: Arc::default(),
        });
        if !Arc::ptr_eq(&entry.joined.argv, &p.argv) || entry.joined.comm != comm {
            entry.joined = join(&p.argv, comm);
        }
        if !same_ancestors(table, p.pid, &entry.anames, &entry.apids) {
            let ancestors = table.ancestors(p.pid);
            entry.anames = ancestors.iter().map(|a| a.comm.clone()).collect();
            entry.apids = ancestors.iter().map(|a| a.pid).collect();
        }
        Shared {
            cmdline: entry.joined.cmdline.clone(),
            args: entry.joined.args.clone(),
            anames: entry.anames.clone(),
            apids: entry.apids.clone(),
        }
    }

    /// Forgets an exited process.
    pub fn forget(&mut self, pid: u32) {
        self.entries.remove(&pid);
    }

    /// Forgets the processes the table no longer has (their exit was not
    /// seen, or they left the table untagged).
    pub fn retain_known(&mut self, table: &ProcessTable) {
        self.entries.retain(|pid, _| table.get(*pid).is_some());
    }
}

/// `proc.cmdline` is the name followed by the arguments after argv[0];
/// `proc.args` the arguments alone.
fn join(argv: &Arc<[String]>, comm: &str) -> Joined {
    let args = argv.get(1..).unwrap_or_default().join(" ");
    let cmdline = if argv.len() > 1 {
        format!("{comm} {args}")
    } else {
        comm.to_owned()
    };
    Joined {
        argv: argv.clone(),
        comm: comm.to_owned(),
        cmdline: cmdline.into(),
        args: args.into(),
    }
}

/// The table's ancestors of `pid` are still `apids`, named `anames`.
fn same_ancestors(table: &ProcessTable, pid: u32, anames: &[String], apids: &[u32]) -> bool {
    let mut n = 0;
    for a in table.ancestors_iter(pid) {
        if apids.get(n) != Some(&a.pid) || anames.get(n) != Some(&a.comm) {
            return false;
        }
        n += 1;
    }
    n == apids.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, ppid: u32, comm: &str, argv: &[&str]) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            comm: comm.into(),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn shared_parts_are_made_again_when_what_they_come_from_changes() {
        let mut table = ProcessTable::default();
        table.upsert(p(1, 0, "init", &["init"]));
        table.upsert(p(10, 1, "npx", &["npx", "-y", "fs"]));
        table.upsert(p(20, 10, "node", &["node", "srv.js", "/srv"]));
        let mut shared = SharedByProcess::default();
        let of = |shared: &mut SharedByProcess, table: &ProcessTable, comm: &str| {
            shared.of(table, table.get(20).unwrap(), comm)
        };
        let first = of(&mut shared, &table, "node");
        assert_eq!(&*first.cmdline, "node srv.js /srv");
        assert_eq!(&*first.args, "srv.js /srv");
        assert_eq!(&first.anames[..], ["npx", "init"]);
        assert_eq!(&first.apids[..], [10, 1]);
        // Unchanged: the same allocations.
        let again = of(&mut shared, &table, "node");
        assert!(Arc::ptr_eq(&first.cmdline, &again.cmdline));
        assert!(Arc::ptr_eq(&first.anames, &again.anames));
        // The record names the process otherwise.
        assert_eq!(
            &*of(&mut shared, &table, "MainThread").cmdline,
            "MainThread srv.js /srv"
        );
        // An ancestor renamed itself.
        table.get_mut(10).unwrap().comm = "npm exec fs".into();
        let renamed = of(&mut shared, &table, "node");
        assert_eq!(&renamed.anames[..], ["npm exec fs", "init"]);
        assert_eq!(&renamed.apids[..], [10, 1]);
        // An exec: a new argv.
        table.upsert(p(20, 10, "sh", &["sh"]));
        let execed = of(&mut shared, &table, "sh");
        assert_eq!(&*execed.cmdline, "sh");
        assert_eq!(&*execed.args, "");
        // Reparented to init when its parent went.
        table.remove(10);
        table.get_mut(20).unwrap().ppid = 1;
        assert_eq!(&of(&mut shared, &table, "sh").apids[..], [1]);
        shared.retain_known(&table);
        assert_eq!(shared.entries.len(), 1);
        table.remove(20);
        shared.retain_known(&table);
        assert!(shared.entries.is_empty());
    }
}
