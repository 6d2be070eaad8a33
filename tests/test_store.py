"""
The store, on both backends: sealed credentials, restarts, the key check, migrations, history
and audit. Every behaviour test runs on SQLite and on PostgreSQL (`backend`); what only one of
them has (SQLite's files and their modes, PostgreSQL's concurrent start-ups, sockets and
connection errors) is tested on that one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from pydantic import ValidationError

from bot import pgstore
from bot import store as store_module
from bot.crypto import Sealer, load_or_create_key
from bot.pgstore import PostgresStore, public_url
from bot.redact import Redactor
from bot.settings import Settings, describe_validation_error
from bot.store import (
    AUDIT_KEEP,
    HISTORY_BATCH,
    HISTORY_DAYS,
    HISTORY_KEEP,
    AuditEntry,
    CredentialInfo,
    CredentialUnreadable,
    DatabaseUnavailable,
    KeyMismatch,
    SchemaTooNew,
    SqliteStore,
    Store,
)
from bot.storecommon import Migration, load_migrations
from bot.stores import open_store, url_secrets
from tests.pg import PASSWORD, PgServer

GUILD = 1001
OTHER_GUILD = 2002
ADMIN = 31
MEMBER = 42
SECRET = {"username": "alice", "api_key": "k3y-Vv9qZt-THIS-MUST-STAY-SEALED"}


def _raw(path):
    """A plain sqlite3 connection, as an operator (or attacker) poking the file would use."""
    return contextlib.closing(sqlite3.connect(path, isolation_level=None))


class SqliteBackend:
    """One SQLite file, and raw SQL on it from outside the store."""

    name = "sqlite"
    module = store_module
    password = None

    def __init__(self, path):
        self.path = path

    async def open(self, key) -> Store:
        return await SqliteStore.open(self.path, Sealer(key))

    async def execute(self, sql):
        with _raw(self.path) as raw:
            raw.execute(sql)

    async def rows(self, sql):
        with _raw(self.path) as raw:
            return [tuple(row) for row in raw.execute(sql).fetchall()]

    async def tables(self):
        return {r[0] for r in await self.rows("SELECT name FROM sqlite_master WHERE type='table'")}


class PostgresBackend:
    """One PostgreSQL database, and raw SQL on it over a connection of its own."""

    name = "postgres"
    module = pgstore
    password = PASSWORD

    def __init__(self, url):
        self.url = url

    async def open(self, key) -> Store:
        return await PostgresStore.open(self.url, Sealer(key))

    async def execute(self, sql):
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def rows(self, sql):
        conn = await asyncpg.connect(self.url)
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()

    async def tables(self):
        return {
            r[0]
            for r in await self.rows(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        }


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request, tmp_path):
    """A new, empty database of each kind (PostgreSQL: skipped without a server, except in CI)."""
    if request.param == "sqlite":
        return SqliteBackend(tmp_path / "state" / "ticketlens.db")
    server: PgServer = request.getfixturevalue("pg_server")
    return PostgresBackend(await server.create_schema())


async def _count(backend, table, where="1 = 1"):
    rows = await backend.rows(f"SELECT count(*) FROM {table} WHERE {where}")  # noqa: S608
    return rows[0][0]


def _shipped_versions(backend_name: str) -> list[int]:
    """The migration numbers this version ships for a backend (what a start must apply)."""
    folder = ("migrations",) if backend_name == "sqlite" else ("migrations", "postgres")
    versions = [m.version for m in load_migrations(*folder)]
    assert versions[:3] == [1, 2, 3]
    return versions


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "state" / "ticketlens.db"


@pytest.fixture
def key():
    return os.urandom(32)


def _db_files(path):
    """The bytes of the database and every file SQLite keeps beside it (-wal, -shm, -journal)."""
    return {p.name: p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name)}


async def test_credential_round_trip(backend, key):
    """A stored credential comes back as it was typed; guild and member rows are distinct."""
    store: Store = await backend.open(key)
    try:
        await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=ADMIN)
        await store.put_credential(GUILD, MEMBER, "zendesk", {"api_key": "mine"}, set_by=MEMBER)

        assert await store.get_credential(GUILD, None, "zendesk") == SECRET
        assert await store.get_credential(GUILD, MEMBER, "zendesk") == {"api_key": "mine"}
        assert await store.get_credential(GUILD, None, "freshdesk") is None
        assert await store.get_credential(OTHER_GUILD, None, "zendesk") is None

        await store.put_credential(GUILD, None, "zendesk", {"api_key": "rotated"}, set_by=MEMBER)
        assert await store.get_credential(GUILD, None, "zendesk") == {"api_key": "rotated"}
        assert [c.set_by for c in await store.list_credentials(GUILD)] == [MEMBER, MEMBER]

        assert await store.delete_credential(GUILD, MEMBER, "zendesk") is True
        assert await store.delete_credential(GUILD, MEMBER, "zendesk") is False
        assert await store.get_credential(GUILD, MEMBER, "zendesk") is None
        assert await store.get_credential(GUILD, None, "zendesk") == {"api_key": "rotated"}
    finally:
        await store.close()


async def test_credentials_and_settings_survive_a_restart(backend, key):
    """After closing and reopening the same file with the same key, everything is still there."""
    store = await backend.open(key)
    await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=ADMIN)
    await store.set_meta("announce_channel", "123")
    before = await store.list_credentials(GUILD)
    await store.close()

    store = await backend.open(key)
    try:
        assert await store.get_credential(GUILD, None, "zendesk") == SECRET
        assert await store.get_meta("announce_channel") == "123"
        assert await store.list_credentials(GUILD) == before
    finally:
        await store.close()


async def test_wrong_key_is_refused_and_nothing_is_lost(backend, tmp_path):
    """Another key stops start-up with KeyMismatch; the right key still reads every row."""
    key_file = tmp_path / "secret.key"
    key = load_or_create_key(None, key_file)
    key_text = key_file.read_bytes()
    key_mtime = key_file.stat().st_mtime_ns
    store = await backend.open(key)
    await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=ADMIN)
    await store.put_credential(GUILD, MEMBER, "linear", {"token": "t"}, set_by=MEMBER)
    await store.close()

    wrong = os.urandom(32)
    with pytest.raises(KeyMismatch) as caught:
        await backend.open(wrong)

    message = str(caught.value)
    assert "SECRET_KEY" in message
    assert "\n" not in message
    assert key_text.strip().decode() not in message
    if backend.password:
        assert backend.password not in message
    assert key_file.read_bytes() == key_text
    assert key_file.stat().st_mtime_ns == key_mtime
    store = await backend.open(load_or_create_key(None, key_file))
    try:
        assert await store.get_credential(GUILD, None, "zendesk") == SECRET
        assert await store.get_credential(GUILD, MEMBER, "linear") == {"token": "t"}
    finally:
        await store.close()


async def test_wrong_key_is_refused_even_without_the_canary(backend, key):
    """If the key-check row went missing, a stored credential is used to judge the key."""
    store = await backend.open(key)
    await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=ADMIN)
    await store.close()
    await backend.execute("DELETE FROM meta WHERE key = 'key_check'")

    with pytest.raises(KeyMismatch):
        await backend.open(os.urandom(32))

    store = await backend.open(key)
    try:
        assert await store.get_credential(GUILD, None, "zendesk") == SECRET
        assert await store.get_meta("key_check") is not None
    finally:
        await store.close()


async def test_forgetting_a_guild_removes_only_that_guild(backend, key):
    """Removing a guild deletes all its rows, guild-wide and per member, and no other guild's."""
    store = await backend.open(key)
    try:
        await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=ADMIN)
        await store.put_credential(GUILD, MEMBER, "linear", {"token": "a"}, set_by=MEMBER)
        await store.put_credential(OTHER_GUILD, None, "zendesk", {"api_key": "b"}, set_by=ADMIN)
        await store.put_credential(OTHER_GUILD, MEMBER, "linear", {"token": "c"}, set_by=MEMBER)

        assert await store.forget_guild(GUILD) == 2
        assert await store.forget_guild(GUILD) == 0

        assert await store.list_credentials(GUILD) == []
        assert await store.get_credential(OTHER_GUILD, None, "zendesk") == {"api_key": "b"}
        assert await store.get_credential(OTHER_GUILD, MEMBER, "linear") == {"token": "c"}
    finally:
        await store.close()


