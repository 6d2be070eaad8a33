"""`/ticket whmcs`: parse and validate, then hand over to the shared lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.errors import BadInput
from bot.lookup import run_lookup
from bot.providers.extension import lookup_command
from cogs.whmcs._client import Whmcs, WhmcsRef

if TYPE_CHECKING:
    from bot.app import TicketLensBot

#: Ticket numbers come from an admin-defined mask (at most 15 characters, but `%i` and `%y`
#: expand); no fixed pattern is safe, so only the length is bounded.
NUMBER_MAX = 64

ONE_OF = (
    "Give exactly one of `id` (the internal ticket ID, as in the admin area) or `number` "
    "(the ticket number customers see, such as `ABC-123456`)."
)


def make_ref(ticket_id: int | None, number: str | None, replies: str) -> WhmcsRef:
    """The lookup for these options, or `BadInput` (nothing is sent upstream then)."""
    number = (number or "").strip().lstrip("#").strip() or None
    if (ticket_id is None) == (number is None):
        raise BadInput(ONE_OF)
    if replies not in ("oldest", "newest"):
        raise BadInput("`replies` is `oldest` or `newest`.")
    newest_first = replies == "newest"
    if ticket_id is not None:
        if ticket_id < 1:
            raise BadInput("A WHMCS ticket id is a whole number, 1 or more.")
        return WhmcsRef("ticketid", str(ticket_id), newest_first)
    assert number is not None
    if len(number) > NUMBER_MAX or any(ch.isspace() or not ch.isprintable() for ch in number):
        raise BadInput("That is not a WHMCS ticket number (such as `ABC-123456`).")
    return WhmcsRef("ticketnum", number, newest_first)


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
