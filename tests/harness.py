"""
The real TicketLensBot in this process, against the loopback Discord (tests/e2e).

Command tests use `running_bot` to drive the real app commands the way Discord does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

from bot.app import TicketLensBot
from bot.crypto import Sealer, load_or_create_key
from bot.http import Http, make_session
from bot.redact import Redactor
from bot.settings import Settings
from bot.store import SqliteStore
from tests.e2e.conftest import FAKE_TOKEN
from tests.e2e.fake_discord import FakeDiscord, pointed_at


@asynccontextmanager
async def running_bot(
    fake_discord: FakeDiscord,
    data: Path,
    *,
    sections: Mapping[type[BaseSettings], BaseSettings] | None = None,
    settings: Mapping[str, Any] | None = None,
    fetcher_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[TicketLensBot]:
    """
    Start the real bot with its store in `data`, stop it afterwards.

    `sections` are provider settings (e.g. a base URL pointing at a fake provider),
    `settings` extra core settings by their environment names, `fetcher_options` extra
    keyword arguments for the HTTP layer (`bot.http.Http`).
    """
    core = Settings(
        DISCORD_TOKEN=FAKE_TOKEN,
        DATABASE_URL=f"sqlite:///{data}/ticketlens.db",
        DATA_DIR=str(data),
        **dict(settings or {}),
    )
    key = load_or_create_key(None, core.key_file)
    store = await SqliteStore.open(core.sqlite_path, Sealer(key))
    with pointed_at(fake_discord.url):
        async with make_session(5.0) as session:
            redactor = Redactor()
            options: dict[str, Any] = {
                "wait_initial_s": 0.01,
                # As __main__ does: ALLOW_PRIVATE_URLS reaches the fetcher's URL guard.
                "allow_private_urls": core.allow_private_urls,
                **dict(fetcher_options or {}),
            }
            fetcher = Http(session, redactor=redactor, **options)
            bot = TicketLensBot(
                settings=core,
                store=store,
                upstream=fetcher,
                redactor=redactor,
                sections=sections,
                guild_ready_timeout=0.05,
            )
            task = asyncio.create_task(bot.start(FAKE_TOKEN))
            try:
                await asyncio.wait_for(bot.wait_until_ready(), 10)
                yield bot
            finally:
                await settle()
                await bot.close()
                await task
                await fetcher.close()
                await store.close()


async def settle(timeout: float = 2.0) -> None:  # noqa: ASYNC109
    """
    Let the bot finish what it is doing (work after an answer, such as recording the lookup,
    then discord.py's completion event), as a graceful shutdown would, so a test's end does
    not close the loop under a task that has not started.
    """
    current = asyncio.current_task()
    for _ in range(5):
        pending = [
            t
            for t in asyncio.all_tasks()
            if t is not current and t.get_name().startswith(("discord", "CommandTree"))
        ]
        if not pending:
            return
        await asyncio.wait(pending, timeout=timeout)


def embeds_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The embeds of a recorded callback, follow-up or edit payload."""
    return list((payload.get("data") or payload).get("embeds") or [])


def all_text(embeds: list[dict[str, Any]]) -> str:
    """Every user-visible text of some embeds, one part per line."""
    parts: list[str] = []
    for embed in embeds:
        parts += [embed.get("title", ""), embed.get("description", "")]
        parts += [embed.get("footer", {}).get("text", ""), embed.get("author", {}).get("name", "")]
        for field in embed.get("fields", []):
            parts += [field["name"], field["value"]]
    return "\n".join(parts)
