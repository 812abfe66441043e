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
        argv: read_argv(pid).into(),
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

/// The argument vector of `pid`, at most as much of it as the kernel
/// programs copy at an exec (`ARGS_LEN` bytes): a process's command line is
/// its own to make huge, and every alert about it would carry it.
pub fn read_argv(pid: u32) -> Vec<String> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    let read = std::fs::File::open(format!("/proc/{pid}/cmdline")).and_then(|f| {
        f.take(monitor_common::ARGS_LEN as u64)
            .read_to_end(&mut bytes)
    });
    if read.is_err() {
        return Vec::new();
    }
    if bytes.last() == Some(&0) {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
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

    #[test]
    fn a_huge_command_line_is_cut_where_the_kernel_cuts_it() {
        let long = "x".repeat(100_000);
        let mut child = std::process::Command::new("sh")
            // Two commands: the shell does not exec the last one in its place.
            .args(["-c", "sleep 5; true", "sh", &long, "tail"])
            .spawn()
            .unwrap();
        // The exec may still be setting up the new image's arguments.
        let started = std::time::Instant::now();
        let mut argv = read_argv(child.id());
        while argv.is_empty() && started.elapsed() < std::time::Duration::from_secs(2) {
            std::thread::sleep(std::time::Duration::from_millis(5));
            argv = read_argv(child.id());
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(argv[..4], ["sh", "-c", "sleep 5; true", "sh"]);
        assert_eq!(argv.len(), 5, "the tail argument is beyond the cut");
        let bytes = argv.iter().map(String::len).sum::<usize>() + argv.len() - 1;
        assert_eq!(bytes, monitor_common::ARGS_LEN);
    }
}
