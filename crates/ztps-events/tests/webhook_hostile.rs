//! The webhook against hostile and TLS receivers: an endless reply body is
//! not read past a few KiB (on every retry), https is checked against the
//! trusted roots, and the URL's path never reaches a log line or an error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{discover, eventually};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ztps_events::{MAX_REPLY_BODY, Record, Sink, WebhookConfig, WebhookSink};

/// Where the hostile receiver stops, should the client keep reading.
const SERVER_GIVES_UP: u64 = 1 << 30;
/// What a receiver may get written per connection before noticing the
/// client left: a few KiB read plus socket buffers, with a wide margin.
const BOUND_PER_CONNECTION: u64 = 32 << 20;

fn config(max_attempts: u32, extra_ca_file: Option<&Path>) -> WebhookConfig {
    WebhookConfig {
        queue_capacity: 8,
        max_attempts,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        request_timeout: Duration::from_secs(60),
        extra_ca_file: extra_ca_file.map(Path::to_path_buf),
    }
}

fn record() -> Record {
    Record::new(
        "2024-05-31T16:08:37Z".parse().unwrap(),
        discover("et3", 7, "JPE12345678"),
    )
}

/// Reads the request (head and JSON body), answers `status` with a chunked
/// body that never ends, and counts what it wrote until the client left.
async fn endless<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    status: u16,
    written: &AtomicU64,
) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.ends_with(b"}") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let head = format!("HTTP/1.1 {status} X\r\ntransfer-encoding: chunked\r\n\r\n");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = [b"10000\r\n".as_slice(), &vec![b'x'; 0x10000], b"\r\n"].concat();
    while written.load(Ordering::SeqCst) < SERVER_GIVES_UP {
        if stream.write_all(&chunk).await.is_err() {
            return;
        }
        written.fetch_add(0x10000, Ordering::SeqCst);
    }
}

/// A receiver answering every connection with an endless body; returns
/// its address, bytes written per connection, and connections finished.
async fn endless_receiver(status: u16) -> (std::net::SocketAddr, Arc<Mutex<Vec<u64>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let finished = Arc::new(Mutex::new(Vec::new()));
    let log = finished.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let written = AtomicU64::new(0);
                endless(stream, status, &written).await;
                log.lock().unwrap().push(written.load(Ordering::SeqCst));
            });
        }
    });
    (addr, finished)
}

#[tokio::test]
async fn an_endless_success_body_is_not_read_past_a_few_kib() {
    let (addr, finished) = endless_receiver(200).await;
    let mut sink = WebhookSink::spawn(&format!("http://{addr}/hook"), config(3, None)).unwrap();
    sink.deliver(&record()).unwrap();
    eventually("the delivery", Duration::from_secs(60), || {
        sink.stats().delivered == 1
    })
    .await;
    eventually("the receiver noticing", Duration::from_secs(60), || {
        finished.lock().unwrap().len() == 1
    })
    .await;
    let sent = finished.lock().unwrap()[0];
    assert!(
        sent < BOUND_PER_CONNECTION,
        "the receiver wrote {sent} bytes"
    );
    // One frame may overshoot the cap by what hyper read at once.
    let read = sink.stats().reply_bytes_read;
    assert!(
        read <= (MAX_REPLY_BODY as u64) + (1 << 20),
        "{read} bytes read"
    );
}

#[tokio::test]
async fn an_endless_error_body_stays_bounded_across_retries() {
    let (addr, finished) = endless_receiver(500).await;
    let mut sink = WebhookSink::spawn(&format!("http://{addr}/hook"), config(3, None)).unwrap();
    sink.deliver(&record()).unwrap();
    eventually("giving up", Duration::from_secs(120), || {
        sink.stats().failed == 1
    })
    .await;
    eventually("three connections closed", Duration::from_secs(60), || {
        finished.lock().unwrap().len() == 3
    })
    .await;
    for sent in finished.lock().unwrap().iter() {
        assert!(
            *sent < BOUND_PER_CONNECTION,
            "a receiver wrote {sent} bytes"
        );
    }
    assert_eq!(sink.stats().delivered, 0);
}

/// A test CA and a certificate for 127.0.0.1 it signed, as PEM files, and
/// a TLS receiver answering 204 with that certificate. Returns the URL
/// root, the CA file and the count of requests the receiver answered.
async fn tls_receiver(dir: &Path) -> (String, std::path::PathBuf, Arc<AtomicUsize>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(leaf.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (acceptor, count) = (acceptor.clone(), count.clone());
            tokio::spawn(async move {
                // An untrusting client aborts the handshake: nothing to serve.
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.ends_with(b"}") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                assert!(request.starts_with(b"POST /services/T000/B000/s3cr3t HTTP/1.1"));
                count.fetch_add(1, Ordering::SeqCst);
                let _ = tls.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (format!("https://{addr}"), ca_file, answered)
}

#[tokio::test]
async fn https_delivers_to_a_receiver_whose_ca_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ca_file, answered) = tls_receiver(dir.path()).await;
    let url = format!("{root}/services/T000/B000/s3cr3t");
    let mut sink = WebhookSink::spawn(&url, config(3, Some(&ca_file))).unwrap();
    assert_eq!(sink.origin(), root.as_str());
    sink.deliver(&record()).unwrap();
    eventually("the delivery", Duration::from_secs(60), || {
        sink.stats().delivered == 1
    })
    .await;
    assert_eq!(answered.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn https_refuses_a_receiver_whose_certificate_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (root, _ca_file, answered) = tls_receiver(dir.path()).await;
    let url = format!("{root}/services/T000/B000/s3cr3t");
    // The system roots alone do not know the test CA.
    let mut sink = WebhookSink::spawn(&url, config(2, None)).unwrap();
    sink.deliver(&record()).unwrap();
    eventually("giving up", Duration::from_secs(60), || {
        sink.stats().failed == 1
    })
    .await;
    assert_eq!(sink.stats().delivered, 0);
    assert_eq!(answered.load(Ordering::SeqCst), 0, "no request went out");
}
