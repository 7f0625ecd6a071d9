//! Atomic writes: a temporary file beside the destination, synced, then renamed over it.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tempfile::NamedTempFile;

/// Any error a writer callback may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A file could not be written (the message names it, and the folder when that failed), or a
/// path named inside a file leads out of its folder ([`crate::confined`]).
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("file entry `{entry}` in {}: {reason}", dir.display())]
    Outside {
        entry: String,
        dir: PathBuf,
        reason: String,
    },
    #[error("cannot write {}: cannot create the folder {}: {source}", path.display(), dir.display())]
    CreateDir {
        path: PathBuf,
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: cannot create a temporary file in {}: {source}", path.display(), dir.display())]
    TempFile {
        path: PathBuf,
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: BoxError },
}

/// Creates `path`'s folder if needed, lets `write` fill a temporary file beside `path`, then
/// renames it over `path`. On any error the destination is left as it was.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut NamedTempFile) -> Result<(), BoxError>,
) -> Result<(), IoError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| IoError::CreateDir {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut tmp = NamedTempFile::new_in(dir).map_err(|source| IoError::TempFile {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        source,
    })?;
    let failed = |source: BoxError| IoError::Write {
        path: path.to_path_buf(),
        source,
    };
    write(&mut tmp).map_err(failed)?;
    keep_permissions(&tmp, path).map_err(|e| failed(e.into()))?;
    tmp.as_file().sync_all().map_err(|e| failed(e.into()))?;
    tmp.persist(path).map_err(|e| failed(e.error.into()))?;
    Ok(())
}

/// The temporary file is private (0600); the result gets the mode of the file it replaces, or
/// 0644 for a new one, so that outputs stay readable by others as files written directly are.
#[cfg(unix)]
fn keep_permissions(tmp: &NamedTempFile, path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let permissions = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions(),
        Err(_) => std::fs::Permissions::from_mode(0o644),
    };
    tmp.as_file().set_permissions(permissions)
}

#[cfg(not(unix))]
fn keep_permissions(_: &NamedTempFile, _: &Path) -> std::io::Result<()> {
    Ok(())
}

/// `bytes` as the whole content of `path`, atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    write_atomic(path, |f| Ok(f.write_all(bytes)?))
}

/// `value` as pretty JSON and a final newline, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), IoError> {
    write_atomic(path, |f| {
        serde_json::to_writer_pretty(&mut *f, value)?;
        Ok(f.write_all(b"\n")?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_earlier_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_json(&path, &serde_json::json!({"a": 1})).unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = write_atomic(&path, |f| {
            f.write_all(b"half")?;
            Err("disk on fire".into())
        })
        .unwrap_err();
        assert!(err.to_string().contains("out.json"), "{err}");
        assert!(err.to_string().contains("disk on fire"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "the temporary file was removed");
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_is_readable_by_others_and_a_replaced_one_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.txt");
        write_bytes(&path, b"a").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o644);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_bytes(&path, b"b").unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn folders_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c.bin");
        write_bytes(&path, b"xyz").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"xyz");
    }
}
