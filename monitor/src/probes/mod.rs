//! Loading and attaching the kernel programs, and the handles user space keeps:
//! the event ring buffer, the tag map and the drop counters.
mod programs;

use anyhow::{Context as _, anyhow, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, PerCpuArray, ProgramArray, RingBuf},
    programs::{ProgramError, ProgramInfo, RawTracePoint, TracePoint},
};
use std::sync::atomic::{AtomicU64, Ordering};

use monitor_common::{DROP_SLOTS, EventKind, Handler, KernelOffsets, TAG_BITMAP_WORDS, Tag, names};

pub use programs::{Hook, ProgramSpec, is_optional, programs};

/// The eBPF object built from `monitor-ebpf` (empty when built with AYA_BUILD_SKIP=1).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/monitor-ebpf"));
/// No-op programs on the same hooks, for the overhead benchmark's floor.
static FLOOR_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/monitor-ebpf-floor"));

/// The loaded programs. Dropping this detaches every program.
pub struct Probes {
    _ebpf: Ebpf,
    /// The exit handlers the syscall programs tail-call. The kernel empties a
    /// program array when user space lets go of it, so it is kept here.
    _handlers: Option<ProgramArray<MapData>>,
    /// Hooks that are attached, for reports.
    pub attached: Vec<Hook>,
    /// Hooks that were optional and are missing on this kernel.
    pub skipped: Vec<Hook>,
    /// Instructions the verifier processed, per loaded program (`None` on
    /// kernels before 5.16, which do not say).
    pub verified: Vec<(String, Option<u32>)>,
}

impl Probes {
    /// The verifier's processed instructions summed over every program, if
    /// the kernel reports them.
    pub fn verified_total(&self) -> Option<u64> {
        self.verified
            .iter()
            .map(|(_, n)| n.map(u64::from))
            .sum::<Option<u64>>()
    }
}

/// Map handles taken out of the object, owned by the parts of the daemon that use them.
pub struct Maps {
    pub events: RingBuf<MapData>,
    pub tags: TagMap,
    pub drops: DropCounters,
}

/// Loads the object with the kernel's offsets and attaches every program.
/// `ring_buffer_bytes` overrides the ring buffer's size (a power of two, at
/// least one page).
pub fn load(
    offsets: KernelOffsets,
    ring_buffer_bytes: Option<u32>,
) -> anyhow::Result<(Probes, Maps)> {
    if let Some(bytes) = ring_buffer_bytes {
        let page = 4096;
        if bytes < page || !bytes.is_power_of_two() {
            bail!(
                "the ring buffer size must be a power of two of at least {page} bytes, not {bytes}"
            );
        }
    }
    let mut ebpf = load_object(OBJECT, Some(offsets), ring_buffer_bytes)?;
    let mut verified = Vec::new();
    let handlers = load_handlers(&mut ebpf, offsets.path_walk != 0, &mut verified)?;
    let (attached, skipped) = attach_all(&mut ebpf, &mut verified)?;
    let events = RingBuf::try_from(take(&mut ebpf, names::EVENTS)?)?;
    let tags = TagMap {
        tags: HashMap::try_from(take(&mut ebpf, names::TAGGED)?)?,
        bitmap: TagBitmap::map(take(&mut ebpf, names::TAG_BITMAP)?)?,
    };
    let drops = DropCounters(PerCpuArray::try_from(take(&mut ebpf, names::DROPS)?)?);
    Ok((
        Probes {
            _ebpf: ebpf,
            _handlers: Some(handlers),
            attached,
            skipped,
            verified,
        },
        Maps {
            events,
            tags,
            drops,
        },
    ))
}

/// Loads the no-op programs on every hook (the benchmark floor).
pub fn load_floor() -> anyhow::Result<Probes> {
    let mut ebpf = load_object(FLOOR_OBJECT, None, None)?;
    let mut verified = Vec::new();
    let (attached, skipped) = attach_all(&mut ebpf, &mut verified)?;
    Ok(Probes {
        _ebpf: ebpf,
        _handlers: None,
        attached,
        skipped,
        verified,
    })
}

