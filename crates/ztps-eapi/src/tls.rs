//! TLS client settings for the HTTPS transport.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::EapiError;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Trusts only the CA certificates in the PEM file at `ca`.
pub(crate) fn with_ca(ca: &Path) -> Result<ClientConfig, EapiError> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| EapiError::Tls(format!("cannot read CA file {}: {e}", ca.display())))?;
    for cert in certs {
        let cert = cert.map_err(|e| EapiError::Tls(format!("bad PEM in {}: {e}", ca.display())))?;
        roots
            .add(cert)
            .map_err(|e| EapiError::Tls(format!("bad CA certificate in {}: {e}", ca.display())))?;
    }
    if roots.is_empty() {
        return Err(EapiError::Tls(format!(
            "{} holds no certificate",
            ca.display()
        )));
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| EapiError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Accepts any server certificate. Only for a switch's self-signed
/// certificate, and only when the operator asked for it by name.
pub(crate) fn insecure_skip_verify() -> Result<ClientConfig, EapiError> {
    let provider = provider();
    Ok(ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| EapiError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(InsecureSkipVerify(provider)))
        .with_no_client_auth())
}

/// Skips the certificate check but still checks the handshake signatures,
/// so that the session is at least bound to the certificate shown.
#[derive(Debug)]
struct InsecureSkipVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for InsecureSkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
