"""
Key rotation: SECRET_KEY plus OLD_SECRET_KEYS. Every stored secret records which key sealed
it; at start-up what an old key sealed is re-sealed under the current key in one transaction,
with one log line; a secret that no configured key opens stops the start and is never dropped.
Both backends, and a process killed in the middle of a rotation.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.crypto import Sealer, key_id
from bot.pgstore import PostgresStore
from bot.store import KeyMismatch, SecretsUnopenable, SqliteStore, Store
from tests.pg import PgServer
from tests.test_main import run_bot
from tests.test_store import PostgresBackend, SqliteBackend

ROOT = Path(__file__).resolve().parents[1]
ADMIN = 31
#: (guild, member or None, provider) -> what was stored there.
STORED = {
    (1001, None, "retroachievements"): {"username": "alice", "api_key": "ra-KEY-one"},
    (1001, 42, "teambattles"): {"api_key": "tb-KEY-member"},
    (2002, None, "whmcs"): {"identifier": "id-two", "secret": "whmcs-SECRET-two"},
    (3003, None, "serieshr"): {"api_key": "series-KEY-three"},
    (4004, 77, "teambattles"): {"api_key": "tb-KEY-four"},
}


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request, tmp_path):
    if request.param == "sqlite":
        return SqliteBackend(tmp_path / "state" / "ticketlens.db")
    server: PgServer = request.getfixturevalue("pg_server")
    return PostgresBackend(await server.create_schema())


async def _open(backend, sealer: Sealer) -> Store:
    if backend.name == "sqlite":
        return await SqliteStore.open(backend.path, sealer)
    return await PostgresStore.open(backend.url, sealer)


async def _fill(backend, key: bytes) -> None:
    store = await _open(backend, Sealer(key))
    for (guild, user, provider), secret in STORED.items():
        await store.put_credential(guild, user, provider, secret, set_by=ADMIN)
    await store.close()


async def _headers(backend) -> list[bytes]:
    """The first five bytes (format and key id) of every stored credential blob."""
    return [bytes(row[0])[:5] for row in await backend.rows("SELECT secret FROM credentials")]


async def _all_read(store: Store) -> dict[tuple[int, int | None, str], object]:
    return {row: await store.get_credential(*row) for row in STORED}


async def test_an_old_key_s_secrets_are_resealed_at_start_up_with_one_log_line(backend, caplog):
    """Start with the new key and the old one listed: every credential reads as stored, every
    blob is now under the new key, and one line says how many were re-sealed."""
    old, new = os.urandom(32), os.urandom(32)
    await _fill(backend, old)
    assert set(await _headers(backend)) == {b"\x02" + key_id(old)}

    with caplog.at_level(logging.INFO, logger="bot.store"):
        store = await _open(backend, Sealer(new, [old]))
    try:
        assert await _all_read(store) == STORED
    finally:
        await store.close()
    lines = [r.getMessage() for r in caplog.records if "re-sealed" in r.getMessage()]
    assert lines == [
        f"re-sealed 5 stored secret(s) under the current key (key id {key_id(new).hex()})"
    ]
    assert set(await _headers(backend)) == {b"\x02" + key_id(new)}

    # The old key can go: the new one alone opens everything (canary included) ...
    store = await _open(backend, Sealer(new))
    assert await _all_read(store) == STORED
    await store.close()
    # ... and the old one alone no longer does.
    with pytest.raises(KeyMismatch):
        await _open(backend, Sealer(old))


async def test_members_own_app_keys_rotate_too(backend):
    """A member's user-scope key (the app installed to their account) is re-sealed as well."""
    old, new = os.urandom(32), os.urandom(32)
    store = await _open(backend, Sealer(old))
    await store.put_user_credential(42, "retroachievements", {"username": "a", "api_key": "u-K"})
    await store.close()

    store = await _open(backend, Sealer(new, [old]))
    await store.close()
    store = await _open(backend, Sealer(new))
    try:
        assert await store.get_user_credential(42, "retroachievements") == {
            "username": "a",
            "api_key": "u-K",
        }
    finally:
        await store.close()
    rows = await backend.rows("SELECT secret FROM user_credentials")
    assert [bytes(row[0])[:5] for row in rows] == [b"\x02" + key_id(new)]