fn load_object(
    object: &[u8],
    offsets: Option<KernelOffsets>,
    ring_buffer_bytes: Option<u32>,
) -> anyhow::Result<Ebpf> {
    if object.is_empty() {
        bail!(
            "this binary was built without its eBPF programs (AYA_BUILD_SKIP was set); \
             rebuild it with `cargo xtask build`"
        );
    }
    let mut loader = EbpfLoader::new();
    if let Some(offsets) = &offsets {
        loader.override_global(names::OFFSETS, offsets, true);
    }
    if let Some(bytes) = ring_buffer_bytes {
        loader.map_max_entries(names::EVENTS, bytes);
    }
    loader
        .load(object)
        .context("loading the eBPF object failed (is this root, with CAP_BPF and CAP_PERFMON?)")
}

/// Loads the shared exit handlers (see `monitor_common::Handler`) and puts
/// them in the `HANDLERS` program array. `walk`: the variants that resolve
/// paths in the kernel (which need `bpf_loop`), else those that leave it to
/// user space.
fn load_handlers(
    ebpf: &mut Ebpf,
    walk: bool,
    verified: &mut Vec<(String, Option<u32>)>,
) -> anyhow::Result<ProgramArray<MapData>> {
    let mut array = ProgramArray::try_from(take(ebpf, names::HANDLERS)?)?;
    for handler in Handler::ALL {
        let name = handler.program(walk);
        let program = ebpf
            .program_mut(name)
            .ok_or_else(|| anyhow!("program {name} is missing from the eBPF object"))?;
        let tp: &mut TracePoint = program.try_into()?;
        tp.load()
            .with_context(|| format!("the verifier rejected {name}"))?;
        verified.push((name.to_owned(), verified_insns(tp.info())));
        let fd = tp.fd()?;
        array
            .set(handler as u32, fd, 0)
            .with_context(|| format!("installing {name} as a handler"))?;
    }
    Ok(array)
}

/// Instructions the verifier processed for a loaded program (5.16+).
fn verified_insns(info: Result<ProgramInfo, ProgramError>) -> Option<u32> {
    info.map_err(|e| log::debug!("program info: {e}"))
        .ok()
        .and_then(|i| i.verified_instruction_count())
}

/// Attaches every program of [`programs`]; returns the hooks attached and the
/// optional ones this kernel lacks.
fn attach_all(
    ebpf: &mut Ebpf,
    verified: &mut Vec<(String, Option<u32>)>,
) -> anyhow::Result<(Vec<Hook>, Vec<Hook>)> {
    let mut attached = Vec::new();
    let mut skipped = Vec::new();
    for spec in programs() {
        match attach(ebpf, &spec, verified) {
            Ok(()) => attached.push(spec.hook),
            Err(e) if is_optional(&spec) => {
                log::debug!("{}: {e:#}", spec.hook);
                skipped.push(spec.hook);
            }
            Err(e) => return Err(e),
        }
    }
    Ok((attached, skipped))
}

fn take(ebpf: &mut Ebpf, name: &str) -> anyhow::Result<aya::maps::Map> {
    ebpf.take_map(name)
        .ok_or_else(|| anyhow!("map {name} is missing from the eBPF object"))
}

fn attach(
    ebpf: &mut Ebpf,
    spec: &ProgramSpec,
    verified: &mut Vec<(String, Option<u32>)>,
) -> anyhow::Result<()> {
    let program = ebpf
        .program_mut(spec.program)
        .ok_or_else(|| anyhow!("program {} is missing from the eBPF object", spec.program))?;
    let what = || {
        format!(
            "attaching {} to {} failed; run `mcp-monitor doctor` to see what this kernel offers",
            spec.program, spec.hook
        )
    };
    match spec.hook {
        Hook::TracePoint(category, name) => {
            let tp: &mut TracePoint = program.try_into()?;
            tp.load()
                .with_context(|| format!("the verifier rejected {}", spec.program))?;
            verified.push((spec.program.to_owned(), verified_insns(tp.info())));
            tp.attach(category, name).with_context(what)?;
        }
        Hook::RawTracePoint(name) => {
            let tp: &mut RawTracePoint = program.try_into()?;
            tp.load()
                .with_context(|| format!("the verifier rejected {}", spec.program))?;
            verified.push((spec.program.to_owned(), verified_insns(tp.info())));
            tp.attach(name).with_context(what)?;
        }
    }
    Ok(())
}

