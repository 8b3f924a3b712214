//! Sending one `runCmds` request over each transport.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use jsonrpsee::core::ClientError;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::ObjectParams;
use jsonrpsee::http_client::{
    CustomCertStore, HeaderMap, HeaderValue, HttpClient, HttpClientBuilder,
};
use serde_json::Value;
use tokio::net::UnixStream;

use crate::jsonrpc::{self, Format};
use crate::transport::{https_url, url_origin};
use crate::{Command, EapiError, Transport, tls};
use ztps_types::error_chain;

/// A connected-or-connectable eAPI endpoint.
pub(crate) struct Wire {
    kind: Kind,
    limit: usize,
    redact: Redactor,
}

enum Kind {
    /// A new HTTP/1.1 connection per request: the socket is local and cheap,
    /// and a fresh connection never trips over one EOS closed meanwhile.
    Unix(PathBuf),
    Http(HttpClient, Duration),
}

/// Strings that must never leave the client in an error message: the
/// configured URL as written, its userinfo, path and query, the password.
#[derive(Default)]
struct Redactor(Vec<String>);

impl Redactor {
    fn for_transport(transport: &Transport) -> Self {
        let Transport::Https { url, password, .. } = transport else {
            return Self::default();
        };
        let mut secrets = vec![url.clone(), https_url(url)];
        let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        if let Some((userinfo, _)) = after_scheme.split_once('@') {
            secrets.push(userinfo.to_string());
        }
        if let Some(i) = after_scheme.find(['/', '?']) {
            let rest = &after_scheme[i..];
            if rest.len() > 1 && rest != "/command-api" {
                secrets.push(rest.to_string());
            }
        }
        if !password.expose().is_empty() {
            secrets.push(password.expose().to_string());
        }
        // Longest first, so that a URL is replaced whole before its parts.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self(secrets)
    }

    fn clean(&self, text: String) -> String {
        self.0.iter().fold(text, |text, secret| {
            if text.contains(secret.as_str()) {
                text.replace(secret.as_str(), "<redacted>")
            } else {
                text
            }
        })
    }

    fn error(&self, err: EapiError) -> EapiError {
        match err {
            EapiError::Transport { endpoint, reason } => EapiError::Transport {
                endpoint,
                reason: self.clean(reason),
            },
            EapiError::MalformedReply {
                endpoint,
                commands,
                reason,
            } => EapiError::MalformedReply {
                endpoint,
                commands,
                reason: self.clean(reason),
            },
            EapiError::Config(reason) => EapiError::Config(self.clean(reason)),
            EapiError::Tls(reason) => EapiError::Tls(self.clean(reason)),
            other => other,
        }
    }
}

impl Wire {
    pub(crate) fn new(
        transport: &Transport,
        timeout: Duration,
        limit: usize,
    ) -> Result<Self, EapiError> {
        let redact = Redactor::for_transport(transport);
        match Kind::new(transport, timeout, limit) {
            Ok(kind) => Ok(Self {
                kind,
                limit,
                redact,
            }),
            Err(e) => Err(redact.error(e)),
        }
    }

    pub(crate) async fn send(
        &self,
        id: u64,
        cmds: &[Command],
        format: Format,
        endpoint: &str,
    ) -> Result<Vec<Value>, EapiError> {
        let result = match &self.kind {
            Kind::Unix(path) => send_unix(path, id, cmds, format, endpoint, self.limit).await,
            Kind::Http(client, timeout) => {
                send_http(client, *timeout, cmds, format, endpoint, self.limit).await
            }
        };
        result.map_err(|e| self.redact.error(e))
    }
}

impl Kind {
    fn new(transport: &Transport, timeout: Duration, limit: usize) -> Result<Self, EapiError> {
        // jsonrpsee counts in u32; a larger limit is no limit we need.
        let max_response = u32::try_from(limit).unwrap_or(u32::MAX);
        match transport {
            Transport::UnixSocket { path } => Ok(Self::Unix(path.clone())),
            Transport::HttpLocalhost { port } => {
                let client = HttpClientBuilder::new()
                    .request_timeout(timeout)
                    .max_response_size(max_response)
                    .build(format!("http://127.0.0.1:{port}/command-api"))
                    .map_err(|e| EapiError::Config(e.to_string()))?;
                Ok(Self::Http(client, timeout))
            }
            Transport::Https {
                url,
                username,
                password,
                ca,
                insecure_skip_verify,
            } => {
                if !url.starts_with("https://") {
                    return Err(EapiError::Config(format!(
                        "the eAPI URL ({}) is not an https:// URL",
                        url_origin(url)
                    )));
                }
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose()));
                let mut auth = HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| {
                    EapiError::Credentials(
                        "the username or password holds characters HTTP cannot carry".into(),
                    )
                })?;
                auth.set_sensitive(true);
                let mut headers = HeaderMap::new();
                headers.insert(http::header::AUTHORIZATION, auth);
                let mut builder = HttpClientBuilder::new()
                    .request_timeout(timeout)
                    .max_response_size(max_response)
                    .set_headers(headers);
                let custom: Option<CustomCertStore> = if *insecure_skip_verify {
                    tracing::warn!(endpoint = %url_origin(url), "TLS certificate verification is disabled for eAPI");
                    Some(tls::insecure_skip_verify()?)
                } else if let Some(ca) = ca {
                    Some(tls::with_ca(ca)?)
                } else {
                    None
                };
                if let Some(cfg) = custom {
                    builder = builder.with_custom_cert_store(cfg);
                }
                let client = builder
                    .build(https_url(url))
                    .map_err(|e| EapiError::Config(e.to_string()))?;
                Ok(Self::Http(client, timeout))
            }
        }
    }
}

