//! Sending one `runCmds` request over each transport.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use http_body_util::{BodyExt, Full};
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
use crate::transport::https_url;
use crate::{Command, EapiError, Transport, tls};

/// A connected-or-connectable eAPI endpoint.
pub(crate) enum Wire {
    /// A new HTTP/1.1 connection per request: the socket is local and cheap,
    /// and a fresh connection never trips over one EOS closed meanwhile.
    Unix(PathBuf),
    Http(HttpClient, Duration),
}

impl Wire {
    pub(crate) fn new(transport: &Transport, timeout: Duration) -> Result<Self, EapiError> {
        match transport {
            Transport::UnixSocket { path } => Ok(Self::Unix(path.clone())),
            Transport::HttpLocalhost { port } => {
                let client = HttpClientBuilder::new()
                    .request_timeout(timeout)
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
                    return Err(EapiError::Config(format!("{url:?} is not an https:// URL")));
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
                    .set_headers(headers);
                let custom: Option<CustomCertStore> = if *insecure_skip_verify {
                    tracing::warn!(url = %url, "TLS certificate verification is disabled for eAPI");
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

    pub(crate) async fn send(
        &self,
        id: u64,
        cmds: &[Command],
        format: Format,
        endpoint: &str,
    ) -> Result<Vec<Value>, EapiError> {
        match self {
            Self::Unix(path) => send_unix(path, id, cmds, format, endpoint).await,
            Self::Http(client, timeout) => {
                send_http(client, *timeout, cmds, format, endpoint).await
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
        .map_err(|e| transport(format!("request: {}", chain(&e))))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| transport(format!("reading the reply: {e}")))?
        .to_bytes();
    connection.abort();
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
        Err(err) => Err(from_jsonrpsee(err, cmds, endpoint, timeout)),
    }
}

fn from_jsonrpsee(
    err: ClientError,
    cmds: &[Command],
    endpoint: &str,
    timeout: Duration,
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
            if let Some(jsonrpsee::http_client::transport::Error::Rejected { status_code }) =
                e.downcast_ref()
                && let Err(mapped) = check_status(*status_code, endpoint)
            {
                return mapped;
            }
            EapiError::Transport {
                endpoint: endpoint_s,
                reason: chain(e.as_ref()),
            }
        }
        other => EapiError::MalformedReply {
            endpoint: endpoint_s,
            commands: jsonrpc::names(cmds),
            reason: other.to_string(),
        },
    }
}

/// An error and its causes on one line ("connection refused" hides deep in hyper errors).
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let s = cause.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = cause.source();
    }
    text
}
