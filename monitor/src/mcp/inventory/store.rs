//! The state directory: one file per server (name and command), holding the
//! tools it offered last, so that the next run compares with them. Files are
//! replaced atomically (a temporary file renamed over the old one), bounded
//! in size, and one that cannot be read is reported and replaced.
use std::{
    fs::{self, OpenOptions},
    io::{self, Write as _},
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::tools::{ToolList, digest};

/// Where the inventory is kept unless the configuration says otherwise.
pub const DEFAULT_DIR: &str = "/var/lib/mcp-monitor";
/// The format of the files; another is read as unreadable and replaced.
const VERSION: u32 = 1;
/// The largest file read back (a full list of the largest tools fits).
const FILE_LIMIT: u64 = 16 << 20;

/// One server's file.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    server: String,
    command: String,
    /// When the list was seen, nanoseconds since the epoch.
    seen_ns: u64,
    list: ToolList,
}

/// What a file held.
#[derive(Debug, PartialEq)]
pub enum Loaded {
    /// No file yet: the server was never seen.
    Missing,
    Found {
        seen_ns: u64,
        list: ToolList,
    },
    /// A file that could not be used, and why; it is replaced at the next save.
    Unreadable(String),
}

/// The directory of the servers' files (`inventory/` under the state directory).
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store {
            dir: state_dir.join("inventory"),
        }
    }

    /// The file of a server: its name made safe, and a digest of name and
    /// command (two servers of one name with different commands differ).
    pub fn path(&self, server: &str, command: &str) -> PathBuf {
        let safe: String = server
            .chars()
            .take(64)
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let key = digest(format!("{server}\0{command}").as_bytes());
        self.dir
            .join(format!("{}-{key}.json", safe.trim_start_matches('.')))
    }

    pub fn load(&self, server: &str, command: &str) -> Loaded {
        let path = self.path(server, command);
        let text = match crate::textfile::read(&path, FILE_LIMIT) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::Missing,
            Err(e) => return Loaded::Unreadable(format!("{}: {e}", path.display())),
        };
        match serde_json::from_str::<StateFile>(&text) {
            Ok(f) if f.version != VERSION => Loaded::Unreadable(format!(
                "{}: format version {}, not {VERSION}",
                path.display(),
                f.version
            )),
            Ok(f) if f.server != server || f.command != command => Loaded::Unreadable(format!(
                "{}: holds another server ({:?})",
                path.display(),
                f.server
            )),
            Ok(f) => Loaded::Found {
                seen_ns: f.seen_ns,
                list: f.list,
            },
            Err(e) => Loaded::Unreadable(format!("{}: {e}", path.display())),
        }
    }

    /// Writes the server's file through a temporary file renamed over it.
    pub fn save(
        &self,
        server: &str,
        command: &str,
        seen_ns: u64,
        list: &ToolList,
    ) -> io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let path = self.path(server, command);
        let file = StateFile {
            version: VERSION,
            server: server.to_owned(),
            command: command.to_owned(),
            seen_ns,
            list: list.clone(),
        };
        let bytes = serde_json::to_vec(&file).map_err(io::Error::other)?;
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        let result = (|| {
            let _ = fs::remove_file(&tmp);
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            if let Ok(d) = fs::File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}
