//! HTTPS served by laer itself: a certificate chain and its private key, both PEM files,
//! read at start and again whenever either file changes (checked every few seconds) or
//! the process gets SIGHUP. A new pair applies to new connections; open connections keep
//! the one they began with. A new pair that cannot be used (unreadable, not PEM, a key
//! that does not match the certificate) is refused with a log line saying why, and the
//! previous pair stays in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

/// Where the certificate chain and its key are, and how often to look for new ones.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, PEM: the server's certificate first, then intermediates.
    pub cert: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// How often the files are checked for a change.
    pub check_every: Duration,
}

impl TlsFiles {
    /// The files, checked for changes every 10 seconds.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsFiles {
        TlsFiles {
            cert: cert.into(),
            key: key.into(),
            check_every: Duration::from_secs(10),
        }
    }
}

/// A certificate or key that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{path} holds no certificate (expected PEM blocks BEGIN CERTIFICATE)")]
    NoCertificate { path: PathBuf },
    #[error("the key in {path} cannot be used with the certificate in {cert}: {source}")]
    Key {
        path: PathBuf,
        cert: PathBuf,
        source: rustls::Error,
    },
    #[error("TLS cannot be set up: {0}")]
    Config(#[source] rustls::Error),
}

/// laer's TLS: the acceptor new connections go through, and the certificate it presents.
#[derive(Clone)]
pub(crate) struct Tls {
    acceptor: TlsAcceptor,
    current: Arc<Current>,
}

impl Tls {
    /// Reads the files: an error here stops the start (there is no previous pair).
    pub(crate) fn new(files: TlsFiles) -> Result<Tls, TlsError> {
        let provider = Arc::new(ring::default_provider());
        let key = load(&files, &provider)?;
        let current = Arc::new(Current {
            stamp: Mutex::new(stamp(&files)),
            key: RwLock::new(Arc::new(key)),
            files,
            provider: provider.clone(),
        });
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            current,
        })
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Reloads the files when they changed since last seen, every `check_every`, and
    /// whenever the process gets SIGHUP; runs until dropped.
    pub(crate) async fn watch(self) {
        #[cfg(unix)]
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut every = tokio::time::interval(self.current.files.check_every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hung_up = async {
                match hangup.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hung_up = std::future::pending::<()>();
            tokio::select! {
                _ = every.tick() => self.current.reload(false),
                () = hung_up => self.current.reload(true),
            }
        }
    }
}

/// The pair in use, and what is needed to replace it.
#[derive(Debug)]
struct Current {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    key: RwLock<Arc<CertifiedKey>>,
    /// The files' modification times and sizes when last read.
    stamp: Mutex<Stamp>,
}

type Stamp = [Option<(SystemTime, u64)>; 2];

impl Current {
    /// Reads the files again if they changed (or `always`); keeps the pair in use when
    /// the new one cannot be used.
    fn reload(&self, always: bool) {
        let now = stamp(&self.files);
        {
            let Ok(mut seen) = self.stamp.lock() else { return };
            if !always && *seen == now {
                return;
            }
            *seen = now;
        }
        match load(&self.files, &self.provider) {
            Ok(key) => {
                if let Ok(mut current) = self.key.write() {
                    *current = Arc::new(key);
                }
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded: new connections use it");
            }
            Err(e) => tracing::warn!(
                error = %e,
                "the new TLS certificate or key cannot be used: the previous one stays in use"
            ),
        }
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.key.read().ok().map(|key| key.clone())
    }
}

fn stamp(files: &TlsFiles) -> Stamp {
    let of = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    };
    [of(&files.cert), of(&files.key)]
}

/// Reads and checks the pair.
fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    fn read(path: &Path) -> impl FnOnce(rustls_pki_types::pem::Error) -> TlsError + '_ {
        move |source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        }
    }
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(read(&files.cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read(&files.cert))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(read(&files.key))?;
    CertifiedKey::from_der(chain, key, provider).map_err(|source| TlsError::Key {
        path: files.key.clone(),
        cert: files.cert.clone(),
        source,
    })
}
