-- The purge of expired links (services/delivery/src/purge.rs) finds the tenants that have links
-- expired long enough, as the `system` actor, and then deletes them tenant by tenant under the
-- ordinary tenant_scope policy. `system` sees expired links only (hashes and counters, no
-- secret: the token itself is never stored), and may change nothing through this policy.
create policy system_expired_links on delivery.tokens for select
    using (delivery.current_actor_role() = 'system' and expires_at < now());
