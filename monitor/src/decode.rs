//! Ring-buffer bytes → [`Record`]: the kernel's view, checked and owned, before
//! any enrichment. Never panics: a short, unknown or garbled record is an error.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use monitor_common::{
    CallEvent, ConnectEvent, EventHeader, EventKind, ExecEvent, ExitEvent, ForkEvent, OpenEvent,
    OpenSyscall, PathEvent, SockAddr, SockEvent, Syscall, SyscallArgs, af, flags,
};

/// Header fields every record carries: the kernel's [`EventHeader`] as it
/// arrived (its fields read through this struct, `header.tgid`), with the
/// command name decoded into `comm`, which stands in for the raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub kernel: EventHeader,
    pub comm: String,
}

impl std::ops::Deref for Header {
    type Target = EventHeader;

    fn deref(&self) -> &EventHeader {
        &self.kernel
    }
}

impl std::ops::DerefMut for Header {
    fn deref_mut(&mut self) -> &mut EventHeader {
        &mut self.kernel
    }
}

/// Where a `connect` went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Inet {
        ip: IpAddr,
        port: u16,
    },
    /// A filesystem path, or `@name` for an abstract socket.
    Unix(String),
    Unreadable,
}

/// One generically paired syscall: which, its raw arguments, its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub syscall: Syscall,
    pub args: [u64; 6],
    /// The return value, or a negative errno.
    pub ret: i64,
}

impl Call {
    /// Argument `n` as the C `int` it is (fds, pids, signals).
    pub fn int(&self, n: usize) -> i32 {
        self.args.get(n).copied().unwrap_or(0) as i32
    }
}

/// A path the kernel resolved at the syscall (see `flags::RESOLVED_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelPath {
    /// Nothing was resolved (an absolute argument of a failed call, or a kernel
    /// whose structures could not be read).
    None,
    /// The file the call opened: symlinks followed, relative to the process's root.
    File(String),
    /// The directory a relative argument starts from (dirfd or cwd).
    Base(String),
    /// The walk stopped before the root; only the argument can be used.
    Incomplete,
}

impl KernelPath {
    /// Reads the leaf-first, NUL-separated components the kernel wrote.
    fn from_record(flags_: u32, resolved: &[u8], len: usize) -> KernelPath {
        if flags_ & (flags::RESOLVED_FILE | flags::RESOLVED_BASE) == 0 {
            return KernelPath::None;
        }
        if flags_ & flags::RESOLVED_INCOMPLETE != 0 {
            return KernelPath::Incomplete;
        }
        let used = &resolved[..len.min(resolved.len())];
        let mut path = String::with_capacity(used.len() + 1);
        for component in used.split(|b| *b == 0).filter(|c| !c.is_empty()).rev() {
            path.push('/');
            path.push_str(&String::from_utf8_lossy(component));
        }
        if path.is_empty() {
            path.push('/');
        }
        if flags_ & flags::RESOLVED_FILE != 0 {
            KernelPath::File(path)
        } else {
            KernelPath::Base(path)
        }
    }
}

/// The directory the kernel resolved at a path call, and whose it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelBase {
    /// The second path's directory (else the first's).
    pub of_path2: bool,
    /// [`KernelPath::Base`] when resolved.
    pub dir: KernelPath,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Fork {
        header: Header,
        child_tgid: u32,
    },
    Exec {
        header: Header,
        filename: String,
        argv: Vec<String>,
        /// The dynamic loader's variables of the new environment (`LD_*=…`),
        /// for tagged processes on kernels with `bpf_loop`.
        loader_env: Vec<String>,
    },
    Exit {
        header: Header,
        exit_code: i32,
    },
    Open {
        header: Header,
        syscall: OpenSyscall,
        dirfd: i32,
        flags: u64,
        mode: u64,
        ret: i64,
        path: String,
        resolved: KernelPath,
    },
    Connect {
        header: Header,
        fd: i32,
        ret: i64,
        endpoint: Endpoint,
    },
    /// A call its arguments describe, with the user memory it pointed to
    /// (see `Syscall::user_data`).
    Call {
        header: Header,
        call: Call,
        data: Vec<u8>,
    },
    /// A call with paths: `path` and `path2` as the process passed them,
    /// `short` the fstype of a mount or the name of a memfd.
    Path {
        header: Header,
        call: Call,
        path: String,
        path2: String,
        short: String,
        /// The directory the kernel resolved for one of the relative paths.
        base: KernelBase,
    },
    /// bind (the address asked for) or accept (the peer); `None` when the
    /// call carried no address.
    Sock {
        header: Header,
        call: Call,
        endpoint: Option<Endpoint>,
    },
}

