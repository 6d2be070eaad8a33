"""`/ticket teambattles`: validate the id (before any request), then hand over to the lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.lookup import run_lookup
from bot.providers.extension import lookup_command
from cogs.teambattles._models import parse_ref

if TYPE_CHECKING:
    from bot.app import TicketLensBot
    from cogs.teambattles._client import TeamBattles


def build_command(bot: TicketLensBot, provider: TeamBattles) -> app_commands.Command[Any, Any, Any]:
    """The subcommand, closed over its provider. No `public` option: the answer is yours only."""

    @lookup_command(
        "teambattles",
        "Look up one of your TeamBattles support tickets.",
        ticket_id="The ticket's id: the code in the ticket's address.",
    )
    async def teambattles(
        interaction: discord.Interaction, ticket_id: app_commands.Range[str, 1, 100]
    ) -> None:
        ref = parse_ref(ticket_id)
        await run_lookup(bot, interaction, provider, ref, public=False)

    return teambattles
