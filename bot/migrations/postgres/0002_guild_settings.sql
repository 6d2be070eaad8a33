-- PostgreSQL counterpart of ../0002_guild_settings.sql.

-- Per-guild settings that are not secrets (the staff role). Forgotten with the guild.
CREATE TABLE guild_settings (
    guild_id BIGINT NOT NULL,
    key      TEXT   NOT NULL,
    value    TEXT   NOT NULL,
    PRIMARY KEY (guild_id, key)
);
