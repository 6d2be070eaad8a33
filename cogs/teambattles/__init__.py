"""teambattles.gg support tickets (`GET /tickets/{ticketId}`): owner-scoped, member keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.teambattles._client import TeamBattles, TeamBattlesSettings
from cogs.teambattles._cog import build_command

if TYPE_CHECKING:
    from bot.app import TicketLensBot

#: Settings sections `__main__` validates before connecting.
SETTINGS = (TeamBattlesSettings,)


async def setup(bot: TicketLensBot) -> None:
    """Register the provider and its `/ticket teambattles` subcommand."""
    provider = TeamBattles(bot.fetcher, bot.section(TeamBattlesSettings))
    bot.register_provider(provider)
    bot.add_lookup_command(build_command(bot, provider))
