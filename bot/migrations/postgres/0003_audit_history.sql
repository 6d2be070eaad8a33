-- PostgreSQL counterpart of ../0003_audit_history.sql. Only new tables: no existing row is
-- touched.

-- A member's own successful lookups per provider, for autocomplete on `id` options. `ref` is
-- the ticket's reference as the provider writes it (at most 100 characters), never a secret.
-- Kept 30 days and at most 100 per (guild, member, provider), pruned by the store on every
-- write; deleted with the guild, with the member's data, and by /ticketaccount forget.
-- `ref` is "C"-collated: equal times are ordered by the ref's bytes, as in SQLite.
CREATE TABLE lookup_history (
    guild_id BIGINT      NOT NULL,
    user_id  BIGINT      NOT NULL CHECK (user_id > 0),
    provider TEXT        COLLATE "C" NOT NULL,
    ref      TEXT        COLLATE "C" NOT NULL CHECK (length(ref) BETWEEN 1 AND 100),
    used_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guild_id, user_id, provider, ref)
);
-- Newest first for one member and provider (autocomplete, the cap).
CREATE INDEX lookup_history_recent ON lookup_history (guild_id, user_id, provider, used_at);

-- Who changed a guild's configuration and when. `action` and `detail` are the bot's own words
-- (a provider's label, a role or channel mention), never a credential value. The identity
-- orders two changes made within one microsecond, as SQLite's rowid does.
CREATE TABLE config_audit (
    id       BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id BIGINT      NOT NULL,
    actor_id BIGINT      NOT NULL,
    action   TEXT        NOT NULL,
    detail   TEXT        NOT NULL CHECK (length(detail) <= 200),
    at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX config_audit_recent ON config_audit (guild_id, at, id);
