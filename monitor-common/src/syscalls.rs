//! The syscalls paired generically: enter saves the raw arguments per thread,
//! exit reads what the arguments point to and emits one of three records
//! ([`CallEvent`], [`PathEvent`], [`SockEvent`]) with the result.
//!
//! The list lives once, in [`for_each_syscall!`]: it defines [`Syscall`] here,
//! the kernel programs in `monitor-ebpf`, their no-op twins in the benchmark
//! floor, and the hooks user space attaches.
use crate::{EventHeader, EventKind, PATH_LEN, SockAddr};

/// Bytes of the short string of a [`PathEvent`] (mount fstype, memfd name;
/// the kernel caps a memfd name at 249 bytes, fstypes are short).
pub const SHORT_LEN: usize = 64;
/// Bytes of user memory a [`CallEvent`] carries (capset's data, io_uring's params).
pub const CALL_DATA_LEN: usize = 24;
/// "No such argument" in the tables of [`Syscall`].
pub const NO_ARG: u8 = 0xff;
/// "Relative to the current directory" in [`Syscall::dirfds`].
pub const AT_CWD: u8 = 0xfe;

/// Calls `$m!` with every generically paired syscall as
/// `Variant "evt.type" enter_program exit_program;`. Programs are named after
/// their tracepoint, which is not always the syscall's name (`umount2` is
/// `sys_enter_umount`).
#[macro_export]
macro_rules! for_each_syscall {
    ($m:ident) => {
        $m! {
            Unlink "unlink" sys_enter_unlink sys_exit_unlink;
            Unlinkat "unlinkat" sys_enter_unlinkat sys_exit_unlinkat;
            Rename "rename" sys_enter_rename sys_exit_rename;
            Renameat "renameat" sys_enter_renameat sys_exit_renameat;
            Renameat2 "renameat2" sys_enter_renameat2 sys_exit_renameat2;
            Link "link" sys_enter_link sys_exit_link;
            Linkat "linkat" sys_enter_linkat sys_exit_linkat;
            Symlink "symlink" sys_enter_symlink sys_exit_symlink;
            Symlinkat "symlinkat" sys_enter_symlinkat sys_exit_symlinkat;
            Chmod "chmod" sys_enter_chmod sys_exit_chmod;
            Fchmodat "fchmodat" sys_enter_fchmodat sys_exit_fchmodat;
            Fchmodat2 "fchmodat2" sys_enter_fchmodat2 sys_exit_fchmodat2;
            Chown "chown" sys_enter_chown sys_exit_chown;
            Lchown "lchown" sys_enter_lchown sys_exit_lchown;
            Fchownat "fchownat" sys_enter_fchownat sys_exit_fchownat;
            Fchown "fchown" sys_enter_fchown sys_exit_fchown;
            Fchmod "fchmod" sys_enter_fchmod sys_exit_fchmod;
            Ioctl "ioctl" sys_enter_ioctl sys_exit_ioctl;
            Mount "mount" sys_enter_mount sys_exit_mount;
            Umount2 "umount2" sys_enter_umount sys_exit_umount;
            Unshare "unshare" sys_enter_unshare sys_exit_unshare;
            Setns "setns" sys_enter_setns sys_exit_setns;
            PivotRoot "pivot_root" sys_enter_pivot_root sys_exit_pivot_root;
            Chroot "chroot" sys_enter_chroot sys_exit_chroot;
            Ptrace "ptrace" sys_enter_ptrace sys_exit_ptrace;
            ProcessVmReadv "process_vm_readv" sys_enter_process_vm_readv sys_exit_process_vm_readv;
            ProcessVmWritev "process_vm_writev" sys_enter_process_vm_writev sys_exit_process_vm_writev;
            InitModule "init_module" sys_enter_init_module sys_exit_init_module;
            FinitModule "finit_module" sys_enter_finit_module sys_exit_finit_module;
            Bpf "bpf" sys_enter_bpf sys_exit_bpf;
            MemfdCreate "memfd_create" sys_enter_memfd_create sys_exit_memfd_create;
            Setuid "setuid" sys_enter_setuid sys_exit_setuid;
            Setgid "setgid" sys_enter_setgid sys_exit_setgid;
            Setreuid "setreuid" sys_enter_setreuid sys_exit_setreuid;
            Setregid "setregid" sys_enter_setregid sys_exit_setregid;
            Setresuid "setresuid" sys_enter_setresuid sys_exit_setresuid;
            Setresgid "setresgid" sys_enter_setresgid sys_exit_setresgid;
            Capset "capset" sys_enter_capset sys_exit_capset;
            Socket "socket" sys_enter_socket sys_exit_socket;
            Bind "bind" sys_enter_bind sys_exit_bind;
            Listen "listen" sys_enter_listen sys_exit_listen;
            Accept "accept" sys_enter_accept sys_exit_accept;
            Accept4 "accept4" sys_enter_accept4 sys_exit_accept4;
            Dup "dup" sys_enter_dup sys_exit_dup;
            Dup2 "dup2" sys_enter_dup2 sys_exit_dup2;
            Dup3 "dup3" sys_enter_dup3 sys_exit_dup3;
            IoUringSetup "io_uring_setup" sys_enter_io_uring_setup sys_exit_io_uring_setup;
            Kill "kill" sys_enter_kill sys_exit_kill;
            Tkill "tkill" sys_enter_tkill sys_exit_tkill;
            Tgkill "tgkill" sys_enter_tgkill sys_exit_tgkill;
        }
    };
}

