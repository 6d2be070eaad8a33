"""
What both store backends share, with no database code: the types and errors of the `Store`
interface, the bounds and validation of every value, times, the sealing of credentials, the key
check, migration files and the batching of recorded lookups.

`bot.store` (the interface and SQLite) and `bot.pgstore` (PostgreSQL) both build on this, so
the two behave alike by construction; the rest of the bot imports these names from `bot.store`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sized
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Generic, TypeVar

from bot.crypto import Sealer, SealError
from bot.providers.base import Credential

log = logging.getLogger("bot.store")

#: The meta row holding the key check, and what it seals.
KEY_CHECK = "key_check"
_CANARY = b"ticketlens key check v1"
_MIGRATION_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")

# Both databases' integers are signed 64-bit; Discord snowflakes are positive and fit.
MAX_ID = 2**63 - 1
#: The user_id of a guild's own credential: NULL is never equal to NULL, so it cannot be part
#: of a unique primary key.
GUILD_ROW = 0

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
#: Every guild with a row in a table `forget_guild` empties (the same SQL on both backends);
#: a table keyed by guild added later belongs here too.
GUILD_IDS_SQL = (
    "SELECT guild_id FROM credentials UNION SELECT guild_id FROM guild_settings"
    " UNION SELECT guild_id FROM lookup_history UNION SELECT guild_id FROM config_audit"
    " UNION SELECT guild_id FROM lookup_audit UNION SELECT guild_id FROM watches"
)


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


def _one_line(text: str) -> str:
    # Printed on stderr at start-up: a path with a newline in it must not break the line.
    return text.replace("\r", "\\r").replace("\n", "\\n")


class KeyMismatch(Exception):
    """The key does not open the stored credentials; nothing was changed."""

    def __init__(self, path: Path | str) -> None:
        # A file path (SQLite) or a server URL without its password (PostgreSQL).
        self.path = path
        super().__init__(
            _one_line(
                f"SECRET_KEY (or the key file) does not match the key that encrypted the stored "
                f"credentials in {path}; start with the original key (to change keys, list the "
                "original in OLD_SECRET_KEYS)"
            )
        )


class SecretsUnopenable(Exception):
    """Stored secrets that no configured key opens; start-up stops and nothing was changed."""

    def __init__(self, where: Path | str, count: int, key_ids: Iterable[str]) -> None:
        self.count = count
        ids = ", ".join(sorted(set(key_ids))) or "none recorded"
        super().__init__(
            _one_line(
                f"{count} stored secret(s) in {where} are sealed by a key that is not configured "
                f"(key id: {ids}); set SECRET_KEY to that key or add it to OLD_SECRET_KEYS. "
                "Nothing was changed or deleted"
            )
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

    def __init__(self, path: Path | str, unknown: Iterable[int]) -> None:
        versions = ", ".join(str(v) for v in sorted(unknown))
        super().__init__(
            _one_line(
                f"the database {path} has migrations this version does not know ({versions}); "
                "run a newer TicketLens"
            )
        )


class DatabaseUnavailable(Exception):
    """The database server cannot be reached or refused the login; one line, no password."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(_one_line(f"cannot open the database {where}: {reason}"))


# -- values ------------------------------------------------------------------------------------


def check_id(name: str, value: int) -> int:
    """A positive 64-bit id (a Discord snowflake); TypeError or ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int")
    if not 0 < value <= MAX_ID:
        raise ValueError(f"{name} must be a positive 64-bit id")
    return value


def user_column(user_id: int | None) -> int:
    """The stored user_id: GUILD_ROW for the guild's own credential."""
    return GUILD_ROW if user_id is None else check_id("user_id", user_id)


def user_from_column(value: int) -> int | None:
    """The inverse of `user_column`."""
    return None if value == GUILD_ROW else int(value)


def check_provider(provider: str) -> str:
    """A provider key: a non-empty str."""
    if not isinstance(provider, str) or not provider:
        raise ValueError("provider must be a non-empty str")
    return provider


