//! Making the path argument of an open absolute, and saying how it was done.
//!
//! The kernel's view comes first: the file the call opened (symlinks followed,
//! so a link inside a server's root cannot hide a read outside it), or for a
//! failed call with a relative argument, the directory it started from. Only
//! when the kernel gave neither is the cwd or dirfd read from procfs, when the
//! record is processed (a process that changed directory in between can
//! mislead that). `fd.name_source` says which way was used.
use monitor_common::AT_FDCWD;

use crate::{decode::KernelPath, procs::scan};

/// `fd.name` of an open and its `fd.name_source`: `file` (the file the kernel
/// opened), `cwd`/`dirfd` (the argument joined with the directory the kernel
/// named at the call), `absolute` (the argument, absolute already),
/// `proc-cwd`/`proc-dirfd` (joined with the directory procfs shows now), or
/// `raw` (the argument as given: it could not be made absolute or read).
pub fn open_name(
    pid: u32,
    dirfd: i32,
    raw: &str,
    known_cwd: &str,
    kernel: KernelPath,
) -> (String, &'static str) {
    match kernel {
        KernelPath::File(path) => (path, "file"),
        // Unreadable (or empty, which no open accepts).
        _ if raw.is_empty() => (String::new(), "raw"),
        KernelPath::Base(dir) if !raw.starts_with('/') => (
            normalize(&format!("{dir}/{raw}")),
            if dirfd == AT_FDCWD { "cwd" } else { "dirfd" },
        ),
        _ => resolve(pid, dirfd, raw, known_cwd),
    }
}

/// User space's fallback: the absolute, lexically normalised path and how it
/// was obtained: `absolute`, `proc-cwd`, `proc-dirfd` or `raw`.
pub fn resolve(pid: u32, dirfd: i32, raw: &str, known_cwd: &str) -> (String, &'static str) {
    if raw.starts_with('/') {
        return (normalize(raw), "absolute");
    }
    if dirfd == AT_FDCWD {
        let cwd = scan::cwd(pid).unwrap_or_else(|| known_cwd.to_owned());
        if cwd.starts_with('/') {
            return (normalize(&format!("{cwd}/{raw}")), "proc-cwd");
        }
    } else if let Some(dir) = scan::fd_path(pid, dirfd).filter(|d| d.starts_with('/')) {
        return (normalize(&format!("{dir}/{raw}")), "proc-dirfd");
    }
    (raw.to_owned(), "raw")
}

/// Directories as the kernel will name the files in them: made absolute
/// against `cwd`, normalised, and with symlinks resolved when they exist (a
/// root given as a link would otherwise never contain the files opened in it,
/// since `fd.name` is the opened file's real path).
pub fn real_dirs(dirs: Vec<String>, cwd: &str) -> Vec<String> {
    dirs.into_iter()
        .map(|d| {
            let abs = if d.starts_with('/') {
                normalize(&d)
            } else {
                normalize(&format!("{cwd}/{d}"))
            };
            std::fs::canonicalize(&abs)
                .ok()
                .and_then(|p| p.to_str().map(str::to_owned))
                .unwrap_or(abs)
        })
        .collect()
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
        assert_eq!(
            (p.as_str(), how),
            (cwd.join("y").to_str().unwrap(), "proc-cwd")
        );
        let dir = std::fs::File::open("/usr").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&dir);
        assert_eq!(
            resolve(me, fd, "bin/../lib", ""),
            ("/usr/lib".into(), "proc-dirfd")
        );
        assert_eq!(resolve(me, 9999, "rel", ""), ("rel".into(), "raw"));
        assert_eq!(
            resolve(u32::MAX - 1, AT_FDCWD, "rel", "/known"),
            ("/known/rel".into(), "proc-cwd")
        );
    }

    #[test]
    fn roots_are_real_absolute_directories() {
        let dir = std::env::temp_dir().join(format!("mcpmon-roots-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("real")).unwrap();
        let _ = std::fs::remove_file(dir.join("link"));
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
        let real = std::fs::canonicalize(dir.join("real")).unwrap();
        let real = real.to_str().unwrap();
        let base = dir.to_str().unwrap();
        assert_eq!(
            real_dirs(vec!["link".into(), format!("{base}/link/../real")], base),
            [real, real]
        );
        assert_eq!(
            real_dirs(vec!["/no/such/./dir/..".into()], "/"),
            ["/no/such"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_kernels_view_comes_first() {
        let me = std::process::id();
        let file = KernelPath::File("/home/u/.ssh/id_rsa".into());
        assert_eq!(
            open_name(me, AT_FDCWD, "root/link", "/srv", file),
            ("/home/u/.ssh/id_rsa".into(), "file")
        );
        let base = || KernelPath::Base("/srv/root".into());
        assert_eq!(
            open_name(me, AT_FDCWD, "a/../b", "/", base()),
            ("/srv/root/b".into(), "cwd")
        );
        assert_eq!(
            open_name(me, 5, "b", "/", base()),
            ("/srv/root/b".into(), "dirfd")
        );
        assert_eq!(
            open_name(me, AT_FDCWD, "/etc//x", "/", KernelPath::None),
            ("/etc/x".into(), "absolute")
        );
        assert_eq!(
            open_name(me, 9999, "rel", "/", KernelPath::Incomplete),
            ("rel".into(), "raw")
        );
    }
}
