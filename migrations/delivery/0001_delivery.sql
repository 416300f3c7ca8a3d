-- The delivery service's tables: assets (digital files' metadata; the bytes live in object
-- storage), the paid orders it delivers with their lines, download grants (one per digital line),
-- download tokens (only their SHA-256), and shipments of physical lines.
-- Tenant tables are under FORCED row-level security (ordo.tenant_id, see crates/db). One read
-- crosses tenants: /downloads/{token} arrives without a tenant, so its first step reads
-- token_tenants (a token's hash → its tenant, nothing else) as the `system` actor, which only
-- server code sets; everything after that runs scoped to the tenant found.

create function delivery.current_tenant() returns uuid language sql stable as $$
    select nullif(current_setting('ordo.tenant_id', true), '')::uuid
$$;
create function delivery.current_actor_role() returns text language sql stable as $$
    select coalesce(nullif(current_setting('ordo.role', true), ''), 'none')
$$;

create table delivery.assets (
    tenant_id    uuid not null,
    key          text not null check (key ~ '^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$' and key !~ '(^|/)\.\.?(/|$)' and length(key) <= 512),
    size         bigint not null check (size >= 0),
    content_type text not null,
    sha256       text not null,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    primary key (tenant_id, key)
);

-- A paid order, as order.paid described it.
create table delivery.orders (
    order_id       uuid primary key,
    tenant_id      uuid not null,
    order_number   bigint not null,
    customer_id    text not null,
    email          text not null default '',
    -- a full refund or a cancellation: every grant revoked
    revoked_at     timestamptz,
    revoked_reason text,
    created_at     timestamptz not null default now()
);

create table delivery.order_lines (
    line_id   uuid primary key,
    tenant_id uuid not null,
    order_id  uuid not null references delivery.orders (order_id),
    kind      text not null check (kind in ('digital', 'physical')),
    sku       text not null,
    title     text not null,
    quantity  integer not null check (quantity > 0),
    asset_key text
);
create index order_lines_by_order on delivery.order_lines (order_id);

create table delivery.grants (
    id                  uuid primary key,
    tenant_id           uuid not null,
    order_id            uuid not null references delivery.orders (order_id),
    line_id             uuid not null unique references delivery.order_lines (line_id),
    asset_key           text not null,
    max_downloads       integer not null check (max_downloads > 0),
    downloads_used      integer not null default 0 check (downloads_used >= 0),
    first_downloaded_at timestamptz,
    revoked_at          timestamptz,
    created_at          timestamptz not null default now(),
    constraint grants_within_limit check (downloads_used <= max_downloads)
);
create index grants_by_order on delivery.grants (order_id);

-- A download link. Only the SHA-256 of the 32-byte token is stored. A "run" is one download,
-- possibly resumed over several range requests: `run_done` holds the byte ranges completely
-- sent in the current run, `run_partial` those sent by requests that broke off. A request for
-- bytes already in `run_done`, or after `resume_window_secs` of silence, starts a new run (one
-- more use of the grant).
create table delivery.tokens (
    token_hash        bytea primary key check (length(token_hash) = 32),
    tenant_id         uuid not null,
    grant_id          uuid not null references delivery.grants (id),
    issued_at         timestamptz not null default now(),
    expires_at        timestamptz not null,
    run_number        integer not null default 0,
    run_last_at       timestamptz,
    run_done          int8multirange not null default '{}',
    run_partial       int8multirange not null default '{}',
    run_completed     boolean not null default false,
    requests          integer not null default 0
);
create index tokens_by_grant on delivery.tokens (grant_id);
create index tokens_by_expiry on delivery.tokens (expires_at);

create table delivery.token_tenants (
    token_hash bytea primary key check (length(token_hash) = 32),
    tenant_id  uuid not null
);

create table delivery.shipments (
    id              uuid primary key,
    tenant_id       uuid not null,
    order_id        uuid not null references delivery.orders (order_id),
    carrier         text not null check (length(carrier) between 1 and 100),
    tracking_number text not null check (length(tracking_number) between 1 and 100),
    status          text not null check (status in ('shipped', 'delivered')),
    created_at      timestamptz not null default now(),
    delivered_at    timestamptz
);
create index shipments_by_order on delivery.shipments (order_id);

-- A physical line ships once, whole.
create table delivery.shipment_lines (
    line_id     uuid primary key references delivery.order_lines (line_id),
    tenant_id   uuid not null,
    shipment_id uuid not null references delivery.shipments (id)
);
create index shipment_lines_by_shipment on delivery.shipment_lines (shipment_id);

do $$
declare t text;
begin
    foreach t in array array['assets', 'orders', 'order_lines', 'grants', 'tokens', 'token_tenants',
                             'shipments', 'shipment_lines'] loop
        execute format('alter table delivery.%I enable row level security', t);
        execute format('alter table delivery.%I force row level security', t);
        execute format('create policy tenant_scope on delivery.%I for all
                          using (tenant_id = delivery.current_tenant())
                          with check (tenant_id = delivery.current_tenant())', t);
    end loop;
end $$;
create policy system_token_lookup on delivery.token_tenants for select
    using (delivery.current_actor_role() = 'system');

grant execute on function delivery.current_tenant(), delivery.current_actor_role() to ordo_delivery;
grant select, insert, update, delete on delivery.assets to ordo_delivery;
grant select, insert, update on delivery.orders, delivery.order_lines, delivery.grants,
    delivery.shipments, delivery.shipment_lines to ordo_delivery;
grant select, insert, update, delete on delivery.tokens, delivery.token_tenants to ordo_delivery;
