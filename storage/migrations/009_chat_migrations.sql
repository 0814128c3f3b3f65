-- Groups Telegram upgraded to supergroups: the old id answers 400 with migrate_to_chat_id from
-- then on. Stored so a restart still follows the staff group before any send fails again.
CREATE TABLE chat_migrations (
    old_chat_id     INTEGER PRIMARY KEY,
    new_chat_id     INTEGER NOT NULL CHECK (new_chat_id <> old_chat_id),
    migrated_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now'))
);

-- What an escalation card shows now (a digest of its text and buttons): an edit that would change
-- nothing is not sent (Telegram refuses it: "message is not modified").
ALTER TABLE escalations ADD COLUMN card_digest TEXT;
