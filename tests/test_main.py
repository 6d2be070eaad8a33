"""Start-up as an admin meets it: `python -m bot` with good and bad settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_bot(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot` in tmp_path with only the given settings (no .env there)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SECRET_"))}
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
