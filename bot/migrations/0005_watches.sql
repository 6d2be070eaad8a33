-- Watches (/ticketwatch): a ticket kept current in a card, or a feed posting a list's new
-- tickets. Only a new table: no existing row is touched. `ref` is the provider's ref text
-- (`Provider.ref_text`, never a secret); `state` is the last state seen, as JSON (a ticket:
-- state, assignee and reply count; a feed: the refs already seen). `message_id` is the card
-- (0 for a feed, which has none), `thread_id` the thread of its notices (0 until one is
-- started). Deleted with the guild, with the card or its channel, and by /ticketwatch remove.
CREATE TABLE watches (
    id            INTEGER PRIMARY KEY,
    guild_id      INTEGER NOT NULL CHECK (typeof(guild_id) = 'integer'),
    channel_id    INTEGER NOT NULL CHECK (typeof(channel_id) = 'integer'),
    message_id    INTEGER NOT NULL CHECK (typeof(message_id) = 'integer'),
    thread_id     INTEGER NOT NULL DEFAULT 0 CHECK (typeof(thread_id) = 'integer'),
    provider      TEXT    NOT NULL CHECK (typeof(provider) = 'text'),
    kind          TEXT    NOT NULL CHECK (kind IN ('ticket', 'feed')),
    ref           TEXT    NOT NULL CHECK (typeof(ref) = 'text' AND length(ref) BETWEEN 1 AND 100),
    state         TEXT    NOT NULL CHECK (typeof(state) = 'text'),
    added_by      INTEGER NOT NULL CHECK (typeof(added_by) = 'integer'),
    added_at      TEXT    NOT NULL,  -- ISO 8601, UTC, always with microseconds
    last_ok_at    TEXT    NOT NULL,  -- the last successful poll, same format
    failing_since TEXT,              -- the first failed poll since then; NULL while fine
    UNIQUE (guild_id, provider, kind, ref)
);
CREATE INDEX watches_by_channel ON watches (channel_id, message_id);
