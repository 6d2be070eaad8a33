"""
Where credentials, bot settings, members' lookup history and the configuration audit are kept.

`Store` is the interface the rest of the bot uses; `SqliteStore` implements it with aiosqlite,
and all SQL lives in this module. Credentials are sealed by `bot.crypto.Sealer` before they
reach the database: in clear it holds only ids, the provider key, who set it and when. The
lookup history (ticket references) and the audit (the bot's own words) hold no secrets.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Protocol

import aiosqlite
from cachetools import LRUCache, TTLCache

from bot.crypto import Sealer, SealError
from bot.providers.base import Credential

_KEY_CHECK = "key_check"
_CANARY = b"ticketlens key check v1"
_MIGRATION_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
log = logging.getLogger(__name__)

_BUSY_TIMEOUT_MS = 5000
# SQLite integers are signed 64-bit; Discord snowflakes are positive and fit.
_MAX_ID = 2**63 - 1
# NULL is never equal to NULL, so it cannot be part of a unique primary key.
_GUILD_ROW = 0

#: How long a member's lookup history is kept, and how much of it per provider.
HISTORY_DAYS = 30
HISTORY_KEEP = 100
#: Recorded lookups wait in memory at most this long, then are written together: one
#: durable write per batch instead of one per lookup (measured under `make bench`: a write per
#: lookup took a quarter of the bot's throughput). History is a convenience: a crash loses at
#: most this much of it, and a clean close writes it.
HISTORY_FLUSH_S = 2.0
#: ... or as soon as this many wait (and at most this many rows per INSERT statement).
HISTORY_BATCH = 500
#: Longest ticket reference kept in the history (Discord's autocomplete values are 100 max).
MAX_REF_LENGTH = 100
#: Bounds of an audit entry's words, and how many entries a guild keeps (the newest).
MAX_ACTION_LENGTH = 50
MAX_DETAIL_LENGTH = 200
AUDIT_KEEP = 100


@dataclass(frozen=True)
class CredentialInfo:
    """What is known about a stored credential without opening it."""

    provider: str
    user_id: int | None
    set_by: int
    set_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """One configuration change: when (UTC), who, what, and on what (never a secret)."""

    at: datetime
    actor_id: int
    action: str
    detail: str


class KeyMismatch(Exception):
    """The key does not open the stored credentials; nothing was changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"SECRET_KEY (or the key file) does not match the key that encrypted the stored "
            f"credentials in {path}; start with the original key".replace("\n", "\\n")
        )


class CredentialUnreadable(Exception):
    """One stored credential does not open (tampered, corrupted, or copied from another row)."""

    def __init__(self, guild_id: int, user_id: int | None, provider: str) -> None:
        self.guild_id = guild_id
        self.user_id = user_id
        self.provider = provider
        whose = "the guild" if user_id is None else f"member {user_id}"
        super().__init__(
            f"the stored {provider!r} credential of {whose} in guild {guild_id} cannot be read"
        )


class SchemaTooNew(Exception):
    """The database was migrated by a newer TicketLens than this one."""

    def __init__(self, path: Path, unknown: Iterable[int]) -> None:
        versions = ", ".join(str(v) for v in sorted(unknown))
        super().__init__(
            f"the database {path} has migrations this version does not know ({versions}); "
            "run a newer TicketLens".replace("\n", "\\n")
        )


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


@dataclass(frozen=True)
class _Migration:
    version: int
    name: str
    sql: str


def _load_migrations() -> list[_Migration]:
    folder = resources.files("bot").joinpath("migrations")
    found: dict[int, _Migration] = {}
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations numbered {version:04d}")
        found[version] = _Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def _applied_versions(conn: aiosqlite.Connection) -> set[int]:
    rows = await conn.execute_fetchall("SELECT version FROM schema_migrations")
    return {int(row[0]) for row in rows}


async def _migrate(conn: aiosqlite.Connection, path: Path, migrations: list[_Migration]) -> None:
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


