#!/usr/bin/env bash
# Runs the four services, the operators' dashboard and the storefront in the foreground with readable logs; Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=target/debug
# Development configuration (demo-token secret, the emulator's webhook secret, readable logs);
# ORDO_* variables still override it.
export ORDO_CONFIG=${ORDO_CONFIG:-$PWD/deploy/local/dev.toml}
# Each service writes through a process substitution, so `$!` is the service itself (not a sed
# at the end of a pipe) and stopping the script stops the services.
pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "==> stopping ordo"
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT
# ordo's own NATS (JetStream) with its authorization (deploy/local/nats-auth.conf): each service
# connects as its own user with its own subject permissions, nobody connects anonymously. The
# passwords below are for this local server only (public, like dev.toml's token secret).
nats_port=${ORDO_LOCAL_NATS_PORT:-4223}
mkdir -p .run/nats-authorized
for svc in order payment delivery notification; do
  export "ORDO_NATS_PASSWORD_${svc^^}=local-dev-$svc"
done
nats-server -c deploy/local/nats-auth.conf -a 127.0.0.1 -p "$nats_port" -js -sd .run/nats-authorized/jetstream \
  -l .run/nats-authorized/nats.log &
pids+=($!)
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break
  sleep 0.1
done
export ORDO_NATS__URL="nats://127.0.0.1:$nats_port"
# The Stripe emulator stands in for Stripe and signs its webhooks with the secret dev.toml gives
# the payment service (local development only; set real values to talk to Stripe).
ORDO_STRIPE_EMULATOR_WEBHOOK_URL=http://127.0.0.1:8081/webhooks/stripe \
ORDO_STRIPE_EMULATOR_WEBHOOK_SECRET=whsec_ordo_local_dev \
  "$bin/ordo-stripe-emulator" > >(sed -u "s/^/[stripe] /") 2>&1 &
pids+=($!)
for svc in order payment delivery notification; do
  ORDO_NATS__PASSWORD="local-dev-$svc" "$bin/ordo-$svc" > >(sed -u "s/^/[$svc] /") 2>&1 &
  pids+=($!)
done
# The operators' dashboard with the development sign-in (admin of the demo tenant): offered only
# because this script turns it on with the development configuration. Plain HTTP on loopback,
# so its cookies are not marked Secure here (they are by default).
ORDO_DASHBOARD__DEV_SIGN_IN=true ORDO_DASHBOARD__COOKIE_SECURE=false \
  "$bin/ordo-dashboard" > >(sed -u "s/^/[dashboard] /") 2>&1 &
pids+=($!)
# The reference storefront selling the demo shop, paying at the Stripe emulator with its Stripe.js
# subset (in production: Stripe's keys and https://js.stripe.com/v3/).
ORDO_STOREFRONT__TENANT_ID=00000000-0000-4000-8000-00000000de30 \
ORDO_STOREFRONT__SHOP_NAME="Ordo Demo Shop" \
ORDO_STOREFRONT__COOKIE_SECURE=false \
ORDO_STOREFRONT__STRIPE_PUBLISHABLE_KEY=pk_test_ordo \
ORDO_STOREFRONT__STRIPE_JS_URL=http://127.0.0.1:12111/v3/ \
ORDO_STOREFRONT__STRIPE_API_ORIGIN=http://127.0.0.1:12111 \
ORDO_STOREFRONT__ORDER_LINK_SECRET=ordo-local-development-order-links-public \
  "$bin/ordo-storefront" > >(sed -u "s/^/[storefront] /") 2>&1 &
pids+=($!)
echo "==> waiting for the services, then seeding the demo shop"
"$bin/ordo-demo" seed
cat <<MSG
==> ordo is running (Ctrl-C stops everything)
    order         http://127.0.0.1:8080   (health: /health/ready, metrics: /metrics)
    payment       http://127.0.0.1:8081   (Stripe webhooks: POST /webhooks/stripe)
    stripe        http://127.0.0.1:12111  (the Stripe emulator; control API under /_emulator/)
    delivery      http://127.0.0.1:8082
    notification  http://127.0.0.1:8083
    dashboard     http://127.0.0.1:8090   (the operators' pages: "Sign in as the demo operator")
    storefront    http://127.0.0.1:3000   (the demo shop for customers; test card 4242 4242 4242 4242)
    nats          nats://127.0.0.1:$nats_port (ordo's authorization: one user per service, log .run/nats-authorized/)

==> Walkthrough: buy the demo zine's PDF and watch the order become paid. In another terminal:
    $bin/ordo-demo buy
    It prints every request as the curl command that does the same; to replay them by hand:
    export CUSTOMER=\$($bin/ordo-demo token customer)   ADMIN=\$($bin/ordo-demo token admin)
    Then as an operator:  curl -s http://127.0.0.1:8080/admin/orders -H "Authorization: Bearer \$ADMIN"
    The customer's e-mails (order confirmation, payment received with the download link, ...) are
    written to .run/mail/, one .eml per message; the operator's list of them:
    curl -s http://127.0.0.1:8083/admin/notifications -H "Authorization: Bearer \$ADMIN"
MSG
wait -n "${pids[@]}"
