//! The lock file that gives one sender at a time a log directory: `flock(LOCK_EX | LOCK_NB)`
//! through `File::try_lock`, released by the kernel when the holder exits or is killed.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The name of the lock file in the log directory.
pub const LOCK_FILE: &str = "LOCK";

/// A held lock on a log directory; dropping it releases the lock.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock on `dir`, writing this process's pid into the lock file. Fails at once,
    /// with a message naming the dir and the holder's pid, when another sender holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock, String> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| format!("{}: cannot open the lock file: {e}", path.display()))?;
        if let Err(e) = file.try_lock() {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                String::new()
            } else {
                format!(" (pid {holder})")
            };
            return Err(match e {
                std::fs::TryLockError::WouldBlock => format!(
                    "{} is in use by another promrw sender{who}: one sender per WAL directory",
                    dir.display()
                ),
                std::fs::TryLockError::Error(e) => {
                    format!("{}: cannot lock: {e}", path.display())
                }
            });
        }
        let pid = std::process::id().to_string();
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(pid.as_bytes()));
        Ok(DirLock { _file: file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_dir_fails_naming_it_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("promrw-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = DirLock::acquire(&dir).unwrap();
        let error = DirLock::acquire(&dir).unwrap_err();
        assert!(error.contains(&dir.display().to_string()), "{error}");
        assert!(
            error.contains(&format!("pid {}", std::process::id())),
            "{error}"
        );
        drop(first);
        let again = DirLock::acquire(&dir).unwrap();
        assert!(again.path().ends_with(LOCK_FILE));
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
