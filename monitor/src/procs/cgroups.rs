//! Processes by control group: servers a user names by cgroup (a container, a
//! systemd unit), and the container a process runs in (`container.id`).
//!
//! A process belongs to a watched cgroup when any of its hierarchies' paths in
//! `/proc/PID/cgroup` is that cgroup or lies below it (v2 and hybrid v1 alike).

/// The cgroup paths of `pid`, one per hierarchy (`/system.slice/x.scope`).
pub fn cgroup_paths(pid: u32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map(|text| parse_cgroup_file(&text))
        .unwrap_or_default()
}

/// The path field of each `ID:CONTROLLERS:PATH` line, without duplicates.
pub fn parse_cgroup_file(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(path) = line.splitn(3, ':').nth(2)
            && !path.is_empty()
            && !out.iter().any(|p| p == path)
        {
            out.push(path.to_owned());
        }
    }
    out
}

/// The container a cgroup path belongs to, as Falco shows it: the first 12
/// hex digits of the runtime's id (docker, podman, containerd, CRI-O).
pub fn container_id(path: &str) -> Option<String> {
    path.split('/').find_map(|part| {
        let part = part.strip_suffix(".scope").unwrap_or(part);
        let id = [
            "docker-",
            "libpod-",
            "cri-containerd-",
            "crio-",
            "containerd-",
        ]
        .iter()
        .find_map(|prefix| part.strip_prefix(prefix))
        .unwrap_or(part);
        (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id[..12].to_owned())
    })
}

/// The container of a process, from any of its hierarchies.
pub fn container_of(paths: &[String]) -> Option<String> {
    paths.iter().find_map(|p| container_id(p))
}

/// Containers started by MCP servers. A server that runs `docker run …` (or
/// podman, nerdctl) does not own the container's processes: the runtime
/// starts them outside the server's tree. A container launch by a tagged
/// process is remembered for a short while, and the first process seen in a
/// container nobody claimed yet joins that server; later processes of the same
/// container follow by its id. Without the runtime's API the pairing is by
/// time: two servers starting containers in the same instant can be swapped.
#[derive(Debug, Default)]
pub struct ContainerLaunches {
    pending: std::collections::VecDeque<(std::time::Instant, u32)>,
    owners: std::collections::HashMap<String, u32>,
}

/// How long a container launch waits for its container's first process.
const LAUNCH_WINDOW: std::time::Duration = std::time::Duration::from_secs(15);

impl ContainerLaunches {
    /// Whether `argv` starts a container (`docker run`, `podman run`, …).
    pub fn is_launch(argv: &[String]) -> bool {
        let program = argv
            .first()
            .map(|a| a.rsplit('/').next().unwrap_or(a))
            .unwrap_or("");
        matches!(program, "docker" | "podman" | "nerdctl")
            && argv
                .iter()
                .skip(1)
                .find(|a| !a.starts_with('-'))
                .is_some_and(|a| a == "run" || a == "create")
    }

    /// A tagged process of `server_id` started a container.
    pub fn launched(&mut self, server_id: u32) {
        self.pending
            .push_back((std::time::Instant::now(), server_id));
    }

    /// The server a process in `container` belongs to, claiming the oldest
    /// pending launch for a container seen for the first time.
    pub fn owner(&mut self, container: &str) -> Option<u32> {
        if let Some(id) = self.owners.get(container) {
            return Some(*id);
        }
        while let Some((at, id)) = self.pending.pop_front() {
            if at.elapsed() <= LAUNCH_WINDOW {
                self.owners.insert(container.to_owned(), id);
                return Some(id);
            }
        }
        None
    }
}

/// A cgroup the user asked to watch, and the server name for its processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchedCgroup {
    /// Relative to the hierarchy root, starting with `/`.
    pub path: String,
    pub name: String,
}

