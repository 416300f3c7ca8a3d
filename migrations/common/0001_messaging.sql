-- Messaging tables every service has in its own schema (applied once per schema; __SCHEMA__ and
-- __ROLE__ are replaced by the migrator). They carry no tenant_id column, so no RLS: only the
-- service's own role can reach them at all.

-- Transactional outbox: rows are inserted in the same transaction as the state change; the relay
-- publishes them to JetStream (Nats-Msg-Id = id) and sets published_at only after the ack.
create table __SCHEMA__.outbox (
    id           uuid primary key,               -- event id (UUIDv7)
    subject      text not null,                  -- ordo.<context>.v1.<event>, without namespace
    headers      jsonb not null default '{}',    -- event type, tenant, traceparent, ...
    payload      bytea not null,                 -- protobuf-encoded event
    created_at   timestamptz not null default now(),
    published_at timestamptz
);
create index outbox_unpublished on __SCHEMA__.outbox (id) where published_at is null;
create index outbox_published_at on __SCHEMA__.outbox (published_at) where published_at is not null;

-- Wake the relay when an outbox insert commits (NOTIFY is delivered at commit).
create function __SCHEMA__.outbox_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('ordo_outbox___SCHEMA__', '');
    return null;
end $$;
create trigger outbox_notify after insert on __SCHEMA__.outbox
    for each statement execute function __SCHEMA__.outbox_notify();

-- Inbox: the id of every event a consumer has applied, written in the effect's transaction.
create table __SCHEMA__.inbox (
    consumer     text not null,
    event_id     uuid not null,
    subject      text not null,
    processed_at timestamptz not null default now(),
    primary key (consumer, event_id)
);

-- Events a consumer gave up on after its attempts; an operator can replay them.
create table __SCHEMA__.dead_letters (
    id           uuid primary key,
    consumer     text not null,
    subject      text not null,
    event_id     uuid,
    headers      jsonb not null default '{}',
    payload      bytea not null,
    error        text not null,
    attempts     integer not null,
    created_at   timestamptz not null default now(),
    replayed_at  timestamptz,
    replay_error text
);
create index dead_letters_pending on __SCHEMA__.dead_letters (consumer, created_at) where replayed_at is null;

grant select, insert, update, delete on __SCHEMA__.outbox, __SCHEMA__.inbox, __SCHEMA__.dead_letters to __ROLE__;
grant execute on function __SCHEMA__.outbox_notify() to __ROLE__;
