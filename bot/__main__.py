"""
`python -m bot`: read settings, open the store, run the bot.

Start-up failures an admin can fix are one line on stderr and an exit code, never a traceback:
2 for configuration (missing DISCORD_TOKEN, bad setting, SECRET_KEY that does not open the
stored credentials), 1 when Discord rejects the token.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import sys

import discord
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from bot.app import TicketLensBot, discover_extensions
from bot.crypto import KeyConfigError, Sealer, load_or_create_key
from bot.http import Http, make_session
from bot.redact import Redactor, install_log_redaction
from bot.settings import Settings, describe_validation_error
from bot.store import KeyMismatch, SchemaTooNew, SqliteStore

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


async def run(
    settings: Settings,
    sections: dict[type[BaseSettings], BaseSettings],
    key: bytes,
    redactor: Redactor,
) -> int:
    """Own the session and the store for the bot's lifetime; return the exit code."""
    try:
        store = await SqliteStore.open(settings.sqlite_path, Sealer(key))
    except (KeyMismatch, SchemaTooNew) as exc:
        _fail(str(exc))
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
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
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
    configure_logging(settings.log_level, redactor)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    try:
        key = load_or_create_key(secret, settings.key_file)
    except KeyConfigError as exc:
        _fail(str(exc))
        return EXIT_CONFIG
    return asyncio.run(run(settings, sections, key, redactor))


if __name__ == "__main__":
    sys.exit(main())
