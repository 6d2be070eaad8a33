"""`/ticket whmcs`: parse and validate, then hand over to the shared lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.lookup import run_lookup
from bot.providers.extension import lookup_command
from cogs.whmcs._client import NUMBER_MAX, Whmcs, make_ref

if TYPE_CHECKING:
    from bot.app import TicketLensBot


def build_command(bot: TicketLensBot, provider: Whmcs) -> app_commands.Command[Any, Any, Any]:
    """The subcommand, closed over its provider (so it can live under the core `/ticket`)."""

    @lookup_command(
        "whmcs",
        "Look up a WHMCS support ticket (staff only).",
        ticket_id="The internal ticket ID (as in the admin area's ticket URL).",
        number="The ticket number customers see, such as ABC-123456.",
        replies="Which replies come first (default: oldest).",
        public="Post a summary in the channel: no messages, notes or customer details.",
    )
    @app_commands.choices(
        replies=[
            app_commands.Choice(name="oldest", value="oldest"),
            app_commands.Choice(name="newest", value="newest"),
        ]
    )
    async def whmcs(
        interaction: discord.Interaction,
        ticket_id: app_commands.Range[int, 1] | None = None,
        number: app_commands.Range[str, 1, NUMBER_MAX] | None = None,
        replies: str = "oldest",
        public: bool = False,
    ) -> None:
        ref = make_ref(ticket_id, number, replies)
        await run_lookup(bot, interaction, provider, ref, public=public)

    return whmcs
