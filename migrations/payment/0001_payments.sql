-- The payment service's tables: one payment per cart (the mirror of its Stripe PaymentIntent),
-- refunds, and the Stripe events received by webhook.
-- Tenant tables are under FORCED row-level security: only rows of the tenant set for the
-- transaction (ordo.tenant_id, see crates/db) are visible or writable. The service role acts
-- for tenants (role `service`); role `system` (set only by server code) may list tenants.

create function payments.current_tenant() returns uuid language sql stable as $$
    select nullif(current_setting('ordo.tenant_id', true), '')::uuid
$$;
create function payments.current_actor_role() returns text language sql stable as $$
    select coalesce(nullif(current_setting('ordo.role', true), ''), 'none')
$$;

-- Every tenant that ever had a payment (the reconciliation sweep walks it).
create table payments.tenants (
    tenant_id  uuid primary key,
    created_at timestamptz not null default now()
);

create table payments.payments (
    id                 uuid primary key,
    tenant_id          uuid not null,
    cart_id            uuid not null,
    order_id           uuid,
    customer_id        text not null,
    payment_intent_id  text not null unique,
    client_secret      text,
    currency           char(3) not null check (currency ~ '^[A-Z]{3}$'),
    amount             bigint not null check (amount > 0),
    -- Stripe's PaymentIntent status as last applied (never moved backwards), plus `failed`
    -- for requires_payment_method after a failed attempt.
    status             text not null check (status in ('requires_payment_method', 'requires_confirmation',
                           'requires_action', 'processing', 'requires_capture', 'failed', 'succeeded', 'canceled')),
    captured_amount    bigint not null default 0 check (captured_amount >= 0),
    refunded_amount    bigint not null default 0 check (refunded_amount >= 0),
    failed_attempts    integer not null default 0,
    failure_code       text,
    failure_message    text,
    order_canceled     boolean not null default false,
    -- `created` (unix seconds) of the last Stripe event applied to the status
    last_event_created bigint not null default 0,
    version            bigint not null default 0,
    status_since       timestamptz not null default now(),
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    constraint payments_one_per_cart unique (tenant_id, cart_id),
    constraint payments_refund_within_capture check (refunded_amount <= captured_amount)
);
create index payments_processing on payments.payments (tenant_id, status_since) where status = 'processing';
create index payments_by_order on payments.payments (tenant_id, order_id);

-- A refund: asked by the order service (id = the order's refund request id) or started in
-- Stripe's dashboard (id generated here, stripe_refund_id set).
create table payments.refunds (
    id               uuid primary key,
    tenant_id        uuid not null,
    payment_id       uuid not null references payments.payments (id),
    order_id         uuid,
    amount           bigint not null check (amount > 0),
    reason           text not null default '',
    status           text not null check (status in ('requested', 'succeeded', 'failed')),
    stripe_refund_id text unique,
    -- set once a charge.refunded event has counted this refund
    reflected        boolean not null default false,
    failure_code     text,
    failure_message  text,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);
create index refunds_by_payment on payments.refunds (payment_id);

-- Stripe events as received (a messaging table like the inbox: no tenant column, reachable only
-- by the payment role). The id is Stripe's: a repeat delivery inserts nothing.
-- processed_at null: waiting for the reconciler (the event needed a read from Stripe).
create table payments.stripe_events (
    id                text primary key,
    type              text not null,
    created           bigint not null,
    payment_intent_id text,
    payload           jsonb not null,
    received_at       timestamptz not null default now(),
    processed_at      timestamptz,
    outcome           text
);
create index stripe_events_unprocessed on payments.stripe_events (received_at) where processed_at is null;

do $$
declare t text;
begin
    foreach t in array array['payments', 'refunds'] loop
        execute format('alter table payments.%I enable row level security', t);
        execute format('alter table payments.%I force row level security', t);
        execute format('create policy tenant_scope on payments.%I for all
                          using (tenant_id = payments.current_tenant())
                          with check (tenant_id = payments.current_tenant())', t);
    end loop;
end $$;
alter table payments.tenants enable row level security;
alter table payments.tenants force row level security;
create policy tenant_scope on payments.tenants for all
    using (tenant_id = payments.current_tenant()) with check (tenant_id = payments.current_tenant());
create policy system_tenant_list on payments.tenants for select using (payments.current_actor_role() = 'system');

grant execute on function payments.current_tenant(), payments.current_actor_role() to ordo_payment;
grant select, insert, update on payments.payments, payments.refunds, payments.tenants to ordo_payment;
grant select, insert, update on payments.stripe_events to ordo_payment;
