//! The kernel side of prevent mode, as user space drives it: the maps the
//! probes decide from (written from a [`KernelPlan`]), and the two hooks
//! that fail a call rather than kill the caller (the cgroup connect hooks,
//! the BPF LSM `file_open` hook).
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;

use anyhow::{Context as _, anyhow};
use aya::{
    Btf, Ebpf,
    maps::{Array, HashMap, MapData, lpm_trie::Key, lpm_trie::LpmTrie},
    programs::{CgroupAttachMode, CgroupSockAddr, Lsm},
};
use monitor_common::enforce::{
    CommRules, InodeKey, InodeRules, MAX_ENFORCE_INODES, MAX_PREFIXES, PrefixRule, config,
};

use crate::enforce::plan::KernelPlan;

/// The maps, and what was last written to those rebuilt in place.
pub struct EnforceMaps {
    config: Array<MapData, u32>,
    masks: Array<MapData, u32>,
    ports: HashMap<MapData, u16, u32>,
    prefixes: Array<MapData, PrefixRule>,
    inodes: HashMap<MapData, InodeKey, InodeRules>,
    nets: LpmTrie<MapData, [u8; 16], u32>,
    comms: HashMap<MapData, [u8; 16], CommRules>,
    calls: Array<MapData, u32>,
    skip: HashMap<MapData, u32, u32>,
    written_inodes: BTreeMap<InodeKey, InodeRules>,
    written_nets: Vec<([u8; 16], u32)>,
    written_comms: BTreeMap<[u8; 16], CommRules>,
    written_ports: BTreeMap<u16, u32>,
    written_skips: BTreeMap<u32, u32>,
}

impl EnforceMaps {
    /// The maps, each taken out of the loaded object by `take` (by name).
    pub fn take(
        mut take: impl FnMut(&str) -> anyhow::Result<aya::maps::Map>,
    ) -> anyhow::Result<EnforceMaps> {
        Ok(EnforceMaps {
            config: Array::try_from(take("ENFORCE_CONFIG")?)?,
            masks: Array::try_from(take("ENFORCE_MASKS")?)?,
            ports: HashMap::try_from(take("ENFORCE_PORTS")?)?,
            prefixes: Array::try_from(take("ENFORCE_PREFIXES")?)?,
            inodes: HashMap::try_from(take("ENFORCE_INODES")?)?,
            nets: LpmTrie::try_from(take("ENFORCE_NETS")?)?,
            comms: HashMap::try_from(take("ENFORCE_COMMS")?)?,
            calls: Array::try_from(take("ENFORCE_CALLS")?)?,
            skip: HashMap::try_from(take("ENFORCE_SKIP")?)?,
            written_inodes: BTreeMap::new(),
            written_nets: Vec::new(),
            written_comms: BTreeMap::new(),
            written_ports: BTreeMap::new(),
            written_skips: BTreeMap::new(),
        })
    }

    /// Makes the kernel decide `plan` (or nothing, with `None`). The probes
    /// stop deciding first, so they never see half of a plan.
    pub fn apply(&mut self, plan: Option<&KernelPlan>, homes: &[String]) -> anyhow::Result<()> {
        self.config.set(config::ACTIVE, 0, 0)?;
        self.config.set(config::MONITOR, std::process::id(), 0)?;
        let empty = KernelPlan::default();
        let plan = plan.unwrap_or(&empty);
        for (i, mask) in plan.masks().into_iter().enumerate() {
            self.masks.set(i as u32, mask, 0)?;
        }
        let prefixes = plan.prefixes();
        for i in 0..MAX_PREFIXES {
            let p = prefixes.get(i as usize).copied().unwrap_or_default();
            self.prefixes.set(i, p, 0)?;
        }
        let ports = plan.ports();
        if let Some((port, e)) = sync(&mut self.ports, &self.written_ports, &ports).pop() {
            return Err(e).with_context(|| format!("port {port}"));
        }
        self.written_ports = ports;
        for (i, mask) in plan.calls().into_iter().enumerate() {
            self.calls.set(i as u32, mask, 0)?;
        }
        let comms = plan
            .comms()
            .into_iter()
            .map(|(comm, (own, parent))| (comm, CommRules { own, parent }))
            .collect();
        if let Some((_, e)) = sync(&mut self.comms, &self.written_comms, &comms).pop() {
            return Err(e).context("a process name");
        }
        self.written_comms = comms;
        for (addr, len) in std::mem::take(&mut self.written_nets) {
            let _ = self.nets.remove(&Key::new(len, addr));
        }
        for ((addr, len), mask) in plan.nets() {
            self.nets.insert(&Key::new(len, addr), mask, 0)?;
            self.written_nets.push((addr, len));
        }
        self.refresh_files(plan, homes);
        if !plan.slots.is_empty() {
            self.config.set(config::ACTIVE, 1, 0)?;
        }
        Ok(())
    }

    /// Rewrites the inodes of the protected paths (a file replaced by rename
    /// has a new one). Returns how many the kernel holds.
    pub fn refresh_files(&mut self, plan: &KernelPlan, homes: &[String]) -> usize {
        let wanted = inodes(plan, homes);
        for (key, e) in sync(&mut self.inodes, &self.written_inodes, &wanted) {
            log::warn!(
                "prevent mode: inode {} not protected in the kernel: {e}",
                key.ino
            );
        }
        self.written_inodes = wanted;
        self.written_inodes.len()
    }

