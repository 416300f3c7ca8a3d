-- In-flight requests claim their ranges one row each (issue 12). One shared multirange could not
-- say how many requests sent a byte: the first to end removed the bytes a parallel request was
-- still sending. A request's claim is its own row, removed when that request ends; claims of
-- earlier runs are removed when a new run starts.
create table delivery.download_claims (
    id          uuid primary key,
    tenant_id   uuid not null,
    token_hash  bytea not null,
    run_number  integer not null,
    ranges      int8multirange not null,
    created_at  timestamptz not null default now()
);
create index download_claims_by_token on delivery.download_claims (token_hash, run_number);
alter table delivery.download_claims enable row level security;
alter table delivery.download_claims force row level security;
create policy tenant_scope on delivery.download_claims for all
    using (tenant_id = delivery.current_tenant()) with check (tenant_id = delivery.current_tenant());
grant select, insert, delete on delivery.download_claims to ordo_delivery;
alter table delivery.tokens drop column run_claimed;
