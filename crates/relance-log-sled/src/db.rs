//! Opening a sled database in this process, waiting out the lock a dropped handle still holds.

use std::path::Path;
use std::time::{Duration, Instant};

/// Opens a sled database, waiting (at most 10 s) for its file lock when the previous handle in
/// this process was just dropped: sled 0.34 releases the lock from background threads.
pub fn open_db(dir: &Path) -> sled::Result<sled::Db> {
    open_db_with_cache(dir, 256 * 1024 * 1024)
}

/// [`open_db`] with a page cache of `cache_bytes` (sled's default is 1 GiB).
pub fn open_db_with_cache(dir: &Path, cache_bytes: u64) -> sled::Result<sled::Db> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut pause = Duration::from_millis(1);
    loop {
        match sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
        {
            Err(sled::Error::Io(e)) if is_lock_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// sled reports a held lock as an I/O error wrapping `WouldBlock` (or with that text).
fn is_lock_busy(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
        || e.to_string().contains("could not acquire lock")
        || e.get_ref()
            .is_some_and(|inner| inner.to_string().contains("WouldBlock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_db_waits_for_a_lock_released_by_a_handle_dropped_meanwhile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = sled::Config::new()
            .path(dir.path())
            .open()
            .expect("first open");
        // While the first handle lives, a plain open fails on the lock…
        let busy = sled::Config::new().path(dir.path()).open();
        assert!(
            matches!(&busy, Err(sled::Error::Io(e)) if is_lock_busy(e)),
            "{busy:?}"
        );
        // …and open_db waits until it is released.
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(held);
        });
        open_db(dir.path()).expect("opens once the lock is released");
        releaser.join().expect("join");
    }
}
