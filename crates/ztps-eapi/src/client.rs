//! The eAPI client: one request path, typed commands on top.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::jsonrpc::Format;
use crate::models::{
    InterfacesStatus, IpInterfaces, Ipv4Interface, LldpNeighbors, LldpNeighborsDetail, ShowVersion,
};
use crate::wire::Wire;
use crate::{Command, EapiError, RetryPolicy, Transport};

/// Default time allowed for one request (EOS answers `show` commands in
/// well under a second; a config session may take a few).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The longest reply body accepted, on every transport. EOS's largest
/// replies the agent asks for (`show interfaces status`, LLDP detail on a
/// fully populated chassis) are well under 1 MiB; anything past this is a
/// broken or hostile peer, refused before it can grow the agent's memory.
pub const DEFAULT_MAX_REPLY_BYTES: usize = 8 << 20;

/// Options of an [`EapiClient`].
#[derive(Debug, Clone)]
pub struct EapiClientBuilder {
    transport: Transport,
    timeout: Duration,
    retry: RetryPolicy,
    max_reply_bytes: usize,
}

impl EapiClientBuilder {
    /// Replies longer than this are refused with [`EapiError::ReplyTooLarge`].
    pub fn max_reply_bytes(mut self, limit: usize) -> Self {
        self.max_reply_bytes = limit;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries apply to transport errors of read-only requests only.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn build(self) -> Result<EapiClient, EapiError> {
        Ok(EapiClient {
            endpoint: self.transport.endpoint(),
            wire: Wire::new(&self.transport, self.timeout, self.max_reply_bytes)?,
            timeout: self.timeout,
            retry: self.retry,
            next_id: AtomicU64::new(1),
        })
    }
}

/// A client of one EOS eAPI endpoint.
pub struct EapiClient {
    endpoint: String,
    wire: Wire,
    timeout: Duration,
    retry: RetryPolicy,
    next_id: AtomicU64,
}

impl std::fmt::Debug for EapiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EapiClient")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl EapiClient {
    pub fn builder(transport: Transport) -> EapiClientBuilder {
        EapiClientBuilder {
            transport,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
        }
    }

    /// A client with the default timeout and retry policy.
    pub fn new(transport: Transport) -> Result<Self, EapiError> {
        Self::builder(transport).build()
    }

    /// Where the client talks to, fit for logs and status pages: a socket
    /// path, or `scheme://host:port` (never credentials, path or query).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs `cmds` in one request (`format: json`); one result per command.
    pub async fn run_cmds(&self, cmds: &[Command]) -> Result<Vec<Value>, EapiError> {
        self.run(cmds, Format::Json).await
    }

    /// Runs `cmds` with `format: text`; the CLI output of each command.
    pub async fn run_cmds_text(&self, cmds: &[Command]) -> Result<Vec<String>, EapiError> {
        let results = self.run(cmds, Format::Text).await?;
        results
            .into_iter()
            .zip(cmds)
            .map(|(r, c)| match r.get("output").and_then(Value::as_str) {
                Some(out) => Ok(out.to_string()),
                None => Err(EapiError::MalformedReply {
                    endpoint: self.endpoint.clone(),
                    commands: vec![c.cmd.clone()],
                    reason: "text result without `output`".into(),
                }),
            })
            .collect()
    }

