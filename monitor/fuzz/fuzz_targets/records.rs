//! Fuzzes what the daemon does with a ring-buffer record: decoding, then
//! enrichment by the tracker (process table, socket memory, target look-ups,
//! name tables). Neither may panic on any bytes the kernel side could be made
//! to send. Every record is attributed to a tagged server, so enrichment runs.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use mcp_monitor::{
    decode,
    procs::{Tracker, patterns::PatternSet, recognise::Recogniser, table::ProcessTable},
};
use monitor_common::{EventHeader, Tag, TagSource};

fuzz_target!(|data: &[u8]| {
    let mut tracker = Tracker::new(
        ProcessTable::default(),
        Recogniser::patterns_only(PatternSet::new(false, [])),
    );
    let server = tracker
        .servers
        .add("fuzz", None, TagSource::Wrapper, std::process::id());
    let mut store: HashMap<u32, Tag> = HashMap::new();
    // Several records per input, each given the server id in its header.
    for chunk in data.split(|b| *b == 0xfe) {
        let mut bytes = chunk.to_vec();
        let at = std::mem::offset_of!(EventHeader, server_id);
        if bytes.len() >= at + 4 {
            bytes[at..at + 4].copy_from_slice(&server.to_ne_bytes());
        }
        if let Ok(record) = decode::decode(&bytes) {
            let _ = tracker.ingest(record, &mut store);
        }
    }
});
