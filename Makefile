# ordo — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export ORDO_ADMIN_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
export ORDO_DATABASE_NAME ?= ordo
export ORDO_TEST_ADMIN_URL ?= $(ORDO_ADMIN_DATABASE_URL)
export CARGO_TERM_COLOR ?= always

.PHONY: help services test-tools migrate build run test check bench chaos clean-test-dbs

help:
	@echo "make run     install/start PostgreSQL and NATS if needed, migrate, run all services"
	@echo "make test    same set-up (plus the tests' peer servers), then every test (real PostgreSQL and NATS)"
	@echo "make check   cargo fmt --check and clippy with warnings as errors"
	@echo "make migrate create roles, database and schemas if missing; apply migrations"
	@echo "make bench   performance benchmarks (ORDO_BENCH_ONLY=events|scale|checkout for one part)"
	@echo "make chaos   two replicas of everything under load while processes, NATS and PostgreSQL fail; then the invariants"

services:
	@bash deploy/local/ensure-services.sh

# Peer servers some tests start (moto's S3 server), in a Python venv under .run/.
test-tools:
	@bash deploy/local/ensure-test-tools.sh

migrate: services
	cargo run -q -p ordo-migrate

build:
	cargo build --workspace --bins

run: migrate build
	@bash deploy/local/run.sh

test: services test-tools
	@if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --workspace --no-fail-fast; \
	else \
		cargo test --workspace --no-fail-fast; \
	fi
	cargo test --workspace --doc

check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# The checkout part runs the services as release binaries in processes of their own.
bench: services
	cargo build --release --bins -p ordo-order -p ordo-payment -p ordo-delivery -p ordo-notification -p ordo-stripe-emulator
	cargo run --release -p ordo-bench

# Its own PostgreSQL cluster and NATS server (spare ports), two replicas of every service, load,
# kills, freezes and restarts; then the invariants (ORDO_CHAOS_SECS, default 150; see crates/chaos).
chaos: services
	cargo build --bins -p ordo-order -p ordo-payment -p ordo-delivery -p ordo-notification -p ordo-stripe-emulator
	cargo run -q -p ordo-chaos

# Test databases are dropped by the tests; this removes any left by a killed run.
clean-test-dbs:
	@psql "$(ORDO_ADMIN_DATABASE_URL)" -Atc "select 'drop database ' || datname || ' with (force);' from pg_database where datname like 'ordo_t_%'" | psql "$(ORDO_ADMIN_DATABASE_URL)" -q
