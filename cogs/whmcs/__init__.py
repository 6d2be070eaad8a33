"""WHMCS support tickets (`GetTicket`), staff only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.whmcs._client import Whmcs, WhmcsSettings
from cogs.whmcs._cog import build_command

if TYPE_CHECKING:
    from bot.app import TicketLensBot

#: Settings sections `__main__` validates before connecting.
SETTINGS = (WhmcsSettings,)


async def setup(bot: TicketLensBot) -> None:
    """Register the provider and its `/ticket whmcs` subcommand."""
    provider = Whmcs(bot.fetcher, bot.section(WhmcsSettings), bot.redactor)
    bot.register_provider(provider)
    bot.add_lookup_command(build_command(bot, provider))
