"""`/ticket retroachievements`: parse and validate, then hand over to the shared lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.lookup import run_lookup
from bot.providers.extension import lookup_command
from cogs.retroachievements._aggregates import RaQuery, check_id
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
        await run_lookup(bot, interaction, provider, check_id(ticket_id), public=public)

    return retroachievements


def build_lists(bot: TicketLensBot, provider: RetroAchievements) -> app_commands.Group:
    """`/tickets retroachievements ...`: the endpoint's counts and lists, one subcommand each."""
    # Where it may run is `/tickets`' (Discord reads it on top-level commands only): also
    # where a member installed TicketLens to their own account, with their own key.
    group = app_commands.Group(
        name="retroachievements",
        description="RetroAchievements ticket counts and open tickets.",
    )
    public_help = "Post it in the channel for everyone (default: only you see it)."

    async def show(interaction: discord.Interaction, query: RaQuery, public: bool) -> None:
        await run_lookup(bot, interaction, provider, query, public=public)

    @group.command(name="game", description="Open tickets of a game, with their count.")
    @app_commands.describe(
        id="The game's id, as in retroachievements.org/game/<id>.", public=public_help
    )
    async def game(
        interaction: discord.Interaction, id: app_commands.Range[int, 1], public: bool = False
    ) -> None:
        await show(interaction, RaQuery("game", str(id)), public)

    @group.command(name="achievement", description="How many open tickets an achievement has.")
    @app_commands.describe(
        id="The achievement's id, as in retroachievements.org/achievement/<id>.", public=public_help
    )
    async def achievement(
        interaction: discord.Interaction, id: app_commands.Range[int, 1], public: bool = False
    ) -> None:
        await show(interaction, RaQuery("achievement", str(id)), public)

    @group.command(
        name="developer", description="A developer's tickets: open, closed and resolved."
    )
    @app_commands.describe(name="The developer's username, or their ULID.", public=public_help)
    async def developer(
        interaction: discord.Interaction,
        name: app_commands.Range[str, 2, 26],
        public: bool = False,
    ) -> None:
        await show(interaction, RaQuery("developer", name.strip()), public)

    @group.command(name="recent", description="The newest open tickets on the site.")
    @app_commands.describe(public=public_help)
    async def recent(interaction: discord.Interaction, public: bool = False) -> None:
        await show(interaction, RaQuery("recent"), public)

    @group.command(name="most-reported", description="The games with the most open tickets.")
    @app_commands.describe(public=public_help)
    async def most_reported(interaction: discord.Interaction, public: bool = False) -> None:
        await show(interaction, RaQuery("most-reported"), public)

    return group
