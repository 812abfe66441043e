//! The alert log: one JSON object per line, rotated by size, files 0600.
//!
//! Each alert is written to the file as it comes (so a reader sees it at
//! once); fsync happens in batches, after `fsync_batch` alerts or
//! `fsync_interval`, whichever comes first, and at shutdown. Rotation renames
//! `alerts.jsonl` to `alerts.jsonl.1`, `.1` to `.2`, … and forgets the oldest
//! beyond `keep`. If something else moves or deletes the file (logrotate, an
//! administrator), the sink notices within a second and starts a new one.
use std::{
    fs::{File, OpenOptions},
    io::{BufRead as _, BufReader, Write as _},
    os::unix::fs::{
        DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
    },
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use anyhow::Context as _;

use super::config::LogConfig;
use super::sink::{Delivery, Sink};

pub struct LogSink {
    path: PathBuf,
    max_size: u64,
    keep: u32,
    fsync_interval: std::time::Duration,
    fsync_batch: u32,
    file: Option<File>,
    size: u64,
    unsynced: u32,
    last_sync: Instant,
    last_check: Instant,
}

/// How often the sink checks that its file is still the one at its path.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl LogSink {
    /// Opens (or creates, 0600) the log, creating its directory (0750) if needed.
    pub fn open(cfg: &LogConfig) -> anyhow::Result<LogSink> {
        let path = cfg.path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)
                .with_context(|| {
                    format!(
                        "creating the alert log directory {}; choose another sinks.log.path (--alert-log) or turn the log off (--no-alert-log)",
                        dir.display()
                    )
                })?;
            check_dir(dir)?;
        }
        let file = open_append(&path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogSink {
            path,
            max_size: cfg.max_size.0,
            keep: cfg.keep,
            fsync_interval: cfg.fsync_interval.0,
            fsync_batch: cfg.fsync_batch,
            file: Some(file),
            size,
            unsynced: 0,
            last_sync: Instant::now(),
            last_check: Instant::now(),
        })
    }

    /// Whether the open file is no longer the one at the path (moved or deleted).
    fn replaced(&self) -> bool {
        let Some(file) = &self.file else { return true };
        match (file.metadata(), std::fs::symlink_metadata(&self.path)) {
            (Ok(open), Ok(named)) => open.ino() != named.ino() || open.dev() != named.dev(),
            _ => true,
        }
    }

    /// Starts a new file at the path if the open one was moved or deleted.
    fn follow_path(&mut self) {
        self.last_check = Instant::now();
        if !self.replaced() {
            return;
        }
        self.sync();
        match open_append(&self.path) {
            Ok(f) => {
                self.size = f.metadata().map(|m| m.len()).unwrap_or(0);
                self.file = Some(f);
                ::log::info!(
                    "alert log {} was moved or deleted; writing a new one",
                    self.path.display()
                );
            }
            Err(e) => ::log::warn!("{e:#}"),
        }
    }

    fn sync(&mut self) {
        if self.unsynced == 0 {
            return;
        }
        if let Some(f) = &self.file
            && let Err(e) = f.sync_data()
        {
            ::log::warn!("fsync of the alert log {}: {e}", self.path.display());
        }
        self.unsynced = 0;
        self.last_sync = Instant::now();
    }

    /// Closes the current file, shifts the rotated ones and starts a new file.
    fn rotate(&mut self) -> anyhow::Result<()> {
        self.sync();
        self.file = None;
        if self.keep == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            for i in (1..self.keep).rev() {
                let from = rotated(&self.path, i);
                if from.exists() {
                    std::fs::rename(&from, rotated(&self.path, i + 1))
                        .with_context(|| format!("rotating {}", from.display()))?;
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))
                .with_context(|| format!("rotating {}", self.path.display()))?;
        }
        self.file = Some(open_append(&self.path)?);
        self.size = 0;
        Ok(())
    }
}

