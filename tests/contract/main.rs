//! Contract tests: schemathesis (PyPI, installed with the other test tools) generates requests
//! from each service's `/openapi.json` — valid and invalid ones — sends them to the running
//! service and checks every answer against the document: no server error, only documented
//! status codes, content types and headers, response bodies that match their schemas,
//! schema-valid requests accepted, schema-invalid ones refused, 405 for undeclared methods.
//! A client generated from our OpenAPI must work.
//!
//! 50 examples per operation with seed 1 (CI); `ORDO_SCHEMATHESIS_EXAMPLES=150
//! ORDO_SCHEMATHESIS_SEED=7` for a deeper run. Reports: `target/schemathesis/<service>-<role>.txt`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod schemathesis;

mod services;
