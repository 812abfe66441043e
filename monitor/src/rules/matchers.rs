//! Value matchers built once at compile time and used per event without
//! allocating: string sets, prefix sets, path-prefix sets, globs, IP networks.
use std::net::IpAddr;

use rustc_hash::FxHashSet;

/// A set of strings: a few are compared one by one (cheaper than hashing),
/// more are hashed with a fast non-cryptographic hash.
#[derive(Clone, Debug)]
pub enum StrSet {
    Small(Box<[Box<str>]>),
    Hashed(FxHashSet<Box<str>>),
}

/// Up to this many values, a linear scan beats hashing the probe.
const SMALL_SET: usize = 8;

impl Default for StrSet {
    fn default() -> Self {
        StrSet::Small(Box::default())
    }
}

impl StrSet {
    pub fn new<I: IntoIterator<Item = String>>(items: I) -> Self {
        let mut v: Vec<Box<str>> = items.into_iter().map(String::into_boxed_str).collect();
        v.sort();
        v.dedup();
        if v.len() <= SMALL_SET {
            StrSet::Small(v.into_boxed_slice())
        } else {
            StrSet::Hashed(v.into_iter().collect())
        }
    }

    #[inline]
    pub fn contains(&self, s: &str) -> bool {
        match self {
            StrSet::Small(v) => v.iter().any(|e| str_eq(e, s)),
            StrSet::Hashed(h) => h.contains(s),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            StrSet::Small(v) => v.len(),
            StrSet::Hashed(h) => h.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self {
            StrSet::Small(v) => Box::new(v.iter().map(|s| &**s)),
            StrSet::Hashed(h) => Box::new(h.iter().map(|s| &**s)),
        }
    }
}

/// "Starts with any of": a sorted vector from which every entry that has
/// another entry as its prefix was removed. Then the greatest entry not
/// greater than the value is the only candidate prefix: one binary search.
#[derive(Clone, Debug, Default)]
pub struct PrefixSet(Vec<Box<str>>);

impl PrefixSet {
    pub fn new<I: IntoIterator<Item = String>>(items: I) -> Self {
        let mut v: Vec<Box<str>> = items.into_iter().map(String::into_boxed_str).collect();
        v.sort();
        v.dedup();
        let mut kept: Vec<Box<str>> = Vec::with_capacity(v.len());
        for p in v {
            // Sorted order puts a prefix right before the strings it starts.
            if kept.last().is_some_and(|k| p.starts_with(&**k)) {
                continue;
            }
            kept.push(p);
        }
        PrefixSet(kept)
    }

    #[inline]
    pub fn matches(&self, s: &str) -> bool {
        let i = self.0.partition_point(|p| &**p <= s);
        i > 0 && s.starts_with(&*self.0[i - 1])
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| &**s)
    }
}

/// Path-prefix set (`pmatch`): the value is one of the paths or lies below one,
/// component-wise (`/etc/sshd` does not match `/etc/ssh`).
///
/// A value is first gated on its first component (a handful of entries share
/// a few first components, so most paths are rejected by one small lookup),
/// then each ancestor no longer than the longest entry is looked up by binary
/// search: O(depth · log n), no allocation.
#[derive(Clone, Debug, Default)]
pub struct PathSet {
    entries: Vec<Box<str>>,
    firsts: StrSet,
    root: bool,
    max_len: usize,
}

/// `/etc/ssh/x` → `/etc`, `.aws/credentials` → `.aws`, `/etc` → `/etc`.
fn first_component(p: &str) -> &str {
    let skip = usize::from(p.starts_with('/'));
    match p[skip..].find('/') {
        Some(i) => &p[..skip + i],
        None => p,
    }
}

impl PathSet {
    pub fn new<I: IntoIterator<Item = String>>(items: I) -> Self {
        let mut root = false;
        let mut entries: Vec<Box<str>> = Vec::new();
        for p in items {
            let t = p.trim_end_matches('/');
            if t.is_empty() {
                root |= p.starts_with('/');
                continue;
            }
            entries.push(t.into());
        }
        entries.sort();
        entries.dedup();
        let firsts = StrSet::new(entries.iter().map(|e| first_component(e).to_string()));
        let max_len = entries.iter().map(|e| e.len()).max().unwrap_or(0);
        PathSet {
            entries,
            firsts,
            root,
            max_len,
        }
    }

    #[inline]
    pub fn matches(&self, path: &str) -> bool {
        if self.root && path.starts_with('/') {
            return true;
        }
        if !self.firsts.contains(first_component(path)) {
            return false;
        }
        let has = |p: &str| self.entries.binary_search_by(|e| (**e).cmp(p)).is_ok();
        if path.len() <= self.max_len && has(path) {
            return true;
        }
        path.match_indices('/')
            .map(|(i, _)| i)
            .take_while(|&i| i <= self.max_len)
            .any(|i| i > 0 && has(&path[..i]))
    }
}

