//! Reading a configuration or rules file that a user names: a regular file
//! of bounded size, in UTF-8. A FIFO would hang start-up, `/dev/zero` would
//! grow memory without end, and a binary file deserves its own message.
use std::{
    fs::OpenOptions,
    io::{self, Read as _},
    os::unix::fs::OpenOptionsExt as _,
    path::Path,
};

/// Configuration files: far larger than any real one.
pub const CONFIG_LIMIT: u64 = 1 << 20;
/// Rule files: the defaults are ~60 KiB; a generous bound for large sets.
pub const RULES_LIMIT: u64 = 16 << 20;

/// The text of the regular file at `path`, at most `limit` bytes. The errors
/// say which of the conditions failed, in words a user can act on.
pub fn read(path: &Path, limit: u64) -> io::Result<String> {
    // Non-blocking: opening a FIFO for reading must not wait for a writer.
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a device, FIFO or socket cannot hold it)",
        ));
    }
    if meta.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} bytes, more than the {limit} allowed", meta.len()),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow while it is read: never past the limit.
    file.by_ref().take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("more than the {limit} bytes allowed"),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_large_and_binary_files_are_refused() {
        let e = read(Path::new("/dev/zero"), RULES_LIMIT).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");

        let dir = std::env::temp_dir().join(format!("mcpmon-textfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&fifo, RULES_LIMIT).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");

        let big = dir.join("big.yaml");
        std::fs::write(&big, vec![b'#'; 2048]).unwrap();
        let e = read(&big, 1024).unwrap_err();
        assert!(
            e.to_string().contains("2048 bytes, more than the 1024"),
            "{e}"
        );

        let binary = dir.join("bin.yaml");
        std::fs::write(&binary, b"rules: \xff\xfe").unwrap();
        let e = read(&binary, 1024).unwrap_err();
        assert!(
            e.to_string()
                .contains("not UTF-8 text (invalid byte at offset 7)"),
            "{e}"
        );

        let ok = dir.join("ok.yaml");
        std::fs::write(&ok, "- list: x\n").unwrap();
        assert_eq!(read(&ok, 1024).unwrap(), "- list: x\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
