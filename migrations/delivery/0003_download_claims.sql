-- Byte ranges promised to the requests of a token's current run that are still sending. A new
-- request that overlaps what the run sent partly or is still sending by more than a small slack
-- (bytes lost in socket buffers when a connection broke) starts a new run and costs a use, so
-- neither parallel copies nor downloads broken off just before their last byte are free. A
-- request removes its claim when its body ends or is dropped.
alter table delivery.tokens add column run_claimed int8multirange not null default '{}';
