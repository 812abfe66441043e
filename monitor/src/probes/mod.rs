//! Loading and attaching the kernel programs, and the handles user space keeps:
//! the event ring buffer, the tag map and the drop counters.
pub mod drops;
pub mod enforce;
mod links;
pub mod pins;
mod programs;
pub mod sensitive;

use anyhow::{Context as _, anyhow, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, PerCpuArray, ProgramArray, RingBuf},
    programs::{ProgramError, ProgramInfo, RawTracePoint, TracePoint},
};
use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
};

use monitor_common::{
    Handler, KernelOffsets, SERVER_NAME_LEN, ServerRecord, TAG_BITMAP_WORDS, Tag, names,
};

pub use programs::{Hook, ProgramSpec, is_optional, programs, programs_for, tracepoints};

/// The eBPF object built from `monitor-ebpf` (empty when built with AYA_BUILD_SKIP=1).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/monitor-ebpf"));
/// The same programs for kernels without BPF atomics beyond add (before 5.12).
static COMPAT_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/monitor-ebpf-compat"));
/// No-op programs on the same hooks, for the overhead benchmark's floor.
static FLOOR_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/monitor-ebpf-floor"));

/// The loaded object and the hooks attached. Dropping it detaches every
/// program it owns; programs it pinned stay attached (see [`pins`]).
pub struct Probes {
    ebpf: Ebpf,
    /// The exit handlers the syscall programs tail-call. The kernel empties a
    /// program array when user space lets go of every reference to it, so it
    /// is kept here (and pinned, when state is kept).
    _handlers: Option<ProgramArray<MapData>>,
    /// Where state is pinned, if it is.
    pins: Option<pins::Pins>,
    /// Attached hooks by program name.
    links: BTreeMap<&'static str, (Hook, links::Held)>,
    /// Hooks that were optional and are missing on this kernel.
    pub skipped: Vec<Hook>,
    /// Optional hooks this kernel has whose program it refused, and why.
    pub failed: Vec<(Hook, String)>,
    /// Instructions the verifier processed, per program loaded by this
    /// process (`None` on kernels before 5.16, which do not say).
    pub verified: Vec<(String, Option<u32>)>,
    /// Hooks taken over, still attached, from an earlier run.
    pub adopted: usize,
    /// Whether io_uring requests can be followed on this kernel
    /// (`KernelOffsets::uring`).
    uring: bool,
    /// Prevent mode's hooks that fail a call: attached, or why not.
    connect_hooks: Option<Result<(), String>>,
    lsm_hook: Option<Result<(), String>>,
}

/// Map handles taken out of the object, owned by the parts of the daemon that use them.
pub struct Maps {
    pub events: RingBuf<MapData>,
    pub enforce: enforce::EnforceMaps,
    pub sensitive: sensitive::SensitiveMap,
    pub tags: TagMap,
    pub drops: drops::DropCounters,
    pub failures: drops::FailureCounters,
    /// The daemon that ran on the state taken over, if one did (its pid).
    pub previous_daemon: Option<u32>,
}

/// How to load the programs.
pub struct LoadOptions {
    pub offsets: KernelOffsets,
    /// The ring buffer's size (a power of two, at least a page).
    pub ring_buffer_bytes: Option<u32>,
    /// Where to pin the kernel state so that it outlives this process; `None`
    /// keeps nothing.
    pub pin_dir: Option<PathBuf>,
}

impl Probes {
    /// The verifier's processed instructions summed over every program this
    /// process loaded, if the kernel reports them.
    pub fn verified_total(&self) -> Option<u64> {
        verified_total(&self.verified)
    }

    /// The hooks attached now.
    pub fn attached(&self) -> Vec<Hook> {
        self.links.values().map(|(hook, _)| *hook).collect()
    }

    /// Whether the maps were taken over from an earlier run.
    pub fn resumed(&self) -> bool {
        self.pins.as_ref().is_some_and(|p| p.resumed)
    }

