-- Invoices as legal documents (issue 15): the seller's identity and the due date frozen at issue,
-- credit notes in their own gap-free series, and the database refusing any change to an issued
-- invoice (French law: an invoice is never altered or deleted; a credit note cancels it).

-- The seller as invoiced (legal name, form, SIREN/SIRET, RCS, capital, VAT number, terms) and
-- the due date. NULL on invoices issued before this migration: the catalogue's seller and issue
-- date + its payment terms are shown for them.
ALTER TABLE invoices ADD COLUMN seller_json TEXT;
ALTER TABLE invoices ADD COLUMN due_on TEXT CHECK (due_on IS NULL OR date(due_on) IS due_on);

-- The last credit-note number used per year; taken in the transaction that inserts the note.
CREATE TABLE credit_note_counters (
    year INTEGER PRIMARY KEY CHECK (year BETWEEN 2000 AND 9999),
    last INTEGER NOT NULL CHECK (last >= 0)
);

-- A credit note cancels one whole invoice (replaced by another, or cancelled): same lines and
-- amounts, positive as EN 16931 wants them on a credit note (type code 381).
CREATE TABLE credit_notes (
    id           INTEGER PRIMARY KEY,
    year         INTEGER NOT NULL,
    seq          INTEGER NOT NULL CHECK (seq >= 1),
    number       TEXT NOT NULL UNIQUE CHECK (number LIKE 'AV-____-______%'),
    invoice_id   INTEGER NOT NULL UNIQUE REFERENCES invoices(id),
    club_id      INTEGER NOT NULL REFERENCES clubs(id),
    reason       TEXT NOT NULL CHECK (reason IN ('replaced', 'cancelled')),
    currency     TEXT NOT NULL,
    ht_cents     INTEGER NOT NULL CHECK (ht_cents >= 0),
    vat_rate_bp  INTEGER NOT NULL CHECK (vat_rate_bp BETWEEN 0 AND 10000),
    vat_cents    INTEGER NOT NULL CHECK (vat_cents >= 0),
    ttc_cents    INTEGER NOT NULL CHECK (ttc_cents = ht_cents + vat_cents),
    vat_regime   TEXT NOT NULL,
    buyer_json   TEXT NOT NULL,
    seller_json  TEXT NOT NULL,
    issued_at    TEXT NOT NULL,
    issued_by    TEXT NOT NULL,
    UNIQUE (year, seq)
);
CREATE INDEX credit_notes_by_club ON credit_notes(club_id, id);

-- A credit note credits an open invoice, for exactly its amounts.
CREATE TRIGGER credit_notes_credit_the_invoice BEFORE INSERT ON credit_notes
WHEN NOT EXISTS (
    SELECT 1 FROM invoices i
    WHERE i.id = NEW.invoice_id AND i.status = 'open' AND i.club_id = NEW.club_id
      AND i.currency = NEW.currency AND i.ht_cents = NEW.ht_cents
      AND i.vat_rate_bp = NEW.vat_rate_bp AND i.vat_cents = NEW.vat_cents
      AND i.ttc_cents = NEW.ttc_cents AND i.vat_regime = NEW.vat_regime
)
BEGIN
    SELECT RAISE(ABORT, 'a credit note credits an open invoice for exactly its amounts');
END;

CREATE TRIGGER credit_notes_no_update BEFORE UPDATE ON credit_notes
BEGIN
    SELECT RAISE(ABORT, 'an issued credit note never changes');
END;

CREATE TRIGGER credit_notes_no_delete BEFORE DELETE ON credit_notes
BEGIN
    SELECT RAISE(ABORT, 'an issued credit note is never deleted');
END;

-- What an issued invoice says never changes.
CREATE TRIGGER invoices_issued_never_change
BEFORE UPDATE OF id, year, seq, number, club_id, kind, plan, resources, renews_end, period_start,
    period_end, currency, ht_cents, vat_rate_bp, vat_cents, ttc_cents, vat_regime, buyer_json,
    payee_json, escalation_id, subject, issued_at, issued_by, seller_json, due_on ON invoices
BEGIN
    SELECT RAISE(ABORT, 'an issued invoice never changes (issue a credit note)');
END;

-- Its state only moves forward: open → paid, open → cancelled; each date is set once.
CREATE TRIGGER invoices_status_moves_forward BEFORE UPDATE OF status, paid_at, cancelled_at, replaced_by
ON invoices
WHEN NOT (OLD.status = NEW.status OR (OLD.status = 'open' AND NEW.status IN ('paid', 'cancelled')))
  OR (OLD.paid_at IS NOT NULL AND NEW.paid_at IS NOT OLD.paid_at)
  OR (OLD.cancelled_at IS NOT NULL AND NEW.cancelled_at IS NOT OLD.cancelled_at)
  OR (OLD.replaced_by IS NOT NULL AND NEW.replaced_by IS NOT OLD.replaced_by)
BEGIN
    SELECT RAISE(ABORT, 'an invoice goes from open to paid or cancelled, once');
END;

-- Cancelling an invoice takes a credit note, issued first in the same transaction.
CREATE TRIGGER invoices_cancelled_by_a_credit_note BEFORE UPDATE OF status ON invoices
WHEN NEW.status = 'cancelled' AND OLD.status != 'cancelled'
  AND NOT EXISTS (SELECT 1 FROM credit_notes WHERE invoice_id = OLD.id)
BEGIN
    SELECT RAISE(ABORT, 'an invoice is cancelled by a credit note');
END;

CREATE TRIGGER invoices_never_deleted BEFORE DELETE ON invoices
BEGIN
    SELECT RAISE(ABORT, 'an issued invoice is never deleted (issue a credit note)');
END;

CREATE TRIGGER invoice_lines_never_change BEFORE UPDATE ON invoice_lines
BEGIN
    SELECT RAISE(ABORT, 'an issued invoice line never changes');
END;

CREATE TRIGGER invoice_lines_never_deleted BEFORE DELETE ON invoice_lines
BEGIN
    SELECT RAISE(ABORT, 'an issued invoice line is never deleted');
END;

-- Lines are written with their invoice, while it is open and has no payment or credit note.
CREATE TRIGGER invoice_lines_only_at_issue BEFORE INSERT ON invoice_lines
WHEN NOT EXISTS (SELECT 1 FROM invoices WHERE id = NEW.invoice_id AND status = 'open')
  OR EXISTS (SELECT 1 FROM credit_notes WHERE invoice_id = NEW.invoice_id)
  OR EXISTS (SELECT 1 FROM payments WHERE invoice_id = NEW.invoice_id)
BEGIN
    SELECT RAISE(ABORT, 'lines are written when the invoice is issued');
END;
