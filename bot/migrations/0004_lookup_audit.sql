-- Only a new table: no existing row is touched.

-- Who looked up which ticket, where and how it was shown: the server's own record, read by
-- its admins with /ticketconfig lookups. Never ticket content: `ref` is the reference the
-- member asked for (at most 100 characters, a longer one cut with a final "…"), `shown` says
-- whether the answer was private to them, posted publicly or shared to the channel.
-- Kept LOOKUP_AUDIT_DAYS (pruned by the store on each batch it writes), deleted with the
-- guild's data; a member's /ticketaccount forget leaves it (it is the server's record).
-- A rowid table: entries have no natural key, and the rowid orders two lookups recorded
-- within one microsecond.
CREATE TABLE lookup_audit (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL CHECK (typeof(guild_id) = 'integer'),
    user_id    INTEGER NOT NULL CHECK (typeof(user_id) = 'integer' AND user_id > 0),
    provider   TEXT    NOT NULL CHECK (typeof(provider) = 'text'),
    ref        TEXT    NOT NULL CHECK (typeof(ref) = 'text' AND length(ref) BETWEEN 1 AND 100),
    channel_id INTEGER CHECK (channel_id IS NULL OR typeof(channel_id) = 'integer'),
    shown      TEXT    NOT NULL CHECK (shown IN ('ephemeral', 'public', 'shared')),
    at         TEXT    NOT NULL  -- ISO 8601, UTC, always with microseconds (sorts as text)
);
-- A guild's newest first (/ticketconfig lookups, with or without a member or provider).
CREATE INDEX lookup_audit_recent ON lookup_audit (guild_id, at, id);
-- The retention's DELETE by time, across guilds.
CREATE INDEX lookup_audit_age ON lookup_audit (at);
