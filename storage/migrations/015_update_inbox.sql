-- Telegram updates received and not handled yet, kept here when Telegram must be allowed to
-- forget them before they are handled (a chat flooding the bot held Telegram's getUpdates
-- offset and hid every other chat's updates: bot/updates.py). Handled → deleted; at start-up,
-- what is left is handled first.
CREATE TABLE update_inbox (
    update_id   INTEGER PRIMARY KEY,
    payload     TEXT NOT NULL CHECK (json_valid(payload)),
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
