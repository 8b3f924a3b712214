//! Provisioning events of the agent: typed events with a severity and a
//! one-line message, folding of repeats, and sinks (syslog as EOS
//! operators expect it, a webhook, a JSON-lines log) fed by a [`Hub`].

pub mod bootlog;
mod clock;
mod dedup;
mod error;
mod event;
mod hub;
mod sink;

pub use clock::{Clock, ManualClock, SystemClock};
pub use dedup::Deduper;
pub use error::EventsError;
pub use event::{Event, MacAddr, Record, Severity, Stage};
pub use hub::{Hub, HubConfig, HubHandle};
pub use sink::{
    DEFAULT_SYSLOG_SOCKET, JsonLogSink, MAX_REPLY_BODY, Sink, SyslogFormat, SyslogSink,
    WebhookConfig, WebhookHealth, WebhookSink, WebhookStats, slack_body, url_origin,
};
