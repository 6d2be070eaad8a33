-- Only a new table: no existing row is touched.

-- What the background check (cogs/health.py) last found about one stored credential, keyed
-- like `credentials`. `set_at` is the `credentials.set_at` of the credential the row is about:
-- once the credential is saved again, the row (of the earlier save) is ignored, and replaced
-- by the next check's. Holds no secret and no upstream text: `reason` is one of the bot's
-- short codes ('rejected', 'not_permitted', 'invalid', 'unreadable', 'unreachable'). Deleted
-- with the credential, the member's data and the guild's; a row never outlives its
-- credential, so it is not in GUILD_IDS_SQL.
CREATE TABLE credential_health (
    guild_id      INTEGER NOT NULL CHECK (typeof(guild_id) = 'integer'),
    user_id       INTEGER NOT NULL CHECK (typeof(user_id) = 'integer' AND user_id >= 0),
    provider      TEXT    NOT NULL CHECK (typeof(provider) = 'text'),
    set_at        TEXT    NOT NULL,  -- the credential's, exactly as `credentials` holds it
    checked_at    TEXT    NOT NULL,  -- ISO 8601, UTC, always with microseconds
    failing_since TEXT,              -- same format; NULL while the credential works
    reason        TEXT    CHECK (reason IS NULL OR length(reason) <= 20),
    unreachable   INTEGER NOT NULL DEFAULT 0,  -- checks in a row that could not reach it
    reported      INTEGER NOT NULL DEFAULT 0 CHECK (reported IN (0, 1)),
    stopped       INTEGER NOT NULL DEFAULT 0 CHECK (stopped IN (0, 1)),
    PRIMARY KEY (guild_id, user_id, provider)
) WITHOUT ROWID;
