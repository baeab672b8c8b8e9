//! Opening a damaged database: the input is `redrive.sqlite` in a fresh data directory, which
//! the store opens, loads and reads bodies from. Any answer but a panic or an abort will do.
#![no_main]

use engine::Store;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    if std::fs::write(dir.path().join("redrive.sqlite"), data).is_err() {
        return;
    }
    let Ok(store) = store::SqliteStore::open(dir.path()) else { return };
    if let Ok(stored) = store.load() {
        for queue in stored.queues.iter().take(4) {
            let seqs: Vec<u64> = queue.messages.iter().take(8).map(|(seq, _)| *seq).chain([0, u64::MAX]).collect();
            let _ = store.contents(queue.record.uid, &seqs);
        }
    }
});
