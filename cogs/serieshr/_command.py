"""`/ticket serieshr`: validate the id (before any request), then hand over to the lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.lookup import run_lookup
from bot.providers.extension import lookup_command
from cogs.serieshr._models import parse_ref

if TYPE_CHECKING:
    from bot.app import TicketLensBot
    from cogs.serieshr._client import SeriesHr


def build_command(bot: TicketLensBot, provider: SeriesHr) -> app_commands.Command[Any, Any, Any]:
    """The subcommand, closed over its provider (so it can live under the core `/ticket`)."""

    @lookup_command(
        "serieshr",
        "Look up a series.hr ticket (staff only).",
        ticket_id="The ticket id, e.g. TICKET-1234567890-ABCD, or its 24-character object id.",
        public="Post a summary (no message bodies) in the channel (default: only you see it).",
    )
    async def serieshr(
        interaction: discord.Interaction,
        ticket_id: app_commands.Range[str, 1, 100],
        public: bool = False,
    ) -> None:
        # Validated here, before policy and credentials, so a bad id never reaches the network.
        ref = parse_ref(ticket_id)
        await run_lookup(bot, interaction, provider, ref, public=public)

    return serieshr