async def test_guild_ids_are_every_guild_with_anything_stored(backend, key):
    """Credentials, settings, history (still in memory too) and audit each make a guild
    stored (what the start-up cleanup compares with the guilds held); forgotten, it is gone."""
    store = await backend.open(key)
    try:
        assert await store.guild_ids() == set()
        await store.put_credential(GUILD, MEMBER, "linear", {"token": "a"}, set_by=MEMBER)
        await store.set_guild_setting(OTHER_GUILD, "staff_role", "7")
        await store.record_lookup(3003, MEMBER, "ra", "1")
        await store.add_audit(4004, ADMIN, "set", "RetroAchievements")
        assert await store.guild_ids() == {GUILD, OTHER_GUILD, 3003, 4004}
        await store.forget_guild(3003)
        assert await store.guild_ids() == {GUILD, OTHER_GUILD, 4004}
    finally:
        await store.close()
    reopened = await backend.open(key)
    try:
        assert await reopened.guild_ids() == {GUILD, OTHER_GUILD, 4004}
    finally:
        await reopened.close()


async def test_forgetting_a_member_keeps_the_guild_credential(backend, key):
    """Removing a member deletes only their own rows in that guild."""
    store = await backend.open(key)
    try:
        await store.put_credential(GUILD, None, "linear", {"token": "guild"}, set_by=ADMIN)
        await store.put_credential(GUILD, MEMBER, "linear", {"token": "a"}, set_by=MEMBER)
        await store.put_credential(GUILD, MEMBER, "zendesk", {"token": "b"}, set_by=MEMBER)
        await store.put_credential(OTHER_GUILD, MEMBER, "linear", {"token": "c"}, set_by=MEMBER)

        assert await store.forget_member(GUILD, MEMBER) == 2

        assert [(c.provider, c.user_id) for c in await store.list_credentials(GUILD)] == [
            ("linear", None)
        ]
        assert await store.get_credential(OTHER_GUILD, MEMBER, "linear") == {"token": "c"}
    finally:
        await store.close()


_COPY = "INSERT INTO credentials (guild_id, user_id, provider, secret, set_by, set_at) SELECT "


