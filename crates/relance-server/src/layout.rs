//! Which directory holds the served views: the configured one (`DIR/projection`), or rebuilt
//! views beside it (`DIR/projection.<unix ms>`) that its pointer file (`DIR/projection.current`,
//! one line: the directory's name) names once a rebuild switched to them.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::NodeError;

/// The pointer file of the views configured at `configured`.
fn pointer(configured: &Path) -> PathBuf {
    sibling(configured, "current")
}

/// `configured` with `.suffix` added to its name.
fn sibling(configured: &Path, suffix: &str) -> PathBuf {
    let mut name = configured
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "projection".into());
    name.push(".");
    name.push(suffix);
    configured.with_file_name(name)
}

/// Whether `name` is the name of views rebuilt beside `configured` (`<name>.<digits>`).
fn is_rebuilt(configured: &Path, name: &str) -> bool {
    let base = configured
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("projection");
    name.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Where rebuilt views started at `unix_ms` go (also the compacted copy of rebuilt views):
/// removed at a node's start unless served.
pub fn rebuilt_dir(configured: &Path, unix_ms: i64) -> PathBuf {
    sibling(configured, &unix_ms.to_string())
}

/// The directory of the views to serve: the one the pointer file names, else `configured`.
/// A pointer naming anything but rebuilt views beside `configured` is refused.
pub fn served_dir(configured: &Path) -> Result<PathBuf, NodeError> {
    let at = pointer(configured);
    let name = match std::fs::read_to_string(&at) {
        Ok(text) => text.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(configured.to_owned()),
        Err(e) => {
            return Err(NodeError::Task(format!(
                "cannot read {}: {e}",
                at.display()
            )))
        }
    };
    if !is_rebuilt(configured, &name) {
        return Err(NodeError::Task(format!(
            "{} names {name:?}, which is not views rebuilt beside {}: remove the file to serve {}",
            at.display(),
            configured.display(),
            configured.display()
        )));
    }
    Ok(configured.with_file_name(name))
}

/// Removes the views beside `configured` that are not `served`: an interrupted rebuild, or
/// views retired while a request still held them. The configured directory itself is kept.
pub(crate) fn remove_stale(configured: &Path, served: &Path) {
    let Some(parent) = configured.parent() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let stale = entry
            .file_name()
            .to_str()
            .is_some_and(|n| is_rebuilt(configured, n))
            && path != served;
        if stale {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => tracing::info!(dir = %path.display(), "removed views no longer served"),
                Err(e) => {
                    tracing::warn!(error = %e, dir = %path.display(), "could not remove views no longer served")
                }
            }
        }
    }
}

/// Names `served` in the pointer file: written beside it, synced, then renamed over it, so a
/// crash leaves either name whole.
pub(crate) fn name_served(configured: &Path, served: &Path) -> Result<(), NodeError> {
    let fail = |e: std::io::Error| NodeError::Task(format!("cannot name the served views: {e}"));
    let name = served
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| NodeError::Task(format!("{} has no name", served.display())))?;
    let at = pointer(configured);
    let tmp = sibling(configured, "current.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(fail)?;
    f.write_all(format!("{name}\n").as_bytes()).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, &at).map_err(fail)?;
    if let Some(parent) = at.parent() {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digits_after_the_configured_name_mark_rebuilt_views() {
        let configured = Path::new("/data/projection");
        assert!(is_rebuilt(configured, "projection.1764490000000"));
        for other in [
            "projection",
            "projection.",
            "projection.current",
            "projection.12a",
            "log",
        ] {
            assert!(!is_rebuilt(configured, other), "{other}");
        }
    }

    #[test]
    fn the_pointer_names_the_served_views_and_a_foreign_name_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let configured = dir.path().join("projection");
        assert_eq!(served_dir(&configured).expect("no pointer"), configured);
        let rebuilt = rebuilt_dir(&configured, 42);
        name_served(&configured, &rebuilt).expect("named");
        assert_eq!(served_dir(&configured).expect("pointer"), rebuilt);
        std::fs::write(pointer(&configured), "../elsewhere\n").expect("write");
        let refused = served_dir(&configured).expect_err("a foreign name");
        assert!(refused.to_string().contains("remove the file"), "{refused}");
    }

    #[test]
    fn stale_rebuilt_views_are_removed_and_the_served_and_configured_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let configured = dir.path().join("projection");
        let (served, stale) = (rebuilt_dir(&configured, 2), rebuilt_dir(&configured, 1));
        for d in [&configured, &served, &stale] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        remove_stale(&configured, &served);
        assert!(configured.exists() && served.exists());
        assert!(!stale.exists());
    }
}
