use std::path::PathBuf;

/// Everything that can go wrong while delivering events.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("syslog socket {path}: {action}")]
    Syslog {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// `origin` is `scheme://host:port`: a webhook's path is its secret.
    #[error("webhook URL ({origin}) is not usable: {reason}")]
    WebhookUrl { origin: String, reason: String },

    #[error("JSON event log {path}: {action}")]
    JsonLog {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// A datagram on the bootstrap log port that is not a bootstrap line.
    #[error("not a ZTPServer bootstrap log line: {reason}")]
    BootstrapLog { reason: &'static str },

    #[error("encoding an event as JSON failed")]
    Encode(#[from] serde_json::Error),
}
