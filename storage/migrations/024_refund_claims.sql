-- When a staff press claimed the over-payment's refund attempt (unix seconds). A claim left
-- 'requested' by a process that died before Stripe answered (kill -9, power loss) was final: every
-- later press said "already done or requested" and nothing was refunded. A claim older than
-- bot/payments/refunds.py: CLAIM_TTL (longer than an attempt may last) can be taken again; its
-- attempt looks Stripe's refunds up first, so a refund the dead process made is never made twice.
-- NULL on a row claimed before this column: no process is still working on it.
ALTER TABLE overpayments ADD COLUMN refund_claimed_at INTEGER;
