//! The Remote Write protocol an endpoint's requests use now: the configured one, until a
//! receiver of a 2.0 endpoint shows it speaks only 1.0 (a 415, or a 2xx without the Written
//! headers); then 1.0 for the rest of the sender's life. In WAL mode the choice is kept in
//! `<wal dir>/endpoint-state/<id>.protocol` (written atomically), so a restarted sender does
//! not try 2.0 again on every start.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::ProtobufMessage;
use crate::log::{LogLevel, Logger};

/// What the state file of an endpoint that fell back holds.
const FALLEN_BACK: &str = "prometheus.WriteRequest\n";

/// The protocol state of one endpoint.
#[derive(Debug)]
pub struct ProtocolState {
    /// Requests are 2.0 now.
    v2: AtomicBool,
    /// Where the fallback is remembered (WAL mode).
    state_file: Option<PathBuf>,
}

/// The state file of endpoint `id` under `dir`: the id in hex (ids hold URLs), or for a long
/// id a prefix and its hash.
pub fn state_file(dir: &Path, id: &str) -> PathBuf {
    let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
    let name = if hex.len() > 200 {
        format!("{}-{:016x}", &hex[..160], fxhash::hash64(id.as_bytes()))
    } else {
        hex
    };
    dir.join(format!("{name}.protocol"))
}

impl ProtocolState {
    /// The state of an endpoint configured for `configured`; with `state_file`, a fallback
    /// recorded there by an earlier sender is taken over (and logged).
    pub fn new(
        configured: ProtobufMessage,
        state_file: Option<PathBuf>,
        logger: &Logger,
        describe: &str,
    ) -> ProtocolState {
        let mut v2 = configured == ProtobufMessage::V2;
        if v2
            && let Some(path) = &state_file
            && std::fs::read_to_string(path).is_ok_and(|text| text == FALLEN_BACK)
        {
            v2 = false;
            logger.log(LogLevel::Info, || {
                format!(
                    "{describe}: sending Remote Write 1.0: an earlier sender found that the receiver speaks only 1.0 ({} records it; delete it to try 2.0 again)",
                    path.display()
                )
            });
        }
        ProtocolState {
            v2: AtomicBool::new(v2),
            state_file,
        }
    }

    /// The protocol of requests encoded now.
    pub fn current(&self) -> ProtobufMessage {
        if self.v2.load(Ordering::Relaxed) {
            ProtobufMessage::V2
        } else {
            ProtobufMessage::V1
        }
    }

    /// Switches the endpoint to 1.0 for good; `why` is logged at warn level by the first
    /// caller (shards may meet the 1.0 receiver together). In WAL mode the choice is written
    /// to the state file first (a failure to write it is logged; the fallback holds anyway).
    pub fn fall_back(&self, logger: &Logger, describe: &str, why: &str) {
        if !self.v2.load(Ordering::SeqCst) {
            return;
        }
        let recorded = self
            .state_file
            .as_ref()
            .map(|path| (path, write_state(path)));
        if !self.v2.swap(false, Ordering::SeqCst) {
            return;
        }
        logger.log(LogLevel::Warn, || {
            let kept = match &recorded {
                None => String::new(),
                Some((path, Ok(()))) => format!("; recorded in {}", path.display()),
                Some((path, Err(e))) => {
                    format!("; could not record it in {}: {e}", path.display())
                }
            };
            format!(
                "{describe}: the receiver speaks only Remote Write 1.0 ({why}): this batch and every later one are sent as 1.0 for the rest of the sender's life (promrw_remote_write_protocol shows it){kept}"
            )
        });
    }
}

/// Writes the fallback to `path` atomically (a temporary file, fsync, rename, fsync of the
/// directory).
fn write_state(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension("tmp");
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(FALLEN_BACK.as_bytes())?;
        file.sync_data()?;
        std::fs::rename(&temporary, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fallback_is_remembered_in_the_state_file() {
        let dir = std::env::temp_dir().join(format!("promrw-protocol-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = state_file(&dir, "url:http://127.0.0.1:1/api/v1/write");
        let logger = Logger::default();
        let state = ProtocolState::new(ProtobufMessage::V2, Some(path.clone()), &logger, "e");
        assert_eq!(state.current(), ProtobufMessage::V2);
        state.fall_back(&logger, "e", "HTTP 415");
        assert_eq!(state.current(), ProtobufMessage::V1);
        let again = ProtocolState::new(ProtobufMessage::V2, Some(path.clone()), &logger, "e");
        assert_eq!(again.current(), ProtobufMessage::V1, "read back");
        let v1 = ProtocolState::new(ProtobufMessage::V1, Some(path), &logger, "e");
        assert_eq!(v1.current(), ProtobufMessage::V1);
        let fresh = ProtocolState::new(
            ProtobufMessage::V2,
            Some(state_file(&dir, "other")),
            &logger,
            "e",
        );
        assert_eq!(
            fresh.current(),
            ProtobufMessage::V2,
            "another endpoint's file"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