/// Calls `$m!` with every program on a hook of its own (not a generic
/// syscall pair) as `program "category" "evt.type";`: the process lifecycle
/// (evt.type "", always attached), the open family, connect and io_uring's
/// completions. `sched_process_fork` is a raw tracepoint and is not listed.
#[macro_export]
macro_rules! for_each_base_hook {
    ($m:ident) => {
        $m! {
            sched_process_exec "sched" "" false;
            sched_process_exit "sched" "" false;
            sys_enter_openat "syscalls" "openat" false;
            sys_exit_openat "syscalls" "openat" false;
            sys_enter_openat2 "syscalls" "openat2" false;
            sys_exit_openat2 "syscalls" "openat2" false;
            sys_enter_open "syscalls" "open" true;
            sys_exit_open "syscalls" "open" true;
            sys_enter_creat "syscalls" "creat" true;
            sys_exit_creat "syscalls" "creat" true;
            sys_enter_connect "syscalls" "connect" false;
            sys_exit_connect "syscalls" "connect" false;
            io_uring_complete "io_uring" "io_uring" true;
        }
    };
}

macro_rules! define_syscalls {
    ($($variant:ident $name:literal $enter:ident $exit:ident;)*) => {
        /// A generically paired syscall; its `u32` value travels in the records.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Syscall { $( $variant, )* }

        impl Syscall {
            /// Every syscall, indexed by its value.
            pub const ALL: &'static [Syscall] = &[$( Syscall::$variant, )*];

            /// The name `evt.type` carries.
            pub const fn name(self) -> &'static str {
                match self { $( Syscall::$variant => $name, )* }
            }

            /// The `syscalls:` tracepoint (and program) at enter.
            pub const fn enter_tracepoint(self) -> &'static str {
                match self { $( Syscall::$variant => stringify!($enter), )* }
            }

            /// The `syscalls:` tracepoint (and program) at exit.
            pub const fn exit_tracepoint(self) -> &'static str {
                match self { $( Syscall::$variant => stringify!($exit), )* }
            }
        }
    };
}

for_each_syscall!(define_syscalls);

