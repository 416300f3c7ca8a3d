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
# The Stripe emulator stands in for Stripe and signs its webhooks with the secret the payment
# service is given (local development only; set real values to talk to Stripe).
export ORDO_STRIPE__WEBHOOK_SECRETS=${ORDO_STRIPE__WEBHOOK_SECRETS:-[whsec_ordo_local_dev]}
ORDO_STRIPE_EMULATOR_WEBHOOK_URL=http://127.0.0.1:8081/webhooks/stripe \
ORDO_STRIPE_EMULATOR_WEBHOOK_SECRET=whsec_ordo_local_dev \
  "$bin/ordo-stripe-emulator" 2>&1 | sed -u "s/^/[stripe] /" &
pids+=($!)
for svc in order payment delivery notification; do
  "$bin/ordo-$svc" 2>&1 | sed -u "s/^/[$svc] /" &
  pids+=($!)
done
sleep 1
cat <<MSG
==> ordo is running (Ctrl-C stops everything)
    order         http://127.0.0.1:8080   (health: /health/ready, metrics: /metrics)
    payment       http://127.0.0.1:8081   (Stripe webhooks: POST /webhooks/stripe)
    stripe        http://127.0.0.1:12111  (the Stripe emulator; control API under /_emulator/)
    delivery      http://127.0.0.1:8082
    notification  http://127.0.0.1:8083
MSG
wait -n "${pids[@]}"
