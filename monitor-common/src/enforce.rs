//! Prevent mode in the kernel: the parts of enforcing rules' conditions that
//! a probe can decide at the call, as user space compiles them into maps.
//!
//! A rule compiled for the kernel has a slot (its bit in every mask below).
//! A probe finds the candidate slots from what the call touches (the inodes
//! of the file and of the directories above it, the destination address,
//! the syscall), drops those the process is exempt from (its name, its
//! parent's name, the server it belongs to), checks the rest of the slot's
//! [`KernelRule`], and acts on the first that holds.

/// Slots: bits of a `u32` mask.
pub const MAX_KERNEL_RULES: u32 = 32;

/// Directories above a file whose rules cover it (`pmatch` of a directory).
pub const IDENTITY_DEPTH: usize = 5;
pub const MAX_ENFORCE_INODES: u32 = 8192;
pub const MAX_ENFORCE_NETS: u32 = 1024;
pub const MAX_ENFORCE_COMMS: u32 = 1024;
pub const MAX_VERDICTS: u32 = 4096;

/// [`KernelRule::class`]: where a slot is decided.
pub mod class {
    /// An open of the file (open, openat, openat2, creat).
    pub const FILE: u8 = 1;
    /// An exec of the file (at `sched_process_exec`, before the new program
    /// runs).
    pub const EXEC: u8 = 2;
    /// A connect to the address (inet, inet6).
    pub const CONNECT: u8 = 3;
    /// A syscall of [`KernelRule::calls`], at its exit.
    pub const CALL: u8 = 4;
}

/// [`KernelRule::action`].
pub mod action {
    pub const KILL: u8 = 1;
    /// Fail the call with EPERM (BPF LSM for files, the cgroup hook for
    /// connects); kernels that cannot get `KILL` from user space instead.
    pub const DENY: u8 = 2;
}

/// [`KernelRule::flags`].
pub mod rule_flags {
    /// Not when the open reached a directory (`fd.typechar != d`).
    pub const NOT_DIR: u8 = 1 << 0;
    /// Not for the process the server was tagged at (`not mcp.is_root = true`).
    pub const NOT_ROOT: u8 = 1 << 1;
    /// Only when the call succeeded (`evt.failed = false`).
    pub const SUCCEEDED: u8 = 1 << 2;
}

/// [`KernelRule::access`]: the open's access mode (`evt.is_open_read`/`_write`).
pub mod access {
    pub const READ: u8 = 1 << 0;
    pub const WRITE: u8 = 1 << 1;
}

/// Ports one connect rule may name.
pub const RULE_PORTS: usize = 8;

/// One compiled rule, as user space sums it up: the kernel gets it spread
/// over the [`masks`] (and its ports over a port map).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelRule {
    /// A [`class`] constant; 0 for an empty slot.
    pub class: u8,
    /// An [`action`] constant.
    pub action: u8,
    /// [`access`] bits of which one must be set; 0 for any.
    pub access: u8,
    /// [`rule_flags`].
    pub flags: u8,
    /// `OpenSyscall` kinds (bit per value) the file class applies to.
    pub open_types: u8,
    /// Ports in `ports` (connect); 0: any port.
    pub nports: u8,
    pub ports: [u16; RULE_PORTS],
}

/// A name prefix (at most 15 bytes) as [`PrefixRule`] holds it.
pub fn comm_prefix_words(prefix: &[u8]) -> ([u64; 2], [u64; 2]) {
    let mut bytes = [0u8; 16];
    let mut mask = [0u8; 16];
    let n = if prefix.len() > 15 { 15 } else { prefix.len() };
    let mut i = 0;
    while i < n {
        bytes[i] = prefix[i];
        mask[i] = 0xff;
        i += 1;
    }
    (words(&bytes), words(&mask))
}

