-- Refunds are reconciled by Stripe's refund id, never by amount deltas (issue 12).
-- * refunds.source: 'order' (asked for by the order service: id = its request id) or 'stripe'
--   (started in Stripe's dashboard: id derived from Stripe's refund id).
-- * stripe_events: a doubtful event the reconciler cannot settle now is retried with backoff
--   (attempts, next_attempt_at, last_error) instead of blocking the ones behind it; one it can
--   never settle (unknown PaymentIntent) is recorded as processed with its outcome.

alter table payments.refunds add column source text not null default 'order' check (source in ('order', 'stripe'));
alter table payments.stripe_events add column attempts integer not null default 0;
alter table payments.stripe_events add column next_attempt_at timestamptz;
alter table payments.stripe_events add column last_error text;
create index refunds_in_flight on payments.refunds (tenant_id, updated_at) where status = 'requested';
