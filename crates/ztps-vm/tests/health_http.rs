//! The health check against real HTTP servers on 127.0.0.1:0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use ztps_vm::health::HealthFailure;
use ztps_vm::{Health, HealthProbe, HttpHealthCheck, VmError};

/// Serves every request with 503 for the first `failures` requests, then
/// 200 on `/bootstrap` (404 elsewhere), with a bootstrap script naming its
/// own address as `SERVER`. Returns the address and a counter.
async fn flaky_server(failures: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = format!("#!/usr/bin/env python\nSERVER = \"http://{addr}\"\n");
    serve(listener, failures, body).await
}

async fn serve(
    listener: TcpListener,
    failures: usize,
    body: String,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let counter = counter.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let status = if n < failures {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else if req.uri().path() == "/bootstrap" && req.headers().contains_key("host")
                    {
                        StatusCode::OK
                    } else {
                        StatusCode::NOT_FOUND
                    };
                    let body = Bytes::from(body.clone());
                    async move {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(body))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, served)
}

fn check(addr: SocketAddr, path: &str, timeout: Duration) -> HttpHealthCheck {
    HttpHealthCheck::new(&format!("http://{addr}{path}"), timeout).unwrap()
}

#[tokio::test]
async fn unhealthy_on_503_then_healthy_on_200() {
    let (addr, served) = flaky_server(2).await;
    let probe = check(addr, "/bootstrap", Duration::from_secs(2));
    assert_eq!(
        probe.check().await,
        Health::Unhealthy(HealthFailure::Status(503))
    );
    assert_eq!(
        probe.check().await,
        Health::Unhealthy(HealthFailure::Status(503))
    );
    assert_eq!(probe.check().await, Health::Healthy);
    assert_eq!(served.load(Ordering::SeqCst), 3);
    // Another path of the same server is not the bootstrap.
    assert_eq!(
        check(addr, "/other", Duration::from_secs(2)).check().await,
        Health::Unhealthy(HealthFailure::Status(404))
    );
}

#[tokio::test]
async fn wait_until_healthy_polls_through_the_503s() {
    let (addr, served) = flaky_server(3).await;
    let probe = check(addr, "/bootstrap", Duration::from_secs(2));
    let attempts = probe
        .wait_until_healthy(Duration::from_millis(20), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(attempts, 4);
    assert_eq!(served.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn wait_until_healthy_gives_up_with_the_last_failure() {
    let (addr, _) = flaky_server(usize::MAX).await;
    let probe = check(addr, "/bootstrap", Duration::from_secs(2));
    let err = probe
        .wait_until_healthy(Duration::from_millis(20), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VmError::NeverHealthy { last, .. } if last == "HTTP 503"),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Accepts connections (the kernel completes the handshake) and then
    // holds them without a word.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            held.push(stream);
        }
    });
    let probe = check(addr, "/bootstrap", Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(
        probe.check().await,
        Health::Unhealthy(HealthFailure::Timeout(Duration::from_millis(300)))
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    holder.abort();
}

#[tokio::test]
async fn a_refused_port_is_a_connect_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let health = check(addr, "/bootstrap", Duration::from_secs(2))
        .check()
        .await;
    assert!(
        matches!(&health, Health::Unhealthy(HealthFailure::Connect(e)) if e.contains("refused")),
        "{health:?}"
    );
}

#[tokio::test]
async fn a_server_that_is_not_http_is_a_protocol_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await.unwrap();
    });
    let health = check(addr, "/bootstrap", Duration::from_secs(2))
        .check()
        .await;
    assert!(
        matches!(health, Health::Unhealthy(HealthFailure::Protocol(_))),
        "{health:?}"
    );
}

/// What an appliance with a missing or broken seed serves: ZTPServer's
/// default server_url, with 200.
#[tokio::test]
async fn a_200_with_the_default_server_url_is_a_wrong_server_not_healthy() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let body = "#!/usr/bin/env python\nSERVER = \"http://ztpserver:8080\"\n".to_string();
    let (addr, served) = serve(listener, 0, body).await;
    let probe = check(addr, "/bootstrap", Duration::from_secs(2));
    let health = probe.check().await;
    let Health::WrongServer(wrong) = &health else {
        panic!("{health:?}");
    };
    assert_eq!(wrong.served.as_deref(), Some("http://ztpserver:8080"));
    assert_eq!(wrong.expected, format!("http://{addr}"));
    assert!(!health.is_healthy());
    assert!(wrong.fix().contains("render seed"), "{}", wrong.fix());
    // The same server is healthy for an agent whose bootstrap_url names it.
    let told = probe
        .expect_server("http://ZTPSERVER:8080/bootstrap")
        .unwrap();
    assert_eq!(told.check().await, Health::Healthy);
    assert_eq!(served.load(Ordering::SeqCst), 2);
    // wait_until_healthy gives up on it with the fix in the error.
    let err = check(addr, "/bootstrap", Duration::from_secs(2))
        .wait_until_healthy(Duration::from_millis(20), Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ztpserver:8080"), "{err}");
}

#[tokio::test]
async fn a_200_that_is_not_a_bootstrap_script_is_a_wrong_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (addr, _) = serve(listener, 0, "<html>It works!</html>\n".to_string()).await;
    let health = check(addr, "/bootstrap", Duration::from_secs(2))
        .check()
        .await;
    assert!(
        matches!(&health, Health::WrongServer(w) if w.served.is_none()),
        "{health:?}"
    );
}

/// A server that answers and closes at once, as busybox httpd does
/// (`Connection: close`): the reply and the end of the connection arrive
/// together, and the reply counts. It used to be a coin toss which of the
/// two the probe saw first ("connection closed before a reply").
#[tokio::test]
async fn a_server_that_answers_then_closes_is_healthy_every_time() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let body = format!("#!/usr/bin/env python\nSERVER = \"http://{addr}\"\n");
            let reply = format!(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            drop(stream);
        }
    });
    let probe = check(addr, "/bootstrap", Duration::from_secs(2));
    for attempt in 0..50 {
        assert_eq!(probe.check().await, Health::Healthy, "attempt {attempt}");
    }
}
