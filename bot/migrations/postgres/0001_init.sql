-- PostgreSQL counterpart of ../0001_init.sql: the same tables, columns and keys. Versions are
-- numbered alike in both folders, so one version number means one schema on either database.
-- Ids are BIGINT (Discord snowflakes are positive and fit, as in SQLite's 64-bit integers).
-- Provider keys use the "C" collation: ordered by their bytes as SQLite orders them, whatever
-- the database's locale. Times are TIMESTAMPTZ (UTC, microseconds: exactly what SQLite keeps as
-- ISO text, so both order and compare alike).

-- Settings of the bot itself (the command-sync hash); the key-check canary lives here.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One credential per (guild, member, provider). user_id 0 is the guild's own credential:
-- NULL would not be unique in a primary key. Only `secret` holds credential data, and only
-- sealed (AES-GCM, bound to guild_id, user_id and provider).
CREATE TABLE credentials (
    guild_id BIGINT      NOT NULL,
    user_id  BIGINT      NOT NULL CHECK (user_id >= 0),
    provider TEXT        COLLATE "C" NOT NULL,
    secret   BYTEA       NOT NULL,
    set_by   BIGINT      NOT NULL,
    set_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guild_id, user_id, provider)
);
