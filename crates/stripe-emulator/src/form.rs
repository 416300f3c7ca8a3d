//! Stripe's request encoding: `application/x-www-form-urlencoded` with `a[b]=c` nesting.

use crate::StripeError;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Form {
    flat: Vec<(String, String)>,
}

impl Form {
    pub fn parse(body: &[u8]) -> Result<Form, StripeError> {
        let text =
            std::str::from_utf8(body).map_err(|_| StripeError::invalid("Invalid request body encoding", None))?;
        let flat = actix_web::web::Query::<Vec<(String, String)>>::from_query(text)
            .map_err(|_| StripeError::invalid("Invalid form-encoded request body", None))?
            .into_inner();
        Ok(Form { flat })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.flat.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `metadata[a]=1&metadata[b]=2` → {a: 1, b: 2}; an empty value deletes the key (Stripe's rule).
    pub fn map(&self, name: &str) -> HashMap<String, String> {
        let prefix = format!("{name}[");
        self.flat
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(&prefix)
                    .and_then(|r| r.strip_suffix(']'))
                    .map(|k| (k.to_owned(), v.clone()))
            })
            .collect()
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, StripeError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| StripeError::invalid(&format!("Invalid integer: {v}"), Some(key))),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, StripeError> {
        match self.get(key) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(StripeError::invalid(&format!("Invalid boolean: {v}"), Some(key))),
        }
    }

    /// The parameters in a canonical order: what Stripe compares when an idempotency key is
    /// reused (the same parameters in another order — a map's iteration order — are the same
    /// request).
    pub fn canonical(&self) -> Vec<(String, String)> {
        let mut pairs = self.flat.clone();
        pairs.sort();
        pairs
    }

    /// Keys present in the request (for refusing unknown parameters).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.flat.iter().map(|(k, _)| k.split('[').next().unwrap_or(k))
    }
}
