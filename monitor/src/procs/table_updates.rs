//! The process table kept in step with the kernel's records: a process
//! first seen in a record is read from procfs, a fork copies its parent, an
//! exec replaces the command line, and untagged processes that are gone are
//! pruned (the kernel reports exits of tagged processes only). Exits of
//! tagged processes are removed by the tracker once their event is made.
use super::{
    cgroups, scan,
    table::{ProcInfo, ProcessTable},
};
use crate::decode::Header;

impl ProcessTable {
    /// The table entry for the record's process, read from procfs if unknown.
    pub fn proc_info(&mut self, header: &Header) -> &ProcInfo {
        if self.get(header.tgid).is_none() {
            let info = scan::read_process(header.tgid).unwrap_or_else(|| ProcInfo {
                pid: header.tgid,
                ppid: header.ppid,
                comm: header.comm.clone(),
                uid: header.uid,
                gid: header.gid,
                ..Default::default()
            });
            self.upsert(ProcInfo {
                server_id: header.server_id,
                ..info
            });
        }
        let p = self.get_mut(header.tgid).expect("inserted above");
        if header.ppid != 0 {
            p.ppid = header.ppid;
        }
        // A process can rename itself (npx becomes "npm exec …"): keep the
        // name the kernel reports now, as proc.name and its children's pname.
        if !header.comm.is_empty() && p.comm != header.comm {
            p.comm.clone_from(&header.comm);
        }
        p.server_id = header.server_id;
        p
    }

    /// A fork copies the parent's entry (refreshed from the record) to the
    /// child, with a start time not yet known.
    pub fn record_fork(&mut self, header: &Header, child_tgid: u32) {
        let mut child = self.proc_info(header).clone();
        child.pid = child_tgid;
        child.ppid = header.tgid;
        child.start_time = 0;
        child.server_id = header.server_id;
        self.upsert(child);
    }

    /// An exec replaces the process's name, executable, command line, cwd
    /// and container; what the record does not tell is kept.
    pub fn record_exec(&mut self, header: &Header, filename: &str, argv: Vec<String>) {
        let exepath = if filename.starts_with('/') {
            filename.to_owned()
        } else {
            std::fs::read_link(format!("/proc/{}/exe", header.tgid))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| filename.to_owned())
        };
        let previous = self.get(header.tgid).cloned().unwrap_or_default();
        self.upsert(ProcInfo {
            pid: header.tgid,
            ppid: if header.ppid != 0 {
                header.ppid
            } else {
                previous.ppid
            },
            comm: header.comm.clone(),
            exepath,
            argv: argv.into(),
            cwd: scan::cwd(header.tgid).unwrap_or(previous.cwd),
            uid: header.uid,
            gid: header.gid,
            start_time: previous.start_time,
            server_id: header.server_id,
            container_id: cgroups::container_of(&cgroups::cgroup_paths(header.tgid)),
        });
    }

    /// Forgets untagged processes that no longer exist (the kernel reports exits of
    /// tagged processes only).
    pub fn prune(&mut self) {
        let gone: Vec<u32> = self
            .pids()
            .filter(|pid| {
                self.get(*pid).is_some_and(|p| p.server_id == 0)
                    && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            })
            .collect();
        for pid in gone {
            self.remove(pid);
        }
    }
}
