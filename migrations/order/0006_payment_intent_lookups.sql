-- Payment events name the PaymentIntent: find its order and its cart by index, not by scanning
-- the tenant's orders (a sequential scan per payment event grows with the tenant: ~3 ms at 20,000
-- orders, ~150 ms at a million).
create index orders_by_payment_intent on orders.orders (tenant_id, payment_intent_id)
    where payment_intent_id is not null;
create index carts_by_payment_intent on orders.carts (tenant_id, payment_intent_id)
    where payment_intent_id is not null;
