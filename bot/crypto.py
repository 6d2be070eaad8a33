"""
The encryption key and the sealing of stored credentials.

The key is 32 random bytes in URL-safe base64 (what `Fernet.generate_key()` prints). It comes
from SECRET_KEY or, failing that, from a key file created once on first start. Values are
sealed with AES-GCM; the associated data binds each blob to its row (guild, member, provider),
so a blob copied to another row does not open.

Key rotation: a `Sealer` has the current key and any old ones (OLD_SECRET_KEYS). Every blob
starts with the id of the key that sealed it (`key_id`: 4 bytes of a hash of the key, never the
key), so opening picks its key without trying each, and the store can find the blobs still
under an old key (`Sealer.is_current`) and re-seal them at start-up. Blobs written before key
ids existed (format 1) carry none: every configured key is tried on them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_KEY_TEXT = re.compile(r"[A-Za-z0-9_-]{43}=?")
_KEY_FORMAT = (
    "expected 32 random bytes in URL-safe base64 (44 characters), e.g. the output of "
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)

#: Format 1: version, nonce, ciphertext and tag. Format 2 adds the sealing key's id after the
#: version byte. Both open; only format 2 is written.
_VERSION_1 = b"\x01"
_VERSION = b"\x02"
_KEY_ID_BYTES = 4
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


def parse_old_keys(text: str | None) -> list[bytes]:
    """
    OLD_SECRET_KEYS: keys that sealed stored values before the current one, comma-separated
    (spaces ignored, empty items skipped). KeyConfigError names a bad item by its position,
    never by its value.
    """
    keys: list[bytes] = []
    items = [item.strip() for item in (text or "").split(",")]
    for position, item in enumerate(items, start=1):
        if not item:
            continue
        key = _decode_key(item)
        if key is None:
            raise KeyConfigError(
                f"OLD_SECRET_KEYS item {position} is not a valid key: {_KEY_FORMAT}"
            )
        keys.append(key)
    return keys


def key_id(key: bytes) -> bytes:
    """The short id a blob records for the key that sealed it: a hash prefix, not the key."""
    return hashlib.sha256(b"ticketlens key id v1|" + key).digest()[:_KEY_ID_BYTES]


def _row_ad(guild_id: int, user_id: int | None, provider: str) -> bytes:
    # Ids never contain "|" and the provider comes last, so the encoding is unambiguous.
    user = "-" if user_id is None else str(user_id)
    return _AD_PREFIX + f"{guild_id}|{user}|{provider}".encode()


def _meta_ad(name: str) -> bytes:
    # "meta" is not a number, so this can never equal a row's associated data.
    return _AD_PREFIX + b"meta|" + name.encode()


class Sealer:
    """Seals values with the current key and opens them with any configured key (AES-GCM),
    each bound to where it is stored."""

    def __init__(self, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        for one in (key, *old_keys):
            if len(one) != KEY_BYTES:
                raise ValueError(f"the key must be {KEY_BYTES} bytes")
        self._id = key_id(key)
        self._aead = AESGCM(key)
        # The current key first: it opens format-1 blobs most often, and it wins if an old key
        # is listed again by mistake.
        self._by_id: dict[bytes, AESGCM] = {}
        for one in (key, *old_keys):
            self._by_id.setdefault(key_id(one), AESGCM(one))

    @property
    def key_id(self) -> str:
        """The current key's id, as hex (what the start-up log names)."""
        return self._id.hex()

    @property
    def header(self) -> bytes:
        """The first bytes of every blob this sealer writes: what a store compares to find
        blobs under another key without opening them."""
        return _VERSION + self._id

    def is_current(self, sealed: bytes) -> bool:
        """Whether `sealed` was sealed with the current key (format 2 and its id)."""
        return sealed[: len(self.header)] == self.header

    def seal(self, plaintext: bytes, *, guild_id: int, user_id: int | None, provider: str) -> bytes:
        """Seal a credential for one row: (guild, member or None, provider)."""
        return self._seal(plaintext, _row_ad(guild_id, user_id, provider))

    def open(self, sealed: bytes, *, guild_id: int, user_id: int | None, provider: str) -> bytes:
        """Open a credential sealed for this exact row; SealError otherwise."""
        return self._open(sealed, _row_ad(guild_id, user_id, provider))

    def reseal(self, sealed: bytes, *, guild_id: int, user_id: int | None, provider: str) -> bytes:
        """The same credential sealed with the current key; SealError if no key opens it."""
        ad = _row_ad(guild_id, user_id, provider)
        return self._seal(self._open(sealed, ad), ad)

    def seal_meta(self, plaintext: bytes, *, name: str) -> bytes:
        """Seal a value that belongs to a named setting rather than to a credential row."""
        return self._seal(plaintext, _meta_ad(name))

    def open_meta(self, sealed: bytes, *, name: str) -> bytes:
        """Open a value sealed with `seal_meta` under the same name; SealError otherwise."""
        return self._open(sealed, _meta_ad(name))

    def reseal_meta(self, sealed: bytes, *, name: str) -> bytes:
        """A `seal_meta` value sealed again with the current key; SealError if none opens it."""
        ad = _meta_ad(name)
        return self._seal(self._open(sealed, ad), ad)

    def _seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        # A random 96-bit nonce per seal: collisions are negligible at the handful of writes
        # a guild's credentials see over the lifetime of a key.
        nonce = os.urandom(_NONCE_BYTES)
        return self.header + nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def _open(self, sealed: bytes, associated_data: bytes) -> bytes:
        version = sealed[:1]
        if version == _VERSION:
            start = 1 + _KEY_ID_BYTES
            aead = self._by_id.get(sealed[1:start])
            if aead is None:
                raise SealError("sealed value is under a key that is not configured")
            candidates = [aead]
        elif version == _VERSION_1:
            start = 1
            candidates = list(self._by_id.values())
        else:
            raise SealError("sealed value is malformed or of an unknown version")
        if len(sealed) < start + _NONCE_BYTES + _TAG_BYTES:
            raise SealError("sealed value is malformed or of an unknown version")
        nonce = sealed[start : start + _NONCE_BYTES]
        body = sealed[start + _NONCE_BYTES :]
        for candidate in candidates:
            try:
                return candidate.decrypt(nonce, body, associated_data)
            except InvalidTag:
                continue
        raise SealError(
            "sealed value could not be opened (wrong key, tampered, or bound to another row)"
        )


def sealed_key_id(sealed: bytes) -> str | None:
    """The hex id of the key that sealed `sealed` (None for format 1, which records none)."""
    if sealed[:1] != _VERSION or len(sealed) < 1 + _KEY_ID_BYTES:
        return None
    return sealed[1 : 1 + _KEY_ID_BYTES].hex()
