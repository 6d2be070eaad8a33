"""
The encryption key and the sealing of stored credentials.

The key is 32 random bytes in URL-safe base64 (what `Fernet.generate_key()` prints). It comes
from SECRET_KEY or, failing that, from a key file created once on first start. Values are
sealed with AES-GCM; the associated data binds each blob to its row (guild, member, provider),
so a blob copied to another row does not open.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_KEY_TEXT = re.compile(r"[A-Za-z0-9_-]{43}=?")
_KEY_FORMAT = (
    "expected 32 random bytes in URL-safe base64 (44 characters), e.g. the output of "
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)

_VERSION = b"\x01"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_AD_PREFIX = b"ticketlens:v1|"


class KeyConfigError(Exception):
    """The key cannot be loaded or created; the message is one line and never holds the key."""

    def __init__(self, message: str) -> None:
        # Printed on stderr at start-up: a path with a newline in it must not break the line.
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))


class SealError(Exception):
    """A sealed value could not be opened (wrong key, tampered, or bound to another row)."""


def _decode_key(text: str) -> bytes | None:
    text = text.strip()
    # b64decode ignores stray characters unless told otherwise; a strict pattern first means a
    # typo is reported instead of silently yielding some other key.
    if not _KEY_TEXT.fullmatch(text):
        return None
    raw = base64.urlsafe_b64decode(text.rstrip("=") + "=")
    return raw if len(raw) == KEY_BYTES else None


def _encode_key(key: bytes) -> bytes:
    return base64.urlsafe_b64encode(key) + b"\n"


def _read_key_file(key_file: Path) -> bytes:
    try:
        text = key_file.read_bytes().decode("ascii")
    except UnicodeDecodeError:
        raise KeyConfigError(f"key file {key_file} is not a valid key: {_KEY_FORMAT}") from None
    except OSError as exc:
        raise KeyConfigError(f"key file {key_file} cannot be read: {exc.strerror}") from None
    key = _decode_key(text)
    if key is None:
        raise KeyConfigError(f"key file {key_file} is not a valid key: {_KEY_FORMAT}")
    return key


def _write_new(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 and write `data`; FileExistsError if it already exists."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        # The umask may only remove bits, but a strange umask could remove the owner's too.
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    # Best effort: without it a power cut could lose the new directory entry.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _create_key_file(key_file: Path) -> bytes:
    key = secrets.token_bytes(KEY_BYTES)
    # Written to a temporary name, then hard-linked into place: a crash never leaves a
    # half-written key file, and link() (like O_EXCL) refuses to replace an existing file.
    tmp = key_file.with_name(f".{key_file.name}.{secrets.token_hex(8)}.tmp")
    try:
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_new(tmp, _encode_key(key))
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            # Another process created it first: use theirs, so both agree on one key.
            return _read_key_file(key_file)
        except OSError:
            # Filesystems without hard links: O_EXCL still guarantees no overwrite.
            try:
                _write_new(key_file, _encode_key(key))
            except FileExistsError:
                return _read_key_file(key_file)
    except OSError as exc:
        raise KeyConfigError(f"key file {key_file} cannot be created: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    _fsync_dir(key_file.parent)
    return key


def load_or_create_key(secret_key: str | None, key_file: Path) -> bytes:
    """Return the 32-byte key from SECRET_KEY, else from `key_file`, creating it on first use."""
    if secret_key:
        key = _decode_key(secret_key)
        if key is None:
            raise KeyConfigError(f"SECRET_KEY is not a valid key: {_KEY_FORMAT}")
        return key
    if key_file.exists():
        return _read_key_file(key_file)
    return _create_key_file(key_file)


def _row_ad(guild_id: int, user_id: int | None, provider: str) -> bytes:
    # Ids never contain "|" and the provider comes last, so the encoding is unambiguous.
    user = "-" if user_id is None else str(user_id)
    return _AD_PREFIX + f"{guild_id}|{user}|{provider}".encode()


def _meta_ad(name: str) -> bytes:
    # "meta" is not a number, so this can never equal a row's associated data.
    return _AD_PREFIX + b"meta|" + name.encode()


class Sealer:
    """Seals and opens values with AES-GCM, each bound to where it is stored."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, *, guild_id: int, user_id: int | None, provider: str) -> bytes:
        """Seal a credential for one row: (guild, member or None, provider)."""
        return self._seal(plaintext, _row_ad(guild_id, user_id, provider))

    def open(self, sealed: bytes, *, guild_id: int, user_id: int | None, provider: str) -> bytes:
        """Open a credential sealed for this exact row; SealError otherwise."""
        return self._open(sealed, _row_ad(guild_id, user_id, provider))

    def seal_meta(self, plaintext: bytes, *, name: str) -> bytes:
        """Seal a value that belongs to a named setting rather than to a credential row."""
        return self._seal(plaintext, _meta_ad(name))

    def open_meta(self, sealed: bytes, *, name: str) -> bytes:
        """Open a value sealed with `seal_meta` under the same name; SealError otherwise."""
        return self._open(sealed, _meta_ad(name))

    def _seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        # A random 96-bit nonce per seal: collisions are negligible at the handful of writes
        # a guild's credentials see over the lifetime of a key.
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def _open(self, sealed: bytes, associated_data: bytes) -> bytes:
        if len(sealed) < 1 + _NONCE_BYTES + _TAG_BYTES or sealed[:1] != _VERSION:
            raise SealError("sealed value is malformed or of an unknown version")
        nonce = sealed[1 : 1 + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[1 + _NONCE_BYTES :], associated_data)
        except InvalidTag:
            raise SealError(
                "sealed value could not be opened (wrong key, tampered, or bound to another row)"
            ) from None
