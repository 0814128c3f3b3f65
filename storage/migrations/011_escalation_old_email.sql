-- The address an approved e-mail change replaced (issue 17): the record then holds the new one,
-- so the staff card keeps "old → new" from this column; the audit trail's club.update has both.
ALTER TABLE escalations ADD COLUMN old_email TEXT;