def check_text(name: str, value: str, limit: int, *, empty: bool = False) -> str:
    """A str of at most `limit` characters (and not empty unless `empty`)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str")
    if not value and not empty:
        raise ValueError(f"{name} must not be empty")
    if len(value) > limit:
        raise ValueError(f"{name} must be at most {limit} characters")
    return value


def check_limit(limit: int) -> int:
    """A row limit: an int, 1 or more."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError("limit must be an int")
    if limit < 1:
        raise ValueError("limit must be 1 or more")
    return limit


def moment(at: datetime | None) -> datetime:
    """`at` in UTC (None: now); a naive time is refused rather than guessed."""
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    return at.astimezone(UTC)


def sortable(at: datetime) -> str:
    """A time as SQLite stores it: ISO 8601 UTC, always with microseconds, so that comparing
    the stored text compares the times."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str) -> datetime:
    """A time stored as text, in UTC."""
    at = datetime.fromisoformat(text)
    # Everything the store writes is UTC; a naive value can only come from a hand edit.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# -- sealing and the key check -----------------------------------------------------------------


def seal_credential(
    sealer: Sealer, guild_id: int, user_id: int | None, provider: str, secret: Mapping[str, str]
) -> bytes:
    """A credential's fields as the sealed bytes stored for its row (validated first)."""
    fields = dict(secret)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
        raise TypeError("a credential maps str field keys to str values")
    plaintext = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
    return sealer.seal(plaintext, guild_id=guild_id, user_id=user_id, provider=provider)


def open_credential(
    sealer: Sealer, sealed: object, guild_id: int, user_id: int | None, provider: str
) -> Credential:
    """The credential sealed for this row; CredentialUnreadable if it does not open."""
    if not isinstance(sealed, bytes):
        raise CredentialUnreadable(guild_id, user_id, provider)
    try:
        plaintext = sealer.open(sealed, guild_id=guild_id, user_id=user_id, provider=provider)
        fields = json.loads(plaintext)
    except (SealError, ValueError, TypeError):
        raise CredentialUnreadable(guild_id, user_id, provider) from None
    if not isinstance(fields, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
    ):
        raise CredentialUnreadable(guild_id, user_id, provider)
    return Credential(fields)


def new_canary(sealer: Sealer) -> str:
    """The key check's value for a database that has none yet (stored in meta as text)."""
    return base64.b64encode(sealer.seal_meta(_CANARY, name=KEY_CHECK)).decode("ascii")


def canary_opens(sealer: Sealer, stored: str) -> bool:
    """Whether this key sealed the stored key check."""
    try:
        sealed = base64.b64decode(stored, validate=True)
        return sealer.open_meta(sealed, name=KEY_CHECK) == _CANARY
    except (binascii.Error, SealError):
        return False


#: One sealed credential row as both stores read it: guild, stored user column, provider, blob.
SealedRow = tuple[int, int, str, bytes]


def reseal_credential(sealer: Sealer, row: SealedRow) -> bytes | None:
    """The row's blob sealed again with the current key; None if no configured key opens it."""
    guild_id, stored_user, provider, sealed = row
    try:
        return sealer.reseal(
            sealed, guild_id=guild_id, user_id=user_from_column(stored_user), provider=provider
        )
    except SealError:
        return None


def reseal_canary(sealer: Sealer, stored: str) -> str | None:
    """The key check sealed again with the current key; None if it already is, or is not
    readable (`_check_key` has judged it before this runs)."""
    try:
        sealed = base64.b64decode(stored, validate=True)
        if sealer.is_current(sealed):
            return None
        return base64.b64encode(sealer.reseal_meta(sealed, name=KEY_CHECK)).decode("ascii")
    except (binascii.Error, SealError):
        return None


def log_resealed(count: int, sealer: Sealer) -> None:
    """The one start-up line of a key rotation (nothing when there was nothing to do)."""
    if count:
        log.info(
            "re-sealed %d stored secret(s) under the current key (key id %s)",
            count,
            sealer.key_id,
        )


def credential_opens(
    sealer: Sealer, sealed: bytes, guild_id: int, stored_user: int, provider: str
) -> bool:
    """Whether this key opens one stored credential (judging a key without a key check)."""
    try:
        sealer.open(
            sealed, guild_id=guild_id, user_id=user_from_column(stored_user), provider=provider
        )
    except SealError:
        return False
    return True


