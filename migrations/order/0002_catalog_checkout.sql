-- Catalog, regions, shipping options, per-tenant order numbers and idempotency keys.
-- All tenant tables are under FORCED RLS. Catalog tables: everyone in the tenant may read
-- (customers browse), only admin/service may write. Idempotency keys: the caller's own rows.

create function orders.same_tenant(tenant uuid) returns boolean language sql stable as $$
    select tenant = orders.current_tenant()
$$;
create function orders.can_manage(tenant uuid) returns boolean language sql stable as $$
    select tenant = orders.current_tenant() and orders.current_actor_role() in ('admin', 'service')
$$;

create table orders.regions (
    id           uuid primary key,
    tenant_id    uuid not null,
    name         text not null check (length(name) between 1 and 200),
    currency     char(3) not null check (currency ~ '^[A-Z]{3}$'),
    tax_rate_bp  integer not null check (tax_rate_bp between 0 and 10000),
    countries    text[] not null check (cardinality(countries) > 0),
    active       boolean not null default true,
    created_at   timestamptz not null default now()
);
create index regions_by_tenant on orders.regions (tenant_id);

create table orders.shipping_options (
    id          uuid primary key,
    tenant_id   uuid not null,
    region_id   uuid not null references orders.regions (id),
    name        text not null check (length(name) between 1 and 200),
    price       bigint not null check (price >= 0),
    active      boolean not null default true,
    created_at  timestamptz not null default now()
);
create index shipping_options_by_region on orders.shipping_options (region_id);

create table orders.products (
    id          uuid primary key,
    tenant_id   uuid not null,
    title       text not null check (length(title) between 1 and 500),
    description text not null default '',
    active      boolean not null default true,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create index products_by_tenant on orders.products (tenant_id, created_at desc);

create table orders.variants (
    id          uuid primary key,
    tenant_id   uuid not null,
    product_id  uuid not null references orders.products (id),
    sku         text not null check (sku ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    title       text not null check (length(title) between 1 and 500),
    kind        text not null check (kind in ('digital', 'physical')),
    asset_key   text,
    -- null = unlimited; never negative (the reservation is a conditional decrement)
    inventory   integer check (inventory >= 0),
    active      boolean not null default true,
    created_at  timestamptz not null default now(),
    constraint variants_sku_per_tenant unique (tenant_id, sku),
    constraint variants_digital_have_assets check ((kind = 'digital') = (asset_key is not null))
);
create index variants_by_product on orders.variants (product_id);

create table orders.variant_prices (
    tenant_id   uuid not null,
    variant_id  uuid not null references orders.variants (id) on delete cascade,
    currency    char(3) not null check (currency ~ '^[A-Z]{3}$'),
    amount      bigint not null check (amount >= 0),
    primary key (variant_id, currency)
);

-- Cart and order links to the catalog
alter table orders.carts add constraint carts_region_fk foreign key (region_id) references orders.regions (id);
alter table orders.carts add constraint carts_shipping_option_fk
    foreign key (shipping_option_id) references orders.shipping_options (id);
alter table orders.cart_lines add constraint cart_lines_variant_fk foreign key (variant_id) references orders.variants (id);
create index carts_idle on orders.carts (updated_at) where status = 'open';

-- Per-tenant human order numbers (#1001, #1002, ...): one row per tenant, bumped in the
-- completing transaction (the row lock orders concurrent completions of one tenant).
create table orders.tenant_counters (
    tenant_id         uuid primary key,
    last_order_number bigint not null
);

-- Idempotency-Key records: the first response is replayed for 24 h to the same caller.
create table orders.idempotency_keys (
    tenant_id        uuid not null,
    caller           text not null,
    key              text not null check (length(key) between 1 and 255),
    request_hash     text not null,
    state            text not null check (state in ('in_progress', 'done')),
    response_status  integer,
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz not null default now(),
    expires_at       timestamptz not null,
    primary key (tenant_id, caller, key)
);
create index idempotency_keys_expiry on orders.idempotency_keys (expires_at);

do $$
declare t text;
begin
    foreach t in array array['regions', 'shipping_options', 'products', 'variants', 'variant_prices'] loop
        execute format('alter table orders.%I enable row level security', t);
        execute format('alter table orders.%I force row level security', t);
        execute format('create policy tenant_read on orders.%I for select using (orders.same_tenant(tenant_id))', t);
        execute format('create policy tenant_manage on orders.%I for all
                          using (orders.can_manage(tenant_id)) with check (orders.can_manage(tenant_id))', t);
    end loop;
end $$;

alter table orders.tenant_counters enable row level security;
alter table orders.tenant_counters force row level security;
create policy tenant_manage on orders.tenant_counters for all
    using (orders.can_manage(tenant_id)) with check (orders.can_manage(tenant_id));

alter table orders.idempotency_keys enable row level security;
alter table orders.idempotency_keys force row level security;
create policy caller_scope on orders.idempotency_keys for all
    using (orders.visible(tenant_id, caller)) with check (orders.visible(tenant_id, caller));

-- The expiry sweep works across tenants: role `system` (set only by server code, never from a
-- token) may read the tenant list (tenant_counters: every tenant that ever placed an order);
-- it then sweeps each tenant in a transaction scoped to that tenant. No policy on the big
-- tables mentions `system`, so their tenant predicate stays a plain index condition.
create policy system_tenant_list on orders.tenant_counters for select using (orders.current_actor_role() = 'system');

-- Indexes behind the operators' filters and sorts (tenant first: every query is per tenant).
create index orders_by_payment_status on orders.orders (tenant_id, payment_status, created_at desc, id desc);
create index orders_by_fulfillment_status on orders.orders (tenant_id, fulfillment_status, created_at desc, id desc);
create index orders_by_total on orders.orders (tenant_id, total, id);
-- e-mail search: a stored lower-case copy compared with plain text equality. (Under RLS the
-- planner only uses index conditions whose functions are leakproof; lower(email) is not.)
alter table orders.orders add column email_lc text generated always as (lower(email)) stored;
create index orders_by_email on orders.orders (tenant_id, email_lc, created_at desc, id desc);
create index orders_unpaid_per_tenant on orders.orders (tenant_id, created_at) where status in ('pending', 'processing');
-- stats over a date range: everything the aggregate needs is in the index
-- (customer_id is read by the RLS policy, so it must be covered for an index-only scan)
create index orders_stats on orders.orders (tenant_id, created_at)
    include (currency, status, captured_amount, refunded_amount, customer_id);

grant execute on function orders.same_tenant(uuid), orders.can_manage(uuid) to ordo_order;
grant select, insert, update, delete on orders.regions, orders.shipping_options, orders.products,
    orders.variants, orders.variant_prices, orders.tenant_counters, orders.idempotency_keys to ordo_order;
