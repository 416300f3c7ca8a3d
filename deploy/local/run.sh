#!/usr/bin/env bash
# Runs the four services in the foreground with readable logs; Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=target/debug
export ORDO_TELEMETRY__LOG_FORMAT=${ORDO_TELEMETRY__LOG_FORMAT:-pretty}
pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "==> stopping ordo"
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT
for svc in order payment delivery notification; do
  "$bin/ordo-$svc" 2>&1 | sed -u "s/^/[$svc] /" &
  pids+=($!)
done
sleep 1
cat <<MSG
==> ordo is running (Ctrl-C stops everything)
    order         http://127.0.0.1:8080   (health: /health/ready, metrics: /metrics)
    payment       http://127.0.0.1:8081
    delivery      http://127.0.0.1:8082
    notification  http://127.0.0.1:8083
MSG
wait -n "${pids[@]}"
