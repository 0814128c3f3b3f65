-- Every limit of the verify step (SPEC §3.2) is counted on this append-only log: codes mailed,
-- codes guessed, wrong addresses, help requests while locked. No user action removes a row
-- (`/forget` deletes the codes and the chat's personal data, not this): the chat appears only as a
-- keyed hash (bot/verification.py: chat_key), and rows older than a day are purged (the longest
-- window counted is an hour).
CREATE TABLE verification_attempts (
    id          INTEGER PRIMARY KEY,
    club_id     INTEGER REFERENCES clubs(id) ON DELETE CASCADE,
    chat_key    TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('code', 'guess', 'miss', 'help')),
    email_kind  TEXT CHECK (email_kind IS NULL OR email_kind IN ('structure', 'contact')),
    at          REAL NOT NULL
);
CREATE INDEX verification_attempts_by_club ON verification_attempts(club_id, kind, at);
CREATE INDEX verification_attempts_by_chat ON verification_attempts(chat_key, kind, at);
CREATE INDEX verification_attempts_by_age ON verification_attempts(at);
CREATE TRIGGER verification_attempts_append_only BEFORE UPDATE ON verification_attempts
BEGIN
    SELECT RAISE(ABORT, 'verification_attempts is append-only');
END;

-- The wrong addresses of the last hour move into the log; the old table (chat id in clear, and
-- deletable) goes. Chat ids cannot be hashed in SQL: the rows carry a placeholder key, which
-- keeps the club's counts for the hour (the chat's own lock starts afresh once, at this upgrade).
INSERT INTO verification_attempts (club_id, chat_key, kind, at)
    SELECT club_id, 'migrated', 'miss', at FROM email_misses;
DROP TABLE email_misses;
-- Codes of the last hour count toward the club's and the address's limits.
INSERT INTO verification_attempts (club_id, chat_key, kind, email_kind, at)
    SELECT club_id, 'migrated', 'code', email_kind, created_at FROM verification_codes;
