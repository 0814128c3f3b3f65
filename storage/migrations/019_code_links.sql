-- Every code mail also carries a one-tap link (t.me/<bot>?start=v_<token>): proof of mailbox access
-- that no hourly budget gates, so a stranger who spends the club's codes cannot stop its real
-- contacts from verifying (SPEC §3.2, issue 12). The token is stored only as an HMAC keyed outside
-- the database (bot/verification.py: hash_link); NULL once used (single use) or never given.
ALTER TABLE verification_codes ADD COLUMN link_hash TEXT;
CREATE UNIQUE INDEX verification_codes_by_link ON verification_codes(link_hash)
    WHERE link_hash IS NOT NULL;

-- The limits log gains 'link' (a tapped link, counted for audit, never against a budget). A CHECK
-- cannot be altered in SQLite: the table is rebuilt, with its indexes and append-only trigger.
CREATE TABLE verification_attempts_new (
    id          INTEGER PRIMARY KEY,
    club_id     INTEGER REFERENCES clubs(id) ON DELETE CASCADE,
    chat_key    TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('code', 'guess', 'miss', 'help', 'link')),
    email_kind  TEXT CHECK (email_kind IS NULL OR email_kind IN ('structure', 'contact')),
    at          REAL NOT NULL
);
INSERT INTO verification_attempts_new (id, club_id, chat_key, kind, email_kind, at)
    SELECT id, club_id, chat_key, kind, email_kind, at FROM verification_attempts;
DROP TABLE verification_attempts;
ALTER TABLE verification_attempts_new RENAME TO verification_attempts;
CREATE INDEX verification_attempts_by_club ON verification_attempts(club_id, kind, at);
CREATE INDEX verification_attempts_by_chat ON verification_attempts(chat_key, kind, at);
CREATE INDEX verification_attempts_by_age ON verification_attempts(at);
CREATE TRIGGER verification_attempts_append_only BEFORE UPDATE ON verification_attempts
BEGIN
    SELECT RAISE(ABORT, 'verification_attempts is append-only');
END;
