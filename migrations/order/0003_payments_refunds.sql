-- Payments seen from the order service: the cart remembers its PaymentIntent (from the payment
-- session), and operators' refund requests are recorded with their outcome.

alter table orders.carts add column payment_intent_id text;

create table orders.refund_requests (
    id              uuid primary key,
    tenant_id       uuid not null,
    customer_id     text not null,
    order_id        uuid not null references orders.orders (id),
    amount          bigint not null check (amount > 0),
    reason          text not null default '',
    status          text not null check (status in ('requested', 'succeeded', 'failed')),
    failure_code    text,
    failure_message text,
    requested_by    text not null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
create index refund_requests_by_order on orders.refund_requests (order_id, created_at);

alter table orders.refund_requests enable row level security;
alter table orders.refund_requests force row level security;
create policy tenant_scope on orders.refund_requests for all
    using (orders.visible(tenant_id, customer_id)) with check (orders.visible(tenant_id, customer_id));

grant select, insert, update on orders.refund_requests to ordo_order;
