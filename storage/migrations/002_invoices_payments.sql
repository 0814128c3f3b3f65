-- Invoices (renewals and billed interventions), their lines, the per-year number counter,
-- Stripe Checkout Sessions, and payments.

-- The last number used per year. Incremented in the transaction that inserts the invoice, so a
-- rolled-back insert leaves no gap and two inserts never share a number.
CREATE TABLE invoice_counters (
    year INTEGER PRIMARY KEY CHECK (year BETWEEN 2000 AND 9999),
    last INTEGER NOT NULL CHECK (last >= 0)
);

CREATE TABLE invoices (
    id              INTEGER PRIMARY KEY,
    year            INTEGER NOT NULL,
    seq             INTEGER NOT NULL CHECK (seq >= 1),
    number          TEXT NOT NULL UNIQUE CHECK (number LIKE 'OF-____-______%'),
    -- No cascade: an invoice outlives the club record (accounting).
    club_id         INTEGER NOT NULL REFERENCES clubs(id),
    kind            TEXT NOT NULL CHECK (kind IN ('renewal', 'intervention', 'migration')),
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'cancelled')),
    plan            TEXT NOT NULL,
    resources       INTEGER CHECK (resources IS NULL OR resources >= 1),
    -- Renewals: the subscription end this invoice extends (the record's value when issued), and
    -- the period paid for. `renews_end` is the key of "one renewal per period": a lapsed club's
    -- period starts on the day it is quoted, so period_start alone moves from day to day.
    renews_end      TEXT CHECK (renews_end IS NULL OR date(renews_end) IS renews_end),
    period_start    TEXT CHECK (period_start IS NULL OR date(period_start) IS period_start),
    period_end      TEXT CHECK (period_end IS NULL OR date(period_end) IS period_end),
    currency        TEXT NOT NULL DEFAULT 'EUR',
    ht_cents        INTEGER NOT NULL CHECK (ht_cents >= 0),
    vat_rate_bp     INTEGER NOT NULL CHECK (vat_rate_bp BETWEEN 0 AND 10000),
    vat_cents       INTEGER NOT NULL CHECK (vat_cents >= 0),
    ttc_cents       INTEGER NOT NULL CHECK (ttc_cents = ht_cents + vat_cents),
    vat_regime      TEXT NOT NULL,
    buyer_json      TEXT NOT NULL,  -- the club as invoiced: name, subdomain, country, VAT number
    payee_json      TEXT NOT NULL,  -- transfer and cheque details at issue time
    -- Billed interventions (issue 4): the escalation the fee is for; no FK on purpose, the
    -- escalations table belongs to another migration.
    escalation_id   INTEGER,
    subject         TEXT,
    issued_at       TEXT NOT NULL,
    issued_by       TEXT NOT NULL,
    paid_at         TEXT,
    cancelled_at    TEXT,
    replaced_by     INTEGER REFERENCES invoices(id),
    UNIQUE (year, seq),
    CHECK (kind != 'renewal' OR (resources IS NOT NULL AND renews_end IS NOT NULL
                                 AND period_start IS NOT NULL AND period_end IS NOT NULL)),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL)),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
-- At most one live (open or paid) renewal invoice per club and period: double presses, two
-- contacts at once and retried updates all end on the same row.
CREATE UNIQUE INDEX invoices_one_renewal_per_period
    ON invoices(club_id, renews_end) WHERE kind = 'renewal' AND status != 'cancelled';
-- At most one live fee invoice per escalation.
CREATE UNIQUE INDEX invoices_one_per_escalation
    ON invoices(escalation_id) WHERE escalation_id IS NOT NULL AND status != 'cancelled';
CREATE INDEX invoices_by_club ON invoices(club_id, id);
CREATE INDEX invoices_open ON invoices(status) WHERE status = 'open';

CREATE TABLE invoice_lines (
    invoice_id  INTEGER NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL CHECK (position >= 1),
    kind        TEXT NOT NULL,  -- base, resources, intervention, migration
    quantity    INTEGER NOT NULL CHECK (quantity >= 1),
    unit_cents  INTEGER NOT NULL CHECK (unit_cents >= 0),
    total_cents INTEGER NOT NULL CHECK (total_cents = quantity * unit_cents),
    PRIMARY KEY (invoice_id, position)
) WITHOUT ROWID;

-- Stripe Checkout Sessions created for an invoice; `attempt` numbers them and keys idempotency.
CREATE TABLE checkout_sessions (
    id          TEXT PRIMARY KEY,
    invoice_id  INTEGER NOT NULL REFERENCES invoices(id),
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    url         TEXT,
    status      TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'complete', 'expired', 'failed')),
    expires_at  INTEGER NOT NULL,  -- unix seconds, as Stripe gives it
    created_at  TEXT NOT NULL,
    UNIQUE (invoice_id, attempt)
);
CREATE INDEX checkout_sessions_open ON checkout_sessions(status) WHERE status = 'open';

-- One payment per invoice, whoever records it first (Stripe event, reconcile, staff /paid).
CREATE TABLE payments (
    id           INTEGER PRIMARY KEY,
    invoice_id   INTEGER NOT NULL UNIQUE REFERENCES invoices(id),
    method       TEXT NOT NULL CHECK (method IN ('card', 'transfer', 'cheque')),
    amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
    reference    TEXT,  -- Checkout Session / PaymentIntent id for cards
    actor        TEXT NOT NULL,
    paid_at      TEXT NOT NULL,
    notified_at  TEXT  -- receipts and the staff line sent; NULL ones are sent again at start-up
);
CREATE INDEX payments_unnotified ON payments(notified_at) WHERE notified_at IS NULL;

-- What processing an event led to (paid, already_paid, expired, ignored, mismatch…).
ALTER TABLE stripe_events ADD COLUMN outcome TEXT;