pub use crate::glob::Glob;

/// IP addresses and networks (CIDR). `10.0.0.0/8` matches every address in it;
/// a plain address matches itself. IPv4-mapped IPv6 addresses are compared as
/// IPv4.
#[derive(Clone, Debug, Default)]
pub struct IpSet {
    nets: Vec<(IpAddr, u8)>,
}

impl IpSet {
    /// Parses `addr` or `addr/prefix`; the error says what is wrong.
    pub fn parse_net(s: &str) -> Result<(IpAddr, u8), String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("`{addr}` is not an IP address"))?;
        let ip = canonical(ip);
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => {
                let n: u8 = l
                    .parse()
                    .map_err(|_| format!("`{l}` is not a prefix length"))?;
                if n > max {
                    return Err(format!("prefix length {n} is longer than {max}"));
                }
                n
            }
        };
        Ok((ip, len))
    }

    pub fn new(nets: Vec<(IpAddr, u8)>) -> Self {
        IpSet { nets }
    }

    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|&(net, len)| in_net(ip, net, len))
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// ASCII case-insensitive substring search; `needle` must be lowercase.
#[inline]
pub fn icontains(hay: &str, needle: &[u8]) -> bool {
    let h = hay.as_bytes();
    if needle.is_empty() {
        return true;
    }
    if h.len() < needle.len() {
        return false;
    }
    let first = needle[0];
    let first_up = first.to_ascii_uppercase();
    (0..=h.len() - needle.len()).any(|i| {
        (h[i] == first || h[i] == first_up)
            && h[i + 1..i + needle.len()]
                .iter()
                .zip(&needle[1..])
                .all(|(a, b)| a.to_ascii_lowercase() == *b)
    })
}

/// String equality that rejects on length and last byte before comparing.
#[inline(always)]
pub fn str_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().last() == b.as_bytes().last() && a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_set_finds_the_one_candidate() {
        let s = PrefixSet::new([
            "/etc/".into(),
            "/etc/ssh".into(),
            "/a b".into(),
            "/ab".into(),
        ]);
        assert_eq!(s.len(), 3);
        assert!(s.matches("/etc/passwd"));
        assert!(s.matches("/abd"));
        assert!(s.matches("/a b c"));
        assert!(!s.matches("/a"));
        assert!(!s.matches("/usr"));
        assert!(!PrefixSet::default().matches("x"));
    }

    #[test]
    fn path_set_is_component_wise() {
        let s = PathSet::new(["/etc/ssh/".into(), "/root".into()]);
        assert!(s.matches("/etc/ssh"));
        assert!(s.matches("/etc/ssh/sshd_config"));
        assert!(!s.matches("/etc/sshd"));
        assert!(s.matches("/root/.bashrc"));
        assert!(!s.matches("/rooted"));
        assert!(PathSet::new(["/".into()]).matches("/x/y"));
    }

    #[test]
    fn globs() {
        let g = |p: &str, t: &str| Glob::new(p).matches(t);
        assert!(g("/home/*/.ssh/id_*", "/home/u/.ssh/id_rsa"));
        assert!(g("*.env", "/srv/app/.env"));
        assert!(!g("*.env", "/srv/app/.envrc"));
        assert!(g("a?c", "aéc"));
        assert!(g("[a-c]x[!0-9]", "bxz"));
        assert!(!g("[a-c]x[!0-9]", "bx1"));
        assert!(g("*", ""));
        assert!(!g("a*b*c*d*e*f*g*h*i*j*k", &"a".repeat(5000)));
        assert!(g("[unclosed", "[unclosed"));
    }

    #[test]
    fn networks() {
        let s = IpSet::new(vec![
            IpSet::parse_net("10.0.0.0/8").unwrap(),
            IpSet::parse_net("169.254.169.254").unwrap(),
            IpSet::parse_net("fd00:ec2::254").unwrap(),
        ]);
        assert!(s.contains("10.1.2.3".parse().unwrap()));
        assert!(s.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(s.contains("169.254.169.254".parse().unwrap()));
        assert!(!s.contains("169.254.169.253".parse().unwrap()));
        assert!(s.contains("fd00:ec2::254".parse().unwrap()));
        assert!(!s.contains("11.0.0.1".parse().unwrap()));
        assert!(IpSet::parse_net("10.0.0.0/33").is_err());
        assert!(IpSet::parse_net("10.0.0/8").is_err());
        assert!(
            IpSet::new(vec![IpSet::parse_net("0.0.0.0/0").unwrap()])
                .contains("1.2.3.4".parse().unwrap())
        );
    }

    #[test]
    fn case_insensitive_search() {
        assert!(icontains("Hello World", b"o w"));
        assert!(!icontains("Hello", b"hello!"));
        assert!(icontains("x", b""));
    }
}