# -- migrations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file of `bot/migrations` (SQLite) or `bot/migrations/postgres`."""

    version: int
    name: str
    sql: str


def load_migrations(*folder: str) -> list[Migration]:
    """The migrations in `bot/<folder>`, by version; two with one number are an error."""
    found: dict[int, Migration] = {}
    for entry in resources.files("bot").joinpath(*folder).iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations numbered {version:04d}")
        found[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


# -- recorded lookups --------------------------------------------------------------------------

#: (guild, user, provider, ref): one history row.
LookupKey = tuple[int, int, str, str]
#: Writes a batch of recorded lookups (each with its newest time, UTC) to the database.
HistoryWriter = Callable[[dict[LookupKey, datetime]], Awaitable[None]]


#: What a batch buffer keeps its waiting rows in.
P = TypeVar("P", bound=Sized)


class _Batches(Generic[P]):
    """
    What both batch buffers share: waiting rows written by the store after HISTORY_FLUSH_S,
    as soon as HISTORY_BATCH wait, when a read or deletion needs them (`flush`), and on
    `close`. A failed write is logged (never the rows: they name what members looked up) and
    the batch dropped: retrying could hold the bot up.
    """

    #: What the rows are, for the log line of a failed write.
    rows_are: str = "row(s)"

    def __init__(self, empty: Callable[[], P]) -> None:
        self._empty = empty
        self._pending: P = empty()
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        self.closed = False

    async def _added(self) -> None:
        """After a row was added: write at once if a batch is full, else within the delay."""
        if len(self._pending) >= HISTORY_BATCH:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(HISTORY_FLUSH_S, self._flush_later)

    def _flush_later(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self.flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _write_batch(self, pending: P) -> None:
        raise NotImplementedError

    async def flush(self) -> None:
        """Write everything waiting now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, self._empty()
        if not pending:
            return
        try:
            await self._write_batch(pending)
        except Exception:
            log.warning("could not write %d %s", len(pending), self.rows_are, exc_info=True)

    async def close(self) -> None:
        """Refuse new rows, then write what waits (after any write already under way)."""
        self.closed = True
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)
        await self.flush()


class HistoryBuffer(_Batches[dict[LookupKey, datetime]]):
    """Recorded lookups (`record_lookup`) waiting in memory, written in batches by the store's
    `write` (see `_Batches`). History is a convenience: a crash loses at most one delay of it."""

    rows_are = "recorded lookup(s)"

    def __init__(self, write: HistoryWriter) -> None:
        super().__init__(dict)
        self._write = write

    async def add(self, key: LookupKey, at: datetime) -> None:
        """Remember one lookup (validated by the caller); the newest time of a key wins."""
        if self.closed:
            return  # a lookup that finished while the bot was shutting down
        # The newest time wins when an older lookup is recorded after a newer one.
        current = self._pending.get(key)
        if current is None or current < at:
            self._pending[key] = at
        await self._added()

    def waiting(self, guild_id: int, user_id: int, provider: str | None = None) -> bool:
        """Whether lookups of this member (for this provider, or any) wait to be written."""
        return any(
            k[0] == guild_id and k[1] == user_id and provider in (None, k[2]) for k in self._pending
        )

    def drop(self, guild_id: int, user_id: int | None = None) -> None:
        """Forget what waits for a guild (or one member there) without writing it."""
        for key in [k for k in self._pending if k[0] == guild_id and user_id in (None, k[1])]:
            del self._pending[key]

    async def _write_batch(self, pending: dict[LookupKey, datetime]) -> None:
        await self._write(pending)


# -- a member's own credential for the user-installed app --------------------------------------

#: The guild id a member's user-scope credential (`user_credentials`) is sealed for: no real
#: guild has it (`check_id` refuses it), so such a blob never opens as a guild's row, nor a
#: guild's as one of these.
USER_SCOPE = 0


def seal_user_credential(
    sealer: Sealer, user_id: int, provider: str, secret: Mapping[str, str]
) -> bytes:
    """A member's user-scope credential as the sealed bytes stored for it."""
    return seal_credential(sealer, USER_SCOPE, check_id("user_id", user_id), provider, secret)


def open_user_credential(sealer: Sealer, sealed: object, user_id: int, provider: str) -> Credential:
    """A member's user-scope credential; CredentialUnreadable (guild 0) if it does not open."""
    return open_credential(sealer, sealed, USER_SCOPE, user_id, provider)


# -- the lookup audit --------------------------------------------------------------------------

#: How an answer was shown: only to the member, posted in the channel, or shared there from a
#: private answer (Share to channel).
SHOWN_WAYS = ("ephemeral", "public", "shared")
#: Days a guild's lookup audit is kept unless the caller says otherwise (LOOKUP_AUDIT_DAYS).
LOOKUP_AUDIT_DAYS = 30
#: What ends a reference cut to MAX_REF_LENGTH in the audit.
CUT_MARK = "…"


@dataclass(frozen=True, slots=True)
class LookupRecord:
    """One lookup shown in a guild: when (UTC), who, which ticket, where and how."""

    at: datetime
    user_id: int
    provider: str
    ref: str
    channel_id: int | None
    shown: str
    """One of SHOWN_WAYS."""


def audit_ref(ref: str) -> str:
    """`ref` as the audit keeps it: at most MAX_REF_LENGTH characters, a longer one cut to its
    beginning with CUT_MARK (a reference, never ticket content)."""
    if not isinstance(ref, str):
        raise TypeError("ref must be a str")
    if not ref:
        raise ValueError("ref must not be empty")
    if len(ref) <= MAX_REF_LENGTH:
        return ref
    return ref[: MAX_REF_LENGTH - len(CUT_MARK)] + CUT_MARK


def check_shown(shown: str) -> str:
    """One of SHOWN_WAYS; ValueError otherwise."""
    if shown not in SHOWN_WAYS:
        raise ValueError(f"shown must be one of {', '.join(SHOWN_WAYS)}")
    return shown


#: (guild, record): one audit row waiting to be written.
AuditRow = tuple[int, LookupRecord]
#: Writes a batch of audit rows, then deletes every row older than the datetime given.
AuditWriter = Callable[[list[AuditRow], datetime], Awaitable[None]]


class AuditBuffer(_Batches[list[AuditRow]]):
    """
    Audit rows waiting in memory, written in batches by the store's `write` exactly as the
    history is (`_Batches`), so recording costs a lookup no database round trip. Unlike the
    history, every lookup is a row of its own (nothing is merged). Each batch also prunes what
    is older than `keep_days` before its newest row.
    """

    rows_are = "audited lookup(s)"

    def __init__(self, write: AuditWriter) -> None:
        super().__init__(list)
        self._write = write
        self._keep_days = LOOKUP_AUDIT_DAYS

    async def add(self, guild_id: int, record: LookupRecord, keep_days: int) -> None:
        """Remember one lookup (validated by the caller), kept `keep_days` days."""
        if self.closed:
            return  # a lookup that finished while the bot was shutting down
        self._keep_days = keep_days
        self._pending.append((guild_id, record))
        await self._added()

    def waiting(self, guild_id: int) -> bool:
        """Whether lookups of this guild wait to be written."""
        return any(row[0] == guild_id for row in self._pending)

    def drop(self, guild_id: int) -> None:
        """Forget what waits for a guild without writing it."""
        self._pending = [row for row in self._pending if row[0] != guild_id]

    async def _write_batch(self, pending: list[AuditRow]) -> None:
        cutoff = max(record.at for _, record in pending) - timedelta(days=self._keep_days)
        await self._write(pending, cutoff)


# -- watches (/ticketwatch) -------------------------------------------------------------------

#: What a watch follows: one ticket (a card kept current) or a feed (a list's new tickets).
WATCH_KINDS = frozenset({"ticket", "feed"})
#: Longest JSON state a watch keeps (a feed's seen refs: 100 short ids fit many times over).
MAX_WATCH_STATE = 20_000


@dataclass
class Watch:
    """
    One watch as stored: where its card is, what it follows and what it saw last. `id` is 0
    until stored. Mutable: the poller updates `state`, `thread_id`, `last_ok_at` and
    `failing_since`, and `save_watch` writes them back.
    """

    guild_id: int
    channel_id: int
    message_id: int
    """The card; 0 for a feed, which has none."""
    provider: str
    kind: str
    """"ticket" or "feed"."""
    ref: str
    """`Provider.ref_text` of what is watched (never a secret)."""
    state: str
    """The last state seen, as JSON."""
    added_by: int
    added_at: datetime
    last_ok_at: datetime
    failing_since: datetime | None = None
    thread_id: int = 0
    """The thread of the card's notices; 0 until one is started."""
    id: int = 0


def check_watch(watch: Watch) -> None:
    """Refuse a watch row the database must not hold (ids, kind, ref and state bounds)."""
    check_id("guild_id", watch.guild_id)
    check_id("channel_id", watch.channel_id)
    if watch.message_id != 0:
        check_id("message_id", watch.message_id)
    if watch.thread_id != 0:
        check_id("thread_id", watch.thread_id)
    check_provider(watch.provider)
    if watch.kind not in WATCH_KINDS:
        raise ValueError("kind must be 'ticket' or 'feed'")
    check_text("ref", watch.ref, MAX_REF_LENGTH)
    check_text("state", watch.state, MAX_WATCH_STATE, empty=True)
    check_id("added_by", watch.added_by)


def check_days(days: int) -> int:
    """A retention in days: an int, 1 or more."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError("keep_days must be an int")
    if days < 1:
        raise ValueError("keep_days must be 1 or more")
    return days


def lookup_record(
    user_id: int, provider: str, ref: str, channel_id: int | None, shown: str, at: datetime | None
) -> LookupRecord:
    """One audit row's values, validated (the ref cut as `audit_ref` says; `at` default now)."""
    return LookupRecord(
        at=moment(at),
        user_id=check_id("user_id", user_id),
        provider=check_provider(provider),
        ref=audit_ref(ref),
        channel_id=None if channel_id is None else check_id("channel_id", channel_id),
        shown=check_shown(shown),
    )


# -- credential health (cogs/health.py) --------------------------------------------------------

#: The reasons a credential health row may hold (`CredentialHealth.reason`).
HEALTH_REASONS = frozenset({"rejected", "not_permitted", "invalid", "unreadable", "unreachable"})


@dataclass(frozen=True)
class CredentialHealth:
    """
    One stored credential (never its secret) and what the background check last found about
    it. A credential never checked since it was saved has `checked_at` None and is healthy.
    """

    guild_id: int
    user_id: int | None
    provider: str
    set_at: datetime
    """When the credential was saved (UTC)."""
    version: str
    """The credential's `set_at` as the database holds it: `put_credential_health` writes only
    while the credential is still this one (not saved again or deleted meanwhile)."""
    checked_at: datetime | None = None
    failing_since: datetime | None = None
    """Since when it fails (the first check that found so), None while it works."""
    reason: str | None = None
    """Why (one of HEALTH_REASONS), None while it works."""
    unreachable: int = 0
    """Checks in a row that could not reach the provider."""
    reported: bool = False
    """Whether the failure was told to the guild's log channel."""
    stopped: bool = False
    """Not checked again until saved anew (`Provider.stop_checks_after_rejection`)."""


def check_health(health: CredentialHealth) -> None:
    """A health row's values, validated (ValueError or TypeError otherwise)."""
    check_id("guild_id", health.guild_id)
    user_column(health.user_id)
    check_provider(health.provider)
    if health.checked_at is None:
        raise ValueError("checked_at is needed to store a health row")
    if health.reason is not None and health.reason not in HEALTH_REASONS:
        raise ValueError("reason must be one of HEALTH_REASONS")
    if (health.failing_since is None) != (health.reason is None):
        raise ValueError("failing_since and reason go together")
    if isinstance(health.unreachable, bool) or not 0 <= health.unreachable < 2**31:
        raise ValueError("unreachable must be a count")
