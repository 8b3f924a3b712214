//! The simulator's state, shared by every listener.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::cli::Args;
use crate::faults::FaultState;
use crate::vm::VmRecorder;

#[derive(Debug)]
pub struct Sim {
    pub args: Args,
    pub started: SystemTime,
    pub faults: FaultState,
    pub vm: VmRecorder,
    hostname: Mutex<String>,
    requests: AtomicU64,
}

impl Sim {
    pub fn new(args: Args) -> Self {
        Self {
            started: SystemTime::now(),
            faults: FaultState::new(args.faults_file.clone()),
            vm: VmRecorder::default(),
            hostname: Mutex::new(args.hostname.clone()),
            requests: AtomicU64::new(0),
            args,
        }
    }

    pub fn hostname(&self) -> String {
        self.hostname
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn set_hostname(&self, name: &str) {
        *self
            .hostname
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = name.to_string();
    }

    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}
