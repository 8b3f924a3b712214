//! `virtual-machine NAME restart`: run the configured command, keep a record.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// One restart, as shown by GET /sim/status.
#[derive(Debug, Clone, Serialize)]
pub struct VmRestart {
    pub name: String,
    /// Unix time, seconds.
    pub at: f64,
    /// Exit code of the restart command; `None` when there is no command or it was killed.
    pub exit_code: Option<i32>,
}

#[derive(Debug, Default)]
pub struct VmRecorder {
    restarts: Mutex<Vec<VmRestart>>,
}

/// How long a restart command may take before it counts as failed.
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);

impl VmRecorder {
    /// Runs `command` (if any) with `$EOS_SIM_VM_NAME` set; records the
    /// attempt either way. An error is the reason EOS would report.
    pub async fn restart(&self, command: Option<&str>, name: &str) -> Result<(), String> {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let (exit_code, result) = match command {
            None => (None, Ok(())),
            Some(cmd) => run(cmd, name).await,
        };
        tracing::info!(vm = name, ?exit_code, "virtual-machine restart");
        self.restarts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(VmRestart {
                name: name.to_string(),
                at,
                exit_code,
            });
        result
    }

    pub fn history(&self) -> Vec<VmRestart> {
        self.restarts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

async fn run(cmd: &str, name: &str) -> (Option<i32>, Result<(), String>) {
    let child = tokio::process::Command::new("sh")
        .args(["-c", cmd])
        .env("EOS_SIM_VM_NAME", name)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(RESTART_TIMEOUT, child).await {
        Err(_) => (
            None,
            Err(format!(
                "restart of {name} timed out after {RESTART_TIMEOUT:?}"
            )),
        ),
        Ok(Err(e)) => (None, Err(format!("cannot run the restart command: {e}"))),
        Ok(Ok(out)) if out.status.success() => (out.status.code(), Ok(())),
        Ok(Ok(out)) => (
            out.status.code(),
            Err(format!(
                "restart of {name} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        ),
    }
}
