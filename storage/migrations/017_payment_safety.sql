-- Money is never taken twice unseen (issue 13).

-- A random key per invoice, put in each Checkout Session's metadata and idempotency key: a session
-- is reused or paid only when it carries this key, since invoice numbers start again after a
-- database is restored from a backup or the sandbox is reset.
CREATE TABLE invoice_payment_keys (
    invoice_id  INTEGER PRIMARY KEY REFERENCES invoices(id),
    key         TEXT NOT NULL UNIQUE CHECK (length(key) >= 16)
);

-- Sessions gain 'pending': the customer completed Checkout with a delayed method (SEPA Direct
-- Debit…), Stripe said payment_status "unpaid"; async_payment_succeeded or _failed follows.
CREATE TABLE checkout_sessions_new (
    id          TEXT PRIMARY KEY,
    invoice_id  INTEGER NOT NULL REFERENCES invoices(id),
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    url         TEXT,
    status      TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'pending', 'complete', 'expired', 'failed')),
    expires_at  INTEGER NOT NULL,  -- unix seconds, as Stripe gives it
    created_at  TEXT NOT NULL,
    UNIQUE (invoice_id, attempt)
);
INSERT INTO checkout_sessions_new SELECT id, invoice_id, attempt, url, status, expires_at, created_at
    FROM checkout_sessions;
DROP TABLE checkout_sessions;
ALTER TABLE checkout_sessions_new RENAME TO checkout_sessions;
CREATE INDEX checkout_sessions_open ON checkout_sessions(status) WHERE status IN ('open', 'pending');

-- Money Stripe took that no open invoice asked for: a second payment of a paid invoice, a payment
-- of a cancelled one, an amount or currency other than the invoice's, a session for no invoice of
-- ours. Recorded once per session; staff are told what to refund, and refund through Stripe once.
CREATE TABLE overpayments (
    id              INTEGER PRIMARY KEY,
    session_id      TEXT NOT NULL UNIQUE,
    invoice_id      INTEGER REFERENCES invoices(id),
    payment_intent  TEXT,
    amount_cents    INTEGER NOT NULL CHECK (amount_cents >= 0),
    currency        TEXT NOT NULL,
    reason          TEXT NOT NULL
                    CHECK (reason IN ('already_paid', 'cancelled', 'amount_mismatch', 'not_ours')),
    recorded_at     TEXT NOT NULL,
    alerted_at      TEXT,
    refund_id       TEXT UNIQUE,
    refund_status   TEXT CHECK (refund_status IN ('requested', 'pending', 'succeeded', 'failed')),
    refunded_by     TEXT,
    refunded_at     TEXT
);