impl Syscall {
    pub fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.get(v as usize).copied()
    }

    /// How many arguments the syscall takes: enter reads no more, so nothing
    /// past the tracepoint's record is ever taken for an argument.
    pub const fn nargs(self) -> usize {
        use Syscall::*;
        match self {
            Unlink | Chroot | Unshare | Setuid | Setgid | Dup => 1,
            Rename | Link | Symlink | Chmod | Umount2 | Setns | PivotRoot | MemfdCreate
            | Setreuid | Setregid | Capset | Listen | Dup2 | IoUringSetup | Kill | Tkill
            | Fchmod => 2,
            Unlinkat | Symlinkat | Fchmodat | InitModule | FinitModule | Bpf | Setresuid
            | Setresgid | Bind | Accept | Dup3 | Tgkill | Chown | Lchown | Fchown | Ioctl
            | Socket => 3,
            Renameat | Fchmodat2 | Ptrace | Accept4 => 4,
            Renameat2 | Linkat | Mount | Fchownat => 5,
            ProcessVmReadv | ProcessVmWritev => 6,
        }
    }

    /// `evt.category` of the call's events.
    pub const fn category(self) -> &'static str {
        use Syscall::*;
        match self {
            Unlink | Unlinkat | Rename | Renameat | Renameat2 | Link | Linkat | Symlink
            | Symlinkat | Chmod | Fchmodat | Fchmodat2 | MemfdCreate | Dup | Dup2 | Dup3
            | Chown | Lchown | Fchownat | Fchown | Fchmod | Ioctl => "file",
            Bind | Listen | Accept | Accept4 | Socket => "net",
            Kill | Tkill | Tgkill | IoUringSetup => "process",
            Mount | Umount2 | Unshare | Setns | PivotRoot | Chroot | Ptrace | ProcessVmReadv
            | ProcessVmWritev | InitModule | FinitModule | Bpf | Setuid | Setgid | Setreuid
            | Setregid | Setresuid | Setresgid | Capset => "security",
        }
    }

    /// Whether the syscall's tracepoints may be missing: syscalls some
    /// architectures lack (`unlink`, `rename`, `link`, `symlink`, `chmod`,
    /// `chown`, `lchown`, `dup2` do not exist on arm64), newer than some
    /// kernels (`fchmodat2`, Linux 6.6), or behind a kernel option
    /// (`init_module` and `finit_module` need CONFIG_MODULES, `io_uring_setup`
    /// CONFIG_IO_URING, `process_vm_*` CONFIG_CROSS_MEMORY_ATTACH).
    pub const fn optional(self) -> bool {
        use Syscall::*;
        matches!(
            self,
            Unlink
                | Rename
                | Link
                | Symlink
                | Chmod
                | Chown
                | Lchown
                | Dup2
                | Fchmodat2
                | InitModule
                | FinitModule
                | IoUringSetup
                | ProcessVmReadv
                | ProcessVmWritev
        )
    }

    /// Which record the exit emits.
    pub const fn record(self) -> EventKind {
        use Syscall::*;
        match self {
            Unlink | Unlinkat | Rename | Renameat | Renameat2 | Link | Linkat | Symlink
            | Symlinkat | Chmod | Fchmodat | Fchmodat2 | Mount | Umount2 | PivotRoot | Chroot
            | MemfdCreate | Chown | Lchown | Fchownat | Fchown | Fchmod | Ioctl => EventKind::Path,
            Bind | Accept | Accept4 => EventKind::Sock,
            _ => EventKind::Call,
        }
    }

    /// Arguments that point to strings, for a [`PathEvent`]: the first path,
    /// the second path, the short string; [`NO_ARG`] where there is none.
    pub const fn strings(self) -> [u8; 3] {
        use Syscall::*;
        const N: u8 = NO_ARG;
        match self {
            Unlink | Chmod | Umount2 | Chroot | Chown | Lchown => [0, N, N],
            Unlinkat | Fchmodat | Fchmodat2 | Fchownat => [1, N, N],
            Rename | Link | Symlink | PivotRoot => [0, 1, N],
            Renameat | Renameat2 | Linkat => [1, 3, N],
            Symlinkat => [0, 2, N],
            Mount => [0, 1, 2],
            MemfdCreate => [N, N, 0],
            _ => [N, N, N],
        }
    }

    /// For the first and second path of a [`PathEvent`]: the argument holding
    /// the dirfd it is relative to, [`AT_CWD`] when it is relative to the cwd,
    /// or [`NO_ARG`] when it is not a path looked up from a directory at this
    /// call (a symlink's target, a mount's source). A call with no path and
    /// a first dirfd acts on that fd: the kernel resolves the fd's file.
    pub const fn dirfds(self) -> [u8; 2] {
        use Syscall::*;
        const N: u8 = NO_ARG;
        const C: u8 = AT_CWD;
        match self {
            Unlink | Chmod | Umount2 | Chroot | Chown | Lchown => [C, N],
            Unlinkat | Fchmodat | Fchmodat2 | Fchownat => [0, N],
            // Calls on an fd: with no path, the "directory" resolved is the
            // fd's own file.
            Fchown | Fchmod | Ioctl => [0, N],
            Rename | Link | PivotRoot => [C, C],
            Renameat | Renameat2 | Linkat => [0, 2],
            Symlink => [N, C],
            Symlinkat => [N, 1],
            Mount => [N, C],
            _ => [N, N],
        }
    }

    /// For a [`CallEvent`]: the argument pointing to user memory worth
    /// copying and how many bytes, `(NO_ARG, 0)` for none. capset's data is
    /// two `__user_cap_data_struct`s (effective, permitted, inheritable);
    /// io_uring_setup's params start with sq_entries, cq_entries, flags.
    pub const fn user_data(self) -> (u8, usize) {
        match self {
            Syscall::Capset => (1, 24),
            Syscall::IoUringSetup => (1, 12),
            _ => (NO_ARG, 0),
        }
    }

    /// Whether a call with these arguments is reported at all, decided at
    /// enter. Most calls always are; the hot ones are cut to what rules
    /// look at, so that a tagged process pays for nothing else: `ioctl`
    /// only for file attribute changes (`chattr`), `socket` only for raw,
    /// packet and netfilter-netlink sockets (sniffers, scanners, firewall
    /// changes), not the TCP and UDP sockets every client opens.
    #[inline(always)]
    pub const fn reported(self, args: &[u64; 6]) -> bool {
        match self {
            Syscall::Ioctl => matches!(
                args[1] as u32,
                ioctl::FS_IOC_SETFLAGS | ioctl::FS_IOC32_SETFLAGS | ioctl::FS_IOC_FSSETXATTR
            ),
            Syscall::Socket => {
                let (domain, kind, proto) = (args[0] as u32, args[1] as u32 & 0xf, args[2] as u32);
                // Netlink sockets are raw by nature (glibc opens one for
                // every name lookup): only netfilter's is kept.
                if domain == socket::AF_NETLINK {
                    proto == socket::NETLINK_NETFILTER
                } else {
                    domain == socket::AF_PACKET
                        || kind == socket::SOCK_RAW
                        || kind == socket::SOCK_PACKET
                }
            }
            _ => true,
        }
    }
}

