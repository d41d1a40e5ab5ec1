//! Per-endpoint cursors: where in the log an endpoint's unfinished records start, persisted
//! atomically (temporary file, fsync, rename, directory fsync) so a cursor file always parses.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::segment::sync_dir;

/// The first 8 bytes of a cursor file.
const CURSOR_MAGIC: &[u8; 8] = b"PRWCURS1";

/// A place in the log: a segment and the byte offset of a record in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The segment's number.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

/// The file name of the cursor of the endpoint identified by `id`: the hex of its bytes, or,
/// for a long id, a prefix and the CRC32C of the whole (the id inside the file is checked).
pub fn cursor_file_name(id: &str) -> String {
    let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
    if hex.len() <= 96 {
        hex
    } else {
        format!("{}-{:08x}", &hex[..80], crc32c::crc32c(id.as_bytes()))
    }
}

/// The bytes of a cursor file for endpoint `id` at `position`.
fn encode(id: &str, position: Position) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(32 + id.len());
    bytes.extend_from_slice(CURSOR_MAGIC);
    bytes.extend_from_slice(&(id.len() as u32).to_le_bytes());
    bytes.extend_from_slice(id.as_bytes());
    bytes.extend_from_slice(&position.segment.to_le_bytes());
    bytes.extend_from_slice(&position.offset.to_le_bytes());
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// Why a cursor file was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorError {
    /// No cursor file for this endpoint.
    Missing,
    /// The file exists but is damaged or belongs to another endpoint id.
    Unusable(String),
    /// The file could not be read.
    Io(String),
}

/// Parses a cursor file's bytes, checking that it belongs to `id`.
fn decode(id: &str, bytes: &[u8]) -> Result<Position, String> {
    let body_len = bytes.len().checked_sub(4).ok_or("too short")?;
    let (body, crc) = bytes.split_at(body_len);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err("checksum does not match".into());
    }
    let rest = body
        .strip_prefix(CURSOR_MAGIC)
        .ok_or("not a promrw cursor")?;
    let (id_len, rest) = rest.split_first_chunk::<4>().ok_or("too short")?;
    let id_len = u32::from_le_bytes(*id_len) as usize;
    if rest.len() != id_len + 16 {
        return Err("wrong length".into());
    }
    let (stored_id, numbers) = rest.split_at(id_len);
    if stored_id != id.as_bytes() {
        return Err(format!(
            "belongs to endpoint {:?}",
            String::from_utf8_lossy(stored_id)
        ));
    }
    let segment = u64::from_le_bytes(numbers[..8].try_into().expect("8 bytes"));
    let offset = u64::from_le_bytes(numbers[8..].try_into().expect("8 bytes"));
    Ok(Position { segment, offset })
}

/// The cursors of a log, one file per endpoint in a directory.
#[derive(Debug, Clone)]
pub struct CursorStore {
    dir: PathBuf,
}

impl CursorStore {
    /// The store in `dir` (created when missing).
    pub fn open(dir: &Path) -> io::Result<CursorStore> {
        std::fs::create_dir_all(dir)?;
        Ok(CursorStore {
            dir: dir.to_path_buf(),
        })
    }

    /// The path of endpoint `id`'s cursor file.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(cursor_file_name(id))
    }

    /// Reads endpoint `id`'s cursor.
    pub fn load(&self, id: &str) -> Result<Position, CursorError> {
        let path = self.path(id);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(CursorError::Missing),
            Err(e) => return Err(CursorError::Io(format!("{}: {e}", path.display()))),
        };
        decode(id, &bytes)
            .map_err(|why| CursorError::Unusable(format!("{}: {why}", path.display())))
    }

    /// Persists endpoint `id`'s cursor atomically: after a crash at any moment the file holds
    /// either the previous cursor or this one.
    pub fn store(&self, id: &str, position: Position) -> io::Result<()> {
        let path = self.path(id);
        let temporary = path.with_extension("tmp");
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temporary)?;
            file.write_all(&encode(id, position))?;
            file.sync_data()?;
            std::fs::rename(&temporary, &path)?;
            sync_dir(&self.dir)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written
    }

    /// Removes the cursor files whose endpoint id is not in `keep`, returning the file names
    /// removed (endpoints taken out of the configuration lose their cursor).
    pub fn retain(&self, keep: &[&str]) -> io::Result<Vec<String>> {
        let kept: Vec<String> = keep.iter().map(|id| cursor_file_name(id)).collect();
        let mut removed = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !kept.contains(&name) {
                std::fs::remove_file(self.dir.join(&name))?;
                removed.push(name);
            }
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        removed.sort();
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("promrw-cursor-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn cursors_round_trip_and_are_replaced() {
        let dir = temp_dir("roundtrip");
        let store = CursorStore::open(&dir).unwrap();
        assert_eq!(store.load("prod"), Err(CursorError::Missing));
        let first = Position {
            segment: 1,
            offset: 16,
        };
        store.store("prod", first).unwrap();
        assert_eq!(store.load("prod"), Ok(first));
        let later = Position {
            segment: 9,
            offset: 1 << 40,
        };
        store.store("prod", later).unwrap();
        assert_eq!(store.load("prod"), Ok(later));
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn damaged_or_foreign_cursor_files_are_unusable_never_misread() {
        let dir = temp_dir("damaged");
        let store = CursorStore::open(&dir).unwrap();
        let position = Position {
            segment: 2,
            offset: 100,
        };
        store.store("a", position).unwrap();
        let good = std::fs::read(store.path("a")).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            std::fs::write(store.path("a"), &bad).unwrap();
            assert!(
                matches!(store.load("a"), Err(CursorError::Unusable(_))),
                "byte {i}"
            );
        }
        for cut in 0..good.len() {
            std::fs::write(store.path("a"), &good[..cut]).unwrap();
            assert!(
                matches!(store.load("a"), Err(CursorError::Unusable(_))),
                "cut {cut}"
            );
        }
        std::fs::write(store.path("b"), &good).unwrap();
        let Err(CursorError::Unusable(why)) = store.load("b") else {
            panic!("another endpoint's cursor was accepted");
        };
        assert!(why.contains("belongs to endpoint \"a\""), "{why}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn retain_removes_the_cursors_of_endpoints_no_longer_configured() {
        let dir = temp_dir("retain");
        let store = CursorStore::open(&dir).unwrap();
        let position = Position {
            segment: 1,
            offset: 16,
        };
        let long = "url:https://example.invalid/".to_string() + &"x".repeat(200);
        for id in ["keep", "gone", long.as_str()] {
            store.store(id, position).unwrap();
        }
        let removed = store.retain(&["keep", long.as_str()]).unwrap();
        assert_eq!(removed, vec![cursor_file_name("gone")]);
        assert_eq!(store.load(&long), Ok(position));
        assert!(cursor_file_name(&long).len() < 100);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
