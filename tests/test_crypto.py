"""The encryption key (SECRET_KEY or key file) and the sealing of credentials."""

from __future__ import annotations

import base64
import os
import stat

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from bot.crypto import KeyConfigError, Sealer, SealError, load_or_create_key

ROW = {"guild_id": 111, "user_id": 222, "provider": "retroachievements"}


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_key_file_created_once_with_mode_0600_and_reused(tmp_path):
    """Without SECRET_KEY a key file is created (0600, in a new folder) and reused later."""
    key_file = tmp_path / "data" / "secret.key"

    first = load_or_create_key(None, key_file)
    written = key_file.read_bytes()
    second = load_or_create_key("", key_file)

    assert len(first) == 32
    assert second == first
    assert _mode(key_file) == 0o600
    assert key_file.read_bytes() == written
    assert base64.urlsafe_b64decode(written.strip()) == first
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["secret.key"]


def test_two_installs_get_different_keys(tmp_path):
    """Each new key file holds a freshly generated key."""
    assert load_or_create_key(None, tmp_path / "a.key") != load_or_create_key(
        None, tmp_path / "b.key"
    )


def test_existing_key_file_is_used_and_never_overwritten(tmp_path):
    """A key file written by the operator is read as is and left untouched."""
    key_file = tmp_path / "secret.key"
    text = Fernet.generate_key()
    key_file.write_bytes(text + b"\n")

    assert load_or_create_key(None, key_file) == base64.urlsafe_b64decode(text)
    assert key_file.read_bytes() == text + b"\n"


def test_bad_key_file_is_reported_by_path_and_kept(tmp_path):
    """A corrupt key file stops start-up naming the file; it is not replaced by a new key."""
    key_file = tmp_path / "secret.key"
    key_file.write_bytes(b"definitely not a key\n")

    with pytest.raises(KeyConfigError) as caught:
        load_or_create_key(None, key_file)

    assert str(key_file) in str(caught.value)
    assert "definitely" not in str(caught.value)
    assert "\n" not in str(caught.value)
    assert key_file.read_bytes() == b"definitely not a key\n"


def test_valid_secret_key_is_used_and_no_file_is_written(tmp_path):
    """SECRET_KEY as printed by Fernet.generate_key() is the key; no key file appears."""
    text = Fernet.generate_key().decode()
    key_file = tmp_path / "secret.key"

    assert load_or_create_key(text, key_file) == base64.urlsafe_b64decode(text)
    assert load_or_create_key(f"  {text}\n", key_file) == base64.urlsafe_b64decode(text)
    assert not key_file.exists()


@pytest.mark.parametrize(
    "bad",
    [
        "hunter2-is-my-secret-key",
        Fernet.generate_key().decode()[:-5],
        base64.urlsafe_b64encode(b"k" * 24).decode(),
        base64.urlsafe_b64encode(b"k" * 48).decode(),
        base64.b64encode(b"\xfb\xff" * 16).decode(),  # standard base64: "+" and "/"
        Fernet.generate_key().decode()[:-2] + "!=",
        "   ",
    ],
)
def test_malformed_secret_key_is_refused_without_echoing_it(tmp_path, bad):
    """A malformed SECRET_KEY stops start-up with a one-line message that does not repeat it."""
    key_file = tmp_path / "secret.key"

    with pytest.raises(KeyConfigError) as caught:
        load_or_create_key(bad, key_file)

    message = str(caught.value)
    assert "SECRET_KEY" in message
    assert "base64" in message
    assert "\n" not in message
    if bad.strip():
        assert bad.strip() not in message
    assert not key_file.exists()


def test_seal_round_trip_for_member_and_guild_rows():
    """What is sealed for a row opens for that row, guild-wide rows included."""
    sealer = Sealer(os.urandom(32))

    member = sealer.seal(b'{"api_key":"abc"}', **ROW)
    guild = sealer.seal(b"guild secret", guild_id=111, user_id=None, provider="retroachievements")

    assert sealer.open(member, **ROW) == b'{"api_key":"abc"}'
    assert sealer.open(guild, guild_id=111, user_id=None, provider="retroachievements") == (
        b"guild secret"
    )


