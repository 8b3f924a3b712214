//! Faults injected at run time, for the agent's resilience tests.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// What to break. Every field is optional; the default breaks nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Wait this long before answering.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
    /// Close the connection without an answer.
    #[serde(default, skip_serializing_if = "is_false")]
    pub drop_connection: bool,
    /// Fail matching commands with this JSON-RPC error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<InjectedError>,
    /// Answer with a body that is not JSON.
    #[serde(default, skip_serializing_if = "is_false")]
    pub malformed_json: bool,
    /// Hold the request until the stall is cleared.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stall: bool,
    /// Apply to this many more requests only, then clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectedError {
    /// 1000 (could not run) or 1005 (unauthorized); others are refused.
    pub code: i64,
    /// Command prefixes that fail; absent means every command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

impl Faults {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(e) = &self.error
            && e.code != 1000
            && e.code != 1005
        {
            return Err(format!("error.code must be 1000 or 1005, not {}", e.code));
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        *self == Faults::default()
    }

    /// The injected error for `cmd`, if it matches.
    pub fn error_for(&self, cmd: &str) -> Option<i64> {
        let e = self.error.as_ref()?;
        let matches = match &e.commands {
            None => true,
            Some(prefixes) => prefixes.iter().any(|p| {
                cmd.to_ascii_lowercase()
                    .starts_with(&p.to_ascii_lowercase())
            }),
        };
        matches.then_some(e.code)
    }
}

/// The current faults, set through the control endpoint or the control file.
#[derive(Debug)]
pub struct FaultState {
    current: Mutex<Faults>,
    file: Option<PathBuf>,
    file_seen: Mutex<Option<SystemTime>>,
    /// Tells stalled requests that the stall was cleared.
    stall_tx: watch::Sender<bool>,
}

impl FaultState {
    pub fn new(file: Option<PathBuf>) -> Self {
        Self {
            current: Mutex::new(Faults::default()),
            file,
            file_seen: Mutex::new(None),
            stall_tx: watch::channel(false).0,
        }
    }

    pub fn get(&self) -> Faults {
        self.reload_file();
        lock(&self.current).clone()
    }

    pub fn set(&self, faults: Faults) {
        self.stall_tx.send_replace(faults.stall);
        *lock(&self.current) = faults;
    }

    /// The faults for one request; counts down `remaining`.
    pub fn take(&self) -> Faults {
        self.reload_file();
        let mut current = lock(&self.current);
        let faults = current.clone();
        if let Some(n) = current.remaining {
            if n <= 1 {
                *current = Faults::default();
                self.stall_tx.send_replace(false);
            } else {
                current.remaining = Some(n - 1);
            }
        }
        faults
    }

    /// Waits until no stall is set.
    pub async fn wait_unstalled(&self) {
        let mut rx = self.stall_tx.subscribe();
        // An error means the sender is gone: nothing can stall us any more.
        let _ = rx.wait_for(|stalled| !*stalled).await;
    }

    /// Rereads the control file when it changed (or vanished).
    fn reload_file(&self) {
        let Some(path) = &self.file else { return };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut seen = lock(&self.file_seen);
        if *seen == modified {
            return;
        }
        *seen = modified;
        match modified {
            None => {
                tracing::info!(path = %path.display(), "faults file removed; clearing faults");
                self.set(Faults::default());
            }
            Some(_) => match read_file(path) {
                Ok(f) => {
                    tracing::info!(path = %path.display(), faults = ?f, "faults file loaded");
                    self.set(f);
                }
                // Keep what was in force: a half-written file must not clear a stall.
                Err(e) => tracing::error!(path = %path.display(), "ignoring faults file: {e}"),
            },
        }
    }
}

fn read_file(path: &Path) -> Result<Faults, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    if text.trim().is_empty() {
        return Ok(Faults::default());
    }
    let f: Faults = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    f.validate()?;
    Ok(f)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere cannot leave Faults half-updated: it is replaced whole.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_counts_down_then_clears() {
        let s = FaultState::new(None);
        s.set(Faults {
            drop_connection: true,
            remaining: Some(2),
            ..Faults::default()
        });
        assert!(s.take().drop_connection);
        assert!(s.take().drop_connection);
        assert!(s.take().is_empty());
    }

    #[test]
    fn error_matches_prefixes_case_insensitively() {
        let f = Faults {
            error: Some(InjectedError {
                code: 1000,
                commands: Some(vec!["show interfaces".into()]),
            }),
            ..Faults::default()
        };
        assert_eq!(f.error_for("Show Interfaces status"), Some(1000));
        assert_eq!(f.error_for("show version"), None);
    }

    #[test]
    fn bad_codes_and_unknown_fields_are_refused() {
        let f: Faults = serde_json::from_str(r#"{"error": {"code": 1002}}"#).unwrap();
        assert!(f.validate().is_err());
        assert!(serde_json::from_str::<Faults>(r#"{"dleay_ms": 5}"#).is_err());
    }

    #[test]
    fn control_file_sets_and_removal_clears() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faults.json");
        let s = FaultState::new(Some(path.clone()));
        assert!(s.get().is_empty());
        std::fs::write(&path, r#"{"delay_ms": 30}"#).unwrap();
        assert_eq!(s.get().delay_ms, 30);
        std::fs::remove_file(&path).unwrap();
        assert!(s.get().is_empty());
    }
}
