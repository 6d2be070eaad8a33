-- PostgreSQL counterpart of ../0005_lookup_audit.sql. Only a new table: no existing row is
-- touched.

-- Who looked up which ticket, where and how it was shown: the server's own record, read by
-- its admins with /ticketconfig lookups. Never ticket content: `ref` is the reference the
-- member asked for (at most 100 characters, a longer one cut with a final "…"), `shown` says
-- whether the answer was private to them, posted publicly or shared to the channel.
-- Kept LOOKUP_AUDIT_DAYS (pruned by the store on each batch it writes), deleted with the
-- guild's data; a member's /ticketaccount forget leaves it (it is the server's record).
-- The identity orders two lookups recorded within one microsecond, as SQLite's rowid does.
CREATE TABLE lookup_audit (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id   BIGINT      NOT NULL,
    user_id    BIGINT      NOT NULL CHECK (user_id > 0),
    provider   TEXT        COLLATE "C" NOT NULL,
    ref        TEXT        NOT NULL CHECK (length(ref) BETWEEN 1 AND 100),
    channel_id BIGINT,
    shown      TEXT        NOT NULL CHECK (shown IN ('ephemeral', 'public', 'shared')),
    at         TIMESTAMPTZ NOT NULL
);
-- A guild's newest first (/ticketconfig lookups, with or without a member or provider).
CREATE INDEX lookup_audit_recent ON lookup_audit (guild_id, at, id);
-- The retention's DELETE by time, across guilds.
CREATE INDEX lookup_audit_age ON lookup_audit (at);
