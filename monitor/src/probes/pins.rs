//! The kernel state that outlives the daemon, pinned in a BPF filesystem.
//!
//! Layout under the pin directory (default `/sys/fs/bpf/mcp-monitor`):
//!
//! ```text
//! abi-N/                 one per layout of the pinned state (STATE_ABI)
//!   EVENTS TAGGED …      the maps of `names::PINNED`
//!   links-<object>/      one BPF link per attached program, per eBPF object
//! ```
//!
//! A daemon that starts over an `abi-N` of its own layout takes the maps over:
//! the tags of running servers, their names, and the records the programs
//! wrote while no daemon read them. Links of its own object are taken over as
//! they are (nothing is detached, nothing verified again); links of another
//! object (an upgrade) are removed once the new programs are attached, so
//! something watches at every moment.
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use aya::programs::links::PinnedLink;
use monitor_common::{STATE_ABI, names};

use super::links::Held;

/// `statfs` magic of a BPF filesystem.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
/// Where bpffs is conventionally mounted.
const BPF_FS_ROOT: &str = "/sys/fs/bpf";

/// The pin directory of one run.
pub struct Pins {
    /// `<dir>/abi-N`
    state: PathBuf,
    /// `<state>/links-<object hash>`
    links: PathBuf,
    /// The maps were there already: an earlier run's state is taken over.
    pub resumed: bool,
    /// An exclusive lock on the state directory: two daemons reading one
    /// ring buffer would each see half of the records.
    _lock: std::fs::File,
}

impl Pins {
    /// Prepares `dir` for the object `object`: bpffs mounted, directories made.
    pub fn prepare(dir: &Path, object: &[u8]) -> anyhow::Result<Pins> {
        ensure_bpffs(dir)?;
        let state = dir.join(format!("abi-{STATE_ABI}"));
        std::fs::create_dir_all(&state)
            .with_context(|| format!("creating the pin directory {}", state.display()))?;
        let lock = lock(&state)?;
        let resumed = state.join(names::EVENTS).exists();
        let pins = Pins {
            links: state.join(format!("links-{:016x}", fnv1a(object))),
            state,
            resumed,
            _lock: lock,
        };
        if !resumed {
            // Links without their maps belong to nothing we can read.
            pins.retire_links(|_| true);
        }
        std::fs::create_dir_all(&pins.links)
            .with_context(|| format!("creating {}", pins.links.display()))?;
        Ok(pins)
    }

    /// Where the map `name` is pinned.
    pub fn map_path(&self, name: &str) -> PathBuf {
        self.state.join(name)
    }

    /// The link an earlier run of this object left for `program`, if any.
    pub fn adopt_link(&self, program: &str) -> Option<Held> {
        let path = self.links.join(program);
        if !path.exists() {
            return None;
        }
        match PinnedLink::from_pin(&path) {
            Ok(link) => Some(Held::Pinned(link)),
            Err(e) => {
                log::warn!("cannot take over {}: {e}", path.display());
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Pins a link this process made, so that it outlives the process; a
    /// perf-event attachment (no BPF link) is kept as it is.
    pub fn pin_link(&self, program: &str, held: Held) -> anyhow::Result<Held> {
        let Held::Fd(link) = held else {
            return Ok(held);
        };
        let path = self.links.join(program);
        let _ = std::fs::remove_file(&path);
        let pinned = link
            .pin(&path)
            .with_context(|| format!("pinning the link of {program} at {}", path.display()))?;
        Ok(Held::Pinned(pinned))
    }

    /// Detaches the programs of every other object (an earlier version's),
    /// now that this one's are attached.
    pub fn retire_other_objects(&self) {
        let ours = self.links.file_name().map(ToOwned::to_owned);
        self.retire_links(|name| Some(name) != ours.as_deref());
    }

    fn retire_links(&self, which: impl Fn(&std::ffi::OsStr) -> bool) {
        let Ok(entries) = std::fs::read_dir(&self.state) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("links-") && which(&name) {
                // Removing a link's last pin detaches its program.
                match std::fs::remove_dir_all(entry.path()) {
                    Ok(()) => {
                        log::info!("detached the programs pinned at {}", entry.path().display())
                    }
                    Err(e) => log::warn!("removing {}: {e}", entry.path().display()),
                }
            }
        }
    }

    /// Removes every pin of this state: its programs detach, its maps go
    /// once nothing holds them.
    pub fn remove(self) -> anyhow::Result<()> {
        remove_state(&self.state)
    }
}

/// Takes the state directory for this process alone (until it exits, however
/// it exits).
fn lock(state: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::fd::AsRawFd as _;
    let dir = std::fs::File::open(state).with_context(|| format!("opening {}", state.display()))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            bail!(
                "an mcp-monitor daemon is running with the pin directory {}: stop it first \
                 (a second daemon needs a --pin-dir of its own)",
                state.parent().unwrap_or(state).display()
            );
        }
        return Err(e).with_context(|| format!("locking {}", state.display()));
    }
    Ok(dir)
}

