//! Kernel records carry boot-time stamps (monotonic, counting suspend);
//! events carry wall-clock time, which is what people and other tools read.

/// Converts kernel boot-time stamps to wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    boot_to_epoch_ns: i128,
}

impl Clock {
    pub fn now() -> Self {
        fn ns(clock: libc::clockid_t) -> i128 {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: valid clock id and out-pointer.
            unsafe { libc::clock_gettime(clock, &mut ts) };
            ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
        }
        Clock {
            boot_to_epoch_ns: ns(libc::CLOCK_REALTIME) - ns(libc::CLOCK_BOOTTIME),
        }
    }

    pub fn epoch_ns(&self, boot_ns: u64) -> u64 {
        (boot_ns as i128 + self.boot_to_epoch_ns).max(0) as u64
    }
}
