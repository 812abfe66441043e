//! Reading processes from procfs: the start-up scan and look-ups of processes
//! the kernel told us about before we knew them.
use procfs::process::Process;

use super::table::{ProcInfo, ProcessTable};

/// Everything procfs says about `pid`, or `None` if it is gone or unreadable.
pub fn read_process(pid: u32) -> Option<ProcInfo> {
    let proc_ = Process::new(pid as i32).ok()?;
    let stat = proc_.stat().ok()?;
    let status = proc_.status().ok();
    Some(ProcInfo {
        pid,
        ppid: stat.ppid.max(0) as u32,
        comm: stat.comm.clone(),
        exepath: proc_
            .exe()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        argv: proc_.cmdline().unwrap_or_default(),
        cwd: proc_
            .cwd()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        uid: status.as_ref().map(|s| s.euid).unwrap_or(0),
        gid: status.as_ref().map(|s| s.egid).unwrap_or(0),
        start_time: stat.starttime,
        server_id: 0,
        container_id: super::cgroups::container_of(&super::cgroups::cgroup_paths(pid)),
    })
}

/// The start time of `pid` now, to detect pid reuse.
pub fn start_time(pid: u32) -> Option<u64> {
    Process::new(pid as i32)
        .ok()?
        .stat()
        .ok()
        .map(|s| s.starttime)
}

/// The current cwd of `pid`.
pub fn cwd(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/cwd"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The path an open fd of `pid` points to.
pub fn fd_path(pid: u32, fd: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// A table of every process running now.
pub fn scan_all() -> ProcessTable {
    let mut table = ProcessTable::default();
    if let Ok(all) = procfs::process::all_processes() {
        for p in all.flatten() {
            if let Some(info) = read_process(p.pid as u32) {
                table.upsert(info);
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let info = read_process(me).expect("own /proc entry");
        assert_eq!(info.pid, me);
        assert!(info.start_time > 0);
        assert!(!info.argv.is_empty());
        assert_eq!(start_time(me), Some(info.start_time));
        let table = scan_all();
        assert!(table.get(me).is_some());
        assert!(table.get(info.ppid).is_some() || info.ppid == 0);
    }
}
