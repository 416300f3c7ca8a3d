//! Signed order links: how a guest reaches their order page from an e-mail on another device.
//! The notification service appends `c=<customer>&e=<expires, unix seconds>&s=<signature>` to
//! the order page URL it writes into e-mails; the storefront checks the signature — HMAC-SHA256
//! with the secret both are configured with, over tenant, order, customer and expiry — and, if
//! it holds and has not expired, shows that order as that customer.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

fn mac(secret: &str, tenant: Uuid, order: Uuid, customer: &str, expires_at: i64) -> Option<Hmac<Sha256>> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    m.update(format!("ordo-order-link\n{tenant}\n{order}\n{customer}\n{expires_at}").as_bytes());
    Some(m)
}

/// The query (`c=…&e=…&s=…`) that lets `customer` open `order` until `expires_at`; empty when the
/// secret is empty (links then carry no signature and the storefront asks the customer to use
/// the browser they bought with).
pub fn query(secret: &str, tenant: Uuid, order: Uuid, customer: &str, expires_at: i64) -> String {
    if secret.is_empty() {
        return String::new();
    }
    let Some(m) = mac(secret, tenant, order, customer, expires_at) else {
        return String::new();
    };
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    let c: String = customer
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("c={c}&e={expires_at}&s={sig}")
}

/// `url` with the link's query appended.
pub fn signed_url(url: &str, query: &str) -> String {
    if query.is_empty() {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&{query}")
    } else {
        format!("{url}?{query}")
    }
}

/// Whether `signature` lets `customer` open `order` at `now` (unix seconds).
pub fn verify(
    secret: &str,
    tenant: Uuid,
    order: Uuid,
    customer: &str,
    expires_at: i64,
    signature: &str,
    now: i64,
) -> bool {
    if secret.is_empty() || expires_at <= now {
        return false;
    }
    let Ok(sig) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    mac(secret, tenant, order, customer, expires_at).is_some_and(|m| m.verify_slice(&sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_link_opens_its_order_only_until_it_expires() {
        let (t, o) = (Uuid::now_v7(), Uuid::now_v7());
        let q = query("s3cret", t, o, "guest_1", 2_000);
        let sig = q.rsplit("s=").next().unwrap_or_default();
        assert!(verify("s3cret", t, o, "guest_1", 2_000, sig, 1_000));
        assert!(!verify("s3cret", t, o, "guest_1", 2_000, sig, 2_000), "expired");
        assert!(
            !verify("s3cret", t, o, "guest_2", 2_000, sig, 1_000),
            "another customer"
        );
        assert!(
            !verify("s3cret", t, Uuid::now_v7(), "guest_1", 2_000, sig, 1_000),
            "another order"
        );
        assert!(
            !verify("s3cret", Uuid::now_v7(), o, "guest_1", 2_000, sig, 1_000),
            "another shop"
        );
        assert!(!verify("s3cret", t, o, "guest_1", 3_000, sig, 1_000), "a longer life");
        assert!(!verify("other", t, o, "guest_1", 2_000, sig, 1_000), "another secret");
        assert!(!verify("", t, o, "guest_1", 2_000, sig, 1_000), "no secret, no link");
        assert_eq!(query("", t, o, "guest_1", 2_000), "");
        assert_eq!(signed_url("https://s/o/1?n=2", "c=x"), "https://s/o/1?n=2&c=x");
    }
}
