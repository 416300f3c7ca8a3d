//! Black-box tests live in `platform/` (and per service folders as they come); see README.