/// A 16-byte name as two little-endian words.
pub fn words(b: &[u8; 16]) -> [u64; 2] {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&b[..8]);
    hi.copy_from_slice(&b[8..]);
    [u64::from_le_bytes(lo), u64::from_le_bytes(hi)]
}

/// Key of the inode map: the kernel's `s_dev` of the file's filesystem and
/// its inode number.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InodeKey {
    pub ino: u64,
    pub dev: u32,
    pub _pad: u32,
}

/// The slots an inode stands for: as the file itself (`exact`, `fd.name in`)
/// and as the file or a directory above it (`below`, `pmatch`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InodeRules {
    pub exact: u32,
    pub below: u32,
}

/// The slots a name exempts: as the process's own (`proc.name`), and as its
/// parent's (`proc.pname`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommRules {
    pub own: u32,
    pub parent: u32,
}

/// Key of the address trie: prefix length in bits, then the address as
/// IPv6 (IPv4 mapped, `::ffff:a.b.c.d`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetKey {
    pub prefix_len: u32,
    pub addr: [u8; 16],
}

/// `EventHeader::enforced`: what the probe did, [`ENFORCED`] set when it acted.
pub const ENFORCED: u32 = 1 << 31;

/// The header value for `action` taken on `slot`.
pub const fn enforced(action: u8, slot: u32) -> u32 {
    ENFORCED | ((action as u32) << 8) | (slot & 0xff)
}

/// The action and slot of a header value, if the probe acted.
pub const fn enforced_parts(value: u32) -> Option<(u8, u32)> {
    if value & ENFORCED == 0 {
        None
    } else {
        Some((((value >> 8) & 0xff) as u8, value & 0xff))
    }
}

/// Index of the settings in the `ENFORCE_CONFIG` array.
pub mod config {
    /// Non-zero when any slot is filled: probes skip the lookups otherwise.
    pub const ACTIVE: u32 = 0;
    /// The daemon's tgid, which the probes never act on (nor on pid 1),
    /// whatever was tagged.
    pub const MONITOR: u32 = 1;
    pub const LEN: u32 = 2;
}

/// Indexes of the `ENFORCE_MASKS` array: for each property of a call, the
/// slots whose rule allows it. The probe ANDs the masks of the call's
/// properties into its candidates, so that checking every rule costs a few
/// array reads and no branch per rule (which the verifier would explore).
pub mod masks {
    /// + a [`super::class`] constant: the slots of that class.
    pub const CLASS: u32 = 0;
    /// + the open's [`super::access`] bits (1 to 3): slots that allow it.
    pub const ACCESS: u32 = 8;
    /// + the `OpenSyscall` value: slots of file rules that name it.
    pub const OPEN_TYPE: u32 = 12;
    /// Slots that also act when the open reached a directory.
    pub const DIR_OK: u32 = 20;
    /// Slots that also act on the process the server was tagged at.
    pub const ROOT_OK: u32 = 21;
    /// Slots whose action is deny.
    pub const DENY: u32 = 22;
    /// Connect slots that name no port.
    pub const ANY_PORT: u32 = 23;
    pub const LEN: u32 = 24;
}

/// Name prefixes that exempt a process or its parent (`proc.name
/// startswith "npm exec "`).
pub const MAX_PREFIXES: u32 = 8;

/// One name prefix, with the slots it exempts.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrefixRule {
    /// The prefix as two little-endian words of a 16-byte name, and the
    /// mask of the bytes it covers: a name has it when `name & mask ==
    /// prefix` (two compares, where a byte loop would cost the verifier a
    /// branch per byte). All-zero mask: an empty entry.
    pub words: [u64; 2],
    pub mask: [u64; 2],
    /// Slots it exempts as the process's own name, and as its parent's.
    pub own: u32,
    pub parent: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforced_round_trips() {
        assert_eq!(enforced_parts(0), None);
        assert_eq!(
            enforced_parts(enforced(action::DENY, 31)),
            Some((action::DENY, 31))
        );
    }
}
