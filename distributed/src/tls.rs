//! TLS for coordinator-worker traffic (rustls through tonic): a worker serves with
//! `--tls-cert`/`--tls-key` (and with `--tls-ca` requires clients to present a certificate
//! that CA signed); the coordinator verifies workers with `--tls-ca` (and presents
//! `--tls-cert`/`--tls-key` when given).

use crate::error::Error;
use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The TLS files of one side.
#[derive(Debug, Clone, Default)]
pub struct Files {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub ca: Option<PathBuf>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Config(format!("cannot read the TLS {what} {}: {e}", path.display())))
}

impl Files {
    /// Whether any TLS file was given.
    pub fn any(&self) -> bool {
        self.cert.is_some() || self.key.is_some() || self.ca.is_some()
    }

    fn identity(&self) -> Result<Option<Identity>, Error> {
        match (&self.cert, &self.key) {
            (Some(c), Some(k)) => Ok(Some(Identity::from_pem(read(c, "certificate")?, read(k, "key")?))),
            (None, None) => Ok(None),
            _ => Err(Error::Config("--tls-cert and --tls-key go together".into())),
        }
    }

    /// A worker's server configuration, if TLS was asked for.
    pub fn server(&self) -> Result<Option<ServerTlsConfig>, Error> {
        if !self.any() {
            return Ok(None);
        }
        let identity = self
            .identity()?
            .ok_or_else(|| Error::Config("a worker serving TLS needs --tls-cert and --tls-key".into()))?;
        let mut config = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.ca {
            config = config.client_ca_root(Certificate::from_pem(read(ca, "CA certificate")?));
        }
        Ok(Some(config))
    }

    /// The coordinator's client configuration, if TLS was asked for.
    pub fn client(&self) -> Result<Option<ClientTlsConfig>, Error> {
        if !self.any() {
            return Ok(None);
        }
        let ca = self
            .ca
            .as_ref()
            .ok_or_else(|| Error::Config("a coordinator using TLS needs --tls-ca to verify its workers".into()))?;
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca, "CA certificate")?));
        if let Some(identity) = self.identity()? {
            config = config.identity(identity);
        }
        Ok(Some(config))
    }
}
