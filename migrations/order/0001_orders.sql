-- The order service's core tables: carts, cart lines, orders, order lines and the state history.
-- Every table carries tenant_id and is under FORCED row-level security:
--   * with no tenant set (ordo.tenant_id empty) nothing is visible or writable;
--   * role admin or service sees and writes every row of its tenant;
--   * role customer sees and writes only rows whose customer_id is its user id.
-- Settings are transaction-local (set_config(..., true)), see crates/db.

create function orders.current_tenant() returns uuid language sql stable as $$
    select nullif(current_setting('ordo.tenant_id', true), '')::uuid
$$;
create function orders.current_user_id() returns text language sql stable as $$
    select nullif(current_setting('ordo.user_id', true), '')
$$;
create function orders.current_actor_role() returns text language sql stable as $$
    select coalesce(nullif(current_setting('ordo.role', true), ''), 'none')
$$;
-- True when the acting scope may see a row of `tenant` owned by `owner`.
create function orders.visible(tenant uuid, owner text) returns boolean language sql stable as $$
    select tenant = orders.current_tenant()
       and (orders.current_actor_role() in ('admin', 'service')
            or (orders.current_actor_role() = 'customer' and owner = orders.current_user_id()))
$$;

create table orders.carts (
    id                 uuid primary key,
    tenant_id          uuid not null,
    customer_id        text not null,
    region_id          uuid,
    currency           char(3) not null check (currency ~ '^[A-Z]{3}$'),
    email              text,
    shipping_address   jsonb,
    billing_address    jsonb,
    shipping_option_id uuid,
    status             text not null default 'open' check (status in ('open', 'completed', 'expired')),
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    completed_at       timestamptz
);
create index carts_by_customer on orders.carts (tenant_id, customer_id, created_at desc);
create index carts_open_by_age on orders.carts (updated_at) where status = 'open';

create table orders.cart_lines (
    id          uuid primary key,
    tenant_id   uuid not null,
    customer_id text not null,
    cart_id     uuid not null references orders.carts (id) on delete cascade,
    variant_id  uuid not null,
    quantity    integer not null check (quantity between 1 and 100),
    created_at  timestamptz not null default now(),
    unique (cart_id, variant_id)
);

create table orders.orders (
    id                      uuid primary key,
    tenant_id               uuid not null,
    customer_id             text not null,
    cart_id                 uuid not null,
    number                  bigint not null check (number > 0),
    email                   text not null,
    currency                char(3) not null check (currency ~ '^[A-Z]{3}$'),
    status                  text not null check (status in
        ('pending', 'processing', 'paid', 'fulfilled', 'delivered', 'canceled', 'refunded')),
    payment_status          text not null check (payment_status in
        ('awaiting', 'processing', 'authorized', 'failed', 'captured', 'partially_refunded', 'refunded', 'canceled')),
    fulfillment_status      text not null check (fulfillment_status in
        ('not_fulfilled', 'partially_fulfilled', 'fulfilled', 'partially_delivered', 'delivered', 'canceled')),
    subtotal                bigint not null check (subtotal >= 0),
    shipping_total          bigint not null check (shipping_total >= 0),
    tax_total               bigint not null check (tax_total >= 0),
    total                   bigint not null check (total = subtotal + shipping_total + tax_total),
    captured_amount         bigint check (captured_amount >= 0),
    refunded_amount         bigint not null default 0 check (refunded_amount >= 0),
    failed_payment_attempts integer not null default 0,
    payment_intent_id       text,
    region_id               uuid,
    shipping_option_id      uuid,
    shipping_address        jsonb,
    billing_address         jsonb,
    version                 bigint not null default 1,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),
    -- one order per cart, whatever the number of concurrent completions
    constraint orders_one_per_cart unique (tenant_id, cart_id),
    constraint orders_number_per_tenant unique (tenant_id, number),
    constraint orders_refund_within_capture check (refunded_amount <= coalesce(captured_amount, 0))
);
create index orders_by_created on orders.orders (tenant_id, created_at desc, id desc);
create index orders_by_customer on orders.orders (tenant_id, customer_id, created_at desc, id desc);
create index orders_by_status on orders.orders (tenant_id, status, created_at desc, id desc);

create table orders.order_lines (
    id          uuid primary key,
    tenant_id   uuid not null,
    customer_id text not null,
    order_id    uuid not null references orders.orders (id),
    variant_id  uuid not null,
    sku         text not null,
    title       text not null,
    kind        text not null check (kind in ('digital', 'physical')),
    asset_key   text,
    quantity    integer not null check (quantity between 1 and 100),
    unit_price  bigint not null check (unit_price >= 0),
    subtotal    bigint not null check (subtotal = unit_price * quantity),
    tax         bigint not null check (tax >= 0),
    fulfilled_at timestamptz,
    delivered_at timestamptz,
    check (delivered_at is null or fulfilled_at is not null)
);
create index order_lines_by_order on orders.order_lines (order_id);

-- Append-only: one row per applied trigger, written in the transaction of the change.
create table orders.order_state_history (
    id                 bigint generated always as identity primary key,
    tenant_id          uuid not null,
    customer_id        text not null,
    order_id           uuid not null references orders.orders (id),
    from_status        text,
    to_status          text not null,
    trigger            text not null,
    event_id           uuid not null,
    actor              text not null,
    payment_status     text not null,
    fulfillment_status text not null,
    detail             jsonb not null default '{}',
    created_at         timestamptz not null default now(),
    constraint history_event_once unique (order_id, event_id)
);

do $$
declare t text;
begin
    foreach t in array array['carts', 'cart_lines', 'orders', 'order_lines', 'order_state_history'] loop
        execute format('alter table orders.%I enable row level security', t);
        execute format('alter table orders.%I force row level security', t);
        execute format('create policy tenant_scope on orders.%I for all
                          using (orders.visible(tenant_id, customer_id))
                          with check (orders.visible(tenant_id, customer_id))', t);
    end loop;
end $$;

grant execute on function orders.current_tenant(), orders.current_user_id(),
    orders.current_actor_role(), orders.visible(uuid, text) to ordo_order;
grant select, insert, update, delete on orders.carts, orders.cart_lines, orders.orders, orders.order_lines to ordo_order;
-- history is append-only for the service
grant select, insert on orders.order_state_history to ordo_order;
