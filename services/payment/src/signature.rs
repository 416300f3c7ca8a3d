//! Stripe webhook signatures: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`
//! where each `v1` is HMAC-SHA256 over `"<t>.<raw body>"` keyed by an endpoint secret. A
//! request is genuine when the timestamp is within the tolerance of now (either way) and any
//! `v1` matches any configured secret (Stripe sends one `v1` per active secret while a secret is
//! rolled). `v0` and unknown schemes are ignored. Comparison is constant-time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header")]
    Malformed,
    #[error("no v1 signature")]
    NoV1,
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
    #[error("no webhook secret is configured")]
    NotConfigured,
}

impl SignatureError {
    /// A stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Missing => "missing",
            SignatureError::Malformed => "malformed",
            SignatureError::NoV1 => "no_v1",
            SignatureError::Stale => "stale",
            SignatureError::Mismatch => "mismatch",
            SignatureError::NotConfigured => "not_configured",
        }
    }
}

/// Check `header` over `body` at time `now` (unix seconds).
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&str],
    tolerance_secs: u64,
    now: i64,
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NotConfigured);
    }
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match k {
            "t" => t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            "v1" => v1.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if v1.is_empty() {
        return Err(SignatureError::NoV1);
    }
    if now.abs_diff(t) > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    for secret in secrets {
        for candidate in &v1 {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
                continue;
            };
            mac.update(t.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            if mac.verify_slice(candidate).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::Mismatch)
}

/// The header Stripe would send for `body` at `t`, one `v1` per secret (for tests and tools).
pub fn sign(body: &[u8], secrets: &[&str], t: i64) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
            mac.update(format!("{t}.").as_bytes());
            mac.update(body);
            header.push_str(",v1=");
            header.push_str(&hex::encode(mac.finalize().into_bytes()));
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn stripes_documented_example_scheme() {
        // HMAC-SHA256("whsec_a", "1800000000.{}") computed independently of `sign`.
        let body = b"{}";
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_a").unwrap();
        mac.update(b"1800000000.{}");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(sign(body, &["whsec_a"], NOW), format!("t={NOW},v1={expected}"));
    }

    #[test]
    fn matrix() {
        let body = br#"{"id":"evt_1"}"#;
        let ok = sign(body, &["whsec_a"], NOW);
        assert_eq!(verify(Some(&ok), body, &["whsec_a"], 300, NOW), Ok(()));
        assert_eq!(verify(None, body, &["whsec_a"], 300, NOW), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some(&ok), body, &["whsec_b"], 300, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&ok), br#"{"id":"evt_2"}"#, &["whsec_a"], 300, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&ok), body, &["whsec_a"], 300, NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Some(&ok), body, &["whsec_a"], 300, NOW - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify(Some(&ok), body, &["whsec_a"], 300, NOW + 300), Ok(()));
        let v0 = ok.replace("v1=", "v0=");
        assert_eq!(
            verify(Some(&v0), body, &["whsec_a"], 300, NOW),
            Err(SignatureError::NoV1)
        );
        let both = sign(body, &["whsec_old", "whsec_new"], NOW);
        let reversed = sign(body, &["whsec_new", "whsec_old"], NOW);
        for h in [&both, &reversed] {
            assert_eq!(verify(Some(h), body, &["whsec_new"], 300, NOW), Ok(()));
            assert_eq!(verify(Some(h), body, &["whsec_old"], 300, NOW), Ok(()));
            assert_eq!(
                verify(Some(h), body, &["whsec_x"], 300, NOW),
                Err(SignatureError::Mismatch)
            );
        }
        assert_eq!(
            verify(Some(&ok), body, &[], 300, NOW),
            Err(SignatureError::NotConfigured)
        );
        assert_eq!(
            verify(Some("t=abc,v1=00"), body, &["whsec_a"], 300, NOW),
            Err(SignatureError::Malformed)
        );
    }
}
