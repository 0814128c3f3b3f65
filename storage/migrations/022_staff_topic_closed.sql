-- A club's staff topic closed by staff in Telegram (a `forum_topic_closed` service message):
-- the bot reopens it on the club's next event (bot/staff_topics.py). An administrator bot with
-- can_manage_topics may post in a closed topic, so without this flag its messages would land
-- there unseen by staff who cannot answer in it.
ALTER TABLE staff_topics ADD COLUMN closed INTEGER NOT NULL DEFAULT 0 CHECK (closed IN (0, 1));
