-- Only new tables: no existing row is touched, so upgrading a 0002 database loses nothing.

-- A member's own successful lookups per provider, for autocomplete on `id` options. `ref` is
-- the ticket's reference as the provider writes it (at most 100 characters), never a secret.
-- Kept 30 days and at most 100 per (guild, member, provider), pruned by the store on every
-- write; deleted with the guild, with the member's data, and by /ticketaccount forget.
CREATE TABLE lookup_history (
    guild_id INTEGER NOT NULL CHECK (typeof(guild_id) = 'integer'),
    user_id  INTEGER NOT NULL CHECK (typeof(user_id) = 'integer' AND user_id > 0),
    provider TEXT    NOT NULL CHECK (typeof(provider) = 'text'),
    ref      TEXT    NOT NULL CHECK (typeof(ref) = 'text' AND length(ref) BETWEEN 1 AND 100),
    used_at  TEXT    NOT NULL,  -- ISO 8601, UTC, always with microseconds (sorts as text)
    PRIMARY KEY (guild_id, user_id, provider, ref)
) WITHOUT ROWID;
-- Newest first for one member and provider (autocomplete, the cap).
CREATE INDEX lookup_history_recent ON lookup_history (guild_id, user_id, provider, used_at);

-- Who changed a guild's configuration and when. `action` and `detail` are the bot's own words
-- (a provider's label, a role or channel mention), never a credential value. A rowid table:
-- entries have no natural key, and the rowid orders two changes made within one microsecond.
CREATE TABLE config_audit (
    id       INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL CHECK (typeof(guild_id) = 'integer'),
    actor_id INTEGER NOT NULL CHECK (typeof(actor_id) = 'integer'),
    action   TEXT    NOT NULL CHECK (typeof(action) = 'text'),
    detail   TEXT    NOT NULL CHECK (typeof(detail) = 'text' AND length(detail) <= 200),
    at       TEXT    NOT NULL  -- ISO 8601, UTC, always with microseconds (sorts as text)
);
CREATE INDEX config_audit_recent ON config_audit (guild_id, at, id);
