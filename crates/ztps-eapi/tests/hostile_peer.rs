//! eAPI peers that misbehave: an endless reply on the unix socket and over
//! HTTP is refused at the documented limit, with memory bounded; errors
//! never carry a URL's secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ztps_eapi::{Command, Credentials, EapiClient, EapiError, RetryPolicy, Transport};

/// The client's limit in these tests.
const LIMIT: usize = 256 << 10;
/// Where the hostile server stops, should the client keep reading: far
/// beyond anything socket buffers could hold.
const SERVER_GIVES_UP: u64 = 1 << 30;
/// What the server may get written before noticing the client left:
/// the limit plus socket buffers, with a wide margin.
const BOUND: u64 = 64 << 20;

/// Reads the request, then answers 200 with a chunked JSON-RPC reply that
/// never ends. Counts the body bytes written until the client goes away.
async fn endless_reply<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, written: Arc<AtomicU64>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !(request.ends_with(b"}") && request.windows(7).any(|w| w == b"runCmds")) {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json-rpc\r\ntransfer-encoding: chunked\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let start = br#"{"jsonrpc":"2.0","id":"1","result":[{"x":""#;
    let filler = vec![b'a'; 64 << 10];
    let mut first = true;
    while written.load(Ordering::SeqCst) < SERVER_GIVES_UP {
        let data: &[u8] = if first { start } else { &filler };
        first = false;
        let chunk = [format!("{:x}\r\n", data.len()).as_bytes(), data, b"\r\n"].concat();
        if stream.write_all(&chunk).await.is_err() {
            return;
        }
        written.fetch_add(data.len() as u64, Ordering::SeqCst);
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
}

fn client(transport: Transport) -> EapiClient {
    EapiClient::builder(transport)
        .max_reply_bytes(LIMIT)
        .retry(RetryPolicy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn assert_refused(
    client: &EapiClient,
    written: &AtomicU64,
    server: tokio::task::JoinHandle<()>,
) {
    let err = client
        .run_cmds(&[Command::new("show version")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, EapiError::ReplyTooLarge { limit: LIMIT, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("exceeds 262144 bytes"), "{err}");
    // The client hung up: the server's next writes fail and it stops.
    tokio::time::timeout(Duration::from_secs(120), server)
        .await
        .expect("the server noticed the client left")
        .unwrap();
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < BOUND, "the client let {sent} bytes come");
}

#[tokio::test]
async fn an_endless_reply_on_the_unix_socket_is_refused_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eapi.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let count = written.clone();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        endless_reply(stream, count).await;
    });
    assert_refused(&client(Transport::unix_socket(&path)), &written, server).await;
}

#[tokio::test]
async fn an_endless_reply_over_http_is_refused_at_the_limit() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let written = Arc::new(AtomicU64::new(0));
    let count = written.clone();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        endless_reply(stream, count).await;
    });
    assert_refused(&client(Transport::http_localhost(port)), &written, server).await;
}

#[tokio::test]
async fn an_endless_reply_over_https_is_refused_at_the_limit() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(certified.cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        )),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let count = written.clone();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(stream).await.unwrap();
        endless_reply(tls, count).await;
    });
    let transport = Transport::Https {
        url: format!("https://{addr}/command-api"),
        username: "admin".into(),
        password: ztps_eapi::Secret::new("pw"),
        ca: None,
        insecure_skip_verify: true,
    };
    assert_refused(&client(transport), &written, server).await;
}

#[tokio::test]
async fn an_announced_oversized_reply_is_refused_before_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eapi.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf).await;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json-rpc\r\ncontent-length: {}\r\n\r\n",
            SERVER_GIVES_UP
        );
        let _ = stream.write_all(head.as_bytes()).await;
        // Then nothing: a client waiting for the body would time out.
        std::future::pending::<()>().await;
    });
    let client = EapiClient::builder(Transport::unix_socket(&path))
        .max_reply_bytes(LIMIT)
        .retry(RetryPolicy::none())
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let err = client
        .run_cmds(&[Command::new("show version")])
        .await
        .unwrap_err();
    assert!(matches!(err, EapiError::ReplyTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn errors_and_endpoint_never_show_url_secrets_or_the_password() {
    // Nothing listens on port 1: the request fails at connect.
    let url = "https://admin:hunter2@127.0.0.1:1/command-api-secret-path?token=abc123";
    let transport = Transport::https(url, Credentials::new("admin", "pw-s3cret"));
    let client = EapiClient::builder(transport)
        .retry(RetryPolicy::none())
        .timeout(Duration::from_secs(30))
        .build();
    let text = match client {
        Ok(client) => {
            assert_eq!(client.endpoint(), "https://127.0.0.1:1");
            let err = client
                .run_cmds(&[Command::new("show version")])
                .await
                .unwrap_err();
            format!("{err} {err:?}")
        }
        Err(err) => format!("{err} {err:?}"),
    };
    for secret in ["hunter2", "secret-path", "abc123", "pw-s3cret"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}
