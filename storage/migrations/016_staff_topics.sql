-- The staff group's forum topics (issue 18): one per club and staff chat, created on the club's
-- first event. Keyed by the staff chat too: a new staff group (or a group migrated to a
-- supergroup, with a new id) gets its own topics.
CREATE TABLE staff_topics (
    staff_chat_id   INTEGER NOT NULL,
    club_id         INTEGER NOT NULL REFERENCES clubs(id) ON DELETE CASCADE,
    thread_id       INTEGER NOT NULL,   -- message_thread_id of the topic
    name            TEXT NOT NULL,      -- as last set (createForumTopic / editForumTopic)
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
    PRIMARY KEY (staff_chat_id, club_id)
);
CREATE UNIQUE INDEX staff_topics_by_thread ON staff_topics(staff_chat_id, thread_id);
