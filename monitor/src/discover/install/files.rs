//! Config files on disk: reading them, their backups and the checksum of what
//! install wrote, and atomic writes that keep the original's mode and owner.
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Suffix of the copy of a config taken before install first changes it.
const BACKUP_SUFFIX: &str = ".mcp-monitor-backup";

/// Suffix (after [`BACKUP_SUFFIX`]) of the checksum of what install wrote.
const CHECKSUM_SUFFIX: &str = ".sha256";

/// Config files are small; anything bigger than this is not touched.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// A config file as read: its real path (symlinks resolved), text and metadata.
pub(super) struct Loaded {
    pub(super) real: PathBuf,
    pub(super) bytes: Vec<u8>,
    pub(super) text: String,
    pub(super) meta: Metadata,
}

/// Reads a config file; `None` when there is none.
pub(super) fn load(path: &Path) -> Result<Option<Loaded>, String> {
    let real = match fs::canonicalize(path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(None),
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    let meta = fs::metadata(&real).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Ok(None);
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("{} bytes is too big for a config", meta.len()));
    }
    let bytes = fs::read(&real).map_err(|e| format!("cannot read: {e}"))?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| "not UTF-8 text".to_owned())?;
    Ok(Some(Loaded {
        real,
        bytes,
        text,
        meta,
    }))
}

pub(super) fn backup_path(real: &Path) -> PathBuf {
    let mut s = real.as_os_str().to_owned();
    s.push(BACKUP_SUFFIX);
    PathBuf::from(s)
}

pub(super) fn checksum_path(real: &Path) -> PathBuf {
    let mut s = backup_path(real).into_os_string();
    s.push(CHECKSUM_SUFFIX);
    PathBuf::from(s)
}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// with `meta`'s mode and owner. With `expect`, the file must still hold those
/// bytes just before it is replaced.
pub(super) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    meta: &Metadata,
    expect: Option<&[u8]>,
) -> anyhow::Result<()> {
    let dir = path.parent().context("a file without a directory")?;
    let name = path
        .file_name()
        .context("a file without a name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.mcp-monitor-{}.tmp", std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        if (meta.uid(), meta.gid()) != {
            let m = f.metadata()?;
            (m.uid(), m.gid())
        } {
            std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()))
                .with_context(|| format!("giving {} its owner", tmp.display()))?;
        }
        f.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))
            .with_context(|| format!("setting the mode of {}", tmp.display()))?;
        f.sync_all()?;
        if let Some(expect) = expect {
            let now = fs::read(path).unwrap_or_default();
            if now != expect {
                bail!("changed while being rewritten; nothing done, run again");
            }
        }
        fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

pub(super) fn read_checksum(real: &Path) -> Option<String> {
    fs::read_to_string(checksum_path(real))
        .ok()
        .map(|s| s.trim().to_owned())
}

pub(super) fn write_install(
    real: &Path,
    old: &[u8],
    new: &[u8],
    meta: &Metadata,
    has_backup: bool,
) -> anyhow::Result<()> {
    let backup = backup_path(real);
    // The checksum stays true only while the file is exactly what install
    // wrote; a file edited since keeps a stale one, so uninstall unwraps in place.
    let still_ours = if has_backup {
        read_checksum(real).is_some_and(|c| c == sha256_hex(old))
    } else {
        write_atomic(&backup, old, meta, None)
            .with_context(|| format!("writing the backup {}", backup.display()))?;
        true
    };
    if let Err(e) = write_atomic(real, new, meta, Some(old)) {
        if !has_backup {
            let _ = fs::remove_file(&backup);
        }
        return Err(e);
    }
    if still_ours {
        let sum = format!("{}\n", sha256_hex(new));
        write_atomic(&checksum_path(real), sum.as_bytes(), meta, None)
            .context("writing the checksum next to the backup")?;
    }
    Ok(())
}

/// The SHA-256 of `data` in hex, for the checksum of what install wrote.
pub(super) fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