impl Sink for LogSink {
    fn deliver(&mut self, d: &Arc<Delivery>) -> Result<(), String> {
        let len = d.json.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.max_size {
            self.rotate().map_err(|e| format!("{e:#}"))?;
        }
        if self.file.is_none() {
            // A failed rotation left no file: try to carry on in a new one.
            self.file = Some(open_append(&self.path).map_err(|e| format!("{e:#}"))?);
        }
        let Some(file) = self.file.as_mut() else {
            return Err("no alert log open".into());
        };
        let mut line = Vec::with_capacity(d.json.len() + 1);
        line.extend_from_slice(d.json.as_bytes());
        line.push(b'\n');
        file.write_all(&line)
            .map_err(|e| format!("writing {}: {e}", self.path.display()))?;
        self.size += len;
        self.unsynced += 1;
        if self.unsynced >= self.fsync_batch {
            self.sync();
        }
        Ok(())
    }

    fn idle(&mut self) {
        if self.unsynced > 0 && self.last_sync.elapsed() >= self.fsync_interval {
            self.sync();
        }
        if self.last_check.elapsed() >= CHECK_EVERY {
            self.follow_path();
        }
    }

    fn close(&mut self) {
        self.sync();
    }
}

/// `alerts.jsonl.N`.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Opens for appending, creating the file 0600; an existing file is set to 0600.
/// The log's directory (as it resolves, through symlinks) must be writable
/// by its owner only, and owned by root or this process's user: otherwise
/// another user could remove or replace the log and its rotated copies.
fn check_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("reading the alert log directory {}", dir.display()))?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 || (meta.uid() != me && meta.uid() != 0) {
        anyhow::bail!(
            "the alert log directory {} (mode {mode:o}, owner uid {}) can be written by other users, \
             who could remove or replace the log; choose a directory only root can write \
             (sinks.log.path, --alert-log) or turn the log off (--no-alert-log)",
            dir.display(),
            meta.uid()
        );
    }
    Ok(())
}

fn open_append(path: &Path) -> anyhow::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        // Non-blocking: a FIFO without a reader is refused at once (ENXIO)
        // rather than hanging start-up; a regular file ignores the flag.
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .with_context(|| {
            format!(
                "opening the alert log {}; choose another sinks.log.path (--alert-log) or turn the log off (--no-alert-log)",
                path.display()
            )
        })?;
    if !file.metadata().is_ok_and(|m| m.file_type().is_file()) {
        anyhow::bail!(
            "the alert log {} is not a regular file; choose another sinks.log.path (--alert-log) \
             or turn the log off (--no-alert-log)",
            path.display()
        );
    }
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("setting the mode of {} to 0600", path.display()))?;
    Ok(file)
}

