-- The outbox sends several mails at once (bot/outbox.py): a row being sent is claimed by its
-- sender, in one UPDATE that only takes unclaimed rows (storage/outbox.py: claim), so two senders
-- never send the same row. A sender that stops before settling a row releases it; the claims a
-- killed run left are released when the bot starts (one bot runs on a database: bot/backups.py
-- run_lock). NULL: not claimed.
ALTER TABLE mail_outbox ADD COLUMN claimed_at REAL;