async fn send_unix(
    path: &Path,
    id: u64,
    cmds: &[Command],
    format: Format,
    endpoint: &str,
    limit: usize,
) -> Result<Vec<Value>, EapiError> {
    let transport = |reason: String| EapiError::Transport {
        endpoint: endpoint.to_string(),
        reason,
    };
    let stream = UnixStream::connect(path)
        .await
        .map_err(|e| transport(format!("connect: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| transport(format!("HTTP handshake: {e}")))?;
    let connection = tokio::spawn(conn);
    let body = jsonrpc::request_body(id, cmds, format).to_string();
    let request = http::Request::post("/command-api")
        .header(http::header::HOST, "localhost")
        .header(http::header::CONTENT_TYPE, "application/json-rpc")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| transport(format!("building the request: {e}")))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| transport(format!("request: {}", error_chain(&e))))?;
    let status = response.status();
    let too_large = || EapiError::ReplyTooLarge {
        endpoint: endpoint.to_string(),
        limit,
    };
    let announced = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        connection.abort();
        return Err(too_large());
    }
    // Limited stops reading (and buffering) at the limit, whatever the
    // framing: an endless chunked reply costs at most `limit` bytes.
    let collected = Limited::new(response.into_body(), limit).collect().await;
    connection.abort();
    let bytes = match collected {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => {
            return Err(transport(format!(
                "reading the reply: {}",
                error_chain(e.as_ref())
            )));
        }
    };
    check_status(status.as_u16(), endpoint)?;
    jsonrpc::parse_reply(&bytes, cmds, endpoint)
}

fn check_status(status: u16, endpoint: &str) -> Result<(), EapiError> {
    match status {
        200..=299 => Ok(()),
        401 => Err(EapiError::Unauthorized {
            endpoint: endpoint.to_string(),
        }),
        other => Err(EapiError::HttpStatus {
            endpoint: endpoint.to_string(),
            status: other,
        }),
    }
}

async fn send_http(
    client: &HttpClient,
    timeout: Duration,
    cmds: &[Command],
    format: Format,
    endpoint: &str,
    limit: usize,
) -> Result<Vec<Value>, EapiError> {
    let mut params = ObjectParams::new();
    let insert = |params: &mut ObjectParams, key: &str, value: Value| {
        params
            .insert(key, value)
            .map_err(|e| EapiError::Config(format!("encoding the request: {e}")))
    };
    insert(&mut params, "version", Value::from(1))?;
    insert(
        &mut params,
        "cmds",
        serde_json::to_value(cmds).map_err(|e| EapiError::Config(e.to_string()))?,
    )?;
    insert(&mut params, "format", Value::from(format.as_str()))?;
    let reply: Result<Value, ClientError> = client.request("runCmds", params).await;
    match reply {
        Ok(result) => jsonrpc::results(result, cmds).map_err(|reason| EapiError::MalformedReply {
            endpoint: endpoint.to_string(),
            commands: jsonrpc::names(cmds),
            reason,
        }),
        Err(err) => Err(from_jsonrpsee(err, cmds, endpoint, timeout, limit)),
    }
}

fn from_jsonrpsee(
    err: ClientError,
    cmds: &[Command],
    endpoint: &str,
    timeout: Duration,
    limit: usize,
) -> EapiError {
    let endpoint_s = endpoint.to_string();
    match err {
        ClientError::Call(obj) => {
            let data = obj
                .data()
                .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok());
            jsonrpc::command_error(obj.code().into(), obj.message(), data.as_ref(), cmds)
        }
        ClientError::RequestTimeout => EapiError::Timeout {
            endpoint: endpoint_s,
            commands: jsonrpc::names(cmds),
            after: timeout,
        },
        ClientError::ParseError(e) => EapiError::MalformedReply {
            endpoint: endpoint_s,
            commands: jsonrpc::names(cmds),
            reason: e.to_string(),
        },
        ClientError::Transport(e) => {
            if is_too_large(e.as_ref()) {
                return EapiError::ReplyTooLarge {
                    endpoint: endpoint_s,
                    limit,
                };
            }
            if let Some(jsonrpsee::http_client::transport::Error::Rejected { status_code }) =
                e.downcast_ref()
                && let Err(mapped) = check_status(*status_code, endpoint)
            {
                return mapped;
            }
            EapiError::Transport {
                endpoint: endpoint_s,
                reason: error_chain(e.as_ref()),
            }
        }
        other => EapiError::MalformedReply {
            endpoint: endpoint_s,
            commands: jsonrpc::names(cmds),
            reason: other.to_string(),
        },
    }
}

/// Whether jsonrpsee gave up on a reply for its size, announced or read.
/// (Its error wraps the cause transparently, so the chain does not show
/// it: match the variants.)
fn is_too_large(err: &(dyn std::error::Error + 'static)) -> bool {
    use jsonrpsee::core::http_helpers::HttpError;
    use jsonrpsee::http_client::transport::Error;
    match err.downcast_ref::<Error>() {
        Some(Error::Http(HttpError::TooLarge)) => true,
        Some(Error::Http(HttpError::Stream(e))) => e.is::<http_body_util::LengthLimitError>(),
        _ => false,
    }
}
