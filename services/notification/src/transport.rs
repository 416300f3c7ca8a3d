//! How a message leaves: one `.eml` file per message in a folder (the default, so `make run`
//! needs no mail server), or SMTP through lettre (STARTTLS, implicit TLS, or plain for a local
//! relay; credentials from the configuration).

use anyhow::{Context as _, bail};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use ordo_config::NotificationConfig;
use std::path::PathBuf;
use std::time::Duration;
use uuid::Uuid;

#[derive(Clone)]
pub enum Transport {
    Files(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Files(dir) => write!(f, "Files({})", dir.display()),
            Transport::Smtp(_) => f.write_str("Smtp"),
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
                let mut b = match s.security.as_str() {
                    "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)?,
                    "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)?,
                    "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
                    other => bail!("notification.smtp.security must be starttls, tls or none, not {other:?}"),
                };
                b = b.port(s.port).timeout(Some(Duration::from_secs(s.timeout_secs.max(1))));
                if !s.username.is_empty() {
                    b = b.credentials(Credentials::new(s.username.clone(), s.password.expose().clone()));
                }
                Ok(Transport::Smtp(b.build()))
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
            Transport::Smtp(smtp) => smtp.send(message.clone()).await.map(|_| ()).map_err(|e| e.to_string()),
        }
    }
}
