-- Dead letters are an operator's work list (issue 12): each carries the tenant of its event
-- (null when the event had none), so an admin lists and replays only their tenant's, enforced
-- by forced row-level security. The consumer writes and replays them as `system`.
alter table __SCHEMA__.dead_letters add column tenant_id uuid;
create index dead_letters_by_tenant on __SCHEMA__.dead_letters (tenant_id, created_at desc);
alter table __SCHEMA__.dead_letters enable row level security;
alter table __SCHEMA__.dead_letters force row level security;
create policy tenant_scope on __SCHEMA__.dead_letters for all
    using (tenant_id = nullif(current_setting('ordo.tenant_id', true), '')::uuid
           or current_setting('ordo.role', true) = 'system')
    with check (tenant_id = nullif(current_setting('ordo.tenant_id', true), '')::uuid
                or current_setting('ordo.role', true) = 'system');
