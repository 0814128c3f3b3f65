-- The club's postal address (optional import column `address`, one line, parts separated by
-- commas, the last one "<postcode> <town>"): shown as the buyer's address on its invoices.
ALTER TABLE clubs ADD COLUMN address TEXT;