@pytest.mark.parametrize(
    ("target", "copy_sql"),
    [
        ((OTHER_GUILD, None, "zendesk"), _COPY + "2002, user_id, provider, secret, set_by, set_at"),
        ((GUILD, MEMBER, "zendesk"), _COPY + "guild_id, 42, provider, secret, set_by, set_at"),
        (
            (GUILD, None, "freshdesk"),
            _COPY + "guild_id, user_id, 'freshdesk', secret, set_by, set_at",
        ),
    ],
    ids=["other-guild", "other-member", "other-provider"],
)
async def test_row_copied_elsewhere_does_not_decrypt(backend, key, target, copy_sql):
    """A sealed blob copied with raw SQL to another guild, member or provider is unreadable."""
    store = await backend.open(key)
    try:
        await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=ADMIN)
        await backend.execute(copy_sql + " FROM credentials")

        with pytest.raises(CredentialUnreadable) as caught:
            await store.get_credential(*target)
        assert SECRET["api_key"] not in str(caught.value)
        assert await store.get_credential(GUILD, None, "zendesk") == SECRET
    finally:
        await store.close()


async def test_database_files_never_hold_a_secret_in_clear(db_path, key):
    """Neither the database nor its -wal file contains a credential value, open or closed."""
    store = await SqliteStore.open(db_path, Sealer(key))
    try:
        await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=ADMIN)
        await store.put_credential(GUILD, MEMBER, "zendesk", SECRET, set_by=MEMBER)
        await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=ADMIN)  # overwrite
        while_open = _db_files(db_path)
    finally:
        await store.close()
    after_close = _db_files(db_path)

    assert f"{db_path.name}-wal" in while_open
    assert len(while_open[f"{db_path.name}-wal"]) > 0
    for files in (while_open, after_close):
        for name, data in files.items():
            for value in SECRET.values():
                assert value.encode() not in data, name
                assert value.encode("utf-16-le") not in data, name


async def test_no_table_holds_a_secret_in_clear(backend, key):
    """No column of any row of any table holds a credential value, as text or as bytes."""
    store = await backend.open(key)
    try:
        await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=ADMIN)
        await store.put_credential(GUILD, MEMBER, "zendesk", SECRET, set_by=MEMBER)
        await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=ADMIN)  # overwrite
    finally:
        await store.close()

    cells = [
        cell
        for table in await backend.tables()
        for row in await backend.rows(f"SELECT * FROM {table}")  # noqa: S608
        for cell in row
    ]
    assert any(isinstance(cell, bytes) for cell in cells)  # the sealed secrets were read
    for cell in cells:
        data = bytes(cell) if isinstance(cell, bytes) else str(cell).encode()
        for value in SECRET.values():
            assert value.encode() not in data


async def test_migrations_are_applied_once(backend, key):
    """Reopening an existing database neither fails nor applies a migration twice."""
    for _ in range(3):
        store = await backend.open(key)
        await store.close()

    rows = await backend.rows(
        "SELECT version, name, count(*) FROM schema_migrations GROUP BY version, name"
        " ORDER BY version"
    )
    assert rows[0] == (1, "0001_init.sql", 1)
    assert [version for version, _, _ in rows] == _shipped_versions(backend.name)
    assert all(count == 1 for _, _, count in rows)
    if backend.name == "sqlite":
        (journal,) = (await backend.rows("PRAGMA journal_mode"))[0]
        assert journal == "wal"


async def test_listing_shows_who_and_when_but_never_secrets(backend, key):
    """The listing is sorted by provider then member and carries no credential values."""
    store = await backend.open(key)
    try:
        await store.put_credential(GUILD, MEMBER, "zendesk", SECRET, set_by=MEMBER)
        await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=ADMIN)
        await store.put_credential(GUILD, 7, "zendesk", SECRET, set_by=7)
        await store.put_credential(GUILD, None, "linear", SECRET, set_by=ADMIN)
        await store.put_credential(OTHER_GUILD, None, "aaa", SECRET, set_by=ADMIN)

        listed = await store.list_credentials(GUILD)
    finally:
        await store.close()

    assert [(c.provider, c.user_id, c.set_by) for c in listed] == [
        ("linear", None, ADMIN),
        ("zendesk", None, ADMIN),
        ("zendesk", 7, 7),
        ("zendesk", MEMBER, MEMBER),
    ]
    assert all(isinstance(c, CredentialInfo) for c in listed)
    assert all(c.set_at.utcoffset() == UTC.utcoffset(None) for c in listed)
    for value in SECRET.values():
        assert value not in repr(listed)


async def test_reserved_and_invalid_ids_are_refused(backend, key):
    """Id 0 (the guild's own row) cannot be passed as a member, nor the canary overwritten."""
    store = await backend.open(key)
    try:
        await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=ADMIN)
        with pytest.raises(ValueError, match="user_id"):
            await store.put_credential(GUILD, 0, "zendesk", {"api_key": "x"}, set_by=ADMIN)
        with pytest.raises(ValueError, match="user_id"):
            await store.forget_member(GUILD, 0)
        with pytest.raises(ValueError, match="reserved"):
            await store.set_meta("key_check", "x")
        assert await store.get_credential(GUILD, None, "zendesk") == SECRET
    finally:
        await store.close()


