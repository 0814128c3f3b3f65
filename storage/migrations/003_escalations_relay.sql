-- Staff escalations (manual password resets, e-mail changes on the record), the conversations a
-- club holds with staff, the pairs of message ids that route staff replies back, pending refusals.

-- One request to staff; one card in the staff group, edited in place as the request moves.
-- fee: 'free' (plan without intervention fee), 'due' (invoice not paid yet), 'paid'.
-- status: 'open' → 'taken' → 'done' | 'refused' (refused also from 'open').
CREATE TABLE escalations (
    id              INTEGER PRIMARY KEY,
    club_id         INTEGER NOT NULL REFERENCES clubs(id) ON DELETE CASCADE,
    chat_id         INTEGER,            -- the club chat that asked; NULL once it used /forget
    user_id         INTEGER,
    requester       TEXT,               -- Telegram name shown on the card; NULL after /forget
    lang            TEXT NOT NULL DEFAULT 'fr' CHECK (lang IN ('fr', 'en')),
    kind            TEXT NOT NULL CHECK (kind IN ('password_reset', 'email_update')),
    email_field     TEXT CHECK (email_field IN ('structure_email', 'contact_email')),
    new_email       TEXT CHECK (new_email IS NULL OR instr(new_email, '@') > 1),
    fee             TEXT NOT NULL CHECK (fee IN ('free', 'due', 'paid')),
    invoice_id      INTEGER,            -- the intervention invoice (issue_invoice), when billed
    status          TEXT NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'taken', 'done', 'refused')),
    taken_by        INTEGER,            -- staff user id
    taken_by_name   TEXT,
    closed_by       INTEGER,
    closed_by_name  TEXT,
    refusal_reason  TEXT,
    card_chat_id    INTEGER,            -- where the card is (the staff group)
    card_message_id INTEGER,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
    CHECK ((kind = 'email_update') = (email_field IS NOT NULL AND new_email IS NOT NULL)),
    CHECK (status != 'taken' OR taken_by IS NOT NULL),
    CHECK (status NOT IN ('done', 'refused') OR closed_by IS NOT NULL)
);
-- One live request per club and subject: confirming twice never opens two.
CREATE UNIQUE INDEX escalations_one_live
    ON escalations(club_id, kind, coalesce(email_field, ''))
    WHERE status IN ('open', 'taken');
CREATE INDEX escalations_by_status ON escalations(status);
CREATE INDEX escalations_by_invoice ON escalations(invoice_id) WHERE invoice_id IS NOT NULL;
CREATE INDEX escalations_by_chat ON escalations(chat_id) WHERE chat_id IS NOT NULL;

-- A conversation between a club chat and staff ("talk to staff", or a locked-out help request).
-- club_id is the verified club, or the club a locked-out person was verifying (verified = 0).
CREATE TABLE talks (
    id                  INTEGER PRIMARY KEY,
    chat_id             INTEGER,        -- NULL once the chat used /forget
    user_id             INTEGER,
    club_id             INTEGER REFERENCES clubs(id) ON DELETE SET NULL,
    verified            INTEGER NOT NULL DEFAULT 1 CHECK (verified IN (0, 1)),
    lang                TEXT NOT NULL DEFAULT 'fr' CHECK (lang IN ('fr', 'en')),
    status              TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    header_message_id   INTEGER,        -- the message that opened it in the staff group
    opened_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
    closed_at           TEXT,
    closed_by           TEXT            -- 'staff:<id>' or 'chat:<id>'
);
CREATE UNIQUE INDEX talks_one_open_per_chat ON talks(chat_id) WHERE status = 'open';

-- Pairs of message ids: a message in the staff group and the club chat message it stands for.
-- A staff reply to the staff-side message is copied to club_chat_id, replying to club_message_id.
-- kind: 'club' (a club message copied to staff), 'staff' (a staff reply copied to the club),
-- 'header' (a talk's opening message), 'card' (an escalation card).
CREATE TABLE relay_messages (
    staff_chat_id       INTEGER NOT NULL,
    staff_message_id    INTEGER NOT NULL,
    club_chat_id        INTEGER NOT NULL,
    club_message_id     INTEGER,
    kind                TEXT NOT NULL CHECK (kind IN ('club', 'staff', 'header', 'card')),
    talk_id             INTEGER REFERENCES talks(id) ON DELETE CASCADE,
    escalation_id       INTEGER REFERENCES escalations(id) ON DELETE CASCADE,
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
    PRIMARY KEY (staff_chat_id, staff_message_id)
);
CREATE INDEX relay_messages_by_club_chat ON relay_messages(club_chat_id, club_message_id);

-- "Refuse" pressed: the staff member's next message in that chat is the reason.
CREATE TABLE pending_refusals (
    staff_user_id       INTEGER NOT NULL,
    chat_id             INTEGER NOT NULL,
    escalation_id       INTEGER NOT NULL REFERENCES escalations(id) ON DELETE CASCADE,
    prompt_message_id   INTEGER,
    created_at          REAL NOT NULL,
    PRIMARY KEY (staff_user_id, chat_id)
);
