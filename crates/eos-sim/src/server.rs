//! Listeners (HTTP, HTTPS, unix socket) and request routing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_rustls::TlsAcceptor;

use crate::faults::Faults;
use crate::sim::Sim;

/// Largest request body accepted (EOS's own limit is larger; a config of
/// thousands of lines still fits).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Returned by the service to make hyper close the connection unanswered.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

/// Basic-auth credentials the HTTPS listener requires.
struct Auth {
    expected: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth(<redacted>)")
    }
}

impl Auth {
    fn new(user: &str, password: &str) -> Self {
        Self {
            expected: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
        }
    }

    fn allows(&self, req: &Request<Incoming>) -> bool {
        req.headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == self.expected)
    }
}

type Body = Full<Bytes>;

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    respond(status, "application/json", v.to_string())
}

/// Which listener a request came in on: eAPI's protocols are enabled one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Http,
    Https,
    Unix,
}

/// A configured user's password, as far as the simulator can check it.
#[derive(Debug, PartialEq, Eq)]
enum Secret {
    /// `nopassword`: any password.
    Any,
    /// `secret PASSWORD` or `secret 0 PASSWORD`.
    Plain(String),
    /// `secret sha512 ...`: the simulator cannot check it, so nothing matches.
    Hashed,
}

/// `username NAME ...` lines of the running config.
fn config_users(sim: &Sim) -> Vec<(String, Secret)> {
    let d = sim.device();
    d.config
        .blocks()
        .iter()
        .filter_map(|b| {
            let words: Vec<&str> = b.head.split_whitespace().collect();
            if words.first() != Some(&"username") || words.len() < 2 {
                return None;
            }
            let name = words[1].to_string();
            if words.contains(&"nopassword") {
                return Some((name, Secret::Any));
            }
            let i = words.iter().position(|w| *w == "secret")?;
            let secret = match (words.get(i + 1), words.get(i + 2)) {
                (Some(&"0"), Some(p)) => Secret::Plain((*p).to_string()),
                (Some(&("5" | "7" | "sha512")), _) => Secret::Hashed,
                (Some(p), _) => Secret::Plain((*p).to_string()),
                (None, _) => return None,
            };
            Some((name, secret))
        })
        .collect()
}

fn basic_credentials(req: &Request<Incoming>) -> Option<(String, String)> {
    let v = req
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Basic auth against the configured users (EOS checks eAPI's HTTP and
/// HTTPS servers against its AAA users; the unix socket and the local HTTP
/// server need none).
fn config_users_allow(sim: &Sim, req: &Request<Incoming>) -> bool {
    let users = config_users(sim);
    let Some((user, password)) = basic_credentials(req) else {
        return false;
    };
    users.iter().any(|(u, secret)| {
        *u == user
            && match secret {
                Secret::Any => true,
                Secret::Plain(p) => *p == password,
                Secret::Hashed => false,
            }
    })
}

fn unauthorized() -> Response<Body> {
    let mut r = respond(
        StatusCode::UNAUTHORIZED,
        "text/plain",
        "Unable to authenticate user: Bad username/password combination",
    );
    r.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Basic realm=\"eAPI\""),
    );
    r
}

async fn handle(
    sim: Arc<Sim>,
    via: Via,
    auth: Option<Arc<Auth>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if path == "/command-api" {
        let state = crate::replies::http_api_state(&sim);
        let serves = state.enabled
            && match via {
                Via::Http => state.http || state.http_local,
                Via::Https => state.https,
                Via::Unix => state.unix,
            };
        if !serves {
            // A protocol that is off has no server behind it at all on EOS.
            tracing::info!(?via, "eAPI request on a protocol that is not enabled");
            return Err(DropConnection);
        }
        let needs_config_user = match via {
            Via::Http => state.http && !config_users(&sim).is_empty(),
            Via::Https | Via::Unix => false,
        };
        let allowed = match (&auth, needs_config_user) {
            (Some(a), _) => a.allows(&req) || config_users_allow(&sim, &req),
            (None, true) => config_users_allow(&sim, &req),
            (None, false) => true,
        };
        if !allowed {
            return Ok(unauthorized());
        }
    } else if let Some(auth) = &auth
        && !auth.allows(&req)
    {
        return Ok(unauthorized());
    }
    match (path.as_str(), method) {
        ("/command-api", Method::POST) => command_api(&sim, req).await,
        ("/command-api", _) => Ok(respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "use POST",
        )),
        ("/sim/status", Method::GET) => {
            let (boots, version, ztp_mode) = {
                let d = sim.device();
                (d.boots, d.version.clone(), d.ztp_mode)
            };
            Ok(json_response(
                StatusCode::OK,
                &json!({"requests": sim.requests(), "vm_restarts": sim.vm.history(), "hostname": sim.hostname(), "boots": boots, "version": version, "ztp_mode": ztp_mode}),
            ))
        }
        ("/sim/cli", Method::POST) => Ok(cli(&sim, req).await),
        ("/sim/faults", Method::GET) => Ok(json_response(StatusCode::OK, &json!(sim.faults.get()))),
        ("/sim/faults", Method::DELETE) => {
            sim.faults.set(Faults::default());
            Ok(json_response(StatusCode::OK, &json!(Faults::default())))
        }
        ("/sim/faults", Method::PUT | Method::POST) => Ok(set_faults(&sim, req).await),
        _ => Ok(respond(StatusCode::NOT_FOUND, "text/plain", "not found")),
    }
}