async def test_reads_follow_writes_through_the_read_cache(backend, key):
    """A cached credential or staff role never outlives its change or its guild's removal."""
    store = await backend.open(key)
    try:
        await store.put_credential(1, None, "p", {"k": "old"}, set_by=9)
        assert await store.get_credential(1, None, "p") == {"k": "old"}  # now cached
        await store.put_credential(1, None, "p", {"k": "new"}, set_by=9)
        assert await store.get_credential(1, None, "p") == {"k": "new"}
        await store.set_guild_setting(1, "staff_role", "55")
        assert await store.get_guild_setting(1, "staff_role") == "55"
        await store.set_guild_setting(1, "staff_role", None)
        assert await store.get_guild_setting(1, "staff_role") is None
        await store.put_credential(1, 7, "p", {"k": "member"}, set_by=7)
        assert await store.get_credential(1, 7, "p") == {"k": "member"}
        await store.forget_member(1, 7)
        assert await store.get_credential(1, 7, "p") is None
        await store.delete_credential(1, None, "p")
        assert await store.get_credential(1, None, "p") is None
        await store.put_credential(1, None, "p", {"k": "again"}, set_by=9)
        await store.set_guild_setting(1, "staff_role", "56")
        assert await store.get_guild_setting(1, "staff_role") == "56"
        await store.forget_guild(1)
        assert await store.get_credential(1, None, "p") is None
        assert await store.get_guild_setting(1, "staff_role") is None
    finally:
        await store.close()


async def test_a_read_right_after_a_removal_starts_sees_it(backend, key):
    """A lookup arriving while the guild is being forgotten never gets the old credential."""
    store = await backend.open(key)
    try:
        await store.put_credential(1, None, "p", {"k": "v"}, set_by=9)
        assert await store.get_credential(1, None, "p") == {"k": "v"}  # cached
        removal = asyncio.ensure_future(store.forget_guild(1))
        await asyncio.sleep(0)  # the removal has started: its first statement is queued
        assert await store.get_credential(1, None, "p") is None
        assert await removal == 1
    finally:
        await store.close()


