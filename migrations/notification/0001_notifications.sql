-- The notification service's tables: what it knows of each order (from order.placed, for the
-- messages whose events do not carry the customer's address), each tenant's sender settings, and
-- every message: one per (event, kind), with its status and attempts.
-- Tenant tables are under FORCED row-level security (ordo.tenant_id, see crates/db). One read
-- crosses tenants: the sender finds the tenants with messages due as the `system` actor, which
-- only server code sets, and sees pending messages only; sending runs scoped to the tenant.

create function notifications.current_tenant() returns uuid language sql stable as $$
    select nullif(current_setting('ordo.tenant_id', true), '')::uuid
$$;
create function notifications.current_actor_role() returns text language sql stable as $$
    select coalesce(nullif(current_setting('ordo.role', true), ''), 'none')
$$;

-- An order as order.placed described it.
create table notifications.orders (
    order_id     uuid primary key,
    tenant_id    uuid not null,
    order_number bigint not null,
    cart_id      uuid,
    customer_id  text not null,
    email        text not null,
    currency     text not null,
    -- [{line_id, title, sku, kind, quantity, unit_price, subtotal}] (amounts in minor units)
    lines        jsonb not null,
    -- {subtotal, shipping, tax, total}
    totals       jsonb not null,
    created_at   timestamptz not null default now()
);

create index orders_by_cart on notifications.orders (cart_id);

-- A tenant's sender: store name, From address, and the storefront's order page (a URL template
-- with {order_id} and {order_number}); missing rows or empty fields fall back to the config.
create table notifications.settings (
    tenant_id      uuid primary key,
    store_name     text not null check (length(store_name) between 1 and 200),
    sender         text not null check (length(sender) between 3 and 320),
    order_page_url text check (length(order_page_url) <= 2000),
    updated_at     timestamptz not null default now()
);

create table notifications.messages (
    id              uuid primary key,
    tenant_id       uuid not null,
    -- the order of arrival (for listing); within an order, messages are sent in event order
    -- (event ids are UUIDv7)
    seq             bigint generated always as identity,
    event_id        uuid not null,
    kind            text not null check (kind in ('order_confirmation', 'payment_received', 'payment_failed',
                                                  'shipped', 'refunded', 'canceled')),
    order_id        uuid not null,
    recipient       text not null,
    -- what the templates need, captured from the event (links are issued at send time)
    data            jsonb not null,
    status          text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
    attempts        integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error      text,
    subject         text,
    created_at      timestamptz not null default now(),
    sent_at         timestamptz,
    unique (event_id, kind)
);
create index messages_due on notifications.messages (next_attempt_at) where status = 'pending';
create index messages_by_order on notifications.messages (order_id, event_id);

do $$
declare t text;
begin
    foreach t in array array['orders', 'settings', 'messages'] loop
        execute format('alter table notifications.%I enable row level security', t);
        execute format('alter table notifications.%I force row level security', t);
        execute format('create policy tenant_scope on notifications.%I for all
                          using (tenant_id = notifications.current_tenant())
                          with check (tenant_id = notifications.current_tenant())', t);
    end loop;
end $$;
create policy system_pending on notifications.messages for select
    using (notifications.current_actor_role() = 'system' and status = 'pending');

-- A message row commits → the sender wakes (it polls too, as a fallback).
create function notifications.messages_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('ordo_notifications_due', '');
    return null;
end $$;
create trigger messages_notify after insert on notifications.messages
    for each statement execute function notifications.messages_notify();

grant execute on function notifications.current_tenant(), notifications.current_actor_role(),
    notifications.messages_notify() to ordo_notification;
grant select, insert on notifications.orders to ordo_notification;
grant select, insert, update on notifications.settings, notifications.messages to ordo_notification;
