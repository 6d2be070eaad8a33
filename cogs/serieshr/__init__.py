"""series.hr workspace tickets (`GET /tickets/get/{ticketId}`), staff only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.serieshr._client import SeriesHr, SeriesHrSettings
from cogs.serieshr._cog import build_command

if TYPE_CHECKING:
    from bot.app import TicketLensBot

#: Settings sections `__main__` validates before connecting.
SETTINGS = (SeriesHrSettings,)


async def setup(bot: TicketLensBot) -> None:
    """Register the provider and its `/ticket serieshr` subcommand."""
    provider = SeriesHr(bot.fetcher, bot.section(SeriesHrSettings))
    bot.register_provider(provider)
    bot.add_lookup_command(build_command(bot, provider))
