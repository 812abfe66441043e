//! What every kernel object of the crate needs besides its programs: a panic
//! handler (no_std) and the license the verifier checks before GPL-only helpers.

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
