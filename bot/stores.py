"""
The store DATABASE_URL names: `sqlite:///…` opens `SqliteStore` (the embedded default, one
process), `postgresql://…` or `postgres://…` opens `PostgresStore` (several processes over one
server). Both implement `bot.store.Store`; the rest of the bot never knows which it has.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from bot.crypto import Sealer
from bot.pgstore import PostgresStore
from bot.settings import Settings
from bot.store import SqliteStore, Store


async def open_store(settings: Settings, sealer: Sealer) -> Store:
    """
    Open, migrate and key-check the store DATABASE_URL names. Raises KeyMismatch or
    SchemaTooNew (either backend) and DatabaseUnavailable (a server that cannot be reached or
    refuses the login); every message is one line without the URL's password.
    """
    if settings.database_backend == "sqlite":
        return await SqliteStore.open(settings.sqlite_path, sealer)
    return await PostgresStore.open(
        settings.database_url,
        sealer,
        min_size=settings.database_pool_min,
        max_size=settings.database_pool_max,
    )


def url_secrets(url: str) -> list[str]:
    """The password in a database URL (in the user part or as `?password=`), as typed and
    decoded, for the log redactor; empty when there is none."""
    try:
        parts = urlsplit(url)
        password = parts.password or ""
    except ValueError:
        return []  # not a URL Settings accepts, so never one the bot connects with
    found = [password, *parse_qs(parts.query).get("password", [])]
    return [form for value in found if value for form in dict.fromkeys((value, unquote(value)))]
