-- The sender's wake-up names the tenant whose message committed, so it looks only there
-- instead of scanning every tenant's pending messages first. PostgreSQL folds identical
-- notifications of one transaction into one.
create or replace function notifications.messages_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('ordo_notifications_due', new.tenant_id::text);
    return null;
end $$;
drop trigger messages_notify on notifications.messages;
create trigger messages_notify after insert on notifications.messages
    for each row execute function notifications.messages_notify();
