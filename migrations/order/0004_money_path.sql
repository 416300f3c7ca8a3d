-- The money path (issue 12).
-- * carts.payment_amount: the amount the cart's payment session was last set to; completion
--   refuses a cart whose total moved under its session (payment_session_stale).
-- * carts.status 'payment_refunded': a paid cart that could not become an order; its payment
--   was given back and the cart takes no further payment.
-- * order_lines.reserved: units really taken from stock at completion (a paid cart completed
--   beyond stock takes what was left), so a cancellation never gives back stock that did not
--   exist. Null (orders placed before this column): the whole quantity.

alter table orders.carts add column payment_amount bigint;
alter table orders.carts drop constraint carts_status_check;
alter table orders.carts add constraint carts_status_check
    check (status in ('open', 'completed', 'expired', 'payment_refunded'));
alter table orders.order_lines add column reserved integer check (reserved >= 0 and reserved <= quantity);
