//! SMTP as production uses it: STARTTLS with the server's certificate checked, and the
//! credentials from the configuration.

use crate::mail::Mailed;
use ordo_testkit::peers::SmtpServer;
use std::time::{Duration, Instant};

/// Place one order; wait until its confirmation was sent or has failed `attempts` times:
/// (status, attempts, last error).
async fn confirmation(m: &Mailed, attempts: i32) -> (String, i32, String) {
    let s = &m.shop.s;
    let ann = s.customer("ann");
    let cart = s.digital_cart(&ann).await;
    s.session(&ann, &cart).await;
    s.complete(&ann, &cart).await;
    let db = m.shop.superuser().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row: Option<(String, i32, Option<String>)> =
            sqlx::query_as("select status, attempts, last_error from notifications.messages")
                .fetch_optional(&db)
                .await
                .unwrap();
        if let Some((status, a, error)) = &row
            && (status == "sent" || *a >= attempts)
        {
            return (status.clone(), *a, error.clone().unwrap_or_default());
        }
        assert!(Instant::now() < deadline, "no outcome: {row:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A shop sending with STARTTLS to a server that requires it and AUTH (`shop:s3cret`).
async fn tls_shop(password: &str, trust_the_servers_ca: bool) -> Mailed {
    secure_shop("--tls", "starttls", password, trust_the_servers_ca).await
}

async fn secure_shop(server_tls: &str, security: &str, password: &str, trust_the_servers_ca: bool) -> Mailed {
    let smtp = SmtpServer::start_with(&[server_tls, "--auth", "shop:s3cret"]).await;
    let ca = smtp.ca_file().to_string_lossy().into_owned();
    let password = password.to_owned();
    let security = security.to_owned();
    Mailed::start_on(smtp, move |n| {
        n.smtp.security = security;
        if trust_the_servers_ca {
            n.smtp.ca_file = ca;
        }
        n.smtp.username = "shop".into();
        n.smtp.password = ordo_config::Secret::new(password);
    })
    .await
}

#[tokio::test]
async fn starttls_with_the_servers_ca_and_the_configured_credentials_delivers() {
    let m = tls_shop("s3cret", true).await;
    let (status, attempts, _) = confirmation(&m, 1).await;
    assert_eq!((status.as_str(), attempts), ("sent", 1));
    let mail = m.wait_mail(1).await;
    assert_eq!(mail[0].subject, "ordo shop: your order #1001");
}

#[tokio::test]
async fn a_wrong_password_or_an_untrusted_certificate_delivers_nothing() {
    // The right CA, the wrong password: the server refuses.
    let m = tls_shop("guess", true).await;
    let (status, _, error) = confirmation(&m, 2).await;
    assert_eq!(status, "pending");
    assert!(
        error.to_lowercase().contains("auth") || error.contains("535"),
        "{error}"
    );
    assert!(m.smtp.messages().is_empty());

    // The right password, but the server's CA is not trusted: no TLS, nothing sent.
    let m = tls_shop("s3cret", false).await;
    let (status, _, error) = confirmation(&m, 2).await;
    assert_eq!(status, "pending");
    assert!(
        error.to_lowercase().contains("certificate") || error.to_lowercase().contains("tls"),
        "{error}"
    );
    assert!(m.smtp.messages().is_empty());
}

#[tokio::test]
async fn implicit_tls_as_on_port_465_delivers() {
    let m = secure_shop("--implicit-tls", "tls", "s3cret", true).await;
    let (status, attempts, error) = confirmation(&m, 1).await;
    assert_eq!((status.as_str(), attempts), ("sent", 1), "{error}");
    assert_eq!(m.wait_mail(1).await.len(), 1);
}

#[tokio::test]
async fn by_default_each_message_is_an_eml_file_in_the_mail_folder() {
    let folder = std::env::temp_dir().join(format!("ordo-mail-{}", uuid::Uuid::now_v7()));
    let dir = folder.to_string_lossy().into_owned();
    let m = Mailed::start_with(move |n| {
        n.transport = "file".into();
        n.file_dir = dir;
    })
    .await;
    let (status, _, _) = confirmation(&m, 1).await;
    assert_eq!(status, "sent");
    let db = m.shop.superuser().await;
    let id: uuid::Uuid = sqlx::query_scalar("select id from notifications.messages")
        .fetch_one(&db)
        .await
        .unwrap();
    let files: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files,
        vec![format!("{id}.eml")],
        "one file, named by the message, nothing left aside"
    );
    let mail = crate::mail::Mail::parse(&std::fs::read_to_string(folder.join(&files[0])).unwrap());
    assert_eq!(mail.subject, "ordo shop: your order #1001");
    assert_eq!(mail.message_id, format!("<{id}@ordo>"));
    assert!(mail.text.contains("Thank you for your order #1001") && mail.html.contains("<strong>#1001</strong>"));
    assert!(m.smtp.messages().is_empty(), "nothing went to SMTP");
    let _ = std::fs::remove_dir_all(&folder);
}