async def test_a_new_database_and_its_folders_are_private(tmp_path, key):
    """Wherever DATABASE_URL points, the file is created 0600 (its WAL too) and the folders
    the store creates 0700; an existing folder keeps its mode."""
    import stat

    tmp_path.chmod(0o755)
    path = tmp_path / "elsewhere" / "nested" / "ticketlens.db"
    store = await SqliteStore.open(path, Sealer(key))
    await store.put_credential(1, None, "retroachievements", {"api_key": "k1234"}, set_by=5)
    try:
        for file in (path, path.with_name(path.name + "-wal")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        for folder in (path.parent, path.parent.parent):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755
    finally:
        await store.close()


# -- lookup history and audit ------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_recent_lookups_are_newest_first_per_member_and_provider(backend, key):
    """Each member sees their own references for one provider, newest first; looking one up
    again moves it to the front, and an older time recorded late does not move it back."""
    store: Store = await backend.open(key)
    try:
        for minute, ref in enumerate(["10", "20", "30"]):
            await store.record_lookup(GUILD, MEMBER, "ra", ref, at=T0 + timedelta(minutes=minute))
        await store.record_lookup(GUILD, MEMBER, "ra", "10", at=T0 + timedelta(minutes=5))
        await store.record_lookup(GUILD, MEMBER, "ra", "30", at=T0 - timedelta(days=1))
        await store.record_lookup(GUILD, MEMBER, "whmcs", "99", at=T0)
        await store.record_lookup(GUILD, ADMIN, "ra", "77", at=T0)
        await store.record_lookup(OTHER_GUILD, MEMBER, "ra", "88", at=T0)

        now = T0 + timedelta(hours=1)
        assert await store.recent_lookups(GUILD, MEMBER, "ra", now=now) == ["10", "30", "20"]
        assert await store.recent_lookups(GUILD, MEMBER, "ra", limit=2, now=now) == ["10", "30"]
        assert await store.recent_lookups(GUILD, MEMBER, "whmcs", now=now) == ["99"]
        assert await store.recent_lookups(GUILD, ADMIN, "ra", now=now) == ["77"]
        assert await store.recent_lookups(OTHER_GUILD, MEMBER, "ra", now=now) == ["88"]
        assert await store.recent_lookups(GUILD, MEMBER, "serieshr", now=now) == []
    finally:
        await store.close()


async def test_lookups_older_than_thirty_days_are_not_offered_and_are_pruned(backend, key):
    """Reading hides entries older than HISTORY_DAYS; the member's next write deletes them
    (for every provider), and leaves other members alone."""
    store = await backend.open(key)
    try:
        await store.record_lookup(GUILD, MEMBER, "ra", "old", at=T0)
        await store.record_lookup(GUILD, MEMBER, "whmcs", "old-too", at=T0)
        await store.record_lookup(GUILD, ADMIN, "ra", "admins", at=T0)
        await store.record_lookup(GUILD, MEMBER, "ra", "edge", at=T0 + timedelta(days=1))

        edge = T0 + timedelta(days=HISTORY_DAYS)
        assert await store.recent_lookups(GUILD, MEMBER, "ra", now=edge) == ["edge", "old"]
        later = edge + timedelta(seconds=1)
        assert await store.recent_lookups(GUILD, MEMBER, "ra", now=later) == ["edge"]
        assert await _count(backend, "lookup_history") == 4  # reading deletes nothing

        await store.record_lookup(GUILD, MEMBER, "ra", "new", at=later)
        assert await store.recent_lookups(GUILD, MEMBER, "ra", now=later) == ["new", "edge"]
        assert await _count(backend, "lookup_history", f"user_id = {MEMBER}") == 2
        assert await _count(backend, "lookup_history", f"user_id = {ADMIN}") == 1
    finally:
        await store.close()


async def test_history_keeps_at_most_the_newest_hundred_per_provider(backend, key):
    """Past HISTORY_KEEP entries for one provider, the oldest go; other providers keep theirs."""
    store = await backend.open(key)
    try:
        await store.record_lookup(GUILD, MEMBER, "whmcs", "kept", at=T0)
        extra = 5
        for n in range(HISTORY_KEEP + extra):
            await store.record_lookup(GUILD, MEMBER, "ra", str(n), at=T0 + timedelta(seconds=n))
        newest = await store.recent_lookups(GUILD, MEMBER, "ra", limit=1000, now=T0)
        assert await _count(backend, "lookup_history", "provider = 'ra'") == HISTORY_KEEP
        assert newest == [str(n) for n in reversed(range(extra, HISTORY_KEEP + extra))]
        assert await store.recent_lookups(GUILD, MEMBER, "ra", now=T0) == newest[:25]
        assert await store.recent_lookups(GUILD, MEMBER, "whmcs", now=T0) == ["kept"]
    finally:
        await store.close()


async def test_forget_history_deletes_only_that_members_history_there(backend, key):
    """forget_history counts and deletes one member's entries in one guild, nothing else."""
    store = await backend.open(key)
    try:
        await store.record_lookup(GUILD, MEMBER, "ra", "1")
        await store.record_lookup(GUILD, MEMBER, "whmcs", "2")
        await store.record_lookup(GUILD, ADMIN, "ra", "3")
        await store.record_lookup(OTHER_GUILD, MEMBER, "ra", "4")

        assert await store.forget_history(GUILD, MEMBER) == 2
        assert await store.forget_history(GUILD, MEMBER) == 0
        assert await store.recent_lookups(GUILD, MEMBER, "ra") == []
        assert await store.recent_lookups(GUILD, ADMIN, "ra") == ["3"]
        assert await store.recent_lookups(OTHER_GUILD, MEMBER, "ra") == ["4"]
    finally:
        await store.close()


async def test_forgetting_a_guild_or_member_wipes_history_and_audit(backend, key):
    """forget_guild deletes the guild's history and audit too (and still counts credentials);
    forget_member deletes the member's history with their credentials."""
    store = await backend.open(key)
    try:
        for guild in (GUILD, OTHER_GUILD):
            await store.put_credential(guild, None, "ra", SECRET, set_by=ADMIN)
            await store.record_lookup(guild, MEMBER, "ra", "1")
            await store.record_lookup(guild, ADMIN, "ra", "2")
            await store.add_audit(guild, ADMIN, "set", "RetroAchievements")

        assert await store.forget_member(GUILD, MEMBER) == 0  # no credential of their own
        assert await store.recent_lookups(GUILD, MEMBER, "ra") == []
        assert await store.recent_lookups(GUILD, ADMIN, "ra") == ["2"]

        assert await store.forget_guild(GUILD) == 1
        assert await store.recent_lookups(GUILD, ADMIN, "ra") == []
        assert await store.list_audit(GUILD) == []
        assert await _count(backend, "lookup_history", f"guild_id = {GUILD}") == 0
        assert await _count(backend, "config_audit", f"guild_id = {GUILD}") == 0

        assert await store.recent_lookups(OTHER_GUILD, MEMBER, "ra") == ["1"]
        assert [e.action for e in await store.list_audit(OTHER_GUILD)] == ["set"]
    finally:
        await store.close()


async def test_audit_is_newest_first_limited_and_bounded(backend, key):
    """list_audit gives the newest entries first (insertion order breaks equal times), at most
    `limit`; a guild keeps only its newest AUDIT_KEEP entries."""
    store = await backend.open(key)
    try:
        await store.add_audit(GUILD, ADMIN, "set", "RetroAchievements", at=T0)
        await store.add_audit(GUILD, MEMBER, "staffrole", "<@&5>", at=T0 + timedelta(hours=2))
        await store.add_audit(GUILD, ADMIN, "remove", "WHMCS", at=T0 + timedelta(hours=1))
        await store.add_audit(GUILD, ADMIN, "logchannel", "<#7>", at=T0 + timedelta(hours=2))
        await store.add_audit(OTHER_GUILD, ADMIN, "set", "WHMCS", at=T0)

        listed = await store.list_audit(GUILD)
        assert listed == [
            AuditEntry(T0 + timedelta(hours=2), ADMIN, "logchannel", "<#7>"),
            AuditEntry(T0 + timedelta(hours=2), MEMBER, "staffrole", "<@&5>"),
            AuditEntry(T0 + timedelta(hours=1), ADMIN, "remove", "WHMCS"),
            AuditEntry(T0, ADMIN, "set", "RetroAchievements"),
        ]
        assert all(e.at.utcoffset() == timedelta(0) for e in listed)
        assert await store.list_audit(GUILD, limit=2) == listed[:2]

        for n in range(AUDIT_KEEP):
            await store.add_audit(
                GUILD, ADMIN, "set", f"p{n}", at=T0 + timedelta(days=1, minutes=n)
            )
        assert await _count(backend, "config_audit", f"guild_id = {GUILD}") == AUDIT_KEEP
        assert (await store.list_audit(GUILD, limit=1))[0].detail == f"p{AUDIT_KEEP - 1}"
        assert len(await store.list_audit(OTHER_GUILD)) == 1
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.record_lookup(GUILD, MEMBER, "ra", ""), ValueError),
        (lambda s: s.record_lookup(GUILD, MEMBER, "ra", "x" * 101), ValueError),
        (lambda s: s.record_lookup(GUILD, MEMBER, "ra", 5), TypeError),
        (lambda s: s.record_lookup(GUILD, 0, "ra", "1"), ValueError),
        (lambda s: s.record_lookup(GUILD, MEMBER, "", "1"), ValueError),
        (lambda s: s.record_lookup(GUILD, MEMBER, "ra", "1", at=datetime(2026, 1, 1)), ValueError),  # noqa: DTZ001
        (lambda s: s.recent_lookups(GUILD, MEMBER, "ra", limit=0), ValueError),
        (lambda s: s.forget_history(GUILD, 0), ValueError),
        (lambda s: s.add_audit(GUILD, ADMIN, "set", "x" * 201), ValueError),
        (lambda s: s.add_audit(GUILD, ADMIN, "", "WHMCS"), ValueError),
        (lambda s: s.add_audit(0, ADMIN, "set", "WHMCS"), ValueError),
        (lambda s: s.list_audit(GUILD, limit=0), ValueError),
    ],
)
async def test_history_and_audit_refuse_bad_values(backend, key, call, error):
    """References are 1-100 characters, times timezone-aware, details at most 200 characters."""
    store = await backend.open(key)
    try:
        with pytest.raises(error):
            await call(store)
        await store.record_lookup(GUILD, MEMBER, "ra", "x" * 100)
        await store.add_audit(GUILD, ADMIN, "set", "x" * 200)
    finally:
        await store.close()


