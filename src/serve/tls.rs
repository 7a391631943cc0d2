//! TLS to an external broker (`mqtts://`): the rustls client configuration
//! that rumqttc connects with.
//!
//! Files are read once, when `serve` (or `record`) starts, so a missing or
//! unreadable certificate is one clear error before any connection is tried,
//! not a warning repeated on every reconnect. The trusted roots are the CA file
//! of `serve.ca_file` or, when it is empty, the system's certificate store;
//! `serve.client_cert` and `serve.client_key` (both or neither) authenticate
//! kairos with a client certificate.
//!
//! rustls runs on the `ring` provider, chosen explicitly here rather than
//! through a process-wide default, so nothing else in the process can change
//! it. The broker's certificate must name the host in the URL: connect with
//! the host name the certificate was issued for (`localhost`, `broker.example`),
//! not a bare IP address.

use std::path::Path;
use std::sync::Arc;

use rumqttc::TlsConfiguration;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::ServeError;
use crate::config::ServeConfig;

/// The TLS configuration for `mqtts://` from `config`'s `ca_file` and
/// client identity (`client_cert` and `client_key`).
pub fn client_tls(config: &ServeConfig) -> Result<TlsConfiguration, ServeError> {
    let roots = match &config.ca_file {
        None => system_roots()?,
        Some(path) => file_roots(path)?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots);
    let tls = match &config.client_identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let chain = certificates(&identity.cert, "serve.client_cert")?;
            let key = PrivateKeyDer::from_pem_file(&identity.key).map_err(|e| {
                tls_error(format!(
                    "serve.client_key {}: no usable private key ({e})",
                    identity.key.display()
                ))
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                tls_error(format!(
                    "serve.client_cert / serve.client_key do not make a client identity: {e}"
                ))
            })?
        }
    };
    Ok(TlsConfiguration::Rustls(Arc::new(tls)))
}

fn tls_error(detail: String) -> ServeError {
    ServeError::Tls(detail)
}

/// Every certificate in a PEM file (at least one).
fn certificates(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, ServeError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        tls_error(format!(
            "{key} {}: cannot read certificates: {e}",
            path.display()
        ))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))?;
    if certs.is_empty() {
        return Err(tls_error(format!(
            "{key} {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

/// The CAs in `serve.ca_file`.
fn file_roots(path: &Path) -> Result<RootCertStore, ServeError> {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certificates(path, "serve.ca_file")?);
    if added == 0 {
        return Err(tls_error(format!(
            "serve.ca_file {}: no usable CA certificate in it",
            path.display()
        )));
    }
    Ok(roots)
}

/// The system's trusted CAs (when no `serve.ca_file` is given).
fn system_roots() -> Result<RootCertStore, ServeError> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "system certificate store");
    }
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(tls_error(
            "no CA certificate in the system store; set serve.ca_file to the broker's CA".into(),
        ));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(ca: &str) -> ServeConfig {
        ServeConfig {
            ca_file: Some(ca.into()),
            ..ServeConfig::default()
        }
    }

    fn refusal(config: &ServeConfig) -> String {
        match client_tls(config) {
            Ok(_) => panic!("this configuration must be refused"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_missing_ca_file_is_one_clear_error() {
        let error = refusal(&config("/nonexistent/ca.pem"));
        assert!(
            error.contains("serve.ca_file /nonexistent/ca.pem"),
            "{error}"
        );
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let error = refusal(&config(path.to_str().unwrap()));
        assert!(error.contains("no PEM certificate"), "{error}");
    }
}
