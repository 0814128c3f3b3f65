-- Renewal reminders (SPEC §5): the runs, and one row per (club, period, milestone, chat) claimed
-- before the message is sent, so that a run killed at any point and run again never sends twice.

-- One run of the reminders (the 09:00 job, `ofbot reminders run`, the sandbox's button).
-- run_date is the day the run stood for (`--today`); summary_json is what staff were told.
CREATE TABLE reminder_runs (
    id           INTEGER PRIMARY KEY,
    run_date     TEXT NOT NULL CHECK (date(run_date) IS run_date),
    trigger      TEXT NOT NULL CHECK (trigger IN ('job', 'cli', 'sandbox', 'test')),
    started_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    finished_at  TEXT,
    summary_json TEXT
);
CREATE INDEX reminder_runs_by_date ON reminder_runs(run_date);

-- period_end is the club's subscription_ends when the reminder fell due: a paid renewal moves the
-- end date a year on, which opens a new period with milestones of its own.
-- milestone: days before the end date (30, 15, 7, 1, 0), or -7 (lapsed a week ago).
-- status: 'pending' (claimed, being sent) → 'sent' | 'blocked' (403: the chat blocked the bot)
--   | 'failed' (an error Telegram answered with: not delivered; a later run may try again)
--   | 'unknown' (the request may have reached Telegram: a timeout, or the run died while sending;
--     never sent again, reported to staff).
CREATE TABLE reminders (
    club_id     INTEGER NOT NULL REFERENCES clubs(id) ON DELETE CASCADE,
    period_end  TEXT NOT NULL CHECK (date(period_end) IS period_end),
    milestone   INTEGER NOT NULL CHECK (milestone IN (30, 15, 7, 1, 0, -7)),
    chat_id     INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'blocked', 'failed', 'unknown')),
    run_id      INTEGER NOT NULL REFERENCES reminder_runs(id),
    run_date    TEXT NOT NULL CHECK (date(run_date) IS run_date),
    language    TEXT NOT NULL CHECK (language IN ('fr', 'en')),
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    message_id  INTEGER,
    error       TEXT,
    claimed_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    finished_at TEXT,
    PRIMARY KEY (club_id, period_end, milestone, chat_id),
    CHECK ((status = 'sent') = (message_id IS NOT NULL))
) WITHOUT ROWID;
CREATE INDEX reminders_by_run_date ON reminders(run_date, status);
CREATE INDEX reminders_pending ON reminders(status) WHERE status = 'pending';

-- The reminders select clubs by end date every day.
CREATE INDEX clubs_by_subscription_end ON clubs(subscription_ends);
