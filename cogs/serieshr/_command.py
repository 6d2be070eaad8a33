"""`/ticket serieshr`: validate the id (before any request), then hand over to the lookup."""

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
    from cogs.serieshr._client import SeriesHr

#: `TICKET-`, digits, `-`, letters/digits (the docs' `TICKET-1234567890-ABCD`); the prefix is
#: accepted in any case and sent upper-case, the rest exactly as typed (case-sensitivity of
#: lookups is undocumented).
_TICKET_ID_RE: Final = re.compile(r"(?i:TICKET)-([0-9]{1,20})-([A-Za-z0-9]{1,40})")
#: A MongoDB object id: 24 hex digits (sent lower-case, as MongoDB spells them).
_OBJECT_ID_RE: Final = re.compile(r"[0-9A-Fa-f]{24}")

ID_HELP: Final = (
    "A series.hr ticket id looks like `TICKET-1234567890-ABCD`, or is the ticket's 24-character "
    "object id (digits 0-9 and letters a-f)."
)


def parse_ref(text: str) -> str:
    """The normalised ticket id, or BadInput (before any request) for anything else."""
    raw = text.strip()
    match = _TICKET_ID_RE.fullmatch(raw)
    if match is not None:
        return f"TICKET-{match.group(1)}-{match.group(2)}"
    if _OBJECT_ID_RE.fullmatch(raw):
        return raw.lower()
    raise BadInput(ID_HELP)


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
