//! The signals the daemon acts on: SIGTERM and SIGINT stop it gracefully,
//! SIGHUP reloads the config.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Stop(&'static str),
    Reload,
}

/// The installed handlers. Installing them early means a signal that
/// arrives during start-up is held, not fatal.
#[derive(Debug)]
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Self> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next request. A closed stream (never, in practice) reads as stop.
    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.term.recv() => Request::Stop("SIGTERM"),
            _ = self.int.recv() => Request::Stop("SIGINT"),
            hup = self.hup.recv() => match hup {
                Some(()) => Request::Reload,
                None => Request::Stop("signal stream closed"),
            },
        }
    }
}