/// `mcp-monitor unload`: removes everything pinned under `dir`. Returns
/// whether there was anything.
pub fn unload(dir: &Path) -> anyhow::Result<bool> {
    if !dir.exists() {
        return Ok(false);
    }
    // Not from under a running daemon.
    let _locks = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("abi-"))
        .map(|e| lock(&e.path()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    remove_state(dir)?;
    Ok(true)
}

fn remove_state(dir: &Path) -> anyhow::Result<()> {
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    // The parent goes too when it held only this state.
    if let Some(parent) = dir.parent()
        && parent != Path::new(BPF_FS_ROOT)
    {
        let _ = std::fs::remove_dir(parent);
    }
    Ok(())
}

/// Makes sure `dir` is on a BPF filesystem, mounting one at /sys/fs/bpf when
/// `dir` is below it and nothing is mounted there (as systemd does at boot).
fn ensure_bpffs(dir: &Path) -> anyhow::Result<()> {
    let existing = dir
        .ancestors()
        .find(|a| a.exists())
        .unwrap_or(Path::new("/"));
    if fs_magic(existing) == Some(BPF_FS_MAGIC) {
        return Ok(());
    }
    if dir.starts_with(BPF_FS_ROOT) && fs_magic(Path::new(BPF_FS_ROOT)) != Some(BPF_FS_MAGIC) {
        mount_bpffs()?;
        log::info!("mounted a BPF filesystem at {BPF_FS_ROOT}");
        return Ok(());
    }
    bail!(
        "the pin directory {} is not on a BPF filesystem: choose one below {BPF_FS_ROOT} \
         (`mount -t bpf bpf {BPF_FS_ROOT}` if nothing is mounted there), or run with --no-pin",
        dir.display()
    )
}

fn fs_magic(path: &Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: a valid NUL-terminated path and a zeroed out-parameter.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        (libc::statfs(c.as_ptr(), &mut st) == 0).then_some(st.f_type as i64)
    }
}

fn mount_bpffs() -> anyhow::Result<()> {
    crate::kernel::mount_pseudo_fs(c"bpf", Path::new(BPF_FS_ROOT)).map_err(|e| {
        anyhow::anyhow!(
            "mounting a BPF filesystem at {BPF_FS_ROOT} failed: {e}; mount one or run with --no-pin"
        )
    })
}

/// FNV-1a: names an eBPF object's links so that a daemon tells its own
/// programs from another version's.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_told_apart() {
        assert_ne!(fnv1a(b"one object"), fnv1a(b"another one"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn a_directory_off_bpffs_is_refused_with_what_to_do() {
        let e = ensure_bpffs(Path::new("/tmp/not-bpffs/mcp-monitor")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("not on a BPF filesystem") && text.contains("--no-pin"),
            "{text}"
        );
    }
}
