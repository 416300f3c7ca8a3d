-- A request's Idempotency-Key is claimed by the first statement of its BEGIN batch (one round trip
-- with the scope and the BEGIN): take the (caller, key) advisory lock and make sure no response is
-- stored under the key. Either failure raises, so no transaction is left open and the caller
-- knows what happened from the SQLSTATE:
--   OI409  another request with this key holds the lock (answer 409, retry later);
--   OI200  a response is stored under the key (replay it, or 422 for another request).
-- An expired record is deleted here and the key is free again. Runs under the caller's scope:
-- RLS (caller_scope) shows only the caller's own keys.
create function orders.idempotency_claim(lock_a text, lock_b text, tenant uuid, who text, idem_key text)
returns void language plpgsql as $$
declare
    expired boolean;
begin
    if not pg_try_advisory_xact_lock(hashtext(lock_a), hashtext(lock_b)) then
        raise exception 'a request with this Idempotency-Key is still running' using errcode = 'OI409';
    end if;
    select k.expires_at < now() into expired from orders.idempotency_keys k
     where k.tenant_id = tenant and k.caller = who and k.key = idem_key;
    if found then
        if expired then
            delete from orders.idempotency_keys k
             where k.tenant_id = tenant and k.caller = who and k.key = idem_key;
        else
            raise exception 'a response is stored under this Idempotency-Key' using errcode = 'OI200';
        end if;
    end if;
end $$;

grant execute on function orders.idempotency_claim(text, text, uuid, text, text) to ordo_order;
