"""`/ticket retroachievements`: parse and validate, then hand over to the shared lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.errors import BadInput
from bot.lookup import run_lookup
from bot.providers.extension import lookup_command
from cogs.retroachievements._client import RetroAchievements

if TYPE_CHECKING:
    from bot.app import TicketLensBot


def build_command(
    bot: TicketLensBot, provider: RetroAchievements
) -> app_commands.Command[Any, Any, Any]:
    """The subcommand, closed over its provider (so it can live under the core `/ticket`)."""

    @lookup_command(
        "retroachievements",
        "Look up a RetroAchievements achievement ticket.",
        ticket_id="The ticket number, as in retroachievements.org/ticket/<id>.",
        public="Post it in the channel for everyone (default: only you see it).",
    )
    async def retroachievements(
        interaction: discord.Interaction,
        ticket_id: app_commands.Range[int, 1],
        public: bool = False,
    ) -> None:
        # Discord enforces min_value, but a client can still send anything: RetroAchievements
        # answers 0 or less with the recent-tickets list, which we must never show as a ticket.
        if ticket_id < 1:
            raise BadInput("A RetroAchievements ticket id is a whole number, 1 or more.")
        await run_lookup(bot, interaction, provider, ticket_id, public=public)

    return retroachievements
