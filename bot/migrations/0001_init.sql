-- Settings of the bot itself; the key-check canary lives here.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- One credential per (guild, member, provider). user_id 0 is the guild's own credential:
-- NULL would not be unique in a primary key. Only `secret` holds credential data, and only
-- sealed (AES-GCM, bound to guild_id, user_id and provider).
-- No STRICT tables: they need SQLite 3.37, older than some distributions' Python ships with.
CREATE TABLE credentials (
    guild_id INTEGER NOT NULL CHECK (typeof(guild_id) = 'integer'),
    user_id  INTEGER NOT NULL CHECK (typeof(user_id) = 'integer' AND user_id >= 0),
    provider TEXT    NOT NULL CHECK (typeof(provider) = 'text'),
    secret   BLOB    NOT NULL CHECK (typeof(secret) = 'blob'),
    set_by   INTEGER NOT NULL,
    set_at   TEXT    NOT NULL,  -- ISO 8601, UTC
    PRIMARY KEY (guild_id, user_id, provider)
) WITHOUT ROWID;