def test_each_seal_uses_a_fresh_nonce():
    """Sealing the same value twice gives two different blobs, neither containing the value."""
    sealer = Sealer(os.urandom(32))

    first = sealer.seal(b"same secret value", **ROW)
    second = sealer.seal(b"same secret value", **ROW)

    assert first != second
    assert first[1:13] != second[1:13]
    assert first[:1] == second[:1] == b"\x01"
    assert b"same secret value" not in first


@pytest.mark.parametrize(
    "other",
    [
        {"guild_id": 112, "user_id": 222, "provider": "retroachievements"},
        {"guild_id": 111, "user_id": 223, "provider": "retroachievements"},
        {"guild_id": 111, "user_id": None, "provider": "retroachievements"},
        {"guild_id": 111, "user_id": 222, "provider": "zendesk"},
        {"guild_id": 111222, "user_id": None, "provider": "retroachievements"},
    ],
)
def test_blob_does_not_open_for_another_row(other):
    """A blob moved to another guild, member or provider does not open."""
    sealer = Sealer(os.urandom(32))
    sealed = sealer.seal(b"secret", **ROW)

    with pytest.raises(SealError):
        sealer.open(sealed, **other)


def test_blob_does_not_open_with_another_key():
    """A different key cannot open a blob."""
    sealed = Sealer(os.urandom(32)).seal(b"secret", **ROW)

    with pytest.raises(SealError):
        Sealer(os.urandom(32)).open(sealed, **ROW)


@pytest.mark.parametrize("position", [0, 1, 12, 13, 20, -1])
def test_tampered_blob_is_refused(position):
    """Changing any byte (version, nonce, ciphertext, tag) makes the blob unreadable."""
    sealer = Sealer(os.urandom(32))
    sealed = bytearray(sealer.seal(b"a secret long enough to reach byte 20", **ROW))
    sealed[position] ^= 0x01

    with pytest.raises(SealError):
        sealer.open(bytes(sealed), **ROW)


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01" + bytes(27)])
def test_truncated_blob_is_refused(blob):
    """A blob too short to hold a nonce and tag raises SealError, not some other error."""
    with pytest.raises(SealError):
        Sealer(os.urandom(32)).open(blob, **ROW)


def test_meta_values_are_bound_to_their_name():
    """A meta value opens under its own name only, and never as a credential row."""
    sealer = Sealer(os.urandom(32))
    sealed = sealer.seal_meta(b"canary", name="key_check")

    assert sealer.open_meta(sealed, name="key_check") == b"canary"
    with pytest.raises(SealError):
        sealer.open_meta(sealed, name="other")
    with pytest.raises(SealError):
        sealer.open(sealed, guild_id=0, user_id=None, provider="key_check")


def test_sealer_refuses_a_key_of_the_wrong_size():
    """Only a 32-byte key is accepted."""
    with pytest.raises(ValueError, match="32 bytes"):
        Sealer(b"short")


@given(
    plaintext=st.binary(max_size=512),
    guild_id=st.integers(min_value=1, max_value=2**63 - 1),
    user_id=st.none() | st.integers(min_value=1, max_value=2**63 - 1),
    provider=st.text(min_size=1, max_size=40),
)
def test_round_trip_for_any_value_and_row(plaintext, guild_id, user_id, provider):
    """Any value sealed for any row opens again unchanged."""
    sealer = Sealer(bytes(range(32)))
    sealed = sealer.seal(plaintext, guild_id=guild_id, user_id=user_id, provider=provider)

    assert sealer.open(sealed, guild_id=guild_id, user_id=user_id, provider=provider) == plaintext
