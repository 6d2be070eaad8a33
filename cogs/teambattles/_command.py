"""`/ticket teambattles`: validate the id (before any request), then hand over to the lookup."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

import discord
from discord import app_commands

from bot.errors import BadInput
from bot.lookup import run_lookup
from bot.providers.extension import lookup_command

if TYPE_CHECKING:
    from bot.app import TicketLensBot
    from cogs.teambattles._client import TeamBattles

#: The ticket id is a TeamBattles (Convex) document id; its grammar is undocumented, so any
#: letters, digits, `_` and `-` are accepted. `/`, `.`, `?` and `#` never are.
_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,100}")
#: `#123` or a short number: the ticket's number, which the API cannot look up.
_NUMBER_RE: Final = re.compile(r"#\s*\d+|\d{1,9}")

ID_HELP: Final = (
    "A TeamBattles ticket id is the code in the ticket's address (letters and digits), "
    "not its number."
)
NUMBER_HELP: Final = (
    "That looks like a ticket number. TeamBattles looks tickets up by their id: the code in "
    "the ticket's address (letters and digits), not `#123`."
)


def parse_ref(text: str) -> str:
    """The ticket id as typed, or BadInput (before any request)."""
    raw = text.strip()
    if _NUMBER_RE.fullmatch(raw):
        raise BadInput(NUMBER_HELP)
    if not _ID_RE.fullmatch(raw):
        raise BadInput(ID_HELP)
    return raw


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