async def test_nothing_to_rotate_logs_nothing_and_opens_no_secret(backend, caplog, monkeypatch):
    """A start where everything is under the current key says nothing about re-sealing and
    opens no stored credential (they are told apart by their header, in SQL)."""
    key = os.urandom(32)
    await _fill(backend, key)
    opened: list[object] = []

    def counting_open(self: Sealer, sealed: bytes, **row: object) -> bytes:
        opened.append(row)
        raise AssertionError("a credential was opened at start-up")

    monkeypatch.setattr(Sealer, "open", counting_open)
    monkeypatch.setattr(Sealer, "reseal", counting_open)
    with caplog.at_level(logging.INFO, logger="bot.store"):
        store = await _open(backend, Sealer(key, [os.urandom(32)]))
    await store.close()
    assert opened == []
    assert not [r for r in caplog.records if "re-sealed" in r.getMessage()]


async def test_a_secret_no_configured_key_opens_stops_start_up_and_nothing_changes(backend):
    """One row sealed by a key that is not configured: start-up refuses, naming its key id
    (never a key), and every row, that one included, is left exactly as it was."""
    old, new, lost = os.urandom(32), os.urandom(32), os.urandom(32)
    await _fill(backend, old)
    # One guild's credential re-sealed by a key nobody configures any more.
    stranger = Sealer(lost).seal(
        b'{"api_key":"x"}', guild_id=3003, user_id=None, provider="serieshr"
    )
    hex_blob = stranger.hex()
    if backend.name == "sqlite":
        await backend.execute(
            f"UPDATE credentials SET secret = X'{hex_blob}' WHERE guild_id = 3003"  # noqa: S608
        )
    else:
        await backend.execute(
            f"UPDATE credentials SET secret = '\\x{hex_blob}'::bytea WHERE guild_id = 3003"  # noqa: S608
        )
    before = sorted(
        await backend.rows("SELECT guild_id, user_id, provider, secret FROM credentials")
    )

    with pytest.raises(SecretsUnopenable) as refused:
        await _open(backend, Sealer(new, [old]))
    message = str(refused.value)
    assert "1 stored secret(s)" in message
    assert key_id(lost).hex() in message
    assert "OLD_SECRET_KEYS" in message
    for key in (old, new, lost):
        assert base64.urlsafe_b64encode(key).decode() not in message
    after = sorted(
        await backend.rows("SELECT guild_id, user_id, provider, secret FROM credentials")
    )
    assert after == before

    # Given the missing key too, the start goes through and every secret is readable.
    store = await _open(backend, Sealer(new, [old, lost]))
    try:
        assert await store.get_credential(3003, None, "serieshr") == {"api_key": "x"}
        assert (
            await store.get_credential(1001, None, "retroachievements")
            == STORED[(1001, None, "retroachievements")]
        )
    finally:
        await store.close()
    assert set(await _headers(backend)) == {b"\x02" + key_id(new)}


async def test_blobs_from_before_key_ids_are_resealed(backend):
    """Databases written before key ids (format 1) rotate on the first start after upgrade."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = os.urandom(32)
    await _fill(backend, key)
    # Rewrite one blob in the old format: version 1, no key id.
    nonce = os.urandom(12)
    ad = b"ticketlens:v1|2002|-|whmcs"
    legacy = b"\x01" + nonce + AESGCM(key).encrypt(nonce, b'{"identifier":"legacy"}', ad)
    if backend.name == "sqlite":
        await backend.execute(
            f"UPDATE credentials SET secret = X'{legacy.hex()}' WHERE guild_id = 2002"  # noqa: S608
        )
    else:
        await backend.execute(
            f"UPDATE credentials SET secret = '\\x{legacy.hex()}'::bytea WHERE guild_id = 2002"  # noqa: S608
        )

    store = await _open(backend, Sealer(key))
    try:
        assert await store.get_credential(2002, None, "whmcs") == {"identifier": "legacy"}
    finally:
        await store.close()
    assert set(await _headers(backend)) == {b"\x02" + key_id(key)}


# -- a process killed in the middle of a rotation ----------------------------------------------

#: Runs in a child process: opens the store with (new, [old]) and stops for good inside the
#: rotation, after the first row's UPDATE and before the second's, waiting to be killed.
_PAUSING_CHILD = """
import asyncio, sys, time
from bot.crypto import Sealer
from bot.pgstore import PostgresStore
from bot.store import SqliteStore

