//! What each socket fd of a tagged process is, learnt from its connect, bind
//! and accept, so that a later listen or dup can say which address it
//! concerns even when the fd is gone by the time the event is processed.
//!
//! Closes are not traced, so an entry can outlive its fd: entries are
//! dropped when the fd number is reused by an open, an accept or a dup, when
//! the process exits, and the oldest go first when the memory is full.
use std::collections::HashMap;

use super::procnet::FdInfo;

/// Most fds remembered over all processes.
pub const MAX_SOCKETS: usize = 4096;

/// (pid, fd) → what the fd is.
#[derive(Default)]
pub struct SocketMemory {
    fds: HashMap<(u32, i32), (u64, FdInfo)>,
    /// Insertion stamp, to find the oldest entry.
    clock: u64,
}

impl SocketMemory {
    pub fn get(&self, pid: u32, fd: i32) -> Option<&FdInfo> {
        self.fds.get(&(pid, fd)).map(|(_, info)| info)
    }

    /// Remembers `info` for `fd`, replacing what was known.
    pub fn remember(&mut self, pid: u32, fd: i32, info: FdInfo) {
        if fd < 0 {
            return;
        }
        if self.fds.len() >= MAX_SOCKETS && !self.fds.contains_key(&(pid, fd)) {
            let oldest = self
                .fds
                .iter()
                .min_by_key(|(_, (stamp, _))| *stamp)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.fds.remove(&k);
            }
        }
        self.clock += 1;
        self.fds.insert((pid, fd), (self.clock, info));
    }

    /// `fd` is something new (an open's result, a dup's target).
    pub fn forget(&mut self, pid: u32, fd: i32) {
        self.fds.remove(&(pid, fd));
    }

    /// `newfd` is now what `oldfd` is.
    pub fn duplicate(&mut self, pid: u32, oldfd: i32, newfd: i32) {
        match self.get(pid, oldfd).cloned() {
            Some(info) => self.remember(pid, newfd, info),
            None => self.forget(pid, newfd),
        }
    }

    /// A fork: the child starts with copies of the parent's fds.
    pub fn inherit(&mut self, parent: u32, child: u32) {
        let fds: Vec<(i32, FdInfo)> = self
            .fds
            .iter()
            .filter(|((p, _), _)| *p == parent)
            .map(|((_, fd), (_, info))| (*fd, info.clone()))
            .collect();
        for (fd, info) in fds {
            self.remember(child, fd, info);
        }
    }

    /// The process ended: its fds are gone.
    pub fn forget_process(&mut self, pid: u32) {
        self.fds.retain(|(p, _), _| *p != pid);
    }

    pub fn len(&self) -> usize {
        self.fds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(port: u16) -> FdInfo {
        FdInfo::inet(Some(([127, 0, 0, 1], port).into()), None)
    }

    #[test]
    fn remember_duplicate_forget() {
        let mut m = SocketMemory::default();
        m.remember(1, 3, at(80));
        m.duplicate(1, 3, 1);
        assert_eq!(m.get(1, 1), Some(&at(80)));
        m.duplicate(1, 9, 1);
        assert_eq!(m.get(1, 1), None);
        m.remember(2, 3, at(81));
        m.inherit(1, 5);
        assert_eq!(m.get(5, 3), Some(&at(80)));
        m.forget_process(1);
        assert_eq!(m.get(1, 3), None);
        assert_eq!(m.get(2, 3), Some(&at(81)));
        m.forget_process(5);
        m.remember(2, -1, at(1));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn bounded_and_oldest_go_first() {
        let mut m = SocketMemory::default();
        for fd in 0..(MAX_SOCKETS as i32 + 10) {
            m.remember(7, fd, at(1));
        }
        assert_eq!(m.len(), MAX_SOCKETS);
        assert!(m.get(7, 0).is_none());
        assert!(m.get(7, MAX_SOCKETS as i32 + 9).is_some());
    }
}
