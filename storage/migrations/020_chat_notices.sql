-- The newest message an `ofbot` command (another process than the running bot: `reminders run`,
-- `payments reconcile` run by hand) sent in a private chat. The running bot knows what it sent
-- itself; with this it also knows a notice came below a message, so a press under that message
-- is answered below the notice, not edited in place above it, out of sight (docs/TELEGRAM.md).
CREATE TABLE chat_notices (
    chat_id     INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL
);
