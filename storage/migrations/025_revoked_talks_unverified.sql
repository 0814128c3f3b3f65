-- A revoked contact (its address changed on the record, or staff revoked it: every path inserts
-- a contact_revocations row, migration 013) no longer speaks for the club, also in the
-- conversation with staff it had open: that conversation becomes an unverified one, like a
-- locked-out person's help request. Its messages reach staff marked "non vérifié", and staff
-- writing plainly in the club's topic (storage/relay.py: latest_open_talk_of_club, verified
-- conversations only) no longer reach it; a reply to one of its messages still does.
CREATE TRIGGER talks_unverified_when_contact_revoked
AFTER INSERT ON contact_revocations
WHEN NEW.chat_id IS NOT NULL
BEGIN
    UPDATE talks SET verified = 0
        WHERE chat_id = NEW.chat_id AND club_id = NEW.club_id AND status = 'open' AND verified = 1;
END;

-- Conversations of chats already revoked before this migration.
UPDATE talks SET verified = 0
    WHERE status = 'open' AND verified = 1 AND chat_id IS NOT NULL AND club_id IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM contacts c WHERE c.chat_id = talks.chat_id AND c.club_id = talks.club_id
      );
