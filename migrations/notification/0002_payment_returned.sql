-- A payment that could not become an order is refunded in full (order.payment_rejected); the
-- customer is told by a message of kind payment_returned, keyed by the cart (no order exists).
alter table notifications.messages drop constraint messages_kind_check;
alter table notifications.messages add constraint messages_kind_check
    check (kind in ('order_confirmation', 'payment_received', 'payment_failed', 'shipped', 'refunded', 'canceled',
                    'payment_returned'));
