-- A verified contact proved it reads one of the club's addresses (contacts.email_kind). When that
-- address changes on the record — staff approving a change, an import, the admin endpoint — the
-- proof no longer holds: the database itself revokes the contacts verified through it, whatever
-- path changed the address, and keeps a notice for the chat (told by bot/contacts.py).
-- reason: 'address_changed' (by these triggers) or 'staff' (the revoke button of /club).
CREATE TABLE contact_revocations (
    id          INTEGER PRIMARY KEY,
    club_id     INTEGER NOT NULL REFERENCES clubs(id) ON DELETE CASCADE,
    chat_id     INTEGER,            -- NULL once told (nothing left to do with it)
    language    TEXT NOT NULL DEFAULT 'fr' CHECK (language IN ('fr', 'en')),
    email_kind  TEXT NOT NULL CHECK (email_kind IN ('structure', 'contact')),
    reason      TEXT NOT NULL CHECK (reason IN ('address_changed', 'staff')),
    revoked_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
    told_at     TEXT,
    CHECK (told_at IS NOT NULL OR chat_id IS NOT NULL)
);
CREATE INDEX contact_revocations_untold ON contact_revocations(id) WHERE told_at IS NULL;

CREATE TRIGGER contacts_revoked_when_structure_email_changes
AFTER UPDATE OF structure_email ON clubs
WHEN lower(trim(NEW.structure_email)) IS NOT lower(trim(OLD.structure_email))
BEGIN
    INSERT INTO contact_revocations (club_id, chat_id, language, email_kind, reason)
        SELECT club_id, chat_id, language, 'structure', 'address_changed' FROM contacts
        WHERE club_id = NEW.id AND email_kind = 'structure';
    DELETE FROM contacts WHERE club_id = NEW.id AND email_kind = 'structure';
END;

CREATE TRIGGER contacts_revoked_when_contact_email_changes
AFTER UPDATE OF contact_email ON clubs
WHEN lower(trim(NEW.contact_email)) IS NOT lower(trim(OLD.contact_email))
BEGIN
    INSERT INTO contact_revocations (club_id, chat_id, language, email_kind, reason)
        SELECT club_id, chat_id, language, 'contact', 'address_changed' FROM contacts
        WHERE club_id = NEW.id AND email_kind = 'contact';
    DELETE FROM contacts WHERE club_id = NEW.id AND email_kind = 'contact';
END;