def _check_id(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int")
    if not 0 < value <= _MAX_ID:
        raise ValueError(f"{name} must be a positive 64-bit id")
    return value


def _user_column(user_id: int | None) -> int:
    return _GUILD_ROW if user_id is None else _check_id("user_id", user_id)


def _check_provider(provider: str) -> str:
    if not isinstance(provider, str) or not provider:
        raise ValueError("provider must be a non-empty str")
    return provider


def _check_text(name: str, value: str, limit: int, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str")
    if not value and not empty:
        raise ValueError(f"{name} must not be empty")
    if len(value) > limit:
        raise ValueError(f"{name} must be at most {limit} characters")
    return value


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError("limit must be an int")
    if limit < 1:
        raise ValueError("limit must be 1 or more")
    return limit


def _moment(at: datetime | None) -> datetime:
    """`at` in UTC (None: now); a naive time is refused rather than guessed."""
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    return at.astimezone(UTC)


def _sortable(at: datetime) -> str:
    # Always with microseconds, so that comparing the stored text compares the times.
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_time(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    # Everything this module writes is UTC; a naive value can only come from a hand edit.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


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
        # that raced a write from caching the value the write replaced.
        self._reads: LRUCache[tuple[object, ...], object] = LRUCache(maxsize=_READ_CACHE_SIZE)
        # Opened credentials, so a lookup neither decrypts nor re-hashes its credential. This
        # keeps secrets in clear in memory, so it is bounded: at most _OPENED_SIZE of them, each
        # for at most _OPENED_TTL_S, and dropped with every write to its guild (set, remove,
        # unlink) and when the guild is forgotten.
        self._opened: TTLCache[tuple[object, ...], Credential] = TTLCache(
            maxsize=_OPENED_SIZE, ttl=_OPENED_TTL_S
        )
        self._writes = 0
        # Recorded lookups not yet written: (guild, user, provider, ref) -> newest time.
        self._pending: dict[tuple[int, int, str, str], str] = {}
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        self._closed = False

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
        except BaseException:
            await conn.close()
            raise
        return store

    async def _check_key(self) -> None:
        stored = await self.get_meta(_KEY_CHECK)
        if stored is None:
            # A database that lost its canary but has credentials: judge the key by one of them
            # rather than stamping a canary for a key that cannot read them.
            async with self._conn.execute(
                "SELECT guild_id, user_id, provider, secret FROM credentials LIMIT 1"
            ) as cursor:
                row = await cursor.fetchone()
            if row is not None:
                try:
                    self._sealer.open(
                        bytes(row[3]),
                        guild_id=int(row[0]),
                        user_id=None if row[1] == _GUILD_ROW else int(row[1]),
                        provider=str(row[2]),
                    )
                except SealError:
                    raise KeyMismatch(self._path) from None
            canary = self._sealer.seal_meta(_CANARY, name=_KEY_CHECK)
            # DO NOTHING: if another process wrote a canary meanwhile, theirs is checked below.
            await self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (_KEY_CHECK, base64.b64encode(canary).decode("ascii")),
            )
            stored = await self.get_meta(_KEY_CHECK)
        if stored is None or not self._canary_opens(stored):
            raise KeyMismatch(self._path)

    def _canary_opens(self, stored: str) -> bool:
        try:
            sealed = base64.b64decode(stored, validate=True)
            return self._sealer.open_meta(sealed, name=_KEY_CHECK) == _CANARY
        except (binascii.Error, SealError):
            return False

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
        _check_id("guild_id", guild_id)
        user = _user_column(user_id)
        _check_provider(provider)
        _check_id("set_by", set_by)
        fields = dict(secret)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
            raise TypeError("a credential maps str field keys to str values")
        plaintext = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
        sealed = self._sealer.seal(plaintext, guild_id=guild_id, user_id=user_id, provider=provider)
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
        _check_id("guild_id", guild_id)
        user = _user_column(user_id)
        key = ("credential", guild_id, user, _check_provider(provider))
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
        if not isinstance(sealed, bytes):
            raise CredentialUnreadable(guild_id, user_id, provider)
        try:
            plaintext = self._sealer.open(
                sealed,
                guild_id=guild_id,
                user_id=user_id,
                provider=provider,
            )
            fields = json.loads(plaintext)
        except (SealError, ValueError, TypeError):
            raise CredentialUnreadable(guild_id, user_id, provider) from None
        if not isinstance(fields, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
        ):
            raise CredentialUnreadable(guild_id, user_id, provider)
        credential = Credential(fields)
        if writes == self._writes:
            self._opened[key] = credential
        return credential

    async def delete_credential(self, guild_id: int, user_id: int | None, provider: str) -> bool:
        """Delete one credential; whether there was one."""
        _check_id("guild_id", guild_id)
        self._forget_guild_reads(guild_id)
        deleted = await self._delete(
            "DELETE FROM credentials WHERE guild_id = ? AND user_id = ? AND provider = ?",
            (guild_id, _user_column(user_id), _check_provider(provider)),
        )
        self._forget_guild_reads(guild_id)
        return deleted > 0

    async def list_credentials(self, guild_id: int) -> list[CredentialInfo]:
        """A guild's credentials, by provider then member (the guild's own first), no secrets."""
        _check_id("guild_id", guild_id)
        rows = await self._conn.execute_fetchall(
            "SELECT provider, user_id, set_by, set_at FROM credentials WHERE guild_id = ?"
            " ORDER BY provider, user_id",
            (guild_id,),
        )
        return [
            CredentialInfo(
                provider=str(provider),
                user_id=None if user == _GUILD_ROW else int(user),
                set_by=int(set_by),
                set_at=_parse_time(str(set_at)),
            )
            for provider, user, set_by, set_at in rows
        ]

    async def forget_guild(self, guild_id: int) -> int:
        """
        Delete everything kept about a guild: credentials, settings, lookup history and
        audit. Returns how many credentials there were (the rest is not counted).
        """
        _check_id("guild_id", guild_id)
        self._forget_guild_reads(guild_id)
        # Credentials first: a lookup queued behind this statement must already miss them.
        deleted = await self._delete("DELETE FROM credentials WHERE guild_id = ?", (guild_id,))
        await self._delete("DELETE FROM guild_settings WHERE guild_id = ?", (guild_id,))
        self._drop_pending(guild_id)
        await self._delete("DELETE FROM lookup_history WHERE guild_id = ?", (guild_id,))
        await self._delete("DELETE FROM config_audit WHERE guild_id = ?", (guild_id,))
        self._forget_guild_reads(guild_id)
        return deleted

    async def forget_member(self, guild_id: int, user_id: int) -> int:
        """
        Delete every credential a member linked in a guild, and their lookup history there.
        Returns how many credentials there were (history rows are not counted).
        """
        # _check_id refuses 0, so this can never reach the guild's own credentials.
        self._forget_guild_reads(_check_id("guild_id", guild_id))
        deleted = await self._delete(
            "DELETE FROM credentials WHERE guild_id = ? AND user_id = ?",
            (_check_id("guild_id", guild_id), _check_id("user_id", user_id)),
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
        _check_id("guild_id", guild_id)
        _check_id("user_id", user_id)
        _check_provider(provider)
        _check_text("ref", ref, MAX_REF_LENGTH)
        if self._closed:
            return  # a lookup that finished while the bot was shutting down
        key = (guild_id, user_id, provider, ref)
        moment = _sortable(_moment(at))
        # The newest time wins when an older lookup is recorded after a newer one.
        if self._pending.get(key, "") < moment:
            self._pending[key] = moment
        if len(self._pending) >= HISTORY_BATCH:
            await self._flush_history()
        elif self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(
                HISTORY_FLUSH_S, self._flush_later
            )

    def _flush_later(self) -> None:
        self._flush_timer = None
        task = asyncio.ensure_future(self._flush_history())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush_history(self) -> None:
        """Write every waiting lookup: one INSERT per batch (one sync), then the pruning."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        pending, self._pending = self._pending, {}
        rows = [(*key, moment) for key, moment in pending.items()]
        try:
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
            newest: dict[tuple[int, int, str], str] = {}
            for (guild_id, user_id, provider, _), moment in pending.items():
                member = (guild_id, user_id, provider)
                newest[member] = max(newest.get(member, ""), moment)
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
                        _sortable(_parse_time(moment) - timedelta(days=HISTORY_DAYS)),
                        provider,
                        guild_id,
                        user_id,
                        provider,
                        HISTORY_KEEP,
                    )
                    for (guild_id, user_id, provider), moment in newest.items()
                ],
            )
        except Exception:
            # Never the refs themselves in the log: they are what members looked up.
            log.warning("could not write %d recorded lookup(s)", len(rows), exc_info=True)

    def _drop_pending(self, guild_id: int, user_id: int | None = None) -> None:
        for key in [k for k in self._pending if k[0] == guild_id and user_id in (None, k[1])]:
            del self._pending[key]

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
        _check_id("guild_id", guild_id)
        _check_id("user_id", user_id)
        _check_provider(provider)
        if any(k[:3] == (guild_id, user_id, provider) for k in self._pending):
            await self._flush_history()
        cutoff = _moment(now) - timedelta(days=HISTORY_DAYS)
        rows = await self._conn.execute_fetchall(
            "SELECT ref FROM lookup_history"
            " WHERE guild_id = ? AND user_id = ? AND provider = ? AND used_at >= ?"
            " ORDER BY used_at DESC, ref LIMIT ?",
            (guild_id, user_id, provider, _sortable(cutoff), _check_limit(limit)),
        )
        return [str(row[0]) for row in rows]

    async def forget_history(self, guild_id: int, user_id: int) -> int:
        """Delete a member's lookup history in a guild at once; how many entries there were."""
        if any(k[:2] == (guild_id, user_id) for k in self._pending):
            await self._flush_history()  # so the count is of every entry the member had
        return await self._delete(
            "DELETE FROM lookup_history WHERE guild_id = ? AND user_id = ?",
            (_check_id("guild_id", guild_id), _check_id("user_id", user_id)),
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
        _check_id("guild_id", guild_id)
        _check_id("actor_id", actor_id)
        _check_text("action", action, MAX_ACTION_LENGTH)
        _check_text("detail", detail, MAX_DETAIL_LENGTH, empty=True)
        await self._conn.execute(
            "INSERT INTO config_audit (guild_id, actor_id, action, detail, at)"
            " VALUES (?, ?, ?, ?, ?)",
            (guild_id, actor_id, action, detail, _sortable(_moment(at))),
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
            (_check_id("guild_id", guild_id), _check_limit(limit)),
        )
        return [
            AuditEntry(
                at=_parse_time(str(at)), actor_id=int(actor), action=str(action), detail=str(detail)
            )
            for at, actor, action, detail in rows
        ]

    async def get_guild_setting(self, guild_id: int, key: str) -> str | None:
        """A guild's (non-secret) setting, None if unset."""
        value = await self._read_one(
            ("setting", _check_id("guild_id", guild_id), key),
            "SELECT value FROM guild_settings WHERE guild_id = ? AND key = ?",
            (guild_id, key),
        )
        return None if value is None else str(value)

    async def set_guild_setting(self, guild_id: int, key: str, value: str | None) -> None:
        """Set a guild's setting; None clears it."""
        _check_id("guild_id", guild_id)
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
        if key == _KEY_CHECK:
            # Overwriting the canary would make the next start refuse the right key.
            raise ValueError(f"{_KEY_CHECK!r} is reserved")
        await self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def close(self) -> None:
        """Write the recorded lookups still waiting, then release the database (SQLite folds
        the WAL back into the main file)."""
        self._closed = True
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)
        await self._flush_history()
        await self._conn.close()

    async def _delete(self, sql: str, parameters: tuple[object, ...]) -> int:
        async with self._conn.execute(sql, parameters) as cursor:
            return cursor.rowcount
