//! The HTTPS listener's self-signed certificate, made at start.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// Makes a certificate for `localhost`/`127.0.0.1`/`::1`, writes its PEM to
/// `cert_out` (clients trust it as their CA) and returns the acceptor.
pub fn self_signed(cert_out: Option<&Path>) -> anyhow::Result<TlsAcceptor> {
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let certified =
        rcgen::generate_simple_self_signed(names).context("generating the certificate")?;
    if let Some(path) = cert_out {
        std::fs::write(path, certified.cert.pem())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .context("TLS certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
