"""
Where credentials, bot settings, members' lookup history and the configuration audit are kept.

`Store` is the interface the rest of the bot uses. `SqliteStore` implements it with aiosqlite
(the embedded default) and all its SQL lives in this module; `bot.pgstore.PostgresStore` is the
same on PostgreSQL, for several processes over one database, and `bot.stores.open_store` picks
one by DATABASE_URL. What both share (types, errors, validation, sealing, batching) is in
`bot.storecommon` and importable from here. Credentials are sealed by `bot.crypto.Sealer` before
they reach the database: in clear it holds only ids, the provider key, who set it and when. The
lookup history (ticket references) and the audit (the bot's own words) hold no secrets.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import aiosqlite
from cachetools import LRUCache, TTLCache

from bot.crypto import Sealer, sealed_key_id
from bot.providers.base import Credential
from bot.storecommon import (
    AUDIT_KEEP,
    GUILD_IDS_SQL,
    HISTORY_BATCH,
    HISTORY_DAYS,
    HISTORY_FLUSH_S,
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
    CredentialUnreadable,
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
    parse_time,
    reseal_canary,
    reseal_credential,
    seal_credential,
    seal_user_credential,
    sortable,
    user_column,
    user_from_column,
)

# The names the rest of the bot imports from here (the shared ones are defined in storecommon).
__all__ = [
    "AUDIT_KEEP",
    "HISTORY_BATCH",
    "HISTORY_DAYS",
    "HISTORY_FLUSH_S",
    "HISTORY_KEEP",
    "MAX_ACTION_LENGTH",
    "MAX_DETAIL_LENGTH",
    "MAX_REF_LENGTH",
    "AuditEntry",
    "CredentialHealth",
    "CredentialInfo",
    "CredentialUnreadable",
    "DatabaseUnavailable",
    "KeyMismatch",
    "LookupRecord",
    "SchemaTooNew",
    "SecretsUnopenable",
    "SqliteStore",
    "Store",
]

_BUSY_TIMEOUT_MS = 5000


class Store(Protocol):
    """The bot's persistent state: sealed credentials, small settings, lookup history, audit."""

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
        ...

    async def get_credential(
        self, guild_id: int, user_id: int | None, provider: str
    ) -> Credential | None:
        """The decrypted credential, None if absent; CredentialUnreadable if it does not open."""
        ...

    async def delete_credential(self, guild_id: int, user_id: int | None, provider: str) -> bool:
        """Delete one credential; whether there was one."""
        ...

    async def list_credentials(self, guild_id: int) -> list[CredentialInfo]:
        """A guild's credentials, by provider then member, without their secrets."""
        ...

    async def forget_guild(self, guild_id: int) -> int:
        """
        Delete everything kept about a guild: credentials, settings, lookup history and
        audit. Returns how many credentials there were (the rest is not counted).
        """
        ...

    async def forget_member(self, guild_id: int, user_id: int) -> int:
        """
        Delete every credential a member linked in a guild, and their lookup history there.
        Returns how many credentials there were (history rows are not counted).
        """
        ...

    async def guild_ids(self) -> set[int]:
        """Every guild with anything stored (credentials, settings, lookup history, audit):
        what `bot.cleanup` compares with the guilds the bot still holds."""
        ...

    async def record_lookup(
        self, guild_id: int, user_id: int, provider: str, ref: str, *, at: datetime | None = None
    ) -> None:
        """
        Remember that a member looked up `ref` (at most 100 characters) with `provider`, at
        `at` (default now). Also drops that member's entries older than HISTORY_DAYS before
        `at` and keeps at most HISTORY_KEEP per provider.
        """
        ...

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
        ...

    async def forget_history(self, guild_id: int, user_id: int) -> int:
        """Delete a member's lookup history in a guild at once; how many entries there were."""
        ...

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
        (a provider label, a role or channel mention): never a credential or anything typed.
        """
        ...

    async def list_audit(self, guild_id: int, limit: int = 25) -> list[AuditEntry]:
        """A guild's latest configuration changes, newest first."""
        ...

    async def get_guild_setting(self, guild_id: int, key: str) -> str | None:
        """A guild's (non-secret) setting, None if unset."""
        ...

    async def set_guild_setting(self, guild_id: int, key: str, value: str | None) -> None:
        """Set a guild's setting; None clears it."""
        ...

    async def get_meta(self, key: str) -> str | None:
        """A bot setting, None if unset."""
        ...

    async def set_meta(self, key: str, value: str) -> None:
        """Set a bot setting."""
        ...

    async def close(self) -> None:
        """Release the database."""
        ...

    # -- credential health (cogs/health.py) -------------------------------------------

    async def list_credential_health(self, guild_id: int | None = None) -> list[CredentialHealth]:
        """Every stored credential of a guild (None: of every guild) with what the background
        check last found about it since it was saved, by guild, provider then member."""
        ...

    async def put_credential_health(self, health: CredentialHealth) -> bool:
        """Store what a check found, only while the credential is still the one checked
        (`health.version`): False, with nothing written, if it was saved again or deleted."""
        ...

    async def put_user_credential(
        self, user_id: int, provider: str, secret: Mapping[str, str]
    ) -> None:
        """Store (or replace) a member's own credential for the app installed to their account
        (DMs, group DMs, servers without TicketLens): theirs everywhere, not per guild."""
        ...

    async def get_user_credential(self, user_id: int, provider: str) -> Credential | None:
        """A member's user-scope credential, None if absent; CredentialUnreadable (guild 0) if
        it does not open."""
        ...

    async def delete_user_credential(self, user_id: int, provider: str) -> bool:
        """Delete a member's user-scope credential; whether there was one."""
        ...

    async def list_user_credentials(self, user_id: int) -> list[CredentialInfo]:
        """A member's user-scope credentials, by provider, without their secrets (`user_id`
        and `set_by` are the member)."""
        ...

    # -- watches (/ticketwatch) --------------------------------------------------------

    async def add_watch(self, watch: Watch) -> int | None:
        """Store a new watch; its id, or None when the guild already watches that provider's
        `ref` of that kind (nothing is changed then)."""
        ...

    async def list_watches(self, guild_id: int | None = None) -> list[Watch]:
        """A guild's watches (None: every guild's), oldest first."""
        ...

    async def save_watch(self, watch: Watch) -> bool:
        """Write what a poll changed (state, thread, last success, failing since); whether the
        watch still exists."""
        ...

    async def delete_watch(self, watch_id: int) -> bool:
        """Delete one watch; whether there was one."""
        ...

    async def delete_watches_at(self, channel_id: int, message_id: int | None = None) -> list[int]:
        """Delete the watches whose card is `message_id` in `channel_id` (None: every watch
        posting in that channel); the ids deleted."""
        ...

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
        """
        Record a lookup shown in a guild for its admins (`/ticketconfig lookups`): who, which
        provider and ref (a longer one than 100 characters is kept cut, ending in "…"), the
        channel, and `shown` ("ephemeral", "public" or "shared"), at `at` (default now). Never
        ticket content. Batched in memory like `record_lookup`; each batch written also drops
        the rows older than `keep_days` before its newest. Kept by `forget_member`: it is the
        server's record, not the member's data.
        """
        ...

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
        """A guild's recorded lookups of the last `keep_days` (of one member, one provider,
        when given), newest first."""
        ...