async def _no_rotation(self):
    return None


async def test_a_0002_database_upgrades_without_losing_rows(backend, key, monkeypatch):
    """A database made by the previous version (migrations 0001-0002) gets 0003 on start:
    its credentials, settings and key check survive, and the new tables work."""
    every = backend.module._load_migrations()
    assert [m.version for m in every][:3] == [1, 2, 3]
    monkeypatch.setattr(backend.module, "_load_migrations", lambda: every[:2])
    # That version had no key rotation either (it reads tables of later migrations).
    store_class = SqliteStore if backend.name == "sqlite" else PostgresStore
    monkeypatch.setattr(store_class, "_rotate", _no_rotation)
    old = await backend.open(key)
    await old.put_credential(GUILD, None, "ra", SECRET, set_by=ADMIN)
    await old.put_credential(GUILD, MEMBER, "tb", {"api_key": "mine"}, set_by=MEMBER)
    await old.set_guild_setting(GUILD, "staff_role", "55")
    await old.close()
    assert "lookup_history" not in await backend.tables()

    monkeypatch.setattr(backend.module, "_load_migrations", lambda: every)
    monkeypatch.undo()
    store = await backend.open(key)
    try:
        assert await store.get_credential(GUILD, None, "ra") == SECRET
        assert await store.get_credential(GUILD, MEMBER, "tb") == {"api_key": "mine"}
        assert await store.get_guild_setting(GUILD, "staff_role") == "55"
        await store.record_lookup(GUILD, MEMBER, "ra", "12")
        await store.add_audit(GUILD, ADMIN, "set", "RetroAchievements")
        assert await store.recent_lookups(GUILD, MEMBER, "ra") == ["12"]
        assert len(await store.list_audit(GUILD)) == 1
    finally:
        await store.close()
    versions = [
        r[0] for r in await backend.rows("SELECT version FROM schema_migrations ORDER BY 1")
    ]
    assert versions[:3] == [1, 2, 3]


async def test_recorded_lookups_are_written_in_batches_and_on_close(backend, key):
    """A lookup is remembered at once for its member (autocomplete reads it), written to disk
    with others, and a clean close writes whatever still waits."""
    store = await backend.open(key)
    try:
        await store.record_lookup(GUILD, MEMBER, "ra", "1", at=T0)
        await store.record_lookup(GUILD, ADMIN, "ra", "2", at=T0)
        assert await _count(backend, "lookup_history", "1 = 1") == 0  # waiting, not yet written
        assert await store.recent_lookups(GUILD, MEMBER, "ra", now=T0) == ["1"]
        assert await _count(backend, "lookup_history", "1 = 1") == 2  # that read wrote the batch
        await store.record_lookup(GUILD, MEMBER, "ra", "3", at=T0)
    finally:
        await store.close()
    assert await _count(backend, "lookup_history", "ref = '3'") == 1
    # A lookup finishing while the bot shuts down is not an error; it is just not kept.
    await store.record_lookup(GUILD, MEMBER, "ra", "after close", at=T0)
    assert await _count(backend, "lookup_history", "ref = 'after close'") == 0


