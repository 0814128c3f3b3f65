-- Mail waiting to go out, written in the same transaction as what it announces (a one-time
-- code), so that the bot can answer at once and a kill -9 loses no mail: a background task
-- sends each row, then marks it sent (its body, which holds the code, is then cleared). The
-- Message-ID is fixed with the row: a mail sent again after a crash between the relay's
-- acceptance and the mark is the same message, which mail clients show once.
CREATE TABLE mail_outbox (
    id          INTEGER PRIMARY KEY,
    code_id     INTEGER REFERENCES verification_codes(id) ON DELETE SET NULL,
    -- the code's row in verification_attempts, withdrawn when the mail never leaves
    attempt_id  INTEGER,
    chat_id     INTEGER,
    lang        TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT,
    message_id  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    sent_at     REAL,
    failed_at   REAL
);
CREATE INDEX mail_outbox_waiting ON mail_outbox(id) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_by_code ON mail_outbox(code_id);
