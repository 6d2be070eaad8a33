"""The encryption key (SECRET_KEY or key file) and the sealing of credentials."""

from __future__ import annotations

import base64
import os
import stat

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from bot.crypto import (
    KeyConfigError,
    Sealer,
    SealError,
    key_id,
    load_or_create_key,
    parse_old_keys,
    sealed_key_id,
)

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
    assert first[5:17] != second[5:17]
    assert first[:5] == second[:5] == sealer.header
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


# -- key rotation ----------------------------------------------------------------------------


def _format_1(key: bytes, plaintext: bytes, ad: bytes) -> bytes:
    """A blob as TicketLens wrote them before key ids: version 1, nonce, ciphertext."""
    nonce = os.urandom(12)
    return b"\x01" + nonce + AESGCM(key).encrypt(nonce, plaintext, ad)


def test_blob_records_which_key_sealed_it_but_not_the_key():
    """Every new blob names its key by a short id; neither the key nor its base64 is in it."""
    key = os.urandom(32)
    sealed = Sealer(key).seal(b"secret", **ROW)

    assert sealed_key_id(sealed) == key_id(key).hex() == Sealer(key).key_id
    assert len(Sealer(key).key_id) == 8
    assert key not in sealed
    assert base64.urlsafe_b64encode(key)[:8] not in sealed


def test_an_old_key_still_opens_what_it_sealed_and_reseal_moves_it_to_the_current_key():
    """With the old key in OLD_SECRET_KEYS, its blobs open; re-sealing puts them under the new."""
    old, new = os.urandom(32), os.urandom(32)
    under_old = Sealer(old).seal(b"the value", **ROW)
    rotating = Sealer(new, [old])

    assert rotating.open(under_old, **ROW) == b"the value"
    assert not rotating.is_current(under_old)
    moved = rotating.reseal(under_old, **ROW)
    assert rotating.is_current(moved)
    assert Sealer(new).open(moved, **ROW) == b"the value"
    with pytest.raises(SealError):
        Sealer(old).open(moved, **ROW)


def test_a_blob_under_a_key_no_longer_configured_does_not_open():
    """Dropping a key from OLD_SECRET_KEYS too early makes its blobs unreadable, not wrong."""
    old, new = os.urandom(32), os.urandom(32)
    under_old = Sealer(old).seal(b"the value", **ROW)

    with pytest.raises(SealError, match="not configured"):
        Sealer(new).open(under_old, **ROW)
    with pytest.raises(SealError):
        Sealer(new).reseal(under_old, **ROW)


def test_blobs_from_before_key_ids_open_with_any_configured_key():
    """Format-1 blobs (no key id) open with the current or an old key, and are not current."""
    old, new = os.urandom(32), os.urandom(32)
    ad = b"ticketlens:v1|111|222|retroachievements"
    legacy = _format_1(old, b"legacy value", ad)

    rotating = Sealer(new, [old])
    assert rotating.open(legacy, **ROW) == b"legacy value"
    assert not rotating.is_current(legacy)
    assert sealed_key_id(legacy) is None
    assert Sealer(old).open(legacy, **ROW) == b"legacy value"
    assert rotating.open(rotating.reseal(legacy, **ROW), **ROW) == b"legacy value"
    with pytest.raises(SealError):
        Sealer(new).open(legacy, **ROW)


def test_meta_values_rotate_too():
    """The key check (a meta value) re-seals like a credential."""
    old, new = os.urandom(32), os.urandom(32)
    canary = Sealer(old).seal_meta(b"canary", name="key_check")
    rotating = Sealer(new, [old])

    moved = rotating.reseal_meta(canary, name="key_check")
    assert rotating.is_current(moved)
    assert Sealer(new).open_meta(moved, name="key_check") == b"canary"


def test_old_secret_keys_parse_as_a_comma_separated_list():
    """Spaces and empty items are ignored; a bad item is named by position, never echoed."""
    one = Fernet.generate_key().decode()
    two = Fernet.generate_key().decode()

    assert parse_old_keys(None) == []
    assert parse_old_keys(" ") == []
    assert parse_old_keys(f" {one} ,, {two},") == [
        base64.urlsafe_b64decode(one),
        base64.urlsafe_b64decode(two),
    ]
    with pytest.raises(KeyConfigError) as caught:
        parse_old_keys(f"{one},not-a-key-{two[:20]}")
    assert "item 2" in str(caught.value)
    assert two[:20] not in str(caught.value)
    assert one not in str(caught.value)