def _load_migrations() -> list[Migration]:
    return load_migrations("migrations")


async def _applied_versions(conn: aiosqlite.Connection) -> set[int]:
    rows = await conn.execute_fetchall("SELECT version FROM schema_migrations")
    return {int(row[0]) for row in rows}


async def _migrate(conn: aiosqlite.Connection, path: Path, migrations: list[Migration]) -> None:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = await _applied_versions(conn)
    unknown = applied - {m.version for m in migrations}
    if unknown:
        raise SchemaTooNew(path, unknown)
    for migration in migrations:
        if migration.version in applied:
            continue
        try:
            # executescript() commits any open transaction before it runs, so the BEGIN goes
            # inside the script; the transaction stays open for the bookkeeping row below.
            await conn.executescript("BEGIN IMMEDIATE;\n" + migration.sql)
            if not conn.in_transaction:
                raise RuntimeError(f"migration {migration.name} must not end its transaction")
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, datetime.now(UTC).isoformat()),
            )
            await conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            # Another process starting on the same file may have applied it meanwhile.
            if migration.version in await _applied_versions(conn):
                continue
            raise


#: Every table holding sealed credentials, for a key rotation: the rows not sealed by the current
#: key (by the blob's header) as (guild, user column, provider, blob), the UPDATE of one, and
#: whether that UPDATE names the guild (else only the user and provider).
#: User-scope credentials are sealed for guild 0 (`bot.storecommon.USER_SCOPE`).
_SEALED_TABLES = (
    (
        "SELECT guild_id, user_id, provider, secret FROM credentials"
        " WHERE substr(secret, 1, ?) <> ?",
        "UPDATE credentials SET secret = ? WHERE guild_id = ? AND user_id = ? AND provider = ?",
        True,
    ),
    (
        "SELECT 0, user_id, provider, secret FROM user_credentials WHERE substr(secret, 1, ?) <> ?",
        "UPDATE user_credentials SET secret = ? WHERE user_id = ? AND provider = ?",
        False,
    ),
)

