//! Client of Arista EOS eAPI (JSON-RPC 2.0 `runCmds` on `/command-api`).
//!
//! Three transports carry the same requests: HTTP over the unix socket
//! `/var/run/command-api.sock` (hyper), HTTP to localhost (jsonrpsee), and
//! HTTPS with basic auth (jsonrpsee + rustls). [`EapiClient::run_cmds`]
//! sends raw commands; typed methods decode the replies the agent needs.
//! Errors say which command failed and why; transport errors of read-only
//! requests are retried with backoff, config sessions never are.

mod client;
mod command;
mod error;
/// EOS and kernel interface names: one rule for the workspace, in ztps-types.
pub use ztps_types::ifname;
mod jsonrpc;
pub mod models;
mod retry;
mod tls;
mod transport;
mod wire;

pub use client::{DEFAULT_MAX_REPLY_BYTES, DEFAULT_TIMEOUT, EapiClient, EapiClientBuilder};
pub use command::Command;
pub use error::{EapiError, ErrorCode};
pub use jsonrpc::Format;

/// Interprets a `runCmds` reply body for `cmds` exactly as the client does
/// (one result per command, or the command error EOS reported). Public for
/// the fuzz target and for tools replaying captured replies.
pub fn parse_reply(
    body: &[u8],
    cmds: &[Command],
    endpoint: &str,
) -> Result<Vec<serde_json::Value>, EapiError> {
    jsonrpc::parse_reply(body, cmds, endpoint)
}
pub use retry::RetryPolicy;
pub use transport::{
    Credentials, DEFAULT_HTTP_LOCAL_PORT, DEFAULT_UNIX_SOCKET, PASSWORD_ENV, Secret, Transport,
    USERNAME_ENV, check_private_file, url_origin,
};
