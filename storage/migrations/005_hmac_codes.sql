-- One-time codes are now hashed with an HMAC keyed outside the database (bot/verification.py)
-- instead of PBKDF2. Unused codes of the old kind can no longer be checked: drop them, so the
-- person is told no code is pending and asks for a new one (dropped codes do not count toward
-- the club's 3 codes per hour). Used codes stay as the record they are.
DELETE FROM verification_codes WHERE used_at IS NULL;
