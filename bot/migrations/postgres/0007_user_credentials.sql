-- PostgreSQL counterpart of ../0008_user_credentials.sql: the same table, columns and key.

-- A member's own credential for the app installed to their account (used in direct messages,
-- group DMs, and servers where TicketLens itself is not installed): one per (member, provider),
-- the member's everywhere rather than per server. Not guild data, so no guild removal touches
-- it; the member deletes it with /ticketaccount unlink. Only `secret` holds credential data,
-- only sealed (AES-GCM, bound to guild 0, which no real guild has, the member and the provider).
CREATE TABLE user_credentials (
    user_id  BIGINT      NOT NULL CHECK (user_id > 0),
    provider TEXT        COLLATE "C" NOT NULL,
    secret   BYTEA       NOT NULL,
    set_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, provider)
);
