-- Lost-in-the-broker recovery (issue 17). Published outbox rows are kept for a retention window
-- (the relay purges them after `outbox.retention_hours`). A consumer of this schema's events
-- checks, from its own service, that every event published here in a window reached its inbox
-- (or its dead letters), and asks for the missing ones to be published again. It does so only
-- through the two functions below: other services' roles may call them, and nothing else here.

-- How many times an event was published again; the relay gives each re-publish a broker id of
-- its own (JetStream would drop a copy with the first one's id as a duplicate).
alter table __SCHEMA__.outbox add column republished integer not null default 0;

-- The events of `p_subjects` (null: all) this outbox published in [p_from, p_to).
create function __SCHEMA__.published_events(p_subjects text[], p_from timestamptz, p_to timestamptz)
returns table (id uuid, subject text)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select o.id, o.subject from __SCHEMA__.outbox o
    where o.published_at >= p_from and o.published_at < p_to
      and (p_subjects is null or o.subject = any(p_subjects))
$$;

-- Publish these events again (rows still kept, already published); how many were queued.
create function __SCHEMA__.republish_events(p_ids uuid[])
returns integer
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    n integer;
begin
    update __SCHEMA__.outbox set published_at = null, republished = republished + 1
    where id = any(p_ids) and published_at is not null;
    get diagnostics n = row_count;
    if n > 0 then
        perform pg_notify('ordo_outbox___SCHEMA__', '');
    end if;
    return n;
end $$;

revoke all on function __SCHEMA__.published_events(text[], timestamptz, timestamptz) from public;
revoke all on function __SCHEMA__.republish_events(uuid[]) from public;
grant usage on schema __SCHEMA__ to __OTHER_ROLES__;
grant execute on function __SCHEMA__.published_events(text[], timestamptz, timestamptz) to __ROLE__, __OTHER_ROLES__;
grant execute on function __SCHEMA__.republish_events(uuid[]) to __ROLE__, __OTHER_ROLES__;

-- The check looks dead letters up by event.
create index dead_letters_by_event on __SCHEMA__.dead_letters (consumer, event_id);