    /// Makes the slots the kernel leaves to user space, per server id,
    /// `wanted` (servers whose policy turns enforcement off or grants
    /// exceptions); writes only what changed.
    pub fn sync_skips(&mut self, wanted: BTreeMap<u32, u32>) {
        for (id, e) in sync(&mut self.skip, &self.written_skips, &wanted) {
            log::warn!("prevent mode: server {id}'s policy not given to the kernel: {e}");
        }
        self.written_skips = wanted;
    }

    /// The probes stop deciding (at shutdown: nothing acts while no daemon
    /// reports it).
    pub fn deactivate(&mut self) {
        let _ = self.config.set(config::ACTIVE, 0, 0);
    }
}

/// Makes `map` hold `wanted` where it held `written`: removes the keys
/// gone, writes the values that changed. Returns the writes that failed.
fn sync<K: aya::Pod + Ord, V: aya::Pod + PartialEq>(
    map: &mut HashMap<MapData, K, V>,
    written: &BTreeMap<K, V>,
    wanted: &BTreeMap<K, V>,
) -> Vec<(K, aya::maps::MapError)> {
    for gone in written.keys().filter(|k| !wanted.contains_key(k)) {
        let _ = map.remove(gone);
    }
    wanted
        .iter()
        .filter(|(k, v)| written.get(k) != Some(v))
        .filter_map(|(k, v)| map.insert(k, v, 0).err().map(|e| (*k, e)))
        .collect()
}

/// The kernel's identity (superblock device, inode) of each protected path
/// that exists, with the slots it stands for.
fn inodes(plan: &KernelPlan, homes: &[String]) -> BTreeMap<InodeKey, InodeRules> {
    let mut out: BTreeMap<InodeKey, InodeRules> = BTreeMap::new();
    for (path, (exact, below)) in plan.paths(homes) {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let key = InodeKey {
            ino: meta.ino(),
            dev: kernel_dev(meta.dev()),
            _pad: 0,
        };
        let e = out.entry(key).or_default();
        e.exact |= exact;
        e.below |= below;
        if out.len() >= MAX_ENFORCE_INODES as usize {
            break;
        }
    }
    out
}

/// `st_dev` as the kernel's `dev_t` (`MKDEV`: major << 20 | minor), which
/// is what a superblock's `s_dev` holds.
pub fn kernel_dev(st_dev: u64) -> u32 {
    let (major, minor) = (libc::major(st_dev), libc::minor(st_dev));
    (major << 20) | (minor & 0xfffff)
}

/// Attaches the connect hooks to the root cgroup: every inet connect on the
/// machine runs them (a map lookup while prevent mode is on). Through BPF
/// links, which sit beside other programs on the cgroup whatever the mode
/// (a link takes no flags: `Single` passes none).
pub fn attach_connect_hooks(ebpf: &mut Ebpf) -> anyhow::Result<()> {
    let root = cgroup2_root().ok_or_else(|| anyhow!("no cgroup v2 hierarchy is mounted"))?;
    let cgroup =
        std::fs::File::open(&root).with_context(|| format!("opening the cgroup v2 root {root}"))?;
    for name in ["enforce_connect4", "enforce_connect6"] {
        let program: &mut CgroupSockAddr = ebpf
            .program_mut(name)
            .ok_or_else(|| anyhow!("program {name} is missing from the eBPF object"))?
            .try_into()?;
        if program.fd().is_err() {
            program
                .load()
                .with_context(|| format!("the verifier rejected {name}"))?;
        }
        program
            .attach(&cgroup, CgroupAttachMode::Single)
            .with_context(|| format!("attaching {name} to {root}"))?;
    }
    Ok(())
}

/// Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup`, or
/// `/sys/fs/cgroup/unified` on hybrid systems).
pub fn cgroup2_root() -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (_, dir, fstype) = (f.next()?, f.next()?, f.next()?);
        (fstype == "cgroup2").then(|| dir.to_owned())
    })
}

/// Attaches the BPF LSM `file_open` hook, where the kernel runs BPF LSM.
pub fn attach_lsm(ebpf: &mut Ebpf) -> anyhow::Result<()> {
    let active = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    if !active.trim().split(',').any(|l| l == "bpf") {
        anyhow::bail!(
            "BPF LSM is not active on this kernel (/sys/kernel/security/lsm: {active:?})"
        );
    }
    let btf = Btf::from_sys_fs().context("reading the kernel's BTF")?;
    let program: &mut Lsm = ebpf
        .program_mut("enforce_file_open")
        .ok_or_else(|| anyhow!("program enforce_file_open is missing from the eBPF object"))?
        .try_into()?;
    if program.fd().is_err() {
        program
            .load("file_open", &btf)
            .context("loading the BPF LSM file_open hook")?;
    }
    program
        .attach()
        .context("attaching the BPF LSM file_open hook")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_as_the_kernel_keeps_them() {
        // /dev/vda is 254:0 here; the kernel keeps MKDEV(254, 0).
        assert_eq!(kernel_dev(libc::makedev(254, 0)), 254 << 20);
        assert_eq!(kernel_dev(libc::makedev(8, 17)), (8 << 20) | 17);
        // An anonymous device (tmpfs, ramfs): major 0.
        assert_eq!(kernel_dev(libc::makedev(0, 43)), 43);
    }
}
