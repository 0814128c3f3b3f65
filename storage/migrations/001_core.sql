-- Clubs (customer records), verified contacts, one-time codes, audit trail, Stripe events,
-- and python-telegram-bot's persisted state.

CREATE TABLE clubs (
    id                  INTEGER PRIMARY KEY,
    subdomain           TEXT NOT NULL UNIQUE
                        CHECK (subdomain = lower(subdomain) AND length(subdomain) BETWEEN 1 AND 63),
    name                TEXT NOT NULL CHECK (length(name) > 0),
    structure_email     TEXT NOT NULL CHECK (instr(structure_email, '@') > 1),
    contact_email       TEXT NOT NULL CHECK (instr(contact_email, '@') > 1),
    plan                TEXT NOT NULL,
    active_resources    INTEGER NOT NULL CHECK (active_resources >= 0),
    subscription_ends   TEXT NOT NULL CHECK (date(subscription_ends) IS subscription_ends),
    country             TEXT CHECK (country IS NULL OR length(country) = 2),
    vat_number          TEXT,
    language            TEXT CHECK (language IS NULL OR language IN ('fr', 'en')),
    subscribed_resources INTEGER CHECK (subscribed_resources IS NULL OR subscribed_resources >= 0),
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now'))
);

-- A Telegram chat that proved it can read one of the club's registered addresses.
CREATE TABLE contacts (
    club_id         INTEGER NOT NULL REFERENCES clubs(id) ON DELETE CASCADE,
    chat_id         INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    display_name    TEXT,
    language        TEXT NOT NULL DEFAULT 'fr' CHECK (language IN ('fr', 'en')),
    email_kind      TEXT NOT NULL CHECK (email_kind IN ('structure', 'contact')),
    reminders_on    INTEGER NOT NULL DEFAULT 1 CHECK (reminders_on IN (0, 1)),
    active          INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    verified_at     TEXT NOT NULL,
    PRIMARY KEY (club_id, chat_id)
);
CREATE INDEX contacts_by_chat ON contacts(chat_id);

-- One-time codes, stored as salted hashes. Times are unix seconds (REAL) for cheap window queries.
CREATE TABLE verification_codes (
    id          INTEGER PRIMARY KEY,
    club_id     INTEGER NOT NULL REFERENCES clubs(id) ON DELETE CASCADE,
    chat_id     INTEGER NOT NULL,
    email_kind  TEXT NOT NULL CHECK (email_kind IN ('structure', 'contact')),
    code_hash   TEXT NOT NULL,
    salt        TEXT NOT NULL,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    used_at     REAL
);
CREATE INDEX verification_codes_by_club ON verification_codes(club_id, created_at);
CREATE INDEX verification_codes_by_chat ON verification_codes(chat_id, created_at);

-- Wrong e-mail answers, counted per chat over a sliding hour.
CREATE TABLE email_misses (
    id      INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    club_id INTEGER REFERENCES clubs(id) ON DELETE CASCADE,
    at      REAL NOT NULL
);
CREATE INDEX email_misses_by_chat ON email_misses(chat_id, at);

-- Who did what, when, to which record: before and after as JSON.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    club_id     INTEGER REFERENCES clubs(id) ON DELETE SET NULL,
    target      TEXT,
    before_json TEXT,
    after_json  TEXT
);
CREATE INDEX audit_by_club ON audit(club_id, at);

-- Stripe events as received (deduplicated by id), processed later through the update queue.
CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    received_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    processed_at TEXT
);
CREATE INDEX stripe_events_unprocessed ON stripe_events(processed_at) WHERE processed_at IS NULL;

-- python-telegram-bot persistence: one row per conversation key / user / chat.
CREATE TABLE ptb_conversations (
    name  TEXT NOT NULL,
    key   TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (name, key)
) WITHOUT ROWID;
CREATE TABLE ptb_user_data (user_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE ptb_chat_data (chat_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE ptb_bot_data (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL);
CREATE TABLE ptb_callback_data (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL);
