-- The refunds of a period (operators' overview): the state history's `refunded` rows by tenant and
-- time, without reading the whole history of a large tenant.
create index history_refunds_by_time on orders.order_state_history (tenant_id, created_at) where trigger = 'refunded';
