//! Where records go. Each sink is driven by the hub's task, one record at
//! a time; a sink must not block for long (the webhook queues instead).

mod jsonlog;
mod syslog;
mod webhook;

pub use jsonlog::JsonLogSink;
pub use syslog::{DEFAULT_SYSLOG_SOCKET, SyslogFormat, SyslogSink};
pub use webhook::{
    MAX_REPLY_BODY, WebhookConfig, WebhookHealth, WebhookSink, WebhookStats, slack_body, url_origin,
};

use crate::{EventsError, Record};

pub trait Sink: Send + std::fmt::Debug {
    /// Short name for logs ("syslog", "webhook", "json-log").
    fn name(&self) -> &'static str;

    /// Hands one record to the sink.
    fn deliver(&mut self, record: &Record) -> Result<(), EventsError>;

    /// Pushes buffered records out; called periodically and at shutdown.
    fn flush(&mut self) -> Result<(), EventsError> {
        Ok(())
    }
}
