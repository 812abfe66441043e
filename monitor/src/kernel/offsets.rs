//! The kernel struct and tracepoint record offsets the probes need, read from
//! this kernel's BTF and tracefs at start-up (never hard-coded).
use anyhow::{Context, Result, anyhow, bail};
use monitor_common::{ABSENT, KernelOffsets};

use super::btf::{Btf, BtfError, VMLINUX_BTF};
use super::tracefs::Tracefs;

/// A struct member the probes read, with the width they read it at.
struct Wanted {
    strukt: &'static str,
    member: &'static str,
    size: u32,
}

const fn want(strukt: &'static str, member: &'static str, size: u32) -> Wanted {
    Wanted {
        strukt,
        member,
        size,
    }
}

/// Reads the running kernel's BTF and tracefs and fills every field of
/// [`KernelOffsets`].
pub fn kernel_offsets() -> Result<KernelOffsets> {
    let btf = load_vmlinux_btf()?;
    let tracefs = Tracefs::find().map_err(|e| anyhow!("{e}"))?;
    kernel_offsets_from(&btf, &tracefs)
}

/// Reads `/sys/kernel/btf/vmlinux`, with an error that says what to do.
pub fn load_vmlinux_btf() -> Result<Btf> {
    match Btf::from_sys_fs() {
        Ok(btf) => Ok(btf),
        Err(BtfError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => bail!(
            "this kernel has no BTF at {VMLINUX_BTF}: mcp-monitor needs a kernel built with CONFIG_DEBUG_INFO_BTF=y"
        ),
        Err(e) => Err(anyhow!("{e}")).context(format!("reading this kernel's BTF ({VMLINUX_BTF})")),
    }
}

/// [`kernel_offsets`] from an already loaded BTF and tracefs.
pub fn kernel_offsets_from(btf: &Btf, tracefs: &Tracefs) -> Result<KernelOffsets> {
    let member = |w: Wanted| -> Result<u32> {
        let info = btf.member(w.strukt, w.member).map_err(|e| {
            anyhow!(
                "{e}; mcp-monitor cannot read {}.{} on this kernel",
                w.strukt,
                w.member
            )
        })?;
        if info.size != Some(w.size) {
            bail!(
                "{}.{} is {} bytes in this kernel's BTF, mcp-monitor reads it as {} bytes",
                w.strukt,
                w.member,
                info.size
                    .map_or_else(|| "of unknown size".to_owned(), |s| s.to_string()),
                w.size
            );
        }
        Ok(info.offset)
    };
    let ptr = std::mem::size_of::<usize>() as u32;
    let mut off = KernelOffsets {
        task_tgid: member(want("task_struct", "tgid", 4))?,
        task_real_parent: member(want("task_struct", "real_parent", ptr))?,
        task_mm: member(want("task_struct", "mm", ptr))?,
        task_exit_code: member(want("task_struct", "exit_code", 4))?,
        mm_arg_start: member(want("mm_struct", "arg_start", 8))?,
        mm_arg_end: member(want("mm_struct", "arg_end", 8))?,
        mm_env_start: member(want("mm_struct", "env_start", 8))?,
        mm_env_end: member(want("mm_struct", "env_end", 8))?,
        ..KernelOffsets::absent()
    };

    if !btf.has_enum_value("BPF_FUNC_loop") {
        log::warn!(
            "this kernel has no bpf_loop (5.17+): paths will be resolved in user space only (less reliable)"
        );
    } else {
        match with_path_walk(btf, off) {
            Ok(with) => off = with,
            Err(e) => {
                log::warn!("paths will be resolved in user space only (less reliable): {e:#}")
            }
        }
    }

    let exit = tracefs
        .format("sched", "sched_process_exit")
        .map_err(|e| anyhow!("{e}; mcp-monitor needs sched:sched_process_exit"))?;
    off.exit_group_dead = exit.field("group_dead").map_or(ABSENT, |f| f.offset);

    let exec = tracefs
        .format("sched", "sched_process_exec")
        .map_err(|e| anyhow!("{e}; mcp-monitor needs sched:sched_process_exec"))?;
    let filename = exec.field("filename").ok_or_else(|| {
        anyhow!("sched:sched_process_exec has no `filename` field on this kernel")
    })?;
    if !filename.data_loc || filename.size != 4 {
        bail!(
            "sched:sched_process_exec field `filename` is `{}` ({} bytes), mcp-monitor expects a 4-byte __data_loc",
            filename.decl,
            filename.size
        );
    }
    off.exec_filename = filename.offset;
    // Prevent mode needs no bpf_loop: it works on kernels that cannot walk.
    match with_identity(btf, off) {
        Ok(with) => off = with,
        Err(e) => log::info!("prevent mode will decide its rules in user space only: {e:#}"),
    }
    if off.path_walk == 1 {
        match with_uring(btf, tracefs, off) {
            Ok(with) => off = with,
            Err(e) => log::info!("files used through io_uring will not be named: {e:#}"),
        }
    }
    Ok(off)
}

/// Adds what the `io_uring_complete` program needs to name the files
/// requests used: the record's layout (Linux 5.19+) and `io_kiocb`'s.
fn with_uring(btf: &Btf, tracefs: &Tracefs, base: KernelOffsets) -> Result<KernelOffsets> {
    use monitor_common::{URING_COMPLETE_REQ, URING_COMPLETE_RES};
    let format = tracefs
        .format("io_uring", "io_uring_complete")
        .map_err(|e| anyhow!("{e}"))?;
    let at = |name: &str, offset: usize, size: u32| -> Result<()> {
        match format.field(name) {
            Some(f) if f.offset as usize == offset && f.size == size => Ok(()),
            Some(f) => bail!(
                "io_uring:io_uring_complete has `{}` at offset {} ({} bytes), not {offset} ({size} bytes)",
                f.name,
                f.offset,
                f.size
            ),
            None => bail!("io_uring:io_uring_complete has no `{name}` field (kernels before 5.19)"),
        }
    };
    at("req", URING_COMPLETE_REQ, 8)?;
    at("res", URING_COMPLETE_RES, 4)?;
    let member = |strukt: &str, member: &str, size: u32| -> Result<u32> {
        let info = btf.member(strukt, member).map_err(|e| anyhow!("{e}"))?;
        if info.size != Some(size) {
            bail!("{strukt}.{member} is not {size} bytes in this kernel's BTF");
        }
        Ok(info.offset)
    };
    let ptr = std::mem::size_of::<usize>() as u32;
    let file = member("io_kiocb", "file", ptr)?;
    // An open request's `struct io_open` overlays the request's first bytes
    // (`io_kiocb_to_cmd`), the union `file` is part of.
    let file_slot = member("io_open", "file_slot", 4)?;
    Ok(KernelOffsets {
        uring: 1,
        io_kiocb_file: file,
        io_kiocb_opcode: member("io_kiocb", "opcode", 1)?,
        io_open_file_slot: file + file_slot,
        ..base
    })
}

/// Whether this kernel's BPF has atomic instructions beyond add (and, or,
/// exchange, compare-and-exchange): Linux 5.12. Nothing in BTF names them, so
/// the version decides; an unknown version is taken as a new kernel.
pub fn bpf_atomics() -> bool {
    has_bpf_atomics(super::capabilities::kernel_version())
}

fn has_bpf_atomics(version: Option<(u32, u32, u32)>) -> bool {
    version.is_none_or(|v| v >= (5, 12, 0))
}

/// Adds the offsets the kernel-side path walk needs (`flags::RESOLVED_*`) to
/// `base` and sets `path_walk`. Unlike the others, several are legitimately 0
/// (`path.mnt`, `vfsmount.mnt_root`).
fn with_path_walk(btf: &Btf, base: KernelOffsets) -> Result<KernelOffsets> {
    let ptr = std::mem::size_of::<usize>() as u32;
    let at = |strukt: &str, member: &str, size: u32| {
        sized_member(btf, strukt, member, size).context("needed to resolve paths in the kernel")
    };
    let path_size = btf.struct_size("path").map_err(|e| anyhow!("{e}"))?;
    let base = with_open_files(btf, base).context("needed to resolve paths in the kernel")?;
    Ok(KernelOffsets {
        path_walk: 1,
        task_fs: at("task_struct", "fs", ptr)?,
        path_mnt: at("path", "mnt", ptr)?,
        fs_root: at("fs_struct", "root", path_size)?,
        fs_pwd: at("fs_struct", "pwd", path_size)?,
        dentry_d_name_name: at("dentry", "d_name.name", ptr)?,
        vfsmount_mnt_root: at("vfsmount", "mnt_root", ptr)?,
        mount_mnt: at(
            "mount",
            "mnt",
            btf.struct_size("vfsmount").map_err(|e| anyhow!("{e}"))?,
        )?,
        mount_mnt_parent: at("mount", "mnt_parent", ptr)?,
        mount_mnt_mountpoint: at("mount", "mnt_mountpoint", ptr)?,
        ..base
    })
}

/// Adds what both the path walk and prevent mode read of an open file: the
/// `struct file` behind an fd, its flags, and its dentry chain with the
/// inodes' numbers and modes.
fn with_open_files(btf: &Btf, base: KernelOffsets) -> Result<KernelOffsets> {
    let ptr = std::mem::size_of::<usize>() as u32;
    let at = |strukt: &str, member: &str, size: u32| sized_member(btf, strukt, member, size);
    let path_size = btf.struct_size("path").map_err(|e| anyhow!("{e}"))?;
    Ok(KernelOffsets {
        task_files: at("task_struct", "files", ptr)?,
        files_fdt: at("files_struct", "fdt", ptr)?,
        fdtable_max_fds: at("fdtable", "max_fds", 4)?,
        fdtable_fd: at("fdtable", "fd", ptr)?,
        file_f_path: at("file", "f_path", path_size)?,
        file_f_flags: at("file", "f_flags", 4)?,
        path_dentry: at("path", "dentry", ptr)?,
        dentry_d_parent: at("dentry", "d_parent", ptr)?,
        dentry_d_inode: at("dentry", "d_inode", ptr)?,
        inode_i_ino: at("inode", "i_ino", 8)?,
        inode_i_mode: at("inode", "i_mode", 2)?,
        ..base
    })
}

/// The offset of `strukt.member`, which must be `size` bytes.
fn sized_member(btf: &Btf, strukt: &str, member: &str, size: u32) -> Result<u32> {
    let info = btf.member(strukt, member).map_err(|e| anyhow!("{e}"))?;
    if info.size != Some(size) {
        bail!("{strukt}.{member} is not {size} bytes in this kernel's BTF");
    }
    Ok(info.offset)
}

/// Adds what prevent mode needs to tell a file's identity (device, inode),
/// the executable of a process and its parent's name in the kernel.
fn with_identity(btf: &Btf, base: KernelOffsets) -> Result<KernelOffsets> {
    let ptr = std::mem::size_of::<usize>() as u32;
    let at = |strukt: &str, member: &str, size: u32| sized_member(btf, strukt, member, size);
    let base = with_open_files(btf, base)?;
    Ok(KernelOffsets {
        identity: 1,
        task_comm: at("task_struct", "comm", 16)?,
        mm_exe_file: at("mm_struct", "exe_file", ptr)?,
        inode_i_sb: at("inode", "i_sb", ptr)?,
        super_block_s_dev: at("super_block", "s_dev", 4)?,
        ..base
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_kernel_offsets() {
        if !std::path::Path::new(VMLINUX_BTF).exists() {
            eprintln!("skipping: no {VMLINUX_BTF}");
            return;
        }
        if Tracefs::find().is_err() {
            eprintln!("skipping: tracefs not mounted");
            return;
        }
        let off = match kernel_offsets() {
            Ok(o) => o,
            Err(e) if e.to_string().contains("Permission denied") => {
                eprintln!("skipping: {e:#}");
                return;
            }
            Err(e) => panic!("{e:#}"),
        };
        eprintln!("{off:#?}");
        for v in [
            off.task_tgid,
            off.task_real_parent,
            off.task_mm,
            off.task_exit_code,
            off.mm_arg_start,
            off.mm_arg_end,
            off.exec_filename,
        ] {
            assert_ne!(v, 0, "{off:?}");
        }
        assert_eq!(off.mm_arg_end, off.mm_arg_start + 8);
        assert_eq!(off.mm_env_end, off.mm_env_start + 8);
        assert_eq!(off.path_walk, 1, "this kernel's BTF has every path offset");
        assert_eq!(off.path_dentry, off.path_mnt + 8);
        assert_ne!(off.mount_mnt, 0, "struct mount starts with its hash node");
        assert!(off.exec_filename >= 8, "past the common fields");
        assert_ne!(off.dentry_d_inode, 0);
        assert_ne!(off.inode_i_ino, 0);
        assert_ne!(off.file_f_flags, 0);
        if std::path::Path::new("/sys/kernel/tracing/events/io_uring").exists() {
            assert_eq!(off.uring, 1, "io_uring offsets on a 5.19+ kernel: {off:?}");
            assert_ne!(off.io_kiocb_opcode, 0);
            assert_ne!(off.io_open_file_slot, 0);
        }
    }

    #[test]
    fn atomics_from_5_12() {
        assert!(!has_bpf_atomics(Some((5, 10, 226))));
        assert!(has_bpf_atomics(Some((5, 12, 0))));
        assert!(has_bpf_atomics(Some((6, 18, 44))));
        assert!(has_bpf_atomics(None));
    }

    #[test]
    fn missing_btf_error_says_what_to_do() {
        let e = Btf::from_file("/nonexistent/vmlinux").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/vmlinux"), "{e}");
    }
}
