#!/usr/bin/env bash
# Installs what some tests start as real peers: Debian's Chromium and its WebDriver
# (chromium, chromium-driver; the dashboard's browser tests), and — moto's S3-compatible server
# (moto_server), for the delivery service's S3 storage, aiosmtpd, the SMTP server the
# notification tests send to, schemathesis and an OpenID Connect provider — into a Python virtual environment at
# .run/test-tools, from PyPI, pinned in deploy/local/test-tools.txt. Debian/Ubuntu: python3 and
# its venv module are installed with apt when missing. Idempotent and safe to run concurrently
# (tests call it when a tool is missing): it does nothing when the pins have not changed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
STATE_DIR=${ORDO_STATE_DIR:-"$ROOT/.run"}
VENV="$STATE_DIR/test-tools"
REQS="$ROOT/deploy/local/test-tools.txt"
mkdir -p "$STATE_DIR"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) for: $*" >&2; exit 1; fi
}

exec 9>"$STATE_DIR/test-tools.lock"
flock 9
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "==> installing chromium and chromium-driver with apt (the browser tests)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
want=$(sha256sum "$REQS" | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.pins" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "==> installing python3 and python3-venv with apt"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi
echo "==> installing the tests' peer servers into $VENV (pins: deploy/local/test-tools.txt)"
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS"
echo "$want" > "$VENV/.pins"
