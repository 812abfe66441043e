//! Noticing that files changed on disk, by polling: rule files and AI-host
//! configs are few and small, and polling needs no inotify watches that
//! editors' rename-on-save would break.
use std::{path::PathBuf, time::SystemTime};

/// The modification time and size of a set of paths; a directory stands for
/// the files directly in it.
#[derive(Clone, Debug, Default)]
pub struct FileWatch {
    paths: Vec<PathBuf>,
    seen: Vec<(PathBuf, Option<(SystemTime, u64)>)>,
}

impl FileWatch {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        let seen = snapshot(&paths);
        FileWatch { paths, seen }
    }

    /// Whether a file was added, removed or modified since the last call (or `new`).
    pub fn changed(&mut self) -> bool {
        let now = snapshot(&self.paths);
        if now == self.seen {
            return false;
        }
        self.seen = now;
        true
    }
}

fn snapshot(paths: &[PathBuf]) -> Vec<(PathBuf, Option<(SystemTime, u64)>)> {
    let mut files: Vec<PathBuf> = Vec::new();
    for p in paths {
        match std::fs::read_dir(p) {
            Ok(dir) => files.extend(dir.flatten().map(|e| e.path())),
            Err(_) => files.push(p.clone()),
        }
    }
    files.sort();
    files.dedup();
    files
        .into_iter()
        .map(|p| {
            let stamp = std::fs::metadata(&p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            (p, stamp)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_new_changed_and_removed_files() {
        let dir = std::env::temp_dir().join(format!("mcpmon-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let single = dir.join("single.yaml");
        let mut w = FileWatch::new(vec![dir.clone(), single.clone()]);
        assert!(!w.changed());
        std::fs::write(dir.join("a.yaml"), "x").unwrap();
        assert!(w.changed());
        assert!(!w.changed());
        std::fs::write(dir.join("a.yaml"), "xy").unwrap();
        assert!(w.changed());
        std::fs::remove_file(dir.join("a.yaml")).unwrap();
        assert!(w.changed());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
