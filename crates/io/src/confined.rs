//! Paths named inside a file (a saved model's `weights_file`, a cache's entries) resolved
//! inside the folder that holds that file, never outside it.

use std::path::{Component, Path, PathBuf};

use crate::IoError;

/// `dir/entry` for a file named inside a saved model or a cache, refused unless it stays inside
/// `dir`: the entry must be a non-empty relative path of plain names (no `..`, no root, no drive
/// prefix), and when the file exists its real path (symbolic links resolved) must lie under the
/// real path of `dir`. The error names the entry and the folder.
///
/// A file that does not exist yet is returned as `dir/entry` (its reader reports it missing).
pub fn confined(dir: &Path, entry: &str) -> Result<PathBuf, IoError> {
    let refuse = |reason: String| IoError::Outside {
        entry: entry.to_string(),
        dir: dir.to_path_buf(),
        reason,
    };
    let relative = Path::new(entry);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    let names = relative
        .components()
        .any(|c| matches!(c, Component::Normal(_)));
    if entry.is_empty() || !plain || !names {
        return Err(refuse(
            "must be a relative path of file names (no `..`, no absolute path)".into(),
        ));
    }
    let joined = dir.join(relative);
    if let (Ok(real_dir), Ok(real_file)) = (dir.canonicalize(), joined.canonicalize()) {
        if !real_file.starts_with(&real_dir) {
            return Err(refuse(format!(
                "resolves to {}, outside the folder (a symbolic link?)",
                real_file.display()
            )));
        }
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_inside_the_folder_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/w.bin"), b"x").unwrap();
        assert_eq!(
            confined(dir.path(), "sub/w.bin").unwrap(),
            dir.path().join("sub/w.bin")
        );
        assert_eq!(
            confined(dir.path(), "./missing.bin").unwrap(),
            dir.path().join("./missing.bin")
        );
    }

    #[test]
    fn escapes_are_refused_naming_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        for entry in ["", ".", "../x", "a/../../x", "/etc/passwd", "sub/.."] {
            let err = confined(dir.path(), entry).unwrap_err().to_string();
            assert!(
                err.contains(&format!("`{entry}`"))
                    && err.contains(&dir.path().display().to_string()),
                "{entry}: {err}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_out_of_the_folder_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.bin"), b"x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.bin"), dir.path().join("w.bin"))
            .unwrap();
        let err = confined(dir.path(), "w.bin").unwrap_err().to_string();
        assert!(err.contains("`w.bin`") && err.contains("outside"), "{err}");
        // A link that stays inside is fine.
        std::fs::write(dir.path().join("real.bin"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real.bin"), dir.path().join("inside.bin"))
            .unwrap();
        assert!(confined(dir.path(), "inside.bin").is_ok());
    }
}
