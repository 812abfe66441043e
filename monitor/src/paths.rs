//! Making the path argument of an open absolute, and saying how it was done.
//!
//! This is user space's view, taken when the record is processed: the cwd or
//! dirfd is read from procfs then, so a process that changed directory in
//! between can mislead it. `fd.name_source` says which way was used.
use crate::procs::scan;

/// `AT_FDCWD`.
const AT_FDCWD: i32 = -100;

/// Returns the absolute, lexically normalised path and how it was obtained:
/// `absolute`, `cwd`, `dirfd` or `raw` (could not be made absolute).
pub fn resolve(pid: u32, dirfd: i32, raw: &str, known_cwd: &str) -> (String, &'static str) {
    if raw.starts_with('/') {
        return (normalize(raw), "absolute");
    }
    if dirfd == AT_FDCWD {
        let cwd = scan::cwd(pid).unwrap_or_else(|| known_cwd.to_owned());
        if cwd.starts_with('/') {
            return (normalize(&format!("{cwd}/{raw}")), "cwd");
        }
    } else if let Some(dir) = scan::fd_path(pid, dirfd).filter(|d| d.starts_with('/')) {
        return (normalize(&format!("{dir}/{raw}")), "dirfd");
    }
    (raw.to_owned(), "raw")
}

/// Collapses `//`, `.` and `..` without touching the filesystem. `..` above the
/// root stays at the root, as the kernel does.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = String::with_capacity(path.len());
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalize("/a/b/../c/./d//e"), "/a/c/d/e");
        assert_eq!(normalize("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize("/tmp/"), "/tmp");
        assert_eq!(
            normalize("/home/u/proj/../../u/.ssh/id_rsa"),
            "/home/u/.ssh/id_rsa"
        );
    }

    #[test]
    fn resolution_against_cwd_and_dirfd() {
        let me = std::process::id();
        assert_eq!(
            resolve(me, AT_FDCWD, "/etc//passwd", ""),
            ("/etc/passwd".into(), "absolute")
        );
        let cwd = std::env::current_dir().unwrap();
        let (p, how) = resolve(me, AT_FDCWD, "x/../y", "");
        assert_eq!((p.as_str(), how), (cwd.join("y").to_str().unwrap(), "cwd"));
        let dir = std::fs::File::open("/usr").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&dir);
        assert_eq!(
            resolve(me, fd, "bin/../lib", ""),
            ("/usr/lib".into(), "dirfd")
        );
        assert_eq!(resolve(me, 9999, "rel", ""), ("rel".into(), "raw"));
        assert_eq!(
            resolve(u32::MAX - 1, AT_FDCWD, "rel", "/known"),
            ("/known/rel".into(), "cwd")
        );
    }
}