    async fn run(&self, cmds: &[Command], format: Format) -> Result<Vec<Value>, EapiError> {
        // Re-running a config command whose fate is unknown could apply it twice.
        let attempts = if cmds.iter().all(Command::is_read_only) {
            self.retry.max_attempts.max(1)
        } else {
            1
        };
        let mut attempt = 1;
        loop {
            match self.once(cmds, format).await {
                Err(err) if err.is_transport() && attempt < attempts => {
                    let pause = self.retry.backoff(attempt);
                    tracing::warn!(endpoint = %self.endpoint, attempt, ?pause, error = %err, "eAPI request failed; retrying");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn once(&self, cmds: &[Command], format: Format) -> Result<Vec<Value>, EapiError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(endpoint = %self.endpoint, id, commands = ?crate::jsonrpc::names(cmds), "eAPI request");
        match tokio::time::timeout(
            self.timeout,
            self.wire.send(id, cmds, format, &self.endpoint),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(EapiError::Timeout {
                endpoint: self.endpoint.clone(),
                commands: crate::jsonrpc::names(cmds),
                after: self.timeout,
            }),
        }
    }

    async fn typed<T: DeserializeOwned>(&self, cmd: &str) -> Result<T, EapiError> {
        let mut results = self.run_cmds(&[Command::new(cmd)]).await?;
        let value = results.pop().unwrap_or(Value::Null);
        serde_json::from_value(value).map_err(|source| EapiError::Decode {
            command: cmd.to_string(),
            source,
        })
    }

    pub async fn show_version(&self) -> Result<ShowVersion, EapiError> {
        self.typed("show version").await
    }

    /// `show interfaces status`, or only the connected ones.
    pub async fn interfaces_status(
        &self,
        connected_only: bool,
    ) -> Result<InterfacesStatus, EapiError> {
        self.typed(if connected_only {
            "show interfaces status connected"
        } else {
            "show interfaces status"
        })
        .await
    }

    /// The IPv4 addresses of every routed interface (`show ip interface`).
    pub async fn ipv4_interfaces(&self) -> Result<Vec<Ipv4Interface>, EapiError> {
        let reply: IpInterfaces = self.typed("show ip interface").await?;
        Ok(reply.ipv4_interfaces())
    }

    pub async fn lldp_neighbors(&self) -> Result<LldpNeighbors, EapiError> {
        self.typed("show lldp neighbors").await
    }

    pub async fn lldp_neighbors_detail(&self) -> Result<LldpNeighborsDetail, EapiError> {
        self.typed("show lldp neighbors detail").await
    }

    /// Runs `lines` in one config session (`enable`, `configure`, lines,
    /// `end`) and returns the results of `lines`. Never retried.
    pub async fn configure(&self, lines: &[&str]) -> Result<Vec<Value>, EapiError> {
        let mut cmds = vec![Command::new("enable"), Command::new("configure")];
        cmds.extend(lines.iter().map(|l| Command::new(*l)));
        cmds.push(Command::new("end"));
        let mut results = self.run_cmds(&cmds).await?;
        results.truncate(results.len().saturating_sub(1));
        Ok(results.split_off(2.min(results.len())))
    }

    /// `virtual-machine NAME restart` in config mode.
    pub async fn restart_vm(&self, name: &str) -> Result<(), EapiError> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid {
            return Err(EapiError::Config(format!(
                "{name:?} is not a valid virtual-machine name"
            )));
        }
        self.configure(&[&format!("virtual-machine {name} restart")])
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: T) {}

    /// The agent shares one client between tasks and spawns its requests.
    #[test]
    fn client_and_its_futures_can_cross_tasks() {
        let c = EapiClient::new(Transport::unix_socket("/nonexistent/eapi.sock")).unwrap();
        assert_send_sync(&c);
        assert_send(c.show_version());
        assert_send(c.configure(&["hostname x"]));
        assert_send(c.run_cmds(&[]));
    }

    #[test]
    fn invalid_vm_names_never_reach_the_wire() {
        let c = EapiClient::new(Transport::unix_socket("/nonexistent/eapi.sock")).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for name in ["", "a b", "x\nreload", "vm;reload"] {
            let err = rt.block_on(c.restart_vm(name)).unwrap_err();
            assert!(matches!(err, EapiError::Config(_)), "{name:?}: {err:?}");
        }
    }

    #[test]
    fn https_transport_needs_an_https_url() {
        let t = Transport::https("http://sw1", crate::Credentials::new("admin", "pw"));
        assert!(matches!(EapiClient::new(t), Err(EapiError::Config(_))));
    }
}
