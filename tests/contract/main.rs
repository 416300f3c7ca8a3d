//! Contract tests: schemathesis (PyPI, installed with the other test tools) generates requests
//! from each service's `/openapi.json` — valid and invalid ones — sends them to the running
//! service and checks every answer against the document: no server error, only documented
//! status codes, content types and headers, response bodies that match their schemas,
//! schema-valid requests accepted, schema-invalid ones refused, 405 for undeclared methods.
//! A client generated from our OpenAPI must work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod schemathesis;

mod services;