/// FastCli's way in: {"privilege": 15, "script": "configure\n..."} runs
/// the lines as one CLI session, text output.
async fn cli(sim: &Sim, req: Request<Incoming>) -> Response<Body> {
    #[derive(serde::Deserialize)]
    struct CliRequest {
        #[serde(default = "default_privilege")]
        privilege: u8,
        script: String,
    }
    fn default_privilege() -> u8 {
        1
    }
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(e) => return respond(StatusCode::BAD_REQUEST, "text/plain", e),
    };
    let request: CliRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return respond(
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("bad CLI request: {e}\n"),
            );
        }
    };
    let mut session = if request.privilege >= 15 {
        crate::cli_engine::Session::privileged(sim)
    } else {
        crate::cli_engine::Session::new(sim)
    };
    let (output, ok) = session.run_script(&request.script).await;
    json_response(StatusCode::OK, &json!({"output": output, "ok": ok}))
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, String> {
    Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| format!("reading the request body: {e}"))
}

async fn set_faults(sim: &Sim, req: Request<Incoming>) -> Response<Body> {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(e) => return respond(StatusCode::BAD_REQUEST, "text/plain", e),
    };
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => {
            return respond(
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("bad faults object: {e}\n"),
            );
        }
    };
    if let Err(e) = faults.validate() {
        return respond(
            StatusCode::BAD_REQUEST,
            "text/plain",
            format!("bad faults object: {e}\n"),
        );
    }
    tracing::info!(?faults, "faults set");
    sim.faults.set(faults.clone());
    json_response(StatusCode::OK, &json!(faults))
}

async fn command_api(sim: &Sim, req: Request<Incoming>) -> Result<Response<Body>, DropConnection> {
    sim.count_request();
    let faults = sim.faults.take();
    if faults.stall {
        tracing::info!("stalling a request until the stall is cleared");
        sim.faults.wait_unstalled().await;
    }
    if faults.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
    }
    if faults.drop_connection {
        return Err(DropConnection);
    }
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(e) => return Ok(respond(StatusCode::BAD_REQUEST, "text/plain", e)),
    };
    let reply = crate::eapi::answer(sim, &body, &faults).await;
    let mut text = reply.to_string();
    if faults.malformed_json {
        // Cut the reply short, as a crashed or confused server would.
        text.truncate(text.len() / 2);
    }
    Ok(respond(StatusCode::OK, "application/json-rpc", text))
}

async fn serve_connection<IO>(io: IO, sim: Arc<Sim>, via: Via, auth: Option<Arc<Auth>>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(sim.clone(), via, auth.clone(), req));
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await
    {
        tracing::debug!("connection ended: {e}");
    }
}

/// The bound listeners; `run` serves them until SIGINT/SIGTERM.
pub struct Listeners {
    http: Option<TcpListener>,
    https: Option<(TcpListener, TlsAcceptor, Arc<Auth>)>,
    unix: Option<(UnixListener, PathBuf)>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("http", &self.http)
            .field("https", &self.https.as_ref().map(|(l, _, _)| l))
            .field("unix", &self.unix)
            .finish()
    }
}

impl Listeners {
    pub async fn bind(sim: &Sim) -> anyhow::Result<Self> {
        let args = &sim.args;
        let http = match args.http {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding HTTP {addr}"))?,
            ),
            None => None,
        };
        let https = match (args.https, &args.user, &args.password) {
            (Some(addr), Some(user), Some(password)) => {
                let acceptor = crate::tls::self_signed(args.cert_out.as_deref())?;
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding HTTPS {addr}"))?;
                Some((listener, acceptor, Arc::new(Auth::new(user, password))))
            }
            (Some(_), _, _) => anyhow::bail!("--https needs --user and --password"),
            _ => None,
        };
        let unix = match &args.unix_socket {
            Some(path) => Some((bind_unix(path)?, path.clone())),
            None => None,
        };
        Ok(Self { http, https, unix })
    }

    /// Prints where each listener is (tests read this) and then `ready`.
    pub fn announce(&self) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        if let Some(l) = &self.http {
            writeln!(out, "listening http {}", l.local_addr()?)?;
        }
        if let Some((l, _, _)) = &self.https {
            writeln!(out, "listening https {}", l.local_addr()?)?;
        }
        if let Some((_, path)) = &self.unix {
            writeln!(out, "listening unix {}", path.display())?;
        }
        writeln!(out, "ready")?;
        out.flush()?;
        Ok(())
    }

    pub async fn run(self, sim: Arc<Sim>) -> anyhow::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(listener) = self.http {
            let sim = sim.clone();
            tasks.spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(serve_connection(stream, sim.clone(), Via::Http, None));
                }
            });
        }
        if let Some((listener, acceptor, auth)) = self.https {
            let sim = sim.clone();
            tasks.spawn(async move {
                loop {
                    let Ok((stream, peer)) = listener.accept().await else {
                        continue;
                    };
                    let (sim, auth, acceptor) = (sim.clone(), auth.clone(), acceptor.clone());
                    tokio::spawn(async move {
                        match acceptor.accept(stream).await {
                            Ok(tls) => serve_connection(tls, sim, Via::Https, Some(auth)).await,
                            Err(e) => tracing::info!(%peer, "TLS handshake failed: {e}"),
                        }
                    });
                }
            });
        }
        let socket_path = self.unix.as_ref().map(|(_, p)| p.clone());
        if let Some((listener, _)) = self.unix {
            let sim = sim.clone();
            tasks.spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(serve_connection(stream, sim.clone(), Via::Unix, None));
                }
            });
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tasks.abort_all();
        if let Some(path) = socket_path {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }
}

/// Binds the unix socket, replacing a stale socket left by a previous run
/// (but never a regular file someone put there).
fn bind_unix(path: &Path) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)
                .with_context(|| format!("removing stale socket {}", path.display()))?;
        } else {
            anyhow::bail!("{} exists and is not a socket", path.display());
        }
    }
    UnixListener::bind(path).with_context(|| format!("binding unix socket {}", path.display()))
}
