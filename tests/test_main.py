"""Start-up as an admin meets it: `python -m bot` with good and bad settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg import PASSWORD

ROOT = Path(__file__).resolve().parents[1]


def run_bot(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot` in tmp_path with only the given settings (no .env there)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "SECRET_", "OLD_SECRET_", "SHARD_"))
    }
    clean.update(env)
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("token", [None, "", "   "])
def test_missing_token_is_one_line_and_exit_2(tmp_path, token):
    """No DISCORD_TOKEN: exactly one stderr line naming it, exit 2, no traceback."""
    env = {} if token is None else {"DISCORD_TOKEN": token}
    result = run_bot(tmp_path, **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "DISCORD_TOKEN" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was created, nothing was called


def test_empty_token_gets_the_same_advice_as_an_unset_one(tmp_path):
    """`.env.example`'s `DISCORD_TOKEN=` says what to do, exactly as a missing token does."""
    unset = run_bot(tmp_path).stderr.strip()
    empty = run_bot(tmp_path, DISCORD_TOKEN="").stderr.strip()
    assert empty == unset
    assert "Developer Portal" in empty
    assert "must not be empty" not in empty


def test_malformed_secret_key_is_refused_without_echo(tmp_path):
    """A SECRET_KEY that is not 32 url-safe base64 bytes: one line, exit 2, value not shown."""
    result = run_bot(tmp_path, DISCORD_TOKEN="x.y.z", SECRET_KEY="not-a-real-key-value")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "SECRET_KEY" in result.stderr
    assert "not-a-real-key-value" not in result.stderr


def test_bad_provider_setting_is_named(tmp_path):
    """A bad provider setting names the variable, exit 2."""
    result = run_bot(tmp_path, DISCORD_TOKEN="x.y.z", RETROACHIEVEMENTS_BASE_URL="ftp://nope")
    assert result.returncode == 2
    assert "RETROACHIEVEMENTS_BASE_URL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_wrong_key_refuses_to_start_and_keeps_data(tmp_path):
    """A SECRET_KEY that does not open stored credentials: exit 2, one line, rows and key kept."""
    from cryptography.fernet import Fernet

    from bot.crypto import Sealer, load_or_create_key
    from bot.store import SqliteStore

    key_file = tmp_path / "data" / "secret.key"
    key = load_or_create_key(None, key_file)
    store = await SqliteStore.open(tmp_path / "data" / "ticketlens.db", Sealer(key))
    await store.put_credential(1, None, "retroachievements", {"api_key": "k"}, set_by=5)
    await store.close()
    key_before = key_file.read_bytes()

    other = Fernet.generate_key().decode()
    result = run_bot(tmp_path, DISCORD_TOKEN="x.y.z", SECRET_KEY=other)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "does not match" in result.stderr
    assert other not in result.stderr
    assert key_file.read_bytes() == key_before

    store = await SqliteStore.open(tmp_path / "data" / "ticketlens.db", Sealer(key))
    assert await store.get_credential(1, None, "retroachievements") == {"api_key": "k"}
    await store.close()


# -- DATABASE_URL: the backend, and the rules of a server database ------------------------------


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_postgres_without_secret_key_is_refused_and_no_key_file_is_made(tmp_path):
    """A server database needs SECRET_KEY (every process must share it): one line, exit 2, and
    no key file generated, before any connection is tried."""
    url = "postgresql://ticketlens:hunter2-db-pass@127.0.0.1:9/ticketlens"
    line = _one_line(run_bot(tmp_path, DISCORD_TOKEN="x.y.z", DATABASE_URL=url))
    assert "SECRET_KEY is required" in line
    assert "hunter2" not in line
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "url",
    ["mysql://ticketlens:hunter2-db-pass@db/ticketlens", "sqlite://rel.db"],
)
def test_an_unknown_database_url_is_named_without_echo(tmp_path, url):
    """A DATABASE_URL that is neither sqlite:/// nor postgresql://: one line, exit 2."""
    line = _one_line(run_bot(tmp_path, DISCORD_TOKEN="x.y.z", DATABASE_URL=url))
    assert "DATABASE_URL" in line
    assert "postgresql://" in line  # what to write instead
    assert "hunter2" not in line
    assert not (tmp_path / "data").exists()


