-- /forget (issue 12 case 6): an invoice or credit note issued from a club chat names that chat in
-- issued_by ('chat:<id>'). The document is kept (French law: 10 years) and never changes; who
-- pressed "confirm" is not on it, so that one column may lose the person, and only that way:
-- 'chat:<id>' → 'chat:forgotten'. Every other column stays as immutable as migration 008 made it.
DROP TRIGGER invoices_issued_never_change;
CREATE TRIGGER invoices_issued_never_change
BEFORE UPDATE OF id, year, seq, number, club_id, kind, plan, resources, renews_end, period_start,
    period_end, currency, ht_cents, vat_rate_bp, vat_cents, ttc_cents, vat_regime, buyer_json,
    payee_json, escalation_id, subject, issued_at, seller_json, due_on ON invoices
BEGIN
    SELECT RAISE(ABORT, 'an issued invoice never changes (issue a credit note)');
END;
CREATE TRIGGER invoices_issuer_only_forgotten BEFORE UPDATE OF issued_by ON invoices
WHEN NEW.issued_by IS NOT OLD.issued_by
  AND NOT (OLD.issued_by LIKE 'chat:%' AND NEW.issued_by = 'chat:forgotten')
BEGIN
    SELECT RAISE(ABORT, 'an issued invoice never changes (issue a credit note)');
END;

DROP TRIGGER credit_notes_no_update;
CREATE TRIGGER credit_notes_no_update BEFORE UPDATE ON credit_notes
WHEN NOT (
    NEW.issued_by = 'chat:forgotten' AND OLD.issued_by LIKE 'chat:%'
    AND NEW.id IS OLD.id AND NEW.year IS OLD.year AND NEW.seq IS OLD.seq
    AND NEW.number IS OLD.number AND NEW.invoice_id IS OLD.invoice_id
    AND NEW.club_id IS OLD.club_id AND NEW.reason IS OLD.reason
    AND NEW.currency IS OLD.currency AND NEW.ht_cents IS OLD.ht_cents
    AND NEW.vat_rate_bp IS OLD.vat_rate_bp AND NEW.vat_cents IS OLD.vat_cents
    AND NEW.ttc_cents IS OLD.ttc_cents AND NEW.vat_regime IS OLD.vat_regime
    AND NEW.buyer_json IS OLD.buyer_json AND NEW.seller_json IS OLD.seller_json
    AND NEW.issued_at IS OLD.issued_at
)
BEGIN
    SELECT RAISE(ABORT, 'an issued credit note never changes');
END;