#: Rows kept in memory (sealed) for reads; a guild needs a handful.
_READ_CACHE_SIZE = 20_000
#: Bounds of the opened-credential cache (clear secrets in memory): how many, how long.
_OPENED_SIZE = 1024
_OPENED_TTL_S = 300.0


def _create_private(path: Path) -> None:
    """
    Create the database's folders (0700) and the empty file (0600) if they do not exist yet:
    it holds sealed credentials and who set them, which is nobody else's business on the host.
    SQLite gives its -wal and -shm files the main file's mode. Existing ones are left alone.
    """
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


class SqliteStore:
    """`Store` on one SQLite file (WAL mode); open it with `SqliteStore.open`."""

    def __init__(self, conn: aiosqlite.Connection, sealer: Sealer, path: Path) -> None:
        self._conn = conn
        self._sealer = sealer
        self._path = path
        # Every lookup reads a credential and the staff role: served from memory they cost no
        # trip through aiosqlite's single worker thread (which queued lookups under load).
        # This process is the only writer, so every write below invalidates what it touches;
        # rows stay sealed in the cache, secrets are opened per call. `_writes` stops a read
        # that raced a write from caching the value the write replaced. Entries are per guild,
        # and a guild's events all arrive at one shard, hence one process; processes that
        # split the shards (SHARD_IDS) share PostgreSQL instead, which keeps none (`bot.pgstore`).
        self._reads: LRUCache[tuple[object, ...], object] = LRUCache(maxsize=_READ_CACHE_SIZE)
        # Opened credentials, so a lookup neither decrypts nor re-hashes its credential. This
        # keeps secrets in clear in memory, so it is bounded: at most _OPENED_SIZE of them, each
        # for at most _OPENED_TTL_S, and dropped with every write to its guild (set, remove,
        # unlink) and when the guild is forgotten.
        self._opened: TTLCache[tuple[object, ...], Credential] = TTLCache(
            maxsize=_OPENED_SIZE, ttl=_OPENED_TTL_S
        )
        self._writes = 0
        self._history = HistoryBuffer(self._write_history)
        self._audit = AuditBuffer(self._write_audit)

    def _forget_guild_reads(self, guild_id: int) -> None:
        # Writes are rare (admins configuring): dropping a whole guild's entries is simplest.
        # Called before a write's first statement is queued, so no later read is answered from
        # memory ahead of it (aiosqlite's queue keeps reads after it), and again after its
        # last, for reads that ran between two of its statements.
        self._writes += 1
        for key in [k for k in self._reads if k[1] == guild_id]:
            self._reads.pop(key, None)
        for key in [k for k in self._opened if k[1] == guild_id]:
            self._opened.pop(key, None)

    async def _read_one(
        self, key: tuple[object, ...], sql: str, params: tuple[object, ...]
    ) -> object:
        """The first column of one row (None if no row), through the read cache."""
        if key in self._reads:
            return self._reads[key]
        writes = self._writes
        async with self._conn.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        value = None if row is None else row[0]
        if writes == self._writes:
            self._reads[key] = value
        return value

    @classmethod
    async def open(cls, path: Path, sealer: Sealer) -> SqliteStore:
        """Open (creating if needed) and migrate the database, then check the key against it."""
        await asyncio.to_thread(_create_private, path)
        migrations = await asyncio.to_thread(_load_migrations)
        # Autocommit: every write is durable as soon as it returns; transactions are explicit.
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            # Set before switching to WAL, which itself needs the lock.
            await conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA journal_mode = WAL")
            # WAL's usual NORMAL can lose the last writes on power loss; writes here are rare.
            await conn.execute("PRAGMA synchronous = FULL")
            await _migrate(conn, path, migrations)
            store = cls(conn, sealer, path)
            await store._check_key()
            await store._rotate()
        except BaseException:
            await conn.close()
            raise
        return store

    async def _check_key(self) -> None:
        stored = await self.get_meta(KEY_CHECK)
        if stored is None:
            # A database that lost its canary but has credentials: judge the key by one of them
            # rather than stamping a canary for a key that cannot read them.
            async with self._conn.execute(
                "SELECT guild_id, user_id, provider, secret FROM credentials LIMIT 1"
            ) as cursor:
                row = await cursor.fetchone()
            if row is not None and not credential_opens(
                self._sealer, bytes(row[3]), int(row[0]), int(row[1]), str(row[2])
            ):
                raise KeyMismatch(self._path)
            # DO NOTHING: if another process wrote a canary meanwhile, theirs is checked below.
            await self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (KEY_CHECK, new_canary(self._sealer)),
            )
            stored = await self.get_meta(KEY_CHECK)
        if stored is None or not canary_opens(self._sealer, stored):
            raise KeyMismatch(self._path)

    async def _rotate(self) -> None:
        """
        Re-seal, in one transaction, every stored secret that an old key (OLD_SECRET_KEYS)
        sealed, under the current key. SecretsUnopenable, with nothing changed, if any is
        sealed by no configured key. Blobs already under the current key are found by their
        header in SQL and never opened, so a start with nothing to rotate reads no secret.
        """
        header = self._sealer.header
        await self._conn.execute("BEGIN IMMEDIATE")
        try:
            unopenable: list[str] = []
            count = 0
            for select, update, by_guild in _SEALED_TABLES:
                for guild_id, user, provider, sealed in await self._conn.execute_fetchall(
                    select, (len(header), header)
                ):
                    row = (int(guild_id), int(user), str(provider), bytes(sealed))
                    resealed = reseal_credential(self._sealer, row)
                    if resealed is None:
                        unopenable.append(sealed_key_id(row[3]) or "format 1")
                        continue
                    keys = row[:3] if by_guild else row[1:3]
                    await self._conn.execute(update, (resealed, *keys))
                    count += 1
            if unopenable:
                raise SecretsUnopenable(self._path, len(unopenable), unopenable)
            canary = await self.get_meta(KEY_CHECK)
            resealed_canary = None if canary is None else reseal_canary(self._sealer, canary)
            if resealed_canary is not None:
                await self._conn.execute(
                    "UPDATE meta SET value = ? WHERE key = ?", (resealed_canary, KEY_CHECK)
                )
            await self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                await self._conn.execute("ROLLBACK")
            raise
        self._reads.clear()
        log_resealed(count, self._sealer)

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
        self._forget_guild_reads(guild_id)
        await self._conn.execute(
            "INSERT INTO credentials (guild_id, user_id, provider, secret, set_by, set_at)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (guild_id, user_id, provider) DO UPDATE SET"
            " secret = excluded.secret, set_by = excluded.set_by, set_at = excluded.set_at",
            (guild_id, user, provider, sealed, set_by, datetime.now(UTC).isoformat()),
        )
        self._forget_guild_reads(guild_id)

    async def get_credential(
        self, guild_id: int, user_id: int | None, provider: str
    ) -> Credential | None:
        """The decrypted credential, None if absent; CredentialUnreadable if it does not open."""
        check_id("guild_id", guild_id)
        user = user_column(user_id)
        key = ("credential", guild_id, user, check_provider(provider))
        opened = self._opened.get(key)
        if opened is not None:
            return opened
        writes = self._writes
        sealed = await self._read_one(
            key,
            "SELECT secret FROM credentials WHERE guild_id = ? AND user_id = ? AND provider = ?",
            (guild_id, user, provider),
        )
        if sealed is None:
            return None
        credential = open_credential(self._sealer, sealed, guild_id, user_id, provider)
        if writes == self._writes:
            self._opened[key] = credential
        return credential

    async def delete_credential(self, guild_id: int, user_id: int | None, provider: str) -> bool:
        """Delete one credential; whether there was one."""
        check_id("guild_id", guild_id)
        self._forget_guild_reads(guild_id)
        deleted = await self._delete(
            "DELETE FROM credentials WHERE guild_id = ? AND user_id = ? AND provider = ?",
            (guild_id, user_column(user_id), check_provider(provider)),
        )
        await self._delete_health(guild_id, user_column(user_id), provider)
        self._forget_guild_reads(guild_id)
        return deleted > 0

    async def list_credentials(self, guild_id: int) -> list[CredentialInfo]:
        """A guild's credentials, by provider then member (the guild's own first), no secrets."""
        check_id("guild_id", guild_id)
        rows = await self._conn.execute_fetchall(
            "SELECT provider, user_id, set_by, set_at FROM credentials WHERE guild_id = ?"
            " ORDER BY provider, user_id",
            (guild_id,),
        )
        return [
            CredentialInfo(
                provider=str(provider),
                user_id=user_from_column(int(user)),
                set_by=int(set_by),
                set_at=parse_time(str(set_at)),
            )
            for provider, user, set_by, set_at in rows
        ]

    async def forget_guild(self, guild_id: int) -> int:
        """
        Delete everything kept about a guild: credentials, settings, lookup history and
        audit. Returns how many credentials there were (the rest is not counted).
        """
        check_id("guild_id", guild_id)
        self._forget_guild_reads(guild_id)
        # Credentials first: a lookup queued behind this statement must already miss them.
        deleted = await self._delete("DELETE FROM credentials WHERE guild_id = ?", (guild_id,))
        await self._delete("DELETE FROM guild_settings WHERE guild_id = ?", (guild_id,))
        self._history.drop(guild_id)
        await self._delete("DELETE FROM lookup_history WHERE guild_id = ?", (guild_id,))
        await self._delete("DELETE FROM config_audit WHERE guild_id = ?", (guild_id,))
        await self._delete("DELETE FROM credential_health WHERE guild_id = ?", (guild_id,))
        await self._delete("DELETE FROM watches WHERE guild_id = ?", (guild_id,))
        self._audit.drop(guild_id)
        await self._delete("DELETE FROM lookup_audit WHERE guild_id = ?", (guild_id,))
        self._forget_guild_reads(guild_id)
        return deleted

    async def guild_ids(self) -> set[int]:
        """Every guild with anything stored (credentials, settings, lookup history, audit)."""
        await self._history.flush()  # lookups still in memory are stored rows too
        await self._audit.flush()
        rows = await self._conn.execute_fetchall(GUILD_IDS_SQL)
        return {int(row[0]) for row in rows}

    async def forget_member(self, guild_id: int, user_id: int) -> int:
        """
        Delete every credential a member linked in a guild, and their lookup history there.
        Returns how many credentials there were (history rows are not counted).
        """
        # check_id refuses 0, so this can never reach the guild's own credentials.
        self._forget_guild_reads(check_id("guild_id", guild_id))
        deleted = await self._delete(
            "DELETE FROM credentials WHERE guild_id = ? AND user_id = ?",
            (check_id("guild_id", guild_id), check_id("user_id", user_id)),
        )
        await self._delete(
            "DELETE FROM credential_health WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        self._forget_guild_reads(guild_id)
        await self.forget_history(guild_id, user_id)
        return deleted

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
        """Write a batch of recorded lookups: one INSERT per batch (one sync), then the pruning."""
        rows = [(*key, sortable(at)) for key, at in pending.items()]
        for start in range(0, len(rows), HISTORY_BATCH):
            chunk = rows[start : start + HISTORY_BATCH]
            # One statement, so one transaction and one sync for the whole batch (with
            # autocommit, executemany would commit, and sync, row by row).
            # MAX keeps the newest time when an older lookup is written after a newer one.
            # Only placeholders are joined in: every value is a bound parameter.
            placeholders = ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
            await self._conn.execute(
                "INSERT INTO lookup_history (guild_id, user_id, provider, ref, used_at)"  # noqa: S608
                f" VALUES {placeholders} ON CONFLICT (guild_id, user_id, provider, ref)"
                " DO UPDATE SET used_at = max(used_at, excluded.used_at)",
                tuple(value for row in chunk for value in row),
            )
        # Pruned on the members' own writes, so no timer is needed and a member's history
        # never outgrows one batch. A DELETE that deletes nothing costs no sync.
        newest: dict[tuple[int, int, str], datetime] = {}
        for (guild_id, user_id, provider, _), at in pending.items():
            member = (guild_id, user_id, provider)
            newest[member] = max(newest.get(member, at), at)
        await self._conn.executemany(
            "DELETE FROM lookup_history WHERE guild_id = ? AND user_id = ? AND ("
            " used_at < ?"
            " OR (provider = ? AND ref NOT IN ("
            "  SELECT ref FROM lookup_history"
            "  WHERE guild_id = ? AND user_id = ? AND provider = ?"
            "  ORDER BY used_at DESC, ref LIMIT ?)))",
            [
                (
                    guild_id,
                    user_id,
                    sortable(at - timedelta(days=HISTORY_DAYS)),
                    provider,
                    guild_id,
                    user_id,
                    provider,
                    HISTORY_KEEP,
                )
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
        cutoff = moment(now) - timedelta(days=HISTORY_DAYS)
        rows = await self._conn.execute_fetchall(
            "SELECT ref FROM lookup_history"
            " WHERE guild_id = ? AND user_id = ? AND provider = ? AND used_at >= ?"
            " ORDER BY used_at DESC, ref LIMIT ?",
            (guild_id, user_id, provider, sortable(cutoff), check_limit(limit)),
        )
        return [str(row[0]) for row in rows]

    async def forget_history(self, guild_id: int, user_id: int) -> int:
        """Delete a member's lookup history in a guild at once; how many entries there were."""
        if self._history.waiting(guild_id, user_id):
            await self._history.flush()  # so the count is of every entry the member had
        return await self._delete(
            "DELETE FROM lookup_history WHERE guild_id = ? AND user_id = ?",
            (check_id("guild_id", guild_id), check_id("user_id", user_id)),
        )

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
        await self._conn.execute(
            "INSERT INTO config_audit (guild_id, actor_id, action, detail, at)"
            " VALUES (?, ?, ?, ?, ?)",
            (guild_id, actor_id, action, detail, sortable(moment(at))),
        )
        # A guild's audit stays bounded however often its admins change things.
        await self._delete(
            "DELETE FROM config_audit WHERE guild_id = ? AND id NOT IN ("
            " SELECT id FROM config_audit WHERE guild_id = ? ORDER BY at DESC, id DESC LIMIT ?)",
            (guild_id, guild_id, AUDIT_KEEP),
        )

    async def list_audit(self, guild_id: int, limit: int = 25) -> list[AuditEntry]:
        """A guild's latest configuration changes, newest first."""
        rows = await self._conn.execute_fetchall(
            "SELECT at, actor_id, action, detail FROM config_audit WHERE guild_id = ?"
            " ORDER BY at DESC, id DESC LIMIT ?",
            (check_id("guild_id", guild_id), check_limit(limit)),
        )
        return [
            AuditEntry(
                at=parse_time(str(at)), actor_id=int(actor), action=str(action), detail=str(detail)
            )
            for at, actor, action, detail in rows
        ]

    async def get_guild_setting(self, guild_id: int, key: str) -> str | None:
        """A guild's (non-secret) setting, None if unset."""
        value = await self._read_one(
            ("setting", check_id("guild_id", guild_id), key),
            "SELECT value FROM guild_settings WHERE guild_id = ? AND key = ?",
            (guild_id, key),
        )
        return None if value is None else str(value)

    async def set_guild_setting(self, guild_id: int, key: str, value: str | None) -> None:
        """Set a guild's setting; None clears it."""
        check_id("guild_id", guild_id)
        self._forget_guild_reads(guild_id)
        if value is None:
            await self._delete(
                "DELETE FROM guild_settings WHERE guild_id = ? AND key = ?", (guild_id, key)
            )
        else:
            await self._conn.execute(
                "INSERT INTO guild_settings (guild_id, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (guild_id, key) DO UPDATE SET value = excluded.value",
                (guild_id, key, value),
            )
        self._forget_guild_reads(guild_id)

    async def get_meta(self, key: str) -> str | None:
        """A bot setting, None if unset."""
        async with self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str) -> None:
        """Set a bot setting."""
        if key == KEY_CHECK:
            # Overwriting the canary would make the next start refuse the right key.
            raise ValueError(f"{KEY_CHECK!r} is reserved")
        await self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def close(self) -> None:
        """Write the recorded lookups still waiting, then release the database (SQLite folds
        the WAL back into the main file)."""
        await self._history.close()
        await self._audit.close()
        await self._conn.close()

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
        """Write a batch of audit rows (one INSERT per batch: one sync), then drop what is
        older than `cutoff` (through the index on `at`: nothing to drop costs no sync)."""
        for start in range(0, len(rows), HISTORY_BATCH):
            chunk = rows[start : start + HISTORY_BATCH]
            # Only placeholders are joined in: every value is a bound parameter.
            placeholders = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            values: list[object] = []
            for guild_id, r in chunk:
                values += (guild_id, r.user_id, r.provider, r.ref, r.channel_id, r.shown)
                values.append(sortable(r.at))
            await self._conn.execute(
                "INSERT INTO lookup_audit"  # noqa: S608
                " (guild_id, user_id, provider, ref, channel_id, shown, at)"
                f" VALUES {placeholders}",
                values,
            )
        await self._conn.execute("DELETE FROM lookup_audit WHERE at < ?", (sortable(cutoff),))

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
        cutoff = moment(now) - timedelta(days=check_days(keep_days))
        rows = await self._conn.execute_fetchall(
            "SELECT at, user_id, provider, ref, channel_id, shown FROM lookup_audit"
            " WHERE guild_id = ? AND at >= ? AND (? IS NULL OR user_id = ?)"
            " AND (? IS NULL OR provider = ?)"
            " ORDER BY at DESC, id DESC LIMIT ?",
            (guild_id, sortable(cutoff), member, member, chosen, chosen, check_limit(limit)),
        )
        return [
            LookupRecord(
                at=parse_time(str(at)),
                user_id=int(user),
                provider=str(key),
                ref=str(ref),
                channel_id=None if channel is None else int(channel),
                shown=str(shown),
            )
            for at, user, key, ref, channel, shown in rows
        ]

    async def _delete(self, sql: str, parameters: tuple[object, ...]) -> int:
        async with self._conn.execute(sql, parameters) as cursor:
            return cursor.rowcount

    async def put_user_credential(
        self, user_id: int, provider: str, secret: Mapping[str, str]
    ) -> None:
        """Store (or replace) a member's own credential for the app installed to their account
        (DMs, group DMs, servers without TicketLens): theirs everywhere, not per guild."""
        sealed = seal_user_credential(self._sealer, user_id, check_provider(provider), secret)
        await self._conn.execute(
            "INSERT INTO user_credentials (user_id, provider, secret, set_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id, provider) DO UPDATE SET"
            " secret = excluded.secret, set_at = excluded.set_at",
            (user_id, provider, sealed, datetime.now(UTC).isoformat()),
        )

    async def get_user_credential(self, user_id: int, provider: str) -> Credential | None:
        """A member's user-scope credential, None if absent; CredentialUnreadable (guild 0) if
        it does not open. Not cached: these are read only by lookups outside the bot's guilds."""
        async with self._conn.execute(
            "SELECT secret FROM user_credentials WHERE user_id = ? AND provider = ?",
            (check_id("user_id", user_id), check_provider(provider)),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return open_user_credential(self._sealer, row[0], user_id, provider)

    async def delete_user_credential(self, user_id: int, provider: str) -> bool:
        """Delete a member's user-scope credential; whether there was one."""
        deleted = await self._delete(
            "DELETE FROM user_credentials WHERE user_id = ? AND provider = ?",
            (check_id("user_id", user_id), check_provider(provider)),
        )
        return deleted > 0

    async def list_user_credentials(self, user_id: int) -> list[CredentialInfo]:
        """A member's user-scope credentials, by provider, without their secrets."""
        rows = await self._conn.execute_fetchall(
            "SELECT provider, set_at FROM user_credentials WHERE user_id = ? ORDER BY provider",
            (check_id("user_id", user_id),),
        )
        return [
            CredentialInfo(
                provider=str(provider),
                user_id=user_id,
                set_by=user_id,
                set_at=parse_time(str(set_at)),
            )
            for provider, set_at in rows
        ]

    # -- watches (/ticketwatch) --------------------------------------------------------

    async def add_watch(self, watch: Watch) -> int | None:
        """Store a new watch; its id, or None when the guild already watches that ref."""
        check_watch(watch)
        async with self._conn.execute(
            "INSERT INTO watches (guild_id, channel_id, message_id, thread_id, provider, kind,"
            " ref, state, added_by, added_at, last_ok_at, failing_since)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (guild_id, provider, kind, ref) DO NOTHING RETURNING id",
            (
                watch.guild_id,
                watch.channel_id,
                watch.message_id,
                watch.thread_id,
                watch.provider,
                watch.kind,
                watch.ref,
                watch.state,
                watch.added_by,
                sortable(moment(watch.added_at)),
                sortable(moment(watch.last_ok_at)),
                None if watch.failing_since is None else sortable(moment(watch.failing_since)),
            ),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else int(row[0])

    async def list_watches(self, guild_id: int | None = None) -> list[Watch]:
        """A guild's watches (None: every guild's), oldest first."""
        columns = (
            "SELECT id, guild_id, channel_id, message_id, thread_id, provider, kind, ref, state,"
            " added_by, added_at, last_ok_at, failing_since FROM watches"
        )
        if guild_id is None:
            rows = await self._conn.execute_fetchall(columns + " ORDER BY id")
        else:
            rows = await self._conn.execute_fetchall(
                columns + " WHERE guild_id = ? ORDER BY id", (check_id("guild_id", guild_id),)
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
                added_at=parse_time(str(row[10])),
                last_ok_at=parse_time(str(row[11])),
                failing_since=None if row[12] is None else parse_time(str(row[12])),
            )
            for row in rows
        ]

    async def save_watch(self, watch: Watch) -> bool:
        """Write what a poll changed; whether the watch still exists."""
        check_watch(watch)
        return (
            await self._delete(
                "UPDATE watches SET state = ?, thread_id = ?, last_ok_at = ?, failing_since = ?"
                " WHERE id = ?",
                (
                    watch.state,
                    watch.thread_id,
                    sortable(moment(watch.last_ok_at)),
                    None if watch.failing_since is None else sortable(moment(watch.failing_since)),
                    watch.id,
                ),
            )
            > 0
        )

    async def delete_watch(self, watch_id: int) -> bool:
        """Delete one watch; whether there was one."""
        return await self._delete("DELETE FROM watches WHERE id = ?", (watch_id,)) > 0

    async def delete_watches_at(self, channel_id: int, message_id: int | None = None) -> list[int]:
        """Delete the watches of a card (or of every card and feed in a channel); their ids."""
        check_id("channel_id", channel_id)
        params: tuple[int, ...]
        if message_id is None:
            sql, params = "DELETE FROM watches WHERE channel_id = ? RETURNING id", (channel_id,)
        else:
            sql = "DELETE FROM watches WHERE channel_id = ? AND message_id = ? RETURNING id"
            params = (channel_id, check_id("message_id", message_id))
        rows = await self._conn.execute_fetchall(sql, params)
        return [int(row[0]) for row in rows]

    # -- credential health (cogs/health.py) -------------------------------------------

    async def _delete_health(self, guild_id: int, user: int, provider: str) -> None:
        """Forget what the checks found about one credential (saved again, or deleted)."""
        await self._delete(
            "DELETE FROM credential_health WHERE guild_id = ? AND user_id = ? AND provider = ?",
            (guild_id, user, provider),
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
        params: tuple[object, ...] = ()
        if guild_id is not None:
            sql += " WHERE c.guild_id = ?"
            params = (check_id("guild_id", guild_id),)
        rows = await self._conn.execute_fetchall(
            sql + " ORDER BY c.guild_id, c.provider, c.user_id", params
        )
        return [
            CredentialHealth(
                guild_id=int(row[0]),
                user_id=user_from_column(int(row[1])),
                provider=str(row[2]),
                set_at=parse_time(str(row[3])),
                version=str(row[3]),
                checked_at=None if row[4] is None else parse_time(str(row[4])),
                failing_since=None if row[5] is None else parse_time(str(row[5])),
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
        assert health.checked_at is not None  # check_health
        user = user_column(health.user_id)
        # One statement: the credential's row is matched and the health row written at once,
        # so a save or a removal queued meanwhile can never be overwritten by an older check.
        async with self._conn.execute(
            "INSERT INTO credential_health (guild_id, user_id, provider, set_at, checked_at,"
            " failing_since, reason, unreachable, reported, stopped)"
            " SELECT guild_id, user_id, provider, set_at, ?, ?, ?, ?, ?, ? FROM credentials"
            " WHERE guild_id = ? AND user_id = ? AND provider = ? AND set_at = ?"
            " ON CONFLICT (guild_id, user_id, provider) DO UPDATE SET"
            " set_at = excluded.set_at, checked_at = excluded.checked_at,"
            " failing_since = excluded.failing_since, reason = excluded.reason,"
            " unreachable = excluded.unreachable, reported = excluded.reported,"
            " stopped = excluded.stopped",
            (
                sortable(health.checked_at),
                None if health.failing_since is None else sortable(health.failing_since),
                health.reason,
                health.unreachable,
                int(health.reported),
                int(health.stopped),
                health.guild_id,
                user,
                health.provider,
                health.version,
            ),
        ) as cursor:
            return cursor.rowcount > 0
