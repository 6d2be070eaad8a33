-- PostgreSQL counterpart of ../0007_credential_health.sql. Only a new table: no existing row
-- is touched.

-- What the background check (cogs/health.py) last found about one stored credential, keyed
-- like `credentials`. `set_at` is the `credentials.set_at` of the credential the row is about:
-- once the credential is saved again, the row (of the earlier save) is ignored, and replaced
-- by the next check's. Holds no secret and no upstream text: `reason` is one of the bot's
-- short codes ('rejected', 'not_permitted', 'invalid', 'unreadable', 'unreachable'). Deleted
-- with the credential, the member's data and the guild's; a row never outlives its
-- credential, so it is not in GUILD_IDS_SQL.
CREATE TABLE credential_health (
    guild_id      BIGINT      NOT NULL,
    user_id       BIGINT      NOT NULL CHECK (user_id >= 0),
    provider      TEXT        COLLATE "C" NOT NULL,
    set_at        TIMESTAMPTZ NOT NULL,
    checked_at    TIMESTAMPTZ NOT NULL,
    failing_since TIMESTAMPTZ,
    reason        TEXT        CHECK (reason IS NULL OR length(reason) <= 20),
    unreachable   INTEGER     NOT NULL DEFAULT 0,
    reported      BOOLEAN     NOT NULL DEFAULT FALSE,
    stopped       BOOLEAN     NOT NULL DEFAULT FALSE,
    PRIMARY KEY (guild_id, user_id, provider)
);