/// The log's lines, oldest first, across the rotated files (`.keep` … `.1`,
/// then the current one), read from the newest backwards until `enough` says
/// the lines collected so far (oldest first) suffice. Unreadable files are skipped.
pub fn read_back(path: &Path, keep: u32, enough: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut files: Vec<PathBuf> = vec![path.to_path_buf()];
    files.extend((1..=keep).map(|i| rotated(path, i)));
    let mut out: Vec<String> = Vec::new();
    for f in files {
        let Ok(file) = File::open(&f) else { continue };
        let mut lines: Vec<String> = BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter(|l| !l.trim().is_empty())
            .collect();
        lines.append(&mut out);
        out = lines;
        if enough(&out) {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        alerts::Alert,
        priority::Priority,
        units::{ByteSize, HumanDuration},
    };

    fn delivery(i: usize) -> Arc<Delivery> {
        let alert = Alert::health(
            "Test",
            Priority::Notice,
            format!("alert {i:04} {}", "x".repeat(100)),
            Default::default(),
            "h",
        );
        Delivery::new(alert)
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn rotates_by_size_keeps_n_files_all_0600() {
        let dir = std::env::temp_dir().join(format!("mcpmon-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/alerts.jsonl");
        let cfg = LogConfig {
            enabled: true,
            path: path.clone(),
            max_size: ByteSize(4096),
            keep: 2,
            fsync_interval: HumanDuration(std::time::Duration::from_secs(1)),
            fsync_batch: 3,
        };
        let mut sink = LogSink::open(&cfg).unwrap();
        let line_len = delivery(0).json.len() as u64 + 1;
        let per_file = 4096 / line_len;
        let total = (per_file * 4 + 1) as usize;
        for i in 0..total {
            sink.deliver(&delivery(i)).unwrap();
        }
        sink.close();

        assert!(path.exists() && rotated(&path, 1).exists() && rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists(), "only `keep` rotated files");
        for p in [path.clone(), rotated(&path, 1), rotated(&path, 2)] {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
            assert!(std::fs::metadata(&p).unwrap().len() <= 4096);
        }
        assert_eq!(mode(&dir.join("sub")), 0o750);

        // Reading back gives the newest alerts in order, without gaps.
        let lines = read_back(&path, 2, |_| false);
        let nums: Vec<usize> = lines
            .iter()
            .map(|l| {
                let a: Alert = serde_json::from_str(l).unwrap();
                a.output[6..10].parse().unwrap()
            })
            .collect();
        assert_eq!(*nums.last().unwrap(), total - 1);
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
        assert_eq!(nums.len() as u64, per_file * 2 + 1);
        // …and stops early when told.
        assert_eq!(read_back(&path, 2, |l| !l.is_empty()).len(), 1);

        // An existing file with a looser mode is tightened on open.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(LogSink::open(&cfg).unwrap());
        assert_eq!(mode(&path), 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_directory_others_can_write_is_refused_even_behind_a_symlink() {
        let base = std::env::temp_dir().join(format!("mcpmon-logdir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let open_dir = base.join("open");
        std::fs::create_dir_all(&open_dir).unwrap();
        std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let link = base.join("link");
        std::os::unix::fs::symlink(&open_dir, &link).unwrap();
        for dir in [&open_dir, &link] {
            let err = LogSink::open(&LogConfig {
                path: dir.join("alerts.jsonl"),
                ..LogConfig::default()
            })
            .err()
            .unwrap_or_else(|| panic!("{} accepted", dir.display()));
            assert!(
                err.to_string().contains("mode 1777") && err.to_string().contains("other users"),
                "{err}"
            );
        }
        assert!(
            !open_dir.join("alerts.jsonl").exists(),
            "nothing written there"
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_moved_or_deleted_file_is_replaced_by_a_new_one() {
        let dir = std::env::temp_dir().join(format!("mcpmon-logmv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("alerts.jsonl");
        let mut sink = LogSink::open(&LogConfig {
            path: path.clone(),
            ..LogConfig::default()
        })
        .unwrap();
        sink.deliver(&delivery(0)).unwrap();
        std::fs::rename(&path, dir.join("moved.jsonl")).unwrap();
        sink.follow_path();
        sink.deliver(&delivery(1)).unwrap();
        std::fs::remove_file(&path).unwrap();
        sink.follow_path();
        sink.deliver(&delivery(2)).unwrap();
        sink.close();
        assert_eq!(read_back(&dir.join("moved.jsonl"), 0, |_| false).len(), 1);
        let now = read_back(&path, 0, |_| false);
        assert_eq!(now.len(), 1);
        assert!(now[0].contains("alert 0002"));
        assert_eq!(mode(&path), 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn keep_zero_truncates_instead_of_rotating() {
        let dir = std::env::temp_dir().join(format!("mcpmon-log0-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("alerts.jsonl");
        let cfg = LogConfig {
            path: path.clone(),
            max_size: ByteSize(4096),
            keep: 0,
            ..LogConfig::default()
        };
        let mut sink = LogSink::open(&cfg).unwrap();
        for i in 0..100 {
            sink.deliver(&delivery(i)).unwrap();
        }
        sink.close();
        assert!(std::fs::metadata(&path).unwrap().len() <= 4096);
        assert!(!rotated(&path, 1).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unwritable_place_says_what_to_do() {
        let e = LogSink::open(&LogConfig {
            path: PathBuf::from("/proc/mcpmon/alerts.jsonl"),
            ..LogConfig::default()
        })
        .err()
        .unwrap();
        assert!(format!("{e:#}").contains("--no-alert-log"), "{e:#}");
    }
}
