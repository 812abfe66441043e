//! Which configured servers run now: every process's command line matched
//! against the [`ConfigMatchers`]. A server's process tree (npx → npm exec →
//! sh → node) matches at every level; only its topmost process is reported.
use std::collections::HashMap;

use super::matcher::ConfigMatchers;

/// A process as discovery needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub argv: Vec<String>,
}

/// Every process of the machine with a command line (kernel threads have none).
pub fn processes() -> Vec<Proc> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if cmdline.is_empty() {
            continue;
        }
        let argv = split_cmdline(&cmdline);
        let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| parse_ppid(&s))
            .unwrap_or(0);
        out.push(Proc { pid, ppid, argv });
    }
    out.sort_by_key(|p| p.pid);
    out
}

fn split_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    bytes
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The ppid from `/proc/PID/stat` (the field after the state, after the
/// command name in parentheses, which may itself hold spaces and parentheses).
fn parse_ppid(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// For each server index, the pids of the topmost processes that run it.
pub fn running(matchers: &ConfigMatchers, procs: &[Proc]) -> HashMap<usize, Vec<u32>> {
    let matched: HashMap<u32, Vec<usize>> = procs
        .iter()
        .filter_map(|p| {
            let m = matchers.match_indices(&p.argv);
            (!m.is_empty()).then_some((p.pid, m))
        })
        .collect();
    let parent: HashMap<u32, u32> = procs.iter().map(|p| (p.pid, p.ppid)).collect();
    let mut out: HashMap<usize, Vec<u32>> = HashMap::new();
    for p in procs {
        let Some(servers) = matched.get(&p.pid) else {
            continue;
        };
        for &s in servers {
            // Skip it when an ancestor runs the same server.
            let mut up = parent.get(&p.pid).copied();
            let mut covered = false;
            let mut hops = 0;
            while let Some(a) = up.filter(|&a| a > 1 && hops < 64) {
                if matched.get(&a).is_some_and(|m| m.contains(&s)) {
                    covered = true;
                    break;
                }
                up = parent.get(&a).copied();
                hops += 1;
            }
            if !covered {
                out.entry(s).or_default().push(p.pid);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_cmdline() {
        assert_eq!(parse_ppid("42 (a) b) c) S 7 42 42 0"), Some(7));
        assert_eq!(split_cmdline(b"node\0x\0\0"), ["node", "x", ""]);
        let me = std::process::id();
        let procs = processes();
        assert!(procs.iter().any(|p| p.pid == me && !p.argv.is_empty()));
    }
}