impl WatchedCgroup {
    /// From `PATH[=NAME]`; PATH is a cgroup path (`/system.slice/x.scope`) or a
    /// directory under a cgroup mount (`/sys/fs/cgroup/...`).
    pub fn parse(spec: &str) -> Result<WatchedCgroup, String> {
        let (path, name) = match spec.split_once('=') {
            Some((p, n)) if !n.is_empty() => (p, Some(n)),
            Some(_) => return Err(format!("{spec:?}: the name after '=' is empty")),
            None => (spec, None),
        };
        if !path.starts_with('/') {
            return Err(format!("{path:?}: a cgroup path starts with '/'"));
        }
        let path = strip_mount(path).trim_end_matches('/');
        let path = if path.is_empty() { "/" } else { path };
        if path == "/" {
            return Err("watching the root cgroup would tag every process".into());
        }
        let name = name.map(str::to_owned).unwrap_or_else(|| {
            container_id(path).unwrap_or_else(|| path.rsplit('/').next().unwrap_or(path).to_owned())
        });
        Ok(WatchedCgroup {
            path: path.to_owned(),
            name,
        })
    }

    /// Whether a process with these cgroup paths is in this cgroup or below.
    pub fn contains(&self, paths: &[String]) -> bool {
        paths.iter().any(|p| {
            p == &self.path
                || p.strip_prefix(&self.path)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

/// `/sys/fs/cgroup/unified/a/b` → `/a/b`: a directory of a cgroup mount
/// becomes the path `/proc/PID/cgroup` shows.
fn strip_mount(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/sys/fs/cgroup") else {
        return path;
    };
    if rest.is_empty() {
        return "/";
    }
    // Hybrid and v1 layouts mount each hierarchy in a subdirectory.
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        let (_, Some(target), Some(fstype)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if (fstype == "cgroup" || fstype == "cgroup2")
            && target != "/sys/fs/cgroup"
            && let Some(inner) = path.strip_prefix(target)
            && (inner.is_empty() || inner.starts_with('/'))
        {
            return if inner.is_empty() { "/" } else { inner };
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn container_ids_of_the_usual_runtimes() {
        for path in [
            format!("/system.slice/docker-{ID}.scope"),
            format!("/docker/{ID}"),
            format!("/machine.slice/libpod-{ID}.scope/container"),
            format!("/kubepods/besteffort/pod1/cri-containerd-{ID}.scope"),
            format!("/kubepods.slice/crio-{ID}.scope"),
        ] {
            assert_eq!(
                container_id(&path).as_deref(),
                Some("0123456789ab"),
                "{path}"
            );
        }
        assert_eq!(
            container_id("/user.slice/user-1000.slice/session-2.scope"),
            None
        );
        assert_eq!(container_id("/"), None);
    }

    #[test]
    fn container_launches_pair_with_the_next_new_container() {
        let argv = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert!(ContainerLaunches::is_launch(&argv(
            "docker run -i --rm mcp/fetch"
        )));
        assert!(ContainerLaunches::is_launch(&argv(
            "/usr/bin/podman --log-level=info run img"
        )));
        assert!(!ContainerLaunches::is_launch(&argv("docker ps")));
        assert!(!ContainerLaunches::is_launch(&argv("runner run")));
        let mut c = ContainerLaunches::default();
        assert_eq!(c.owner("aaa"), None);
        c.launched(7);
        c.launched(8);
        assert_eq!(c.owner("bbb"), Some(7));
        assert_eq!(
            c.owner("bbb"),
            Some(7),
            "later processes of the same container"
        );
        assert_eq!(c.owner("ccc"), Some(8));
        assert_eq!(c.owner("ddd"), None);
    }

    #[test]
    fn cgroup_files_and_membership() {
        let text = "12:pids:/docker/x\n0::/system.slice/mcp.service/sub\n1:name=systemd:/system.slice/mcp.service/sub\n";
        let paths = parse_cgroup_file(text);
        assert_eq!(paths, ["/docker/x", "/system.slice/mcp.service/sub"]);
        let w = WatchedCgroup::parse("/system.slice/mcp.service=mcp").unwrap();
        assert!(w.contains(&paths));
        let other = WatchedCgroup::parse("/system.slice/mcp").unwrap();
        assert!(
            !other.contains(&paths),
            "prefix on a component boundary only"
        );
        assert_eq!(other.name, "mcp");
        assert!(WatchedCgroup::parse("/").is_err());
        assert!(WatchedCgroup::parse("relative").is_err());
        assert!(WatchedCgroup::parse("/a=").is_err());
        assert_eq!(
            WatchedCgroup::parse(&format!("/docker/{ID}")).unwrap().name,
            "0123456789ab"
        );
        // This process's own cgroups are readable.
        assert!(!cgroup_paths(std::process::id()).is_empty());
    }
}
