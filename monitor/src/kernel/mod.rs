//! Kernel introspection: what the running kernel offers and where its data
//! lives, read at start-up so nothing is hard-coded for one kernel.
//!
//! - [`btf`]: a small BTF reader (struct member offsets and sizes).
//! - [`tracefs`]: finding/mounting tracefs and parsing tracepoint formats.
//! - [`offsets`]: the [`monitor_common::KernelOffsets`] the probes need.
//! - [`capabilities`]: privileges and kernel facilities, probed.
//! - [`doctor`]: the `doctor` report and the `run` preflight.
pub mod btf;
pub mod capabilities;
pub mod doctor;
pub mod offsets;
pub mod tracefs;

/// Mounts a pseudo filesystem (tracefs, bpffs) of type `fstype` at `target`.
pub fn mount_pseudo_fs(fstype: &std::ffi::CStr, target: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let target =
        std::ffi::CString::new(target.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: valid NUL-terminated strings that outlive the call; no mount data.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
