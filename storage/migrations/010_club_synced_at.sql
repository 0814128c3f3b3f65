-- When a club's record was last read from OpenFlyers (an import, OFBOT_CLUBS_SOURCE or
-- POST /admin/clubs, that held it, changed or not): the renew step shows how current the
-- activated resource count is.
ALTER TABLE clubs ADD COLUMN synced_at TEXT;
UPDATE clubs SET synced_at = updated_at;
