-- Each press of a staff Refund button is an attempt with its own idempotency key
-- (`refund-overpayment-<id>-<attempt>`, bot/payments/refunds.py): Stripe replays a key's first
-- result, a 500 included, for 24 hours, so a key that got a 500 can never succeed. Before a new
-- attempt the refunds of the PaymentIntent are looked up, so a refund made is never made twice.
ALTER TABLE overpayments ADD COLUMN refund_attempts INTEGER NOT NULL DEFAULT 0;