impl Record {
    pub fn header(&self) -> &Header {
        match self {
            Record::Fork { header, .. }
            | Record::Exec { header, .. }
            | Record::Exit { header, .. }
            | Record::Open { header, .. }
            | Record::Connect { header, .. }
            | Record::Call { header, .. }
            | Record::Path { header, .. }
            | Record::Sock { header, .. } => header,
        }
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Record::Fork { .. } => EventKind::Fork,
            Record::Exec { .. } => EventKind::Exec,
            Record::Exit { .. } => EventKind::Exit,
            Record::Open { .. } => EventKind::Open,
            Record::Connect { .. } => EventKind::Connect,
            Record::Call { .. } => EventKind::Call,
            Record::Path { .. } => EventKind::Path,
            Record::Sock { .. } => EventKind::Sock,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    TooShort { kind: u32, len: usize, need: usize },
    UnknownKind(u32),
    BadSyscall(u32),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooShort { kind, len, need } => {
                write!(f, "record of kind {kind} has {len} bytes, needs {need}")
            }
            DecodeError::UnknownKind(k) => write!(f, "unknown record kind {k}"),
            DecodeError::BadSyscall(s) => write!(f, "unknown syscall id {s}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Reads a record from the start of `bytes` (ring-buffer data is not aligned
/// for us). Bound to the record types: every bit pattern of them is valid.
fn read<T: Copy + monitor_common::Record>(bytes: &[u8], kind: u32) -> Result<T, DecodeError> {
    let need = std::mem::size_of::<T>();
    if bytes.len() < need {
        return Err(DecodeError::TooShort {
            kind,
            len: bytes.len(),
            need,
        });
    }
    // SAFETY: length checked; T is a plain-old-data #[repr(C)] struct from
    // monitor-common for which every bit pattern is valid.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// Reads a record sent trimmed (see `Record::MIN_LEN`): at least `MIN_LEN`
/// bytes, the missing end read as zeroes.
fn read_trimmed<T: Copy + monitor_common::Record>(
    bytes: &[u8],
    kind: u32,
) -> Result<T, DecodeError> {
    let size = std::mem::size_of::<T>();
    if bytes.len() >= size {
        return read(bytes, kind);
    }
    if bytes.len() < T::MIN_LEN {
        return Err(DecodeError::TooShort {
            kind,
            len: bytes.len(),
            need: T::MIN_LEN,
        });
    }
    let mut full = vec![0u8; size];
    full[..bytes.len()].copy_from_slice(bytes);
    read(&full, kind)
}

/// Text up to the first NUL (or `len`), lossily decoded.
fn text(bytes: &[u8], len: usize) -> String {
    let bytes = &bytes[..len.min(bytes.len())];
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn header(h: &EventHeader) -> Header {
    Header {
        kernel: *h,
        comm: text(&h.comm, h.comm.len()),
    }
}

/// Splits a NUL-separated argument block.
fn split_args(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn endpoint(addr: &SockAddr, flags_: u32) -> Endpoint {
    if flags_ & flags::ADDR_UNREADABLE != 0 {
        return Endpoint::Unreadable;
    }
    match addr.family {
        af::INET => {
            let a = &addr.addr;
            Endpoint::Inet {
                ip: IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
                port: addr.port,
            }
        }
        af::INET6 => {
            let ip = Ipv6Addr::from(addr.addr);
            // Show v4-mapped addresses as IPv4: that is where the packet goes.
            let ip = match ip.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(ip),
            };
            Endpoint::Inet {
                ip,
                port: addr.port,
            }
        }
        af::UNIX => {
            let path = &addr.unix_path;
            let used = (addr.addr_len as usize).saturating_sub(2).min(path.len());
            if used > 0 && path[0] == 0 {
                // Abstract socket: the name is every byte after the leading NUL.
                Endpoint::Unix(format!("@{}", String::from_utf8_lossy(&path[1..used])))
            } else {
                Endpoint::Unix(text(path, path.len()))
            }
        }
        _ => Endpoint::Unreadable,
    }
}

fn call(c: &SyscallArgs, ret: i64) -> Result<Call, DecodeError> {
    Ok(Call {
        syscall: Syscall::from_u32(c.syscall).ok_or(DecodeError::BadSyscall(c.syscall))?,
        args: c.args,
        ret,
    })
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let raw_kind = match bytes.first_chunk::<4>() {
        Some(b) => u32::from_ne_bytes(*b),
        None => {
            return Err(DecodeError::TooShort {
                kind: 0,
                len: bytes.len(),
                need: 4,
            });
        }
    };
    let kind = EventKind::from_u32(raw_kind).ok_or(DecodeError::UnknownKind(raw_kind))?;
    Ok(match kind {
        EventKind::Fork => {
            let ev: ForkEvent = read(bytes, raw_kind)?;
            Record::Fork {
                header: header(&ev.header),
                child_tgid: ev.child_tgid,
            }
        }
        EventKind::Exec => {
            let ev: ExecEvent = read_trimmed(bytes, raw_kind)?;
            let env_len = (ev.loader_env_len as usize).min(ev.loader_env.len());
            Record::Exec {
                header: header(&ev.header),
                filename: text(&ev.filename, ev.filename_len as usize),
                argv: split_args(&ev.args[..(ev.args_len as usize).min(ev.args.len())]),
                loader_env: split_args(&ev.loader_env[..env_len]),
            }
        }
        EventKind::Exit => {
            let ev: ExitEvent = read(bytes, raw_kind)?;
            Record::Exit {
                header: header(&ev.header),
                exit_code: ev.exit_code,
            }
        }
        EventKind::Open => {
            let ev: OpenEvent = read_trimmed(bytes, raw_kind)?;
            Record::Open {
                header: header(&ev.header),
                syscall: OpenSyscall::from_u32(ev.syscall)
                    .ok_or(DecodeError::BadSyscall(ev.syscall))?,
                dirfd: ev.dirfd,
                flags: ev.flags,
                mode: ev.mode,
                ret: ev.ret,
                path: text(&ev.path, ev.path_len as usize),
                resolved: KernelPath::from_record(
                    ev.header.flags,
                    &ev.resolved,
                    ev.resolved_len as usize,
                ),
            }
        }
        EventKind::Connect => {
            let ev: ConnectEvent = read(bytes, raw_kind)?;
            Record::Connect {
                header: header(&ev.header),
                fd: ev.fd,
                ret: ev.ret,
                endpoint: endpoint(&ev.addr, ev.header.flags),
            }
        }
        EventKind::Call => {
            let ev: CallEvent = read(bytes, raw_kind)?;
            let used = (ev.data_len as usize).min(ev.data.len());
            Record::Call {
                header: header(&ev.header),
                call: call(&ev.call, ev.ret)?,
                data: ev.data[..used].to_vec(),
            }
        }
        EventKind::Path => {
            let ev: PathEvent = read_trimmed(bytes, raw_kind)?;
            Record::Path {
                base: KernelBase {
                    of_path2: ev.header.flags & flags::BASE_OF_PATH2 != 0,
                    dir: KernelPath::from_record(ev.header.flags, &ev.base, ev.base_len as usize),
                },
                header: header(&ev.header),
                call: call(&ev.call, ev.ret)?,
                path: text(&ev.path, ev.lens[0] as usize),
                path2: text(&ev.path2, ev.lens[1] as usize),
                short: text(&ev.short, ev.lens[2] as usize),
            }
        }
        EventKind::Sock => {
            let ev: SockEvent = read(bytes, raw_kind)?;
            let none = ev.addr.family == 0 && ev.header.flags & flags::ADDR_UNREADABLE == 0;
            Record::Sock {
                header: header(&ev.header),
                call: call(&ev.call, ev.ret)?,
                endpoint: (!none).then(|| endpoint(&ev.addr, ev.header.flags)),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_common::{
        ARGS_LEN, CALL_DATA_LEN, COMM_LEN, PATH_LEN, RESOLVED_LEN, SHORT_LEN, UNIX_PATH_LEN,
    };

    fn bytes_of<T>(v: &T) -> Vec<u8> {
        let p = (v as *const T).cast::<u8>();
        unsafe { std::slice::from_raw_parts(p, std::mem::size_of::<T>()) }.to_vec()
    }

    fn hdr(kind: EventKind) -> EventHeader {
        let mut comm = [0u8; COMM_LEN];
        comm[..4].copy_from_slice(b"node");
        EventHeader {
            kind: kind as u32,
            flags: 0,
            ktime_ns: 7,
            tgid: 10,
            tid: 11,
            ppid: 1,
            uid: 1000,
            gid: 1000,
            server_id: 3,
            root_tgid: 10,
            enforced: 0,
            comm,
        }
    }

    #[test]
    fn exec_args_are_split_on_nul() {
        let mut ev = ExecEvent {
            header: hdr(EventKind::Exec),
            filename_len: 0,
            args_len: 0,
            loader_env_len: 0,
            _pad: 0,
            filename: [0; PATH_LEN],
            loader_env: [0; monitor_common::LOADER_ENV_LEN],
            args: [0; ARGS_LEN],
        };
        let f = b"/usr/bin/npx";
        ev.filename[..f.len()].copy_from_slice(f);
        ev.filename_len = f.len() as u32;
        let a = b"npx\0-y\0@modelcontextprotocol/server-filesystem\0/tmp\0";
        ev.args[..a.len()].copy_from_slice(a);
        ev.args_len = a.len() as u32;
        let e = b"LD_PRELOAD=/tmp/x.so\0";
        ev.loader_env[..e.len()].copy_from_slice(e);
        ev.loader_env_len = e.len() as u32;
        // Sent trimmed after the arguments used.
        let sent = &bytes_of(&ev)[..<ExecEvent as monitor_common::Record>::MIN_LEN + a.len()];
        let Record::Exec {
            header,
            filename,
            argv,
            loader_env,
        } = decode(sent).unwrap()
        else {
            panic!("not an exec")
        };
        assert_eq!(header.comm, "node");
        assert_eq!(filename, "/usr/bin/npx");
        assert_eq!(loader_env, ["LD_PRELOAD=/tmp/x.so"]);
        assert_eq!(
            argv,
            [
                "npx",
                "-y",
                "@modelcontextprotocol/server-filesystem",
                "/tmp"
            ]
        );
    }

    /// A socket address with no address bytes yet.
    fn sockaddr(family: u16, port: u16, addr_len: u32) -> SockAddr {
        SockAddr {
            family,
            port,
            _pad: 0,
            addr: [0; 16],
            unix_path: [0; UNIX_PATH_LEN],
            addr_len,
            _pad2: 0,
        }
    }

    #[test]
    fn connect_addresses() {
        let mut addr = sockaddr(af::INET6, 443, 28);
        addr.addr[10] = 0xff;
        addr.addr[11] = 0xff;
        addr.addr[12..].copy_from_slice(&[169, 254, 169, 254]);
        assert_eq!(
            endpoint(&addr, 0),
            Endpoint::Inet {
                ip: "169.254.169.254".parse().unwrap(),
                port: 443
            }
        );
        addr.family = af::UNIX;
        addr.unix_path[..5].copy_from_slice(b"\0dock");
        addr.addr_len = 2 + 5;
        assert_eq!(endpoint(&addr, 0), Endpoint::Unix("@dock".into()));
        addr.unix_path[0] = b'/';
        assert_eq!(endpoint(&addr, 0), Endpoint::Unix("/dock".into()));
        assert_eq!(
            endpoint(&addr, flags::ADDR_UNREADABLE),
            Endpoint::Unreadable
        );
    }

    #[test]
    fn kernel_paths_are_assembled_root_first() {
        let mut buf = [0u8; RESOLVED_LEN];
        let leaf_first = b"id_rsa\0.ssh\0u\0home\0";
        buf[..leaf_first.len()].copy_from_slice(leaf_first);
        let at = |fl, len| KernelPath::from_record(fl, &buf, len);
        assert_eq!(
            at(flags::RESOLVED_FILE, leaf_first.len()),
            KernelPath::File("/home/u/.ssh/id_rsa".into())
        );
        assert_eq!(
            at(flags::RESOLVED_BASE, leaf_first.len()),
            KernelPath::Base("/home/u/.ssh/id_rsa".into())
        );
        assert_eq!(at(flags::RESOLVED_FILE, 0), KernelPath::File("/".into()));
        assert_eq!(at(0, leaf_first.len()), KernelPath::None);
        assert_eq!(
            at(flags::RESOLVED_FILE | flags::RESOLVED_INCOMPLETE, 3),
            KernelPath::Incomplete
        );
    }

    #[test]
    fn open_records_arrive_trimmed_after_their_resolved_path() {
        use monitor_common::Record as _;
        let mut open = OpenEvent {
            header: hdr(EventKind::Open),
            syscall: 1,
            dirfd: -100,
            flags: 0,
            mode: 0,
            ret: 3,
            path_len: 4,
            resolved_len: 9,
            path: [0; PATH_LEN],
            resolved: [0; RESOLVED_LEN],
        };
        open.header.flags = flags::RESOLVED_FILE;
        open.path[..4].copy_from_slice(b"link");
        open.resolved[..9].copy_from_slice(b"key\0home\0");
        let bytes = bytes_of(&open);
        let sent = &bytes[..OpenEvent::MIN_LEN + 9];
        let Record::Open { path, resolved, .. } = decode(sent).unwrap() else {
            panic!()
        };
        assert_eq!(path, "link");
        assert_eq!(resolved, KernelPath::File("/home/key".into()));
        assert!(matches!(
            decode(&bytes[..OpenEvent::MIN_LEN - 1]),
            Err(DecodeError::TooShort { kind: 4, .. })
        ));
        // The length field cannot reach past what was sent.
        let Record::Open { resolved, .. } = decode(&bytes[..OpenEvent::MIN_LEN + 4]).unwrap()
        else {
            panic!()
        };
        assert_eq!(resolved, KernelPath::File("/key".into()));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(&[]).is_err());
        assert_eq!(decode(&[99, 0, 0, 0]), Err(DecodeError::UnknownKind(99)));
        assert!(matches!(
            decode(&[4, 0, 0, 0, 1, 2]),
            Err(DecodeError::TooShort { kind: 4, .. })
        ));
        // Every prefix of a valid record, and every byte value in the kind slot.
        let ev = ForkEvent {
            header: hdr(EventKind::Fork),
            child_tgid: 12,
            _pad: 0,
        };
        let b = bytes_of(&ev);
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err());
        }
        for k in 0..=255u8 {
            let mut b = b.clone();
            b[0] = k;
            let _ = decode(&b);
        }
        // A length field larger than its buffer is clamped.
        let mut open = OpenEvent {
            header: hdr(EventKind::Open),
            syscall: 1,
            dirfd: -100,
            flags: 0,
            mode: 0,
            ret: 3,
            path_len: u32::MAX,
            resolved_len: u32::MAX,
            path: [b'a'; PATH_LEN],
            resolved: [b'b'; RESOLVED_LEN],
        };
        open.header.flags = flags::RESOLVED_FILE;
        let Record::Open { path, resolved, .. } = decode(&bytes_of(&open)).unwrap() else {
            panic!()
        };
        assert_eq!(path.len(), PATH_LEN);
        let KernelPath::File(resolved) = resolved else {
            panic!("{resolved:?}")
        };
        assert_eq!(resolved.len(), RESOLVED_LEN + 1);
        open.syscall = 77;
        assert_eq!(decode(&bytes_of(&open)), Err(DecodeError::BadSyscall(77)));
    }

    fn args(syscall: Syscall, a: [u64; 6]) -> SyscallArgs {
        SyscallArgs {
            syscall: syscall as u32,
            _pad: 0,
            args: a,
        }
    }

    /// Every prefix of a record shorter than its type's `MIN_LEN` is an error,
    /// and so is a syscall id outside the list (at the offset of
    /// `call.syscall`, right after the header).
    fn rejects_prefixes_and_bad_ids<T: monitor_common::Record>(record: &T) {
        let bytes = &bytes_of(record);
        for n in 0..T::MIN_LEN {
            assert!(decode(&bytes[..n]).is_err(), "prefix of {n} bytes");
        }
        let at = std::mem::size_of::<EventHeader>();
        let mut bad = bytes.to_vec();
        bad[at..at + 4].copy_from_slice(&999u32.to_ne_bytes());
        assert_eq!(decode(&bad), Err(DecodeError::BadSyscall(999)));
    }

    #[test]
    fn call_records() {
        let mut ev = CallEvent {
            header: hdr(EventKind::Call),
            call: args(Syscall::Capset, [0x1000, 0x2000, 0, 0, 0, 0]),
            ret: -1,
            data_len: 24,
            _pad: 0,
            data: [0; CALL_DATA_LEN],
        };
        ev.data[0] = 0xff;
        let Record::Call { header, call, data } = decode(&bytes_of(&ev)).unwrap() else {
            panic!("not a call")
        };
        assert_eq!(header.comm, "node");
        assert_eq!(call.syscall, Syscall::Capset);
        assert_eq!(call.ret, -1);
        assert_eq!(call.args[1], 0x2000);
        assert_eq!(call.int(0), 0x1000);
        assert_eq!(call.int(9), 0);
        assert_eq!(data.len(), 24);
        assert_eq!(data[0], 0xff);
        // A length beyond the buffer is clamped.
        ev.data_len = u32::MAX;
        let Record::Call { data, .. } = decode(&bytes_of(&ev)).unwrap() else {
            panic!()
        };
        assert_eq!(data.len(), CALL_DATA_LEN);
        rejects_prefixes_and_bad_ids(&ev);
    }

    #[test]
    fn path_records() {
        let mut ev = PathEvent {
            header: hdr(EventKind::Path),
            call: args(Syscall::Mount, [1, 2, 3, 4096, 0, 0]),
            ret: 0,
            lens: [4, 8, 5],
            base_len: 0,
            path: [0; PATH_LEN],
            path2: [0; PATH_LEN],
            short: [0; SHORT_LEN],
            base: [0; RESOLVED_LEN],
        };
        ev.path[..4].copy_from_slice(b"none");
        ev.path2[..8].copy_from_slice(b"/mnt/dir");
        ev.short[..5].copy_from_slice(b"tmpfs");
        let Record::Path {
            call,
            path,
            path2,
            short,
            ..
        } = decode(&bytes_of(&ev)).unwrap()
        else {
            panic!("not a path record")
        };
        assert_eq!(call.syscall, Syscall::Mount);
        assert_eq!((path.as_str(), path2.as_str()), ("none", "/mnt/dir"));
        assert_eq!(short, "tmpfs");
        // Lengths beyond their buffers are clamped; unfilled bytes are not text.
        ev.lens = [u32::MAX; 3];
        ev.short = [b'x'; SHORT_LEN];
        let Record::Path { path, short, .. } = decode(&bytes_of(&ev)).unwrap() else {
            panic!()
        };
        assert_eq!(path, "none");
        assert_eq!(short.len(), SHORT_LEN);
        rejects_prefixes_and_bad_ids(&ev);
    }

    #[test]
    fn sock_records() {
        let mut addr = sockaddr(af::INET, 8080, 16);
        addr.addr[..4].copy_from_slice(&[127, 0, 0, 1]);
        let mut ev = SockEvent {
            header: hdr(EventKind::Sock),
            call: args(Syscall::Bind, [3, 0, 16, 0, 0, 0]),
            ret: 0,
            addr,
        };
        let Record::Sock { call, endpoint, .. } = decode(&bytes_of(&ev)).unwrap() else {
            panic!("not a sock record")
        };
        assert_eq!(call.syscall, Syscall::Bind);
        assert_eq!(
            endpoint,
            Some(Endpoint::Inet {
                ip: "127.0.0.1".parse().unwrap(),
                port: 8080
            })
        );
        // An accept without an address buffer, and an unreadable address.
        ev.addr.family = 0;
        let Record::Sock { endpoint, .. } = decode(&bytes_of(&ev)).unwrap() else {
            panic!()
        };
        assert_eq!(endpoint, None);
        ev.header.flags = flags::ADDR_UNREADABLE;
        let Record::Sock { endpoint, .. } = decode(&bytes_of(&ev)).unwrap() else {
            panic!()
        };
        assert_eq!(endpoint, Some(Endpoint::Unreadable));
        // An unknown family is unreadable, never a panic.
        ev.header.flags = 0;
        ev.addr.family = 77;
        assert!(matches!(
            decode(&bytes_of(&ev)),
            Ok(Record::Sock {
                endpoint: Some(Endpoint::Unreadable),
                ..
            })
        ));
        rejects_prefixes_and_bad_ids(&ev);
    }
}
