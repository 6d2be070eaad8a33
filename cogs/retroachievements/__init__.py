"""RetroAchievements achievement tickets (`API_GetTicketData`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.retroachievements._client import RetroAchievements, RetroSettings
from cogs.retroachievements._cog import build_command

if TYPE_CHECKING:
    from bot.app import TicketLensBot

#: Settings sections `__main__` validates before connecting.
SETTINGS = (RetroSettings,)


async def setup(bot: TicketLensBot) -> None:
    """Register the provider and its `/ticket retroachievements` subcommand."""
    provider = RetroAchievements(bot.fetcher, bot.section(RetroSettings))
    bot.register_provider(provider)
    bot.add_lookup_command(build_command(bot, provider))
