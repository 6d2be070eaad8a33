"""
`python -m bot`: read settings, open the store, run the bot.

Start-up failures an admin can fix are one line on stderr and an exit code, never a traceback:
2 for configuration (missing DISCORD_TOKEN, bad setting, SECRET_KEY that does not open the
stored credentials, METRICS_PORT taken, SECRET_KEY unset with a PostgreSQL DATABASE_URL, a
database server that cannot be reached or refuses the login), 1 when Discord rejects the token.

SIGTERM (or SIGINT) shuts down gracefully: new commands get "restarting", those in flight
finish (up to SHUTDOWN_TIMEOUT_S), then the bot, the HTTP session and the store close (the
store writes what it still holds) and the process exits 0. A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence

import discord
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from bot.app import TicketLensBot, discover_extensions
from bot.crypto import KeyConfigError, Sealer, load_or_create_key, parse_old_keys
from bot.health import EndpointUnavailable
from bot.http import Http, make_session
from bot.redact import Redactor, install_log_redaction
from bot.settings import Settings, describe_validation_error
from bot.store import DatabaseUnavailable, KeyMismatch, SchemaTooNew, SecretsUnopenable
from bot.stores import open_store, url_secrets

log = logging.getLogger("bot")

EXIT_CONFIG = 2
EXIT_LOGIN = 1


def _fail(message: str) -> None:
    sys.stderr.write(f"ticketlens: {message}\n")
    sys.stderr.flush()


def load_sections() -> dict[type[BaseSettings], BaseSettings]:
    """Validate every provider's settings section before anything connects."""
    sections: dict[type[BaseSettings], BaseSettings] = {}
    for name in discover_extensions():
        module = importlib.import_module(name)
        for cls in getattr(module, "SETTINGS", ()):
            try:
                sections[cls] = cls()
            except ValidationError as exc:
                prefix = str(cls.model_config.get("env_prefix", ""))
                raise _SectionError(describe_validation_error(exc, prefix)) from None
    return sections


class _SectionError(Exception):
    pass


def configure_logging(level: str, redactor: Redactor) -> None:
    """Log to stderr with every record passed through the redactor."""
    numeric = logging.getLevelNamesMapping()[level]
    logging.basicConfig(
        level=numeric,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    install_log_redaction(redactor, numeric)


def stop_on_signal(bot: TicketLensBot, timeout_s: float) -> Callable[[], None]:
    """The SIGTERM/SIGINT handler: the first signal drains (`TicketLensBot.shutdown`), a
    second one closes at once."""
    loop = asyncio.get_running_loop()
    stopping: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

    def handle() -> None:
        if bot.draining:
            log.warning("second signal: stopping now, %d command(s) still in flight", bot.in_flight)
            task = loop.create_task(bot.close())
        else:
            task = loop.create_task(bot.shutdown(timeout_s))
        stopping.add(task)
        task.add_done_callback(stopping.discard)

    return handle


async def run(
    settings: Settings,
    sections: dict[type[BaseSettings], BaseSettings],
    key: bytes,
    redactor: Redactor,
    old_keys: Sequence[bytes] = (),
) -> int:
    """Own the session and the store for the bot's lifetime; return the exit code."""
    try:
        store = await open_store(settings, Sealer(key, old_keys))
    except (KeyMismatch, SchemaTooNew, DatabaseUnavailable, SecretsUnopenable) as exc:
        # The messages leave out the URL's password; the redactor also catches a driver's
        # error text that might quote it.
        _fail(redactor.redact(str(exc)))
        return EXIT_CONFIG
    try:
        async with make_session(settings.http_timeout_s) as session:
            http = Http(session, redactor=redactor, allow_private_urls=settings.allow_private_urls)
            bot = TicketLensBot(
                settings=settings,
                store=store,
                upstream=http,
                redactor=redactor,
                sections=sections,
                tune_collector=True,
            )
            loop = asyncio.get_running_loop()
            on_signal = stop_on_signal(bot, settings.shutdown_timeout_s)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, on_signal)
            try:
                async with bot:
                    try:
                        await bot.start(settings.discord_token.get_secret_value())
                    except discord.LoginFailure:
                        _fail(
                            "Discord rejected DISCORD_TOKEN (401 at login): copy the bot token "
                            "again from the Developer Portal."
                        )
                        return EXIT_LOGIN
                    except EndpointUnavailable as exc:
                        _fail(str(exc))
                        return EXIT_CONFIG
            finally:
                await http.close()
    finally:
        await store.close()
    return 0


def main() -> int:
    """Entry point; returns the process exit code."""
    try:
        settings = Settings()
        sections = load_sections()
    except ValidationError as exc:
        _fail(describe_validation_error(exc))
        return EXIT_CONFIG
    except _SectionError as exc:
        _fail(str(exc))
        return EXIT_CONFIG
    redactor = Redactor()
    redactor.add(settings.discord_token.get_secret_value())
    if settings.secret_key:
        redactor.add(settings.secret_key.get_secret_value())
    old_text = settings.old_secret_keys.get_secret_value() if settings.old_secret_keys else ""
    redactor.add(*(item.strip() for item in old_text.split(",") if item.strip()))
    redactor.add(*url_secrets(settings.database_url))
    configure_logging(settings.log_level, redactor)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    if settings.database_backend == "postgres" and secret is None:
        # Every process shares the database, so all need the same key: a key file generated
        # here would be this machine's alone, and the next process would refuse to start.
        _fail(
            "SECRET_KEY is required with a PostgreSQL DATABASE_URL (every process must use the "
            "same key; no key file is generated): set it, e.g. to the output of python3 -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
        return EXIT_CONFIG
    if settings.database_backend == "sqlite" and settings.some_shards_only:
        # Other processes run the other shards over the same data, and each SQLite store
        # caches what it read: one could go on using credentials another removed.
        _fail(
            "SHARD_IDS: names only some shards, so other processes share the data: that needs a "
            "PostgreSQL DATABASE_URL (a SQLite file serves one process)"
        )
        return EXIT_CONFIG
    try:
        key = load_or_create_key(secret, settings.key_file)
        old_keys = parse_old_keys(old_text)
    except KeyConfigError as exc:
        _fail(str(exc))
        return EXIT_CONFIG
    return asyncio.run(run(settings, sections, key, redactor, old_keys))


if __name__ == "__main__":
    sys.exit(main())
