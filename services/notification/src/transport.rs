//! How a message leaves: one `.eml` file per message in a folder (the default, so `make run`
//! needs no mail server), or SMTP through lettre (STARTTLS, implicit TLS, or plain for a local
//! relay; credentials from the configuration).

use anyhow::{Context as _, bail};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use ordo_config::NotificationConfig;
use std::path::PathBuf;
use std::time::Duration;
use uuid::Uuid;

#[derive(Clone)]
pub enum Transport {
    Files(PathBuf),
    /// With the longest a whole conversation may take (lettre's timeout is per step).
    Smtp(AsyncSmtpTransport<Tokio1Executor>, Duration),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Files(dir) => write!(f, "Files({})", dir.display()),
            Transport::Smtp(..) => f.write_str("Smtp"),
        }
    }
}

impl Transport {
    pub fn build(cfg: &NotificationConfig) -> anyhow::Result<Transport> {
        match cfg.transport.as_str() {
            "file" => {
                let dir = PathBuf::from(&cfg.file_dir);
                std::fs::create_dir_all(&dir).with_context(|| format!("creating mail folder {}", dir.display()))?;
                Ok(Transport::Files(dir))
            }
            "smtp" => {
                let s = &cfg.smtp;
                let tls = || -> anyhow::Result<TlsParameters> {
                    let mut b = TlsParameters::builder(s.host.clone());
                    if !s.ca_file.is_empty() {
                        let pem = std::fs::read(&s.ca_file)
                            .with_context(|| format!("notification.smtp.ca_file {}", s.ca_file))?;
                        b = b.add_root_certificate(Certificate::from_pem(&pem).context("notification.smtp.ca_file")?);
                    }
                    Ok(b.build()?)
                };
                let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host);
                b = match s.security.as_str() {
                    "tls" => b.tls(Tls::Wrapper(tls()?)),
                    "starttls" => b.tls(Tls::Required(tls()?)),
                    "none" => b,
                    other => bail!("notification.smtp.security must be starttls, tls or none, not {other:?}"),
                };
                b = b.port(s.port).timeout(Some(Duration::from_secs(s.timeout_secs.max(1))));
                if !s.username.is_empty() {
                    b = b.credentials(Credentials::new(s.username.clone(), s.password.expose().clone()));
                }
                Ok(Transport::Smtp(
                    b.build(),
                    Duration::from_secs(s.timeout_secs.max(1) * 3),
                ))
            }
            other => bail!("notification.transport must be file or smtp, not {other:?}"),
        }
    }

    /// Hand `message` (our id `id`) to the transport. A file is written whole or not at all
    /// (written aside, then renamed), under the message's id, so a retry replaces it.
    pub async fn send(&self, id: Uuid, message: &Message) -> Result<(), String> {
        match self {
            Transport::Files(dir) => {
                let tmp = dir.join(format!(".{id}.eml.tmp"));
                let path = dir.join(format!("{id}.eml"));
                tokio::fs::write(&tmp, message.formatted())
                    .await
                    .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
                tokio::fs::rename(&tmp, &path)
                    .await
                    .map_err(|e| format!("renaming to {}: {e}", path.display()))
            }
            Transport::Smtp(smtp, limit) => match tokio::time::timeout(*limit, smtp.send(message.clone())).await {
                Ok(sent) => sent.map(|_| ()).map_err(|e| e.to_string()),
                Err(_) => Err(format!("the SMTP conversation took longer than {limit:?}")),
            },
        }
    }
}
