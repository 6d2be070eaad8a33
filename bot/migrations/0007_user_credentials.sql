-- Only a new table: no existing row is touched.

-- A member's own credential for the app installed to their account (used in direct messages,
-- group DMs, and servers where TicketLens itself is not installed): one per (member, provider),
-- the member's everywhere rather than per server. Not guild data, so no guild removal touches
-- it; the member deletes it with /ticketaccount unlink. Only `secret` holds credential data,
-- only sealed (AES-GCM, bound to guild 0, which no real guild has, the member and the provider).
CREATE TABLE user_credentials (
    user_id  INTEGER NOT NULL CHECK (typeof(user_id) = 'integer' AND user_id > 0),
    provider TEXT    NOT NULL CHECK (typeof(provider) = 'text'),
    secret   BLOB    NOT NULL CHECK (typeof(secret) = 'blob'),
    set_at   TEXT    NOT NULL,  -- ISO 8601, UTC
    PRIMARY KEY (user_id, provider)
) WITHOUT ROWID;
