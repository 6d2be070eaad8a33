-- PostgreSQL counterpart of ../0005_watches.sql. Only a new table: no existing row is touched.

-- Watches (/ticketwatch): a ticket kept current in a card, or a feed posting a list's new
-- tickets. `ref` is the provider's ref text (never a secret); `state` the last state seen, as
-- JSON. `message_id` is the card (0 for a feed), `thread_id` the thread of its notices (0 until
-- one is started). Deleted with the guild, with the card or its channel, and by
-- /ticketwatch remove. `ref` is "C"-collated so both backends order and compare it alike.
CREATE TABLE watches (
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id      BIGINT      NOT NULL,
    channel_id    BIGINT      NOT NULL,
    message_id    BIGINT      NOT NULL,
    thread_id     BIGINT      NOT NULL DEFAULT 0,
    provider      TEXT        COLLATE "C" NOT NULL,
    kind          TEXT        NOT NULL CHECK (kind IN ('ticket', 'feed')),
    ref           TEXT        COLLATE "C" NOT NULL CHECK (length(ref) BETWEEN 1 AND 100),
    state         TEXT        NOT NULL,
    added_by      BIGINT      NOT NULL,
    added_at      TIMESTAMPTZ NOT NULL,
    last_ok_at    TIMESTAMPTZ NOT NULL,
    failing_since TIMESTAMPTZ,
    UNIQUE (guild_id, provider, kind, ref)
);
CREATE INDEX watches_by_channel ON watches (channel_id, message_id);
