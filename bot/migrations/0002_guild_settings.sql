-- Per-guild settings that are not secrets (the staff role). Forgotten with the guild.
CREATE TABLE guild_settings (
    guild_id INTEGER NOT NULL CHECK (typeof(guild_id) = 'integer'),
    key      TEXT    NOT NULL CHECK (typeof(key) = 'text'),
    value    TEXT    NOT NULL CHECK (typeof(value) = 'text'),
    PRIMARY KEY (guild_id, key)
) WITHOUT ROWID;