from pathlib import Path

kind, where = sys.argv[1], sys.argv[2]
new, old = bytes.fromhex(sys.argv[3]), bytes.fromhex(sys.argv[4])
original = Sealer.reseal
calls = 0

def pausing(self, *args, **kwargs):
    global calls
    calls += 1
    if calls == 2:
        print("paused", flush=True)
        time.sleep(600)
    return original(self, *args, **kwargs)

Sealer.reseal = pausing
sealer = Sealer(new, [old])
if kind == "sqlite":
    asyncio.run(SqliteStore.open(Path(where), sealer))
else:
    asyncio.run(PostgresStore.open(where, sealer))
"""


def _kill_when_paused(args: list[str]) -> int:
    """Run the pausing child, SIGKILL it once it says it is paused; its return code."""
    child = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", _PAUSING_CHILD, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "paused"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    return child.returncode


async def test_a_process_killed_in_the_middle_of_a_rotation_loses_nothing(backend):
    """SIGKILL while the rotation transaction is open: no row is half-rotated or lost; the next
    start rotates them all and every secret reads as stored."""
    old, new = os.urandom(32), os.urandom(32)
    await _fill(backend, old)
    where = str(backend.path) if backend.name == "sqlite" else backend.url
    returncode = await asyncio.to_thread(
        _kill_when_paused, [backend.name, where, new.hex(), old.hex()]
    )
    assert returncode == -signal.SIGKILL

    # The open transaction died with the process: every row is still under the old key.
    assert set(await _headers(backend)) == {b"\x02" + key_id(old)}
    assert len(await _headers(backend)) == len(STORED)

    store = await _open(backend, Sealer(new, [old]))
    try:
        assert await _all_read(store) == STORED
    finally:
        await store.close()
    assert set(await _headers(backend)) == {b"\x02" + key_id(new)}


# -- the process: OLD_SECRET_KEYS at start-up --------------------------------------------------


def test_a_bad_old_secret_key_is_one_line_without_the_value(tmp_path):
    """A typo in OLD_SECRET_KEYS: exit 2, one line naming the item's position, not its value."""
    good = Fernet.generate_key().decode()
    result = run_bot(
        tmp_path, DISCORD_TOKEN="x.y.z", SECRET_KEY=good, OLD_SECRET_KEYS=f"{good},typo-value-9"
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "OLD_SECRET_KEYS item 2" in result.stderr
    assert "typo-value-9" not in result.stderr
    assert good not in result.stderr


async def test_start_up_refuses_a_secret_no_key_opens_in_one_line(tmp_path):
    """The bot process stops before connecting to Discord, exit 2, one line, data kept."""
    lost = Fernet.generate_key().decode()
    current = Fernet.generate_key().decode()
    path = tmp_path / "data" / "ticketlens.db"
    store = await SqliteStore.open(path, Sealer(base64.urlsafe_b64decode(lost)))
    await store.put_credential(1, None, "retroachievements", {"api_key": "k"}, set_by=5)
    await store.close()
    # The database's key check passes with the current key, but one row is under `lost`.
    store = await SqliteStore.open(
        path, Sealer(base64.urlsafe_b64decode(current), [base64.urlsafe_b64decode(lost)])
    )
    await store.close()
    blob = Sealer(base64.urlsafe_b64decode(lost)).seal(
        b'{"api_key":"k"}', guild_id=1, user_id=None, provider="retroachievements"
    )
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("UPDATE credentials SET secret = ?", (blob,))

    result = run_bot(tmp_path, DISCORD_TOKEN="x.y.z", SECRET_KEY=current)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not configured" in result.stderr
    assert lost not in result.stderr
    assert current not in result.stderr

    store = await SqliteStore.open(
        path, Sealer(base64.urlsafe_b64decode(current), [base64.urlsafe_b64decode(lost)])
    )
    assert await store.get_credential(1, None, "retroachievements") == {"api_key": "k"}
    await store.close()