def test_shard_ids_without_shard_count_is_refused(tmp_path):
    """SHARD_IDS alone cannot place a guild on a shard: one line naming both, exit 2."""
    line = _one_line(run_bot(tmp_path, DISCORD_TOKEN="x.y.z", SHARD_IDS="0-1"))
    assert "SHARD_IDS" in line
    assert "SHARD_COUNT" in line
    assert not (tmp_path / "data").exists()


def test_a_shard_id_beyond_shard_count_is_refused(tmp_path):
    """Every id of SHARD_IDS must be below SHARD_COUNT: one line, exit 2."""
    line = _one_line(run_bot(tmp_path, DISCORD_TOKEN="x.y.z", SHARD_COUNT="2", SHARD_IDS="0,2"))
    assert line.startswith("ticketlens: SHARD_IDS: ")


def test_a_pool_smaller_than_its_minimum_is_refused(tmp_path):
    """DATABASE_POOL_MAX below DATABASE_POOL_MIN is a configuration error, named."""
    result = run_bot(tmp_path, DISCORD_TOKEN="x.y.z", DATABASE_POOL_MIN="5", DATABASE_POOL_MAX="2")
    assert "DATABASE_POOL_MAX" in _one_line(result)


def test_an_unreachable_database_server_is_one_line_without_the_password(tmp_path):
    """Nothing listens at the server's address: one line naming it without the password."""
    from cryptography.fernet import Fernet

    url = "postgresql://ticketlens:hunter2-db-pass@127.0.0.1:9/ticketlens"
    key = Fernet.generate_key().decode()
    result = run_bot(tmp_path, DISCORD_TOKEN="x.y.z", DATABASE_URL=url, SECRET_KEY=key)
    line = _one_line(result)
    assert "cannot open the database postgresql://ticketlens@127.0.0.1:9/ticketlens" in line
    assert "hunter2" not in result.stderr
    assert key not in result.stderr
    assert not (tmp_path / "data").exists()


async def test_wrong_key_on_postgres_refuses_to_start_and_keeps_data(tmp_path, pg_url):
    """As with SQLite: a SECRET_KEY that does not open the stored credentials, exit 2."""
    from cryptography.fernet import Fernet

    from bot.crypto import Sealer, load_or_create_key
    from bot.pgstore import PostgresStore

    key = Fernet.generate_key().decode()
    store = await PostgresStore.open(pg_url, Sealer(load_or_create_key(key, tmp_path / "unused")))
    await store.put_credential(1, None, "retroachievements", {"api_key": "k"}, set_by=5)
    await store.close()

    other = Fernet.generate_key().decode()
    result = run_bot(tmp_path, DISCORD_TOKEN="x.y.z", DATABASE_URL=pg_url, SECRET_KEY=other)
    line = _one_line(result)
    assert "does not match" in line
    assert other not in result.stderr
    assert PASSWORD not in result.stderr

    store = await PostgresStore.open(pg_url, Sealer(load_or_create_key(key, tmp_path / "unused")))
    assert await store.get_credential(1, None, "retroachievements") == {"api_key": "k"}
    await store.close()
    assert not (tmp_path / "unused").exists()


def test_some_shards_over_a_sqlite_file_are_refused(tmp_path):
    """Several processes cannot share a SQLite store (each caches what it read): one line
    asking for PostgreSQL, exit 2. All shards in this one process is fine."""
    line = _one_line(run_bot(tmp_path, DISCORD_TOKEN="x.y.z", SHARD_COUNT="2", SHARD_IDS="1"))
    assert line.startswith("ticketlens: SHARD_IDS: ")
    assert "PostgreSQL DATABASE_URL" in line
