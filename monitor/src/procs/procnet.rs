//! What an fd of a process is, read from procfs when the socket memory has
//! nothing: `/proc/PID/fd/N` names a file, a pipe or `socket:[INODE]`, and
//! the socket's addresses are found by that inode in the process's own
//! network namespace (`/proc/PID/net/{tcp,tcp6,udp,udp6,unix}`).
//!
//! This is the view at the time the event is processed: an fd closed in
//! between is gone, one reused is something else.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What an fd is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FdInfo {
    /// `f` file, `4`/`6` inet socket, `u` unix socket, `p` pipe.
    pub typechar: &'static str,
    /// A file's path or a unix socket's path.
    pub path: Option<String>,
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    /// `tcp` or `udp` for inet sockets.
    pub l4proto: Option<&'static str>,
}

impl FdInfo {
    /// An inet socket with the given addresses.
    pub fn inet(local: Option<SocketAddr>, peer: Option<SocketAddr>) -> FdInfo {
        let v6 = local.or(peer).is_some_and(|a| a.is_ipv6());
        FdInfo {
            typechar: if v6 { "6" } else { "4" },
            local,
            peer,
            ..Default::default()
        }
    }

    /// A unix socket bound to or connected to `path`.
    pub fn unix(path: String) -> FdInfo {
        FdInfo {
            typechar: "u",
            path: Some(path),
            ..Default::default()
        }
    }
}

/// What `/proc/PID/fd/FD` is, with the socket's addresses when it is one.
pub fn fd_info(pid: u32, fd: i32) -> Option<FdInfo> {
    if fd < 0 {
        return None;
    }
    let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let link = link.to_string_lossy();
    if let Some(inode) = bracketed(&link, "socket:") {
        return Some(socket(pid, inode).unwrap_or(FdInfo {
            typechar: "u",
            ..Default::default()
        }));
    }
    if bracketed(&link, "pipe:").is_some() {
        return Some(FdInfo {
            typechar: "p",
            ..Default::default()
        });
    }
    link.starts_with('/').then(|| FdInfo {
        typechar: "f",
        path: Some(link.into_owned()),
        ..Default::default()
    })
}

/// `N` of `prefix[N]`.
fn bracketed(link: &str, prefix: &str) -> Option<u64> {
    link.strip_prefix(prefix)?
        .strip_prefix('[')?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The socket with `inode` in `pid`'s network namespace.
fn socket(pid: u32, inode: u64) -> Option<FdInfo> {
    for (table, proto) in [
        ("tcp", "tcp"),
        ("tcp6", "tcp"),
        ("udp", "udp"),
        ("udp6", "udp"),
    ] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        if let Some((local, peer)) = find_inet(&text, inode) {
            let mut info = FdInfo::inet(Some(local), peer);
            info.l4proto = Some(proto);
            return Some(info);
        }
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/unix")).ok()?;
    find_unix(&text, inode)
}

/// In a `/proc/net/tcp`-style table: the local and (unless unconnected)
/// remote address of the socket with `inode`.
pub fn find_inet(table: &str, inode: u64) -> Option<(SocketAddr, Option<SocketAddr>)> {
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
        if cols.len() < 10 || cols[9].parse::<u64>().ok() != Some(inode) {
            continue;
        }
        let local = hex_addr(cols[1])?;
        let peer = hex_addr(cols[2]).filter(|a| a.port() != 0 || !a.ip().is_unspecified());
        return Some((local, peer));
    }
    None
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6). The kernel
/// prints each 32-bit word of the address as a native-endian number.
fn hex_addr(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = addr.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(w, 16).ok()?.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(b);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// In `/proc/net/unix`: the socket with `inode` and its path (empty when unnamed).
pub fn find_unix(table: &str, inode: u64) -> Option<FdInfo> {
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // Num RefCount Protocol Flags Type St Inode [Path]
        if cols.len() < 7 || cols[6].parse::<u64>().ok() != Some(inode) {
            continue;
        }
        return Some(FdInfo::unix(cols.get(7).copied().unwrap_or("").to_owned()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn inet_tables_by_inode() {
        let (local, peer) = find_inet(TCP, 4242).unwrap();
        assert_eq!(local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(peer, None);
        let (_, peer) = find_inet(TCP, 4243).unwrap();
        assert_eq!(peer, Some("127.0.0.1:54321".parse().unwrap()));
        assert_eq!(find_inet(TCP, 1), None);
        assert_eq!(find_inet("garbage\n0: zz:zz", 0), None);
        // [::1]:443 and a v4-mapped address.
        let v6 = "h\n 0: 00000000000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 77 1\n";
        assert_eq!(find_inet(v6, 77).unwrap().0, "[::1]:443".parse().unwrap());
        let mapped = "h\n 0: 0000000000000000FFFF00000100007F:01BB 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 78 1\n";
        assert_eq!(
            find_inet(mapped, 78).unwrap().0,
            "127.0.0.1:443".parse().unwrap()
        );
    }

    #[test]
    fn unix_table_by_inode() {
        let t = "Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 9001 /run/docker.sock
0000000000000000: 00000002 00000000 00000000 0001 03 9002
";
        assert_eq!(
            find_unix(t, 9001).unwrap().path.as_deref(),
            Some("/run/docker.sock")
        );
        assert_eq!(find_unix(t, 9002).unwrap().path.as_deref(), Some(""));
        assert_eq!(find_unix(t, 1), None);
    }

    #[test]
    fn fds_of_this_process() {
        let me = std::process::id();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&l);
        let info = fd_info(me, fd).unwrap();
        assert_eq!(info.typechar, "4");
        assert_eq!(info.local, Some(SocketAddr::from(([127, 0, 0, 1], port))));
        assert_eq!(info.l4proto, Some("tcp"));
        let f = std::fs::File::open("/etc/hostname")
            .or_else(|_| std::fs::File::open("/proc/self/stat"))
            .unwrap();
        let info = fd_info(me, std::os::fd::AsRawFd::as_raw_fd(&f)).unwrap();
        assert_eq!(info.typechar, "f");
        assert!(info.path.unwrap().starts_with('/'));
        assert_eq!(fd_info(me, -1), None);
        assert_eq!(fd_info(me, 999_999), None);
    }
}