async def test_a_full_batch_is_written_at_once(backend, key):
    """HISTORY_BATCH waiting lookups are written without waiting for the timer or a read, in
    one statement; the newest time of a ref recorded twice wins."""
    store = await backend.open(key)
    try:
        for n in range(HISTORY_BATCH - 1):
            await store.record_lookup(GUILD, 1 + n % 7, "ra", f"r{n}", at=T0)
        await store.record_lookup(GUILD, 1, "ra", "r0", at=T0 + timedelta(minutes=1))  # again
        assert await _count(backend, "lookup_history") == 0
        await store.record_lookup(GUILD, MEMBER, "ra", "last", at=T0)  # the batch is full
        assert await _count(backend, "lookup_history") == HISTORY_BATCH
        assert (await store.recent_lookups(GUILD, 1, "ra", now=T0, limit=1)) == ["r0"]
    finally:
        await store.close()


async def test_a_failing_migration_changes_nothing(backend, key, monkeypatch):
    """A migration that fails is rolled back whole: no half-made table, no version recorded,
    every row still there, and the store refuses to start rather than run on half a schema."""
    every = backend.module._load_migrations()
    store = await backend.open(key)
    await store.put_credential(GUILD, None, "ra", SECRET, set_by=ADMIN)
    await store.close()
    broken = Migration(
        every[-1].version + 1,
        "9999_broken.sql",
        "CREATE TABLE half_made (a INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
    )
    monkeypatch.setattr(backend.module, "_load_migrations", lambda: [*every, broken])

    with pytest.raises(Exception, match="no_such_table"):
        await backend.open(key)

    assert "half_made" not in await backend.tables()
    versions = [r[0] for r in await backend.rows("SELECT version FROM schema_migrations")]
    assert sorted(versions) == [m.version for m in every]
    monkeypatch.setattr(backend.module, "_load_migrations", lambda: every)
    store = await backend.open(key)
    try:
        assert await store.get_credential(GUILD, None, "ra") == SECRET
    finally:
        await store.close()


async def test_a_database_from_a_newer_version_is_refused(backend, key):
    """A migration this version does not know stops start-up with one line (no password)."""
    store = await backend.open(key)
    await store.close()
    await backend.execute(
        "INSERT INTO schema_migrations (version, name, applied_at)"
        " VALUES (9999, '9999_future.sql', '2030-01-01T00:00:00+00:00')"
    )
    with pytest.raises(SchemaTooNew) as caught:
        await backend.open(key)
    message = str(caught.value)
    assert "9999" in message
    assert "\n" not in message
    if backend.password:
        assert backend.password not in message


# -- PostgreSQL: several processes, URLs, connection errors -------------------------------------


async def test_processes_starting_together_migrate_once(pg_server, key):
    """Several processes starting at once on an empty database all come up; each migration is
    applied once (the advisory lock) and one key check is written."""
    pg_url = pg_server.url(await pg_server.create_database())
    stores = await asyncio.gather(*(PostgresStore.open(pg_url, Sealer(key)) for _ in range(4)))
    try:
        await stores[0].put_credential(GUILD, None, "ra", SECRET, set_by=ADMIN)
        for store in stores:
            assert await store.get_credential(GUILD, None, "ra") == SECRET
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    backend = PostgresBackend(pg_url)
    rows = await backend.rows("SELECT version, count(*) FROM schema_migrations GROUP BY version")
    assert sorted(rows) == [(version, 1) for version in _shipped_versions("postgres")]
    assert await _count(backend, "meta", "key = 'key_check'") == 1


async def test_processes_with_different_keys_cannot_share_a_database(pg_url):
    """Started together with two keys, exactly one set of processes gets the database."""
    first, second = os.urandom(32), os.urandom(32)
    opened = await asyncio.gather(
        *(PostgresStore.open(pg_url, Sealer(k)) for k in (first, second, first, second)),
        return_exceptions=True,
    )
    try:
        refused = [r for r in opened if isinstance(r, KeyMismatch)]
        assert len(refused) == 2
    finally:
        for result in opened:
            if isinstance(result, PostgresStore):
                await result.close()


async def test_every_process_sees_every_other_ones_writes(pg_url, key):
    """No process answers from memory what another one changed: credentials, staff roles,
    removals, history, audit and the command-sync hash are read from the database."""
    one = await PostgresStore.open(pg_url, Sealer(key))
    two = await PostgresStore.open(pg_url, Sealer(key))
    try:
        await one.put_credential(GUILD, None, "ra", {"k": "old"}, set_by=ADMIN)
        assert await two.get_credential(GUILD, None, "ra") == {"k": "old"}
        await one.put_credential(GUILD, None, "ra", {"k": "new"}, set_by=ADMIN)
        assert await two.get_credential(GUILD, None, "ra") == {"k": "new"}
        await two.set_guild_setting(GUILD, "staff_role", "55")
        assert await one.get_guild_setting(GUILD, "staff_role") == "55"
        await one.set_meta("command_hash:global", "abc")
        assert await two.get_meta("command_hash:global") == "abc"
        await one.add_audit(GUILD, ADMIN, "set", "RetroAchievements")
        await one.record_lookup(GUILD, MEMBER, "ra", "12")
        await one.recent_lookups(GUILD, MEMBER, "ra")  # written now, not in 2 s
        assert await two.recent_lookups(GUILD, MEMBER, "ra") == ["12"]
        assert [e.action for e in await two.list_audit(GUILD)] == ["set"]

        assert await two.forget_guild(GUILD) == 1
        assert await one.get_credential(GUILD, None, "ra") is None
        assert await one.get_guild_setting(GUILD, "staff_role") is None
        assert await one.recent_lookups(GUILD, MEMBER, "ra") == []
        assert await one.list_audit(GUILD) == []
    finally:
        await one.close()
        await two.close()