/// The ioctl requests [`Syscall::reported`] keeps.
pub mod ioctl {
    pub const FS_IOC_SETFLAGS: u32 = 0x4008_6602;
    pub const FS_IOC32_SETFLAGS: u32 = 0x4004_6602;
    pub const FS_IOC_FSSETXATTR: u32 = 0x401c_5820;
}

/// The socket domains and types [`Syscall::reported`] keeps.
pub mod socket {
    pub const AF_NETLINK: u32 = 16;
    pub const AF_PACKET: u32 = 17;
    pub const SOCK_RAW: u32 = 3;
    pub const SOCK_PACKET: u32 = 10;
    pub const NETLINK_NETFILTER: u32 = 12;
}

/// A call's raw arguments, kept from enter until exit and carried in every
/// record of this module.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SyscallArgs {
    /// A [`Syscall`] as `u32`.
    pub syscall: u32,
    pub _pad: u32,
    /// The arguments as the tracepoint gives them; unused ones are 0.
    pub args: [u64; 6],
}

/// A completed call described by its arguments (and a little user memory).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CallEvent {
    pub header: EventHeader,
    pub call: SyscallArgs,
    /// The return value, or a negative errno.
    pub ret: i64,
    /// Bytes of `data` used.
    pub data_len: u32,
    pub _pad: u32,
    /// See [`Syscall::user_data`].
    pub data: [u8; CALL_DATA_LEN],
}

/// A completed call with paths or names, read at exit from the saved user
/// pointers. Paths are raw: relative ones are resolved against the dirfd in
/// `call.args` by user space.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PathEvent {
    pub header: EventHeader,
    pub call: SyscallArgs,
    pub ret: i64,
    /// Bytes used of `path`, `path2`, `short` (without the NUL).
    pub lens: [u32; 3],
    /// Bytes used of `base`.
    pub base_len: u32,
    pub path: [u8; PATH_LEN],
    pub path2: [u8; PATH_LEN],
    pub short: [u8; SHORT_LEN],
    /// The directory a relative path starts from, resolved in the kernel at
    /// the call (`flags::RESOLVED_BASE`; `flags::BASE_OF_PATH2` says whose):
    /// components leaf first, as in an `OpenEvent`. Sent trimmed.
    pub base: [u8; crate::RESOLVED_LEN],
}

/// A completed bind (the address asked for) or accept (the peer).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SockEvent {
    pub header: EventHeader,
    pub call: SyscallArgs,
    pub ret: i64,
    /// Family 0 when the call gave no address (accept without a buffer).
    pub addr: SockAddr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_index_the_list_and_names_are_unique() {
        for (i, s) in Syscall::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
            assert_eq!(Syscall::from_u32(i as u32), Some(*s));
            assert!(s.enter_tracepoint().starts_with("sys_enter_"));
            assert!(s.exit_tracepoint().starts_with("sys_exit_"));
            for arg in s.strings() {
                assert!(arg == NO_ARG || (arg as usize) < s.nargs(), "{}", s.name());
            }
            let (arg, len) = s.user_data();
            assert!(arg == NO_ARG || ((arg as usize) < s.nargs() && len <= CALL_DATA_LEN));
            assert_eq!(
                Syscall::ALL.iter().filter(|o| o.name() == s.name()).count(),
                1
            );
        }
        assert_eq!(Syscall::from_u32(Syscall::ALL.len() as u32), None);
        assert_eq!(Syscall::Umount2.enter_tracepoint(), "sys_enter_umount");
    }
}