/// The kernel's tagged processes: the map tgid → tag, and the bitmap every
/// program checks first. A tag is written before its bit is set and its bit
/// cleared before the tag is removed, as the kernel programs do.
pub struct TagMap {
    tags: HashMap<MapData, u32, Tag>,
    bitmap: TagBitmap,
}

impl TagMap {
    pub fn insert(&mut self, tgid: u32, tag: Tag) -> anyhow::Result<()> {
        self.tags
            .insert(tgid, tag, 0)
            .with_context(|| format!("tagging pid {tgid}"))?;
        self.bitmap.set(tgid, true);
        Ok(())
    }

    pub fn get(&self, tgid: u32) -> Option<Tag> {
        self.tags.get(&tgid, 0).ok()
    }

    pub fn remove(&mut self, tgid: u32) {
        self.bitmap.set(tgid, false);
        let _ = self.tags.remove(&tgid);
    }

    /// Number of entries (walks the map: for reports, not per event).
    pub fn len(&self) -> usize {
        self.tags.keys().filter(Result::is_ok).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The kernel's tag bitmap, mapped into this process so bits can be flipped
/// with atomic operations while kernel programs flip others in the same word.
struct TagBitmap {
    words: *mut u64,
    len: usize,
    _map: MapData,
}

// SAFETY: the mapping is shared memory only ever accessed atomically.
unsafe impl Send for TagBitmap {}

impl TagBitmap {
    fn map(map: aya::maps::Map) -> anyhow::Result<TagBitmap> {
        use std::os::fd::{AsFd as _, AsRawFd as _};
        let aya::maps::Map::Array(data) = map else {
            bail!("{} is not an array map", names::TAG_BITMAP);
        };
        let len = TAG_BITMAP_WORDS as usize;
        // SAFETY: mapping a BPF_F_MMAPABLE array of `len` u64 words, shared.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len * 8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                data.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            bail!(
                "mapping the tag bitmap failed: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(TagBitmap {
            words: ptr.cast(),
            len,
            _map: data,
        })
    }

    fn set(&self, tgid: u32, on: bool) {
        let index = (tgid >> 6) as usize;
        if index >= self.len {
            return;
        }
        let bit = 1u64 << (tgid & 63);
        // SAFETY: in bounds of the live mapping; u64 words are 8-byte aligned.
        let word = unsafe { AtomicU64::from_ptr(self.words.add(index)) };
        if on {
            word.fetch_or(bit, Ordering::SeqCst);
        } else {
            word.fetch_and(!bit, Ordering::SeqCst);
        }
    }
}

impl Drop for TagBitmap {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `map` mapped.
        unsafe { libc::munmap(self.words.cast(), self.len * 8) };
    }
}

/// Ring-buffer reserve failures counted by the kernel, per event kind.
pub struct DropCounters(PerCpuArray<MapData, u64>);

impl DropCounters {
    /// Totals over all CPUs, per event kind.
    pub fn totals(&self) -> Vec<(EventKind, u64)> {
        EventKind::ALL
            .into_iter()
            .filter(|k| (*k as u32) < DROP_SLOTS)
            .map(|k| {
                let total = self
                    .0
                    .get(&(k as u32), 0)
                    .map(|per_cpu| per_cpu.iter().sum())
                    .unwrap_or(0);
                (k, total)
            })
            .collect()
    }
}
