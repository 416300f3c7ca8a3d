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

async fn tls_server() -> SmtpServer {
    SmtpServer::start_with(&["--tls", "--auth", "shop:s3cret"]).await
}

#[tokio::test]
async fn starttls_with_the_servers_ca_and_the_configured_credentials_delivers() {
    let smtp = tls_server().await;
    let ca = smtp.ca_file().to_string_lossy().into_owned();
    let m = Mailed::start_on(smtp, |n| {
        n.smtp.security = "starttls".into();
        n.smtp.ca_file = ca;
        n.smtp.username = "shop".into();
        n.smtp.password = ordo_config::Secret::new("s3cret".into());
    })
    .await;
    let (status, attempts, _) = confirmation(&m, 1).await;
    assert_eq!((status.as_str(), attempts), ("sent", 1));
    let mail = m.wait_mail(1).await;
    assert_eq!(mail[0].subject, "ordo shop: your order #1001");
}

#[tokio::test]
async fn a_wrong_password_or_an_untrusted_certificate_delivers_nothing() {
    // The right CA, the wrong password: the server refuses.
    let smtp = tls_server().await;
    let ca = smtp.ca_file().to_string_lossy().into_owned();
    let m = Mailed::start_on(smtp, |n| {
        n.smtp.security = "starttls".into();
        n.smtp.ca_file = ca;
        n.smtp.username = "shop".into();
        n.smtp.password = ordo_config::Secret::new("guess".into());
    })
    .await;
    let (status, _, error) = confirmation(&m, 2).await;
    assert_eq!(status, "pending");
    assert!(
        error.to_lowercase().contains("auth") || error.contains("535"),
        "{error}"
    );
    assert!(m.smtp.messages().is_empty());

    // The right password, but the server's CA is not trusted: no TLS, nothing sent.
    let m = Mailed::start_on(tls_server().await, |n| {
        n.smtp.security = "starttls".into();
        n.smtp.username = "shop".into();
        n.smtp.password = ordo_config::Secret::new("s3cret".into());
    })
    .await;
    let (status, _, error) = confirmation(&m, 2).await;
    assert_eq!(status, "pending");
    assert!(
        error.to_lowercase().contains("certificate") || error.to_lowercase().contains("tls"),
        "{error}"
    );
    assert!(m.smtp.messages().is_empty());
}