async def test_unix_socket_and_both_schemes_open_the_same_database(pg_server, key):
    """`?host=/folder` reaches the server through its unix socket; `postgres://` is accepted
    as `postgresql://` is."""
    name = await pg_server.create_database()
    store = await PostgresStore.open(pg_server.url(name), Sealer(key))
    await store.put_credential(GUILD, None, "ra", SECRET, set_by=ADMIN)
    await store.close()
    for url in (pg_server.socket_url(name), pg_server.url(name, scheme="postgres")):
        store = await PostgresStore.open(url, Sealer(key))
        try:
            assert await store.get_credential(GUILD, None, "ra") == SECRET
        finally:
            await store.close()


async def test_open_store_picks_the_backend_by_the_url(pg_server, tmp_path, key):
    """DATABASE_URL's scheme picks the store, and the pool sizes come from the settings."""
    sqlite = Settings(DISCORD_TOKEN="x", DATABASE_URL=f"sqlite:///{tmp_path}/t.db")
    store = await open_store(sqlite, Sealer(key))
    assert isinstance(store, SqliteStore)
    await store.close()

    url = pg_server.url(await pg_server.create_database())
    pg = Settings(DISCORD_TOKEN="x", DATABASE_URL=url, DATABASE_POOL_MIN=2, DATABASE_POOL_MAX=3)
    store = await open_store(pg, Sealer(key))
    try:
        assert isinstance(store, PostgresStore)
        assert (store._pool.get_min_size(), store._pool.get_max_size()) == (2, 3)
    finally:
        await store.close()


async def test_a_wrong_password_is_one_line_without_the_password(pg_server, key):
    """A refused login is DatabaseUnavailable: one line naming the database, never a password."""
    wrong = "not-the-password-123"
    url = pg_server.url("postgres").replace(PASSWORD, wrong)
    with pytest.raises(DatabaseUnavailable) as caught:
        await PostgresStore.open(url, Sealer(key))
    message = str(caught.value)
    assert "password authentication failed" in message
    assert wrong not in message
    assert "\n" not in message


async def test_an_unreachable_server_is_one_line_without_the_password(key):
    """Nothing listening: DatabaseUnavailable at once, one line, the URL without its password
    (this one needs no server, so it runs everywhere)."""
    with socket_in_use() as port:
        url = f"postgresql://ticketlens:hunter2-secret@127.0.0.1:{port}/ticketlens"
        with pytest.raises(DatabaseUnavailable) as caught:
            await PostgresStore.open(url, Sealer(key))
    message = str(caught.value)
    assert f"postgresql://ticketlens@127.0.0.1:{port}/ticketlens" in message
    assert "hunter2" not in message
    assert "\n" not in message


@contextlib.contextmanager
def socket_in_use():
    """A local port that refuses connections: bound, never listening."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:hunter2-pw@db:notaport/tl",
        "postgresql://u:hunter2-pw@[::1/tl",
        "mysql://u:hunter2-pw@db/tl",
        "sqlite://hunter2-pw.db",
    ],
)
def test_a_database_url_that_cannot_work_is_a_setting_error_without_echo(url):
    """Refused when the settings are read (one line at start-up), never quoting the URL."""
    with pytest.raises(ValidationError) as caught:
        Settings(DISCORD_TOKEN="x", DATABASE_URL=url)
    line = describe_validation_error(caught.value)
    assert line.startswith("DATABASE_URL: ")
    assert "hunter2" not in line


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@db:5432/tl", "postgresql://u@db:5432/tl"),
        ("postgres://u:p%40ss@db/tl?sslmode=require&password=x", "postgres://u@db/tl"),
        ("postgresql://u@/tl?host=/run/postgresql", "postgresql://u@/tl?host=/run/postgresql"),
        ("postgresql:///tl?host=/sock&password=x", "postgresql:///tl?host=/sock"),
    ],
)
def test_a_database_url_is_shown_without_its_password(url, shown):
    assert public_url(url) == shown


def test_the_redactor_learns_the_database_password():
    assert url_secrets("sqlite:///data/ticketlens.db") == []
    assert url_secrets("postgresql://u@db/tl") == []
    assert set(url_secrets("postgresql://u:p%40ss@db/tl")) == {"p%40ss", "p@ss"}
    assert url_secrets("postgresql://u@/tl?host=/s&password=qs-secret") == ["qs-secret"]
    redactor = Redactor()
    redactor.add(*url_secrets("postgresql://u:p%40ss-word@db/tl"))
    assert redactor.redact("login as u with p@ss-word, p%40ss-word") == (
        "login as u with [redacted], [redacted]"
    )
