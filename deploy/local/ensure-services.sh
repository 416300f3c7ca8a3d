#!/usr/bin/env bash
# Makes sure PostgreSQL and NATS (with JetStream) are installed and running on this machine, as
# `make run` and `make test` need them. Debian/Ubuntu: missing packages are installed with apt.
# Idempotent: does nothing when both already answer.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=${ORDO_PG_PORT:-5432}
NATS_PORT=${ORDO_NATS_PORT:-4222}
STATE_DIR=${ORDO_STATE_DIR:-"$(cd "$(dirname "$0")/../.." && pwd)/.run"}
ROLES="postgres,ordo_owner,ordo_order,ordo_payment,ordo_delivery,ordo_notification"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) for: $*" >&2; exit 1; fi
}

apt_install() {
  echo "==> installing $* with apt"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- PostgreSQL -------------------------------------------------------------------------------
if ! command -v pg_ctlcluster >/dev/null || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  apt_install postgresql postgresql-client
fi
if ! port_open "$PG_PORT"; then
  version=$(ls /etc/postgresql | sort -V | tail -1)
  echo "==> starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 50); do port_open "$PG_PORT" && break; sleep 0.2; done
fi
# Local development connects without passwords over 127.0.0.1 for ordo's roles (and the
# superuser that bootstraps them). Production uses passwords from secrets (see deploy/k8s).
if ! psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  hba=$(as_root su postgres -c "psql -Atqc 'show hba_file'")
  if ! as_root grep -q '# ordo local development' "$hba"; then
    echo "==> allowing ordo's roles on 127.0.0.1 without password (local development) in $hba"
    tmp=$(mktemp)
    { echo "host all $ROLES 127.0.0.1/32 trust # ordo local development"; as_root cat "$hba"; } > "$tmp"
    as_root cp "$tmp" "$hba"; rm -f "$tmp"
    as_root su postgres -c "psql -Atqc 'select pg_reload_conf()'" >/dev/null
  fi
fi

# --- NATS with JetStream ----------------------------------------------------------------------
if ! port_open "$NATS_PORT"; then
  command -v nats-server >/dev/null || apt_install nats-server
  mkdir -p "$STATE_DIR/nats"
  echo "==> starting nats-server with JetStream on 127.0.0.1:$NATS_PORT (store $STATE_DIR/nats)"
  start-stop-daemon --start --oknodo --background --pidfile "$STATE_DIR/nats.pid" --make-pidfile \
    --exec "$(command -v nats-server)" -- -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$STATE_DIR/nats" \
    -l "$STATE_DIR/nats.log"
  for _ in $(seq 1 50); do port_open "$NATS_PORT" && break; sleep 0.2; done
fi
port_open "$PG_PORT" || { echo "PostgreSQL is not answering on $PG_PORT" >&2; exit 1; }
port_open "$NATS_PORT" || { echo "NATS is not answering on $NATS_PORT" >&2; exit 1; }
echo "==> PostgreSQL on 127.0.0.1:$PG_PORT and NATS on 127.0.0.1:$NATS_PORT are up"