    /// Attaches `wanted` and detaches every other hook: what the rules need
    /// changes with a reload. Programs are loaded (verified) when first
    /// attached; a pinned link from an earlier run of the same object is
    /// taken over instead, so nothing goes unwatched in between. Returns how
    /// many hooks were attached and detached.
    pub fn select(&mut self, wanted: &[ProgramSpec]) -> anyhow::Result<(usize, usize)> {
        let keep: Vec<&str> = wanted.iter().map(|s| s.program).collect();
        let drop: Vec<&'static str> = self
            .links
            .keys()
            .copied()
            .filter(|p| !keep.contains(p))
            .collect();
        let detached = drop.len();
        for program in drop {
            if let Some((_, held)) = self.links.remove(program) {
                held.detach();
            }
        }
        let before = self.links.len();
        for spec in wanted {
            if self.links.contains_key(spec.program) || self.skipped.contains(&spec.hook) {
                continue;
            }
            if spec.program == programs::URING_PROGRAM && !self.uring {
                log::debug!("{}: this kernel's io_uring cannot be followed", spec.hook);
                self.skipped.push(spec.hook);
                continue;
            }
            let adopted = self.pins.as_ref().and_then(|p| p.adopt_link(spec.program));
            let held = match adopted {
                Some(link) => {
                    self.adopted += 1;
                    link
                }
                None => match attach(&mut self.ebpf, spec, &mut self.verified) {
                    Ok(link) => match &self.pins {
                        Some(p) => p.pin_link(spec.program, link)?,
                        None => link,
                    },
                    Err(e) if is_optional(spec) => {
                        if hook_exists(spec.hook) {
                            // The kernel has the hook and refused the
                            // program: a fault to report, not an absence.
                            log::warn!("{} failed to load: {e:#}", spec.hook);
                            self.failed.push((spec.hook, format!("{e:#}")));
                            self.skipped.push(spec.hook);
                        } else {
                            log::debug!("{}: {e:#}", spec.hook);
                            self.skipped.push(spec.hook);
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            self.links.insert(spec.program, (spec.hook, held));
        }
        if let Some(p) = &self.pins {
            p.retire_other_objects();
        }
        Ok((self.links.len() - before, detached))
    }

    /// Attaches the cgroup connect hooks once; whether they are attached,
    /// or why not.
    pub fn connect_hooks(&mut self) -> Result<(), String> {
        let ebpf = &mut self.ebpf;
        self.connect_hooks
            .get_or_insert_with(|| {
                enforce::attach_connect_hooks(ebpf).map_err(|e| format!("{e:#}"))
            })
            .clone()
    }

    /// Attaches the BPF LSM hook once; whether it is attached, or why not.
    pub fn lsm_hook(&mut self) -> Result<(), String> {
        let ebpf = &mut self.ebpf;
        self.lsm_hook
            .get_or_insert_with(|| enforce::attach_lsm(ebpf).map_err(|e| format!("{e:#}")))
            .clone()
    }

    /// Detaches everything and removes the pinned state: nothing of this
    /// monitor is left in the kernel.
    pub fn unload(mut self) -> anyhow::Result<()> {
        for (_, (_, held)) in std::mem::take(&mut self.links) {
            held.detach();
        }
        match self.pins.take() {
            Some(p) => p.remove(),
            None => Ok(()),
        }
    }
}

/// Loads the object with the kernel's offsets and the shared handlers; no
/// hook is attached yet ([`Probes::select`] does that). With a pin
/// directory, the maps of an earlier run of the same state layout are taken
/// over: its tags, and the records its programs wrote since.
pub fn load(opts: &LoadOptions) -> anyhow::Result<(Probes, Maps)> {
    if let Some(bytes) = opts.ring_buffer_bytes {
        let page = 4096;
        if bytes < page || !bytes.is_power_of_two() {
            bail!(
                "the ring buffer size must be a power of two of at least {page} bytes, not {bytes}"
            );
        }
    }
    let object = object_for_this_kernel();
    let pins = opts
        .pin_dir
        .as_deref()
        .map(|dir| pins::Pins::prepare(dir, object))
        .transpose()?;
    let ring_buffer_bytes = ring_buffer_size(pins.as_ref(), opts.ring_buffer_bytes)?;
    let mut ebpf = load_object(object, Some(opts.offsets), ring_buffer_bytes, pins.as_ref())?;
    let mut verified = Vec::new();
    let handlers = load_handlers(&mut ebpf, opts.offsets.path_walk != 0, &mut verified)?;
    let events = RingBuf::try_from(take(&mut ebpf, names::EVENTS)?)?;
    let enforce = enforce::EnforceMaps::take(|name| take(&mut ebpf, name))?;
    let sensitive =
        sensitive::SensitiveMap::new(HashMap::try_from(take(&mut ebpf, names::SENSITIVE)?)?);
    let tags = TagMap {
        tags: HashMap::try_from(take(&mut ebpf, names::TAGGED)?)?,
        bitmap: TagBitmap::map(take(&mut ebpf, names::TAG_BITMAP)?)?,
        servers: HashMap::try_from(take(&mut ebpf, names::SERVERS)?)?,
    };
    let drops = drops::DropCounters::new(PerCpuArray::try_from(take(&mut ebpf, names::DROPS)?)?);
    let failures =
        drops::FailureCounters::new(PerCpuArray::try_from(take(&mut ebpf, names::FAILURES)?)?);
    let previous_daemon = record_daemon(take(&mut ebpf, names::DAEMON)?)?;
    Ok((
        Probes {
            ebpf,
            _handlers: Some(handlers),
            pins,
            links: BTreeMap::new(),
            skipped: Vec::new(),
            failed: Vec::new(),
            verified,
            adopted: 0,
            uring: opts.offsets.uring != 0,
            connect_hooks: None,
            lsm_hook: None,
        },
        Maps {
            events,
            enforce,
            sensitive,
            tags,
            drops,
            failures,
            previous_daemon,
        },
    ))
}

/// Notes this process as the daemon of the state, returning the one noted
/// before (a restart over pinned state), if any.
fn record_daemon(map: aya::maps::Map) -> anyhow::Result<Option<u32>> {
    let mut daemon: aya::maps::Array<MapData, u32> = aya::maps::Array::try_from(map)?;
    let previous = daemon.get(&0, 0).ok().filter(|pid| *pid != 0);
    daemon.set(0, std::process::id(), 0)?;
    Ok(previous.filter(|pid| *pid != std::process::id()))
}

/// Loads (and so verifies) every program without attaching any, and says
/// what the verifier processed for each: `mcp-monitor doctor`'s report.
pub fn verify_all(offsets: KernelOffsets) -> anyhow::Result<Vec<(String, Option<u32>)>> {
    let mut ebpf = load_object(object_for_this_kernel(), Some(offsets), None, None)?;
    let mut verified = Vec::new();
    let _handlers = load_handlers(&mut ebpf, offsets.path_walk != 0, &mut verified)?;
    for spec in programs() {
        load_program(&mut ebpf, &spec, &mut verified)?;
    }
    Ok(verified)
}

/// Loads the no-op programs on every hook (the benchmark floor).
pub fn load_floor() -> anyhow::Result<Probes> {
    let ebpf = load_object(FLOOR_OBJECT, None, None, None)?;
    let mut probes = Probes {
        ebpf,
        _handlers: None,
        pins: None,
        links: BTreeMap::new(),
        skipped: Vec::new(),
        failed: Vec::new(),
        verified: Vec::new(),
        adopted: 0,
        uring: true,
        connect_hooks: None,
        lsm_hook: None,
    };
    probes.select(&programs().collect::<Vec<_>>())?;
    Ok(probes)
}

/// Whether this kernel has `hook` (a raw tracepoint is taken as present).
fn hook_exists(hook: Hook) -> bool {
    match hook {
        Hook::TracePoint(category, name) => crate::kernel::tracefs::Tracefs::find()
            .is_ok_and(|t| t.tracepoint_exists(category, name)),
        Hook::RawTracePoint(_) => true,
    }
}

/// The size of the ring buffer to load with: a ring buffer taken over keeps
/// its size (user space must map it as it is), whatever was asked for now.
fn ring_buffer_size(pins: Option<&pins::Pins>, asked: Option<u32>) -> anyhow::Result<Option<u32>> {
    let Some(p) = pins.filter(|p| p.resumed) else {
        return Ok(asked);
    };
    let path = p.map_path(names::EVENTS);
    let pinned = aya::maps::MapInfo::from_pin(&path)
        .with_context(|| format!("reading the pinned ring buffer {}", path.display()))?
        .max_entries();
    if let Some(asked) = asked.filter(|a| *a != pinned) {
        log::warn!(
            "the ring buffer taken over from the earlier run is {pinned} bytes, not the {asked} asked for; \
             `mcp-monitor unload` before the start makes a new one"
        );
    }
    Ok(Some(pinned))
}

/// The programs as this kernel's verifier accepts them.
fn object_for_this_kernel() -> &'static [u8] {
    if crate::kernel::offsets::bpf_atomics() {
        OBJECT
    } else {
        COMPAT_OBJECT
    }
}

fn load_object(
    object: &[u8],
    offsets: Option<KernelOffsets>,
    ring_buffer_bytes: Option<u32>,
    pins: Option<&pins::Pins>,
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
    if let Some(pins) = pins {
        for map in names::PINNED {
            loader.map_pin_path(map, pins.map_path(map));
        }
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

/// The instructions the verifier processed, summed over `programs`; `None`
/// when the kernel does not report them (before 5.16).
pub fn verified_total(programs: &[(String, Option<u32>)]) -> Option<u64> {
    programs.iter().map(|(_, n)| n.map(u64::from)).sum()
}

/// Instructions the verifier processed for a loaded program (5.16+).
fn verified_insns(info: Result<ProgramInfo, ProgramError>) -> Option<u32> {
    info.map_err(|e| log::debug!("program info: {e}"))
        .ok()
        .and_then(|i| i.verified_instruction_count())
}

fn take(ebpf: &mut Ebpf, name: &str) -> anyhow::Result<aya::maps::Map> {
    ebpf.take_map(name)
        .ok_or_else(|| anyhow!("map {name} is missing from the eBPF object"))
}

/// Loads (verifies) `spec`'s program unless it is loaded already (attached
/// before a reload detached it), noting what the verifier processed.
fn load_program(
    ebpf: &mut Ebpf,
    spec: &ProgramSpec,
    verified: &mut Vec<(String, Option<u32>)>,
) -> anyhow::Result<()> {
    let program = ebpf
        .program_mut(spec.program)
        .ok_or_else(|| anyhow!("program {} is missing from the eBPF object", spec.program))?;
    if program.fd().is_ok() {
        return Ok(());
    }
    let rejected = || format!("the verifier rejected {}", spec.program);
    let info = match spec.hook {
        Hook::TracePoint(..) => {
            let tp: &mut TracePoint = program.try_into()?;
            tp.load().with_context(rejected)?;
            tp.info()
        }
        Hook::RawTracePoint(_) => {
            let tp: &mut RawTracePoint = program.try_into()?;
            tp.load().with_context(rejected)?;
            tp.info()
        }
    };
    verified.push((spec.program.to_owned(), verified_insns(info)));
    Ok(())
}

/// Loads `spec`'s program if needed and attaches it to its hook.
fn attach(
    ebpf: &mut Ebpf,
    spec: &ProgramSpec,
    verified: &mut Vec<(String, Option<u32>)>,
) -> anyhow::Result<links::Held> {
    load_program(ebpf, spec, verified)?;
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
            let id = tp.attach(category, name).with_context(what)?;
            links::Held::from_tracepoint(tp.take_link(id)?)
        }
        Hook::RawTracePoint(name) => {
            let tp: &mut RawTracePoint = program.try_into()?;
            let id = tp.attach(name).with_context(what)?;
            Ok(links::Held::Fd(tp.take_link(id)?.into()))
        }
    }
}

/// The kernel's tagged processes: the map tgid → tag, and the bitmap every
/// program checks first. A tag is written before its bit is set and its bit
/// cleared before the tag is removed, as the kernel programs do.
pub struct TagMap {
    tags: HashMap<MapData, u32, Tag>,
    bitmap: TagBitmap,
    /// server id → name, for a daemon that takes the tags over.
    servers: HashMap<MapData, u32, ServerRecord>,
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

    /// Every tagged process (walks the map: at start-up, not per event).
    pub fn entries(&self) -> Vec<(u32, Tag)> {
        self.tags.iter().filter_map(Result::ok).collect()
    }

    /// Keeps a server's name beside its tags.
    pub fn remember_server(&mut self, id: u32, record: &ServerRecord) {
        if let Err(e) = self.servers.insert(id, record, 0) {
            log::warn!("keeping the name of server {id} in the kernel: {e}");
        }
    }

    pub fn forget_server(&mut self, id: u32) {
        let _ = self.servers.remove(&id);
    }

    /// The servers an earlier run left, by id.
    pub fn servers(&self) -> Vec<(u32, ServerRecord)> {
        self.servers.iter().filter_map(Result::ok).collect()
    }

    /// Number of entries (walks the map: for reports, not per event).
    pub fn len(&self) -> usize {
        self.tags.keys().filter(Result::is_ok).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A server's name or host cut to fit a [`ServerRecord`] field (at a
/// character boundary), NUL-padded.
pub fn record_text(text: &str) -> [u8; SERVER_NAME_LEN] {
    let mut out = [0u8; SERVER_NAME_LEN];
    let mut end = text.len().min(SERVER_NAME_LEN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out[..end].copy_from_slice(&text.as_bytes()[..end]);
    out
}

/// The text of a [`ServerRecord`] field.
pub fn text_of(field: &[u8; SERVER_NAME_LEN]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
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
