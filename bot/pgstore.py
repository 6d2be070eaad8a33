"""
`Store` on PostgreSQL: the same behaviour as `bot.store.SqliteStore`, for several bot processes
over one database.

Open it with `PostgresStore.open(DATABASE_URL, sealer)`. Validation, sealing, the key check and
the batching of recorded lookups are `bot.storecommon`'s, shared with SQLite; only the SQL
differs. Migrations are `bot/migrations/postgres/NNNN_*.sql`, numbered as SQLite's, each applied
in one transaction under an advisory lock, so processes starting together apply each once.

No read caches. SqliteStore keeps credentials and staff roles in memory because its process is
the only writer and invalidates them on every write; here another process may change a guild's
credentials or settings at any moment, and a cached value would outlive that change (a removed
credential still used, a new staff role not yet honoured). Each read is one primary-key lookup
on a pooled connection. If measurements ask for a cache, it needs cross-process invalidation
(LISTEN/NOTIFY) first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import asyncpg

from bot.crypto import Sealer, sealed_key_id
from bot.providers.base import Credential
from bot.storecommon import (
    AUDIT_KEEP,
    GUILD_IDS_SQL,
    HISTORY_BATCH,
    HISTORY_DAYS,
    HISTORY_KEEP,
    KEY_CHECK,
    LOOKUP_AUDIT_DAYS,
    MAX_ACTION_LENGTH,
    MAX_DETAIL_LENGTH,
    MAX_REF_LENGTH,
    AuditBuffer,
    AuditEntry,
    AuditRow,
    CredentialHealth,
    CredentialInfo,
    DatabaseUnavailable,
    HistoryBuffer,
    KeyMismatch,
    LookupKey,
    LookupRecord,
    Migration,
    SchemaTooNew,
    SecretsUnopenable,
    Watch,
    canary_opens,
    check_days,
    check_health,
    check_id,
    check_limit,
    check_provider,
    check_text,
    check_watch,
    credential_opens,
    load_migrations,
    log_resealed,
    lookup_record,
    moment,
    new_canary,
    open_credential,
    open_user_credential,
    reseal_canary,
    reseal_credential,
    seal_credential,
    seal_user_credential,
    user_column,
    user_from_column,
)

log = logging.getLogger(__name__)

#: The advisory lock every TicketLens process takes to migrate: one fixed 64-bit key ("tlmigrat"
#: in ASCII), so processes of other applications sharing the server are not blocked by it.
MIGRATION_LOCK = 0x746C_6D69_6772_6174
#: ... and the one a key rotation takes ("tlrotate").
ROTATION_LOCK = 0x746C_726F_7461_7465

#: Every table holding sealed credentials, for a key rotation: the rows not sealed by the current
#: key (by the blob's header, locked) as (guild, user column, provider, blob), the UPDATE of
#: one, and whether that UPDATE names the guild (else only the user and provider). User-scope
#: credentials are sealed for guild 0 (`bot.storecommon.USER_SCOPE`).
_SEALED_TABLES = (
    (
        "SELECT guild_id, user_id, provider, secret FROM credentials"
        " WHERE substring(secret FROM 1 FOR $1) <> $2 FOR UPDATE",
        "UPDATE credentials SET secret = $1 WHERE guild_id = $2 AND user_id = $3 AND provider = $4",
        True,
    ),
    (
        "SELECT 0, user_id, provider, secret FROM user_credentials"
        " WHERE substring(secret FROM 1 FOR $1) <> $2 FOR UPDATE",
        "UPDATE user_credentials SET secret = $1 WHERE user_id = $2 AND provider = $3",
        False,
    ),
)

#: What connecting may raise when the server is down, unknown, or refuses the login.
_CONNECT_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
#: ... and what asyncpg raises for a URL parameter it cannot parse (`?port=x`).
_URL_ERRORS = (ValueError,)


def public_url(url: str) -> str:
    """
    The database URL as it may be shown in a message or log: scheme, user, host, port and
    database, and a unix socket folder (`?host=`); never the password, nor other parameters
    (the query may carry `password=` too).
    """
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    shown = f"{parts.scheme}://{user}{at}{hostport}{parts.path}"
    socket = parse_qs(parts.query).get("host")
    return f"{shown}?host={socket[0]}" if socket else shown


def _load_migrations() -> list[Migration]:
    return load_migrations("migrations", "postgres")


async def _migrate(conn: asyncpg.pool.PoolConnectionProxy[asyncpg.Record], where: str) -> None:
    """Apply the migrations this database lacks; the caller holds MIGRATION_LOCK."""
    migrations = _load_migrations()
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    applied = {int(row[0]) for row in await conn.fetch("SELECT version FROM schema_migrations")}
    unknown = applied - {m.version for m in migrations}
    if unknown:
        raise SchemaTooNew(where, unknown)
    for migration in migrations:
        if migration.version in applied:
            continue
        # One transaction per migration (PostgreSQL's DDL is transactional): a failure leaves
        # the database as the previous migration left it, never half-migrated.
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
        log.info("applied database migration %s", migration.name)


def _count(status: str) -> int:
    """The row count of a command status such as "DELETE 3"."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresStore:
    """`Store` on a PostgreSQL database through an asyncpg pool; see the module's docstring."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record], sealer: Sealer, where: str) -> None:
        self._pool = pool
        self._sealer = sealer
        self._where = where
        self._history = HistoryBuffer(self._write_history)
        self._audit = AuditBuffer(self._write_audit)
        # One batch written at a time by this process (the timer's, a full batch's, a read's):
        # two concurrent batches pruning one member's rows could deadlock each other.
        self._history_writing = asyncio.Lock()
        # The audit's batch being written: a guild's removal waits for it, so a batch taken
        # from the buffer before the removal cannot commit that guild's rows after it.
        self._audit_writing = asyncio.Lock()
        # Guilds being forgotten by this process, with how many removals are under way: their
        # credentials and settings read as absent from the moment a removal starts, as with
        # SQLite (whose single connection queues reads behind it). Other processes see the
        # removal when it commits.
        self._forgetting: dict[int, int] = {}

    @classmethod
    async def open(
        cls, url: str, sealer: Sealer, *, min_size: int = 1, max_size: int = 10
    ) -> PostgresStore:
        """
        Connect (a pool of `min_size` to `max_size` connections), migrate and check the key.
        DatabaseUnavailable if the server cannot be reached or refuses the login; KeyMismatch,
        SchemaTooNew as with SQLite.
        """
        where = public_url(url)
        try:
            pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size)
        except (*_CONNECT_ERRORS, *_URL_ERRORS) as exc:
            raise DatabaseUnavailable(where, str(exc) or type(exc).__name__) from None
        try:
            async with pool.acquire() as conn:
                # Session-level: a second process starting now waits here until the first has
                # applied everything, then finds nothing left to do. Released below, and in any
                # case when the pool resets the connection (pg_advisory_unlock_all) or drops it.
                await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
                try:
                    await _migrate(conn, where)
                finally:
                    with contextlib.suppress(*_CONNECT_ERRORS):
                        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
            store = cls(pool, sealer, where)
            await store._check_key()
            await store._rotate()
        except BaseException:
            await pool.close()
            raise
        return store

    async def _check_key(self) -> None:
        stored = await self.get_meta(KEY_CHECK)
        if stored is None:
            # A database that lost its canary but has credentials: judge the key by one of them
            # rather than stamping a canary for a key that cannot read them.
            row = await self._pool.fetchrow(
                "SELECT guild_id, user_id, provider, secret FROM credentials LIMIT 1"
            )
            if row is not None and not credential_opens(
                self._sealer, bytes(row[3]), int(row[0]), int(row[1]), str(row[2])
            ):
                raise KeyMismatch(self._where)
            # DO NOTHING: if another process wrote a canary meanwhile, theirs is checked below.
            await self._pool.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                KEY_CHECK,
                new_canary(self._sealer),
            )
            stored = await self.get_meta(KEY_CHECK)
        if stored is None or not canary_opens(self._sealer, stored):
            raise KeyMismatch(self._where)

    async def _rotate(self) -> None:
        """
        Re-seal, in one transaction, every stored secret that an old key (OLD_SECRET_KEYS)
        sealed, under the current key; SecretsUnopenable, with nothing changed, if any is
        sealed by no configured key. Processes starting together take turns on ROTATION_LOCK,
        so the second finds nothing left. Blobs already under the current key are found by
        their header in SQL and never opened.
        """
        header = self._sealer.header
        count = 0
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", ROTATION_LOCK)
            unopenable: list[str] = []
            for select, update, by_guild in _SEALED_TABLES:
                for guild_id, user, provider, sealed in await conn.fetch(
                    select, len(header), header
                ):
                    row = (int(guild_id), int(user), str(provider), bytes(sealed))
                    resealed = reseal_credential(self._sealer, row)
                    if resealed is None:
                        unopenable.append(sealed_key_id(row[3]) or "format 1")
                        continue
                    keys = row[:3] if by_guild else row[1:3]
                    await conn.execute(update, resealed, *keys)
                    count += 1
            if unopenable:
                raise SecretsUnopenable(self._where, len(unopenable), unopenable)
            canary = await conn.fetchval(
                "SELECT value FROM meta WHERE key = $1 FOR UPDATE", KEY_CHECK
            )
            resealed_canary = None if canary is None else reseal_canary(self._sealer, canary)
            if resealed_canary is not None:
                await conn.execute(
                    "UPDATE meta SET value = $1 WHERE key = $2", resealed_canary, KEY_CHECK
                )
        log_resealed(count, self._sealer)

    @contextlib.contextmanager
    def _removing(self, guild_id: int) -> Iterator[None]:
        self._forgetting[guild_id] = self._forgetting.get(guild_id, 0) + 1
        try:
            yield
        finally:
            left = self._forgetting.pop(guild_id) - 1
            if left:
                self._forgetting[guild_id] = left

    async def put_credential(
        self,
        guild_id: int,
        user_id: int | None,
        provider: str,
        secret: Mapping[str, str],
        *,
        set_by: int,
    ) -> None:
        """Store (or replace) a credential; `user_id` None is the guild's own."""
        check_id("guild_id", guild_id)
        user = user_column(user_id)
        check_provider(provider)
        check_id("set_by", set_by)
        sealed = seal_credential(self._sealer, guild_id, user_id, provider, secret)
        await self._pool.execute(
            "INSERT INTO credentials (guild_id, user_id, provider, secret, set_by, set_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (guild_id, user_id, provider) DO UPDATE SET"
            " secret = excluded.secret, set_by = excluded.set_by, set_at = excluded.set_at",
            guild_id,
            user,
            provider,
            sealed,
            set_by,
            datetime.now(UTC),
        )

    async def get_credential(
        self, guild_id: int, user_id: int | None, provider: str
    ) -> Credential | None:
        """The decrypted credential, None if absent; CredentialUnreadable if it does not open."""
        check_id("guild_id", guild_id)
        user = user_column(user_id)
        check_provider(provider)
        if guild_id in self._forgetting:
            return None
        sealed = await self._pool.fetchval(
            "SELECT secret FROM credentials WHERE guild_id = $1 AND user_id = $2 AND provider = $3",
            guild_id,
            user,
            provider,
        )
        if sealed is None:
            return None
        return open_credential(self._sealer, sealed, guild_id, user_id, provider)

    async def delete_credential(self, guild_id: int, user_id: int | None, provider: str) -> bool:
        """Delete one credential; whether there was one."""
        status = await self._pool.execute(
            "DELETE FROM credentials WHERE guild_id = $1 AND user_id = $2 AND provider = $3",
            check_id("guild_id", guild_id),
            user_column(user_id),
            check_provider(provider),
        )
        await self._delete_health(guild_id, user_column(user_id), provider)
        return _count(status) > 0

    async def list_credentials(self, guild_id: int) -> list[CredentialInfo]:
        """A guild's credentials, by provider then member (the guild's own first), no secrets."""
        rows = await self._pool.fetch(
            "SELECT provider, user_id, set_by, set_at FROM credentials WHERE guild_id = $1"
            " ORDER BY provider, user_id",
            check_id("guild_id", guild_id),
        )
        return [
            CredentialInfo(
                provider=str(provider),
                user_id=user_from_column(int(user)),
                set_by=int(set_by),
                set_at=set_at.astimezone(UTC),
            )
            for provider, user, set_by, set_at in rows
        ]

    async def forget_guild(self, guild_id: int) -> int:
        """
        Delete everything kept about a guild: credentials, settings, lookup history and
        audit. Returns how many credentials there were (the rest is not counted).
        """
        check_id("guild_id", guild_id)
        with self._removing(guild_id):
            self._history.drop(guild_id)
            self._audit.drop(guild_id)
            # One transaction: another process sees the guild whole or gone, never half. After
            # this process's history and audit batches in flight (each takes its lock, then a
            # connection, in that order): rows they took before the drops above cannot land
            # after the deletion.
            async with (
                self._history_writing,
                self._audit_writing,
                self._pool.acquire() as conn,
                conn.transaction(),
            ):
                deleted = _count(
                    await conn.execute("DELETE FROM credentials WHERE guild_id = $1", guild_id)
                )
                for table in ("guild_settings", "lookup_history", "config_audit", "watches"):
                    # The table names are the literals above, never input.
                    await conn.execute(f"DELETE FROM {table} WHERE guild_id = $1", guild_id)  # noqa: S608
                await conn.execute("DELETE FROM lookup_audit WHERE guild_id = $1", guild_id)
                await conn.execute("DELETE FROM credential_health WHERE guild_id = $1", guild_id)
            self._history.drop(guild_id)  # recorded while the deletion ran
            self._audit.drop(guild_id)
        return deleted

    async def guild_ids(self) -> set[int]:
        """Every guild with anything stored (credentials, settings, lookup history, audit)."""
        await self._history.flush()  # lookups still in memory are stored rows too
        await self._audit.flush()
        return {int(row[0]) for row in await self._pool.fetch(GUILD_IDS_SQL)}

    async def forget_member(self, guild_id: int, user_id: int) -> int:
        """
        Delete every credential a member linked in a guild, and their lookup history there.
        Returns how many credentials there were (history rows are not counted).
        """
        # check_id refuses 0, so this can never reach the guild's own credentials.
        status = await self._pool.execute(
            "DELETE FROM credentials WHERE guild_id = $1 AND user_id = $2",
            check_id("guild_id", guild_id),
            check_id("user_id", user_id),
        )
        await self._pool.execute(
            "DELETE FROM credential_health WHERE guild_id = $1 AND user_id = $2", guild_id, user_id
        )
        await self.forget_history(guild_id, user_id)
        return _count(status)

    async def record_lookup(
        self, guild_id: int, user_id: int, provider: str, ref: str, *, at: datetime | None = None
    ) -> None:
        """
        Remember that a member looked up `ref` (at most 100 characters) with `provider`, at
        `at` (default now). Also drops that member's entries older than HISTORY_DAYS before
        `at` and keeps at most HISTORY_KEEP per provider.
        """
        check_id("guild_id", guild_id)
        check_id("user_id", user_id)
        check_provider(provider)
        check_text("ref", ref, MAX_REF_LENGTH)
        await self._history.add((guild_id, user_id, provider, ref), moment(at))

    async def _write_history(self, pending: dict[LookupKey, datetime]) -> None:
        """Write a batch of recorded lookups and prune their members' history, in one
        transaction (one commit for the batch)."""
        # Sorted, so that two processes writing overlapping batches lock rows in one order and
        # cannot deadlock each other.
        rows = sorted(pending.items())
        newest: dict[tuple[int, int, str], datetime] = {}
        for (guild_id, user_id, provider, _), at in rows:
            member = (guild_id, user_id, provider)
            newest[member] = max(newest.get(member, at), at)
        async with self._history_writing, self._pool.acquire() as conn, conn.transaction():
            for start in range(0, len(rows), HISTORY_BATCH):
                chunk = rows[start : start + HISTORY_BATCH]
                # One statement per batch: the rows travel as arrays, unnested server-side.
                # GREATEST keeps the newest time when an older lookup is written after a newer.
                await conn.execute(
                    "INSERT INTO lookup_history (guild_id, user_id, provider, ref, used_at)"
                    " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[],"
                    " $5::timestamptz[])"
                    " ON CONFLICT (guild_id, user_id, provider, ref)"
                    " DO UPDATE SET used_at = GREATEST(lookup_history.used_at, excluded.used_at)",
                    [key[0] for key, _ in chunk],
                    [key[1] for key, _ in chunk],
                    [key[2] for key, _ in chunk],
                    [key[3] for key, _ in chunk],
                    [at for _, at in chunk],
                )
            # Pruned on the members' own writes, as with SQLite: no timer, and a member's
            # history never outgrows one batch.
            await conn.executemany(
                "DELETE FROM lookup_history WHERE guild_id = $1 AND user_id = $2 AND ("
                " used_at < $3"
                " OR (provider = $4 AND ref NOT IN ("
                "  SELECT ref FROM lookup_history"
                "  WHERE guild_id = $1 AND user_id = $2 AND provider = $4"
                "  ORDER BY used_at DESC, ref LIMIT $5)))",
                [
                    (guild_id, user_id, at - timedelta(days=HISTORY_DAYS), provider, HISTORY_KEEP)
                    for (guild_id, user_id, provider), at in newest.items()
                ],
            )

    async def recent_lookups(
        self,
        guild_id: int,
        user_id: int,
        provider: str,
        *,
        limit: int = 25,
        now: datetime | None = None,
    ) -> list[str]:
        """A member's references for `provider`, newest first, of the last HISTORY_DAYS."""
        check_id("guild_id", guild_id)
        check_id("user_id", user_id)
        check_provider(provider)
        if self._history.waiting(guild_id, user_id, provider):
            await self._history.flush()
        rows = await self._pool.fetch(
            "SELECT ref FROM lookup_history"
            " WHERE guild_id = $1 AND user_id = $2 AND provider = $3 AND used_at >= $4"
            " ORDER BY used_at DESC, ref LIMIT $5",
            guild_id,
            user_id,
            provider,
            moment(now) - timedelta(days=HISTORY_DAYS),
            check_limit(limit),
        )
        return [str(row[0]) for row in rows]

    async def forget_history(self, guild_id: int, user_id: int) -> int:
        """Delete a member's lookup history in a guild at once; how many entries there were."""
        if self._history.waiting(guild_id, user_id):
            await self._history.flush()  # so the count is of every entry the member had
        status = await self._pool.execute(
            "DELETE FROM lookup_history WHERE guild_id = $1 AND user_id = $2",
            check_id("guild_id", guild_id),
            check_id("user_id", user_id),
        )
        return _count(status)

    async def add_audit(
        self,
        guild_id: int,
        actor_id: int,
        action: str,
        detail: str,
        *,
        at: datetime | None = None,
    ) -> None:
        """
        Record a configuration change. `action` and `detail` must be the bot's own words
        (a provider label, a role or channel mention): never a credential or anything typed,
        as they are stored in clear and shown to every admin. At most 50 and 200 characters.
        """
        check_id("guild_id", guild_id)
        check_id("actor_id", actor_id)
        check_text("action", action, MAX_ACTION_LENGTH)
        check_text("detail", detail, MAX_DETAIL_LENGTH, empty=True)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO config_audit (guild_id, actor_id, action, detail, at)"
                " VALUES ($1, $2, $3, $4, $5)",
                guild_id,
                actor_id,
                action,
                detail,
                moment(at),
            )
            # A guild's audit stays bounded however often its admins change things.
            await conn.execute(
                "DELETE FROM config_audit WHERE guild_id = $1 AND id NOT IN ("
                " SELECT id FROM config_audit WHERE guild_id = $1"
                " ORDER BY at DESC, id DESC LIMIT $2)",
                guild_id,
                AUDIT_KEEP,
            )

    async def list_audit(self, guild_id: int, limit: int = 25) -> list[AuditEntry]:
        """A guild's latest configuration changes, newest first."""
        rows = await self._pool.fetch(
            "SELECT at, actor_id, action, detail FROM config_audit WHERE guild_id = $1"
            " ORDER BY at DESC, id DESC LIMIT $2",
            check_id("guild_id", guild_id),
            check_limit(limit),
        )
        return [
            AuditEntry(
                at=at.astimezone(UTC), actor_id=int(actor), action=str(action), detail=str(detail)
            )
            for at, actor, action, detail in rows
        ]

    async def get_guild_setting(self, guild_id: int, key: str) -> str | None:
        """A guild's (non-secret) setting, None if unset."""
        check_id("guild_id", guild_id)
        if guild_id in self._forgetting:
            return None
        value = await self._pool.fetchval(
            "SELECT value FROM guild_settings WHERE guild_id = $1 AND key = $2", guild_id, key
        )
        return None if value is None else str(value)

    async def set_guild_setting(self, guild_id: int, key: str, value: str | None) -> None:
        """Set a guild's setting; None clears it."""
        check_id("guild_id", guild_id)
        if value is None:
            await self._pool.execute(
                "DELETE FROM guild_settings WHERE guild_id = $1 AND key = $2", guild_id, key
            )
        else:
            await self._pool.execute(
                "INSERT INTO guild_settings (guild_id, key, value) VALUES ($1, $2, $3)"
                " ON CONFLICT (guild_id, key) DO UPDATE SET value = excluded.value",
                guild_id,
                key,
                value,
            )

    async def get_meta(self, key: str) -> str | None:
        """A bot setting, None if unset."""
        value = await self._pool.fetchval("SELECT value FROM meta WHERE key = $1", key)
        return None if value is None else str(value)

    async def set_meta(self, key: str, value: str) -> None:
        """Set a bot setting (shared by every process: the command-sync hash lives here)."""
        if key == KEY_CHECK:
            # Overwriting the canary would make the next start refuse the right key.
            raise ValueError(f"{KEY_CHECK!r} is reserved")
        await self._pool.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            value,
        )

    async def record_lookup_audit(
        self,
        guild_id: int,
        user_id: int,
        provider: str,
        ref: str,
        *,
        channel_id: int | None,
        shown: str,
        keep_days: int = LOOKUP_AUDIT_DAYS,
        at: datetime | None = None,
    ) -> None:
        """Record a lookup shown in a guild for its admins (see `Store.record_lookup_audit`)."""
        check_id("guild_id", guild_id)
        record = lookup_record(user_id, provider, ref, channel_id, shown, at)
        await self._audit.add(guild_id, record, check_days(keep_days))

    async def _write_audit(self, rows: list[AuditRow], cutoff: datetime) -> None:
        """Write a batch of audit rows (one statement and one commit per batch), then drop
        what is older than `cutoff` (through the index on `at`), in its own short statement so
        no row lock is held while the batch commits."""
        async with self._audit_writing, self._pool.acquire() as conn:
            async with conn.transaction():
                for start in range(0, len(rows), HISTORY_BATCH):
                    chunk = rows[start : start + HISTORY_BATCH]
                    # The rows travel as arrays, unnested server-side.
                    await conn.execute(
                        "INSERT INTO lookup_audit"
                        " (guild_id, user_id, provider, ref, channel_id, shown, at)"
                        " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[],"
                        " $4::text[], $5::bigint[], $6::text[], $7::timestamptz[])",
                        [guild_id for guild_id, _ in chunk],
                        [r.user_id for _, r in chunk],
                        [r.provider for _, r in chunk],
                        [r.ref for _, r in chunk],
                        [r.channel_id for _, r in chunk],
                        [r.shown for _, r in chunk],
                        [r.at for _, r in chunk],
                    )
            await conn.execute("DELETE FROM lookup_audit WHERE at < $1", cutoff)

    async def list_lookup_audit(
        self,
        guild_id: int,
        *,
        user_id: int | None = None,
        provider: str | None = None,
        limit: int = 25,
        keep_days: int = LOOKUP_AUDIT_DAYS,
        now: datetime | None = None,
    ) -> list[LookupRecord]:
        """A guild's recorded lookups of the last `keep_days`, newest first."""
        check_id("guild_id", guild_id)
        member = None if user_id is None else check_id("user_id", user_id)
        chosen = None if provider is None else check_provider(provider)
        if self._audit.waiting(guild_id):
            await self._audit.flush()
        rows = await self._pool.fetch(
            "SELECT at, user_id, provider, ref, channel_id, shown FROM lookup_audit"
            " WHERE guild_id = $1 AND at >= $2 AND ($3::bigint IS NULL OR user_id = $3)"
            " AND ($4::text IS NULL OR provider = $4)"
            " ORDER BY at DESC, id DESC LIMIT $5",
            guild_id,
            moment(now) - timedelta(days=check_days(keep_days)),
            member,
            chosen,
            check_limit(limit),
        )
        return [
            LookupRecord(
                at=at.astimezone(UTC),
                user_id=int(user),
                provider=str(key),
                ref=str(ref),
                channel_id=None if channel is None else int(channel),
                shown=str(shown),
            )
            for at, user, key, ref, channel, shown in rows
        ]

    async def close(self) -> None:
        """Write the recorded lookups still waiting, then close the pool's connections."""
        await self._history.close()
        await self._audit.close()
        await self._pool.close()

    async def put_user_credential(
        self, user_id: int, provider: str, secret: Mapping[str, str]
    ) -> None:
        """Store (or replace) a member's own credential for the app installed to their account
        (DMs, group DMs, servers without TicketLens): theirs everywhere, not per guild."""
        sealed = seal_user_credential(self._sealer, user_id, check_provider(provider), secret)
        await self._pool.execute(
            "INSERT INTO user_credentials (user_id, provider, secret, set_at)"
            " VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (user_id, provider) DO UPDATE SET"
            " secret = excluded.secret, set_at = excluded.set_at",
            user_id,
            provider,
            sealed,
            datetime.now(UTC),
        )

    async def get_user_credential(self, user_id: int, provider: str) -> Credential | None:
        """A member's user-scope credential, None if absent; CredentialUnreadable (guild 0) if
        it does not open."""
        sealed = await self._pool.fetchval(
            "SELECT secret FROM user_credentials WHERE user_id = $1 AND provider = $2",
            check_id("user_id", user_id),
            check_provider(provider),
        )
        if sealed is None:
            return None
        return open_user_credential(self._sealer, sealed, user_id, provider)

    async def delete_user_credential(self, user_id: int, provider: str) -> bool:
        """Delete a member's user-scope credential; whether there was one."""
        status = await self._pool.execute(
            "DELETE FROM user_credentials WHERE user_id = $1 AND provider = $2",
            check_id("user_id", user_id),
            check_provider(provider),
        )
        return _count(status) > 0

    async def list_user_credentials(self, user_id: int) -> list[CredentialInfo]:
        """A member's user-scope credentials, by provider, without their secrets."""
        rows = await self._pool.fetch(
            "SELECT provider, set_at FROM user_credentials WHERE user_id = $1 ORDER BY provider",
            check_id("user_id", user_id),
        )
        return [
            CredentialInfo(
                provider=str(provider),
                user_id=user_id,
                set_by=user_id,
                set_at=set_at.astimezone(UTC),
            )
            for provider, set_at in rows
        ]

    # -- watches (/ticketwatch) --------------------------------------------------------

    async def add_watch(self, watch: Watch) -> int | None:
        """Store a new watch; its id, or None when the guild already watches that ref."""
        check_watch(watch)
        value = await self._pool.fetchval(
            "INSERT INTO watches (guild_id, channel_id, message_id, thread_id, provider, kind,"
            " ref, state, added_by, added_at, last_ok_at, failing_since)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            " ON CONFLICT (guild_id, provider, kind, ref) DO NOTHING RETURNING id",
            watch.guild_id,
            watch.channel_id,
            watch.message_id,
            watch.thread_id,
            watch.provider,
            watch.kind,
            watch.ref,
            watch.state,
            watch.added_by,
            moment(watch.added_at),
            moment(watch.last_ok_at),
            None if watch.failing_since is None else moment(watch.failing_since),
        )
        return None if value is None else int(value)

    async def list_watches(self, guild_id: int | None = None) -> list[Watch]:
        """A guild's watches (None: every guild's), oldest first."""
        columns = (
            "SELECT id, guild_id, channel_id, message_id, thread_id, provider, kind, ref, state,"
            " added_by, added_at, last_ok_at, failing_since FROM watches"
        )
        if guild_id is None:
            rows = await self._pool.fetch(columns + " ORDER BY id")
        else:
            rows = await self._pool.fetch(
                columns + " WHERE guild_id = $1 ORDER BY id", check_id("guild_id", guild_id)
            )
        return [
            Watch(
                id=int(row[0]),
                guild_id=int(row[1]),
                channel_id=int(row[2]),
                message_id=int(row[3]),
                thread_id=int(row[4]),
                provider=str(row[5]),
                kind=str(row[6]),
                ref=str(row[7]),
                state=str(row[8]),
                added_by=int(row[9]),
                added_at=row[10].astimezone(UTC),
                last_ok_at=row[11].astimezone(UTC),
                failing_since=None if row[12] is None else row[12].astimezone(UTC),
            )
            for row in rows
        ]

    async def save_watch(self, watch: Watch) -> bool:
        """Write what a poll changed; whether the watch still exists."""
        check_watch(watch)
        status = await self._pool.execute(
            "UPDATE watches SET state = $1, thread_id = $2, last_ok_at = $3, failing_since = $4"
            " WHERE id = $5",
            watch.state,
            watch.thread_id,
            moment(watch.last_ok_at),
            None if watch.failing_since is None else moment(watch.failing_since),
            watch.id,
        )
        return _count(status) > 0

    async def delete_watch(self, watch_id: int) -> bool:
        """Delete one watch; whether there was one."""
        return _count(await self._pool.execute("DELETE FROM watches WHERE id = $1", watch_id)) > 0

    async def delete_watches_at(self, channel_id: int, message_id: int | None = None) -> list[int]:
        """Delete the watches of a card (or of every card and feed in a channel); their ids."""
        check_id("channel_id", channel_id)
        if message_id is None:
            rows = await self._pool.fetch(
                "DELETE FROM watches WHERE channel_id = $1 RETURNING id", channel_id
            )
        else:
            rows = await self._pool.fetch(
                "DELETE FROM watches WHERE channel_id = $1 AND message_id = $2 RETURNING id",
                channel_id,
                check_id("message_id", message_id),
            )
        return [int(row[0]) for row in rows]

    # -- credential health (cogs/health.py) -------------------------------------------

    async def _delete_health(self, guild_id: int, user: int, provider: str) -> None:
        """Forget what the checks found about one credential (saved again, or deleted)."""
        await self._pool.execute(
            "DELETE FROM credential_health WHERE guild_id = $1 AND user_id = $2 AND provider = $3",
            guild_id,
            user,
            provider,
        )

    async def list_credential_health(self, guild_id: int | None = None) -> list[CredentialHealth]:
        """Every stored credential of a guild (None: of every guild) with what the background
        check last found about it since it was saved, by guild, provider then member."""
        # A row of an earlier save of the credential (another set_at) is not about this one.
        sql = (
            "SELECT c.guild_id, c.user_id, c.provider, c.set_at, h.checked_at, h.failing_since,"
            " h.reason, h.unreachable, h.reported, h.stopped FROM credentials c"
            " LEFT JOIN credential_health h ON h.guild_id = c.guild_id"
            " AND h.user_id = c.user_id AND h.provider = c.provider AND h.set_at = c.set_at"
        )
        order = " ORDER BY c.guild_id, c.provider, c.user_id"
        if guild_id is None:
            rows = await self._pool.fetch(sql + order)
        else:
            rows = await self._pool.fetch(
                sql + " WHERE c.guild_id = $1" + order, check_id("guild_id", guild_id)
            )
        return [
            CredentialHealth(
                guild_id=int(row[0]),
                user_id=user_from_column(int(row[1])),
                provider=str(row[2]),
                set_at=row[3].astimezone(UTC),
                # Microseconds and the offset: cast back to exactly this timestamptz.
                version=row[3].isoformat(),
                checked_at=None if row[4] is None else row[4].astimezone(UTC),
                failing_since=None if row[5] is None else row[5].astimezone(UTC),
                reason=None if row[6] is None else str(row[6]),
                unreachable=int(row[7] or 0),
                reported=bool(row[8]),
                stopped=bool(row[9]),
            )
            for row in rows
        ]

    async def put_credential_health(self, health: CredentialHealth) -> bool:
        """Store what a check found, only while the credential is still the one checked
        (`health.version`): False, with nothing written, if it was saved again or deleted."""
        check_health(health)
        try:
            version = datetime.fromisoformat(health.version)
        except ValueError:
            return False
        # One statement: the credential's row is matched and the health row written at once,
        # so a save or a removal committed before it can never be overwritten by an older
        # check (and a row left by a race is ignored: its set_at is not the credential's).
        status = await self._pool.execute(
            "INSERT INTO credential_health (guild_id, user_id, provider, set_at, checked_at,"
            " failing_since, reason, unreachable, reported, stopped)"
            " SELECT guild_id, user_id, provider, set_at, $1::timestamptz, $2::timestamptz,"
            " $3::text, $4::integer, $5::boolean, $6::boolean FROM credentials"
            " WHERE guild_id = $7 AND user_id = $8 AND provider = $9 AND set_at = $10"
            " ON CONFLICT (guild_id, user_id, provider) DO UPDATE SET"
            " set_at = excluded.set_at, checked_at = excluded.checked_at,"
            " failing_since = excluded.failing_since, reason = excluded.reason,"
            " unreachable = excluded.unreachable, reported = excluded.reported,"
            " stopped = excluded.stopped",
            health.checked_at,
            health.failing_since,
            health.reason,
            health.unreachable,
            health.reported,
            health.stopped,
            health.guild_id,
            user_column(health.user_id),
            health.provider,
            version,
        )
        return _count(status) > 0
