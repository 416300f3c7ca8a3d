//! Per-caller token buckets for the checkout endpoints (per replica, in memory): `burst`
//! requests at once, refilled at `rate_per_sec`; an empty bucket answers 429 with `Retry-After`.
//! A caller is its tenant and subject: the same `sub` in two tenants (subjects are only unique
//! within their issuer's tenant) are two callers, and one tenant's traffic never empties
//! another's bucket.

use ordo_http::ApiError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        RateLimiter {
            rate: f64::from(rate_per_sec.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Take one token for the caller `who` (tenant and subject), or say how long to wait.
    pub fn check(&self, who: &ordo_auth::Principal) -> Result<(), ApiError> {
        self.take(&format!("{}/{}", who.tenant_id, who.subject))
    }

    fn take(&self, caller: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Forget full buckets so the map cannot grow without bound.
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| *tokens + at.elapsed().as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets.entry(caller.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64;
            Err(ApiError::new(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many checkout requests; retry later",
            )
            .with_response_header("retry-after", wait.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refused_then_refilled() {
        let l = RateLimiter::new(1000, 3);
        for _ in 0..3 {
            assert!(l.take("a").is_ok());
        }
        let e = l.take("a").unwrap_err();
        assert_eq!(e.code(), "rate_limited");
        assert!(l.take("b").is_ok(), "callers are independent");
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(l.take("a").is_ok(), "refilled");
    }
}
