-- When the code's mail was handed to the SMTP server. An address typed again soon after (the same
-- person impatient, or Telegram resending the update after a crash) is answered with that code
-- rather than a new one, but only when its mail is known to have left.
ALTER TABLE verification_codes ADD COLUMN mailed_at REAL;
