"""An achievement ticket -> the neutral `TicketView` (every part public, as on the site)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypeVar

from bot.providers.base import Audience, TicketView, ViewField
from bot.providers.palette import Colour
from cogs.retroachievements._models import RaTicket

T = TypeVar("T")

SITE: Final = "https://retroachievements.org"
MEDIA: Final = "https://media.retroachievements.org"

# ReportState -> (label, colour). 4 is "Pending Review" (quarantined), added upstream in 2026.
# Not `palette.status_of`: an unknown state reads "Unknown", not its bare number.
STATES: Final[dict[int, tuple[str, Colour]]] = {
    0: ("Closed", Colour.GREY),
    1: ("Open", Colour.ORANGE),
    2: ("Resolved", Colour.GREEN),
    3: ("Request", Colour.YELLOW),
    4: ("Pending Review", Colour.PURPLE),
}
PENDING_REVIEW: Final = 4
#: State 4 is quarantined (RAWeb's ticket policy): never posted in a channel.
PENDING_REVIEW_REASON: Final = "it is Pending Review (quarantined until a moderator checks it)"
UNKNOWN_STATE: Final = ("Unknown", Colour.SLATE)
TYPES: Final[dict[int, str]] = {1: "Triggered at the wrong time", 2: "Did not trigger"}
HARDCORE: Final[dict[bool | None, str]] = {True: "Yes", False: "No (softcore)", None: "Unknown"}


def _lookup(table: Mapping[int, T], code: int | None, unknown: T) -> T:
    """`table[code]`, or `unknown` for a missing or unlisted code."""
    return unknown if code is None else table.get(code, unknown)


def _achievement(ticket: RaTicket) -> tuple[str, str]:
    """The achievement's name, and the field text (points and description added)."""
    name = ticket.achievement_title or f"Achievement {ticket.achievement_id or '?'}"
    text = name
    if ticket.points is not None:
        text += f" · {ticket.points} points"
    if ticket.achievement_desc:
        text += f"\n{ticket.achievement_desc}"
    return name, text


def to_view(ticket: RaTicket, *, provider: str, provider_label: str) -> TicketView:
    """The view of one achievement ticket."""
    state_label, colour = _lookup(STATES, ticket.report_state, UNKNOWN_STATE)
    state = ticket.report_state_description or state_label
    report_type = ticket.report_type_description or _lookup(TYPES, ticket.report_type, "Unknown")
    # Only an https link of theirs; anything else falls back to the site's ticket page.
    url = ticket.url if ticket.url and ticket.url.startswith("https://") else None
    achievement, achievement_text = _achievement(ticket)
    game = ticket.game_title or "Unknown game"
    if ticket.console_name:
        game += f" ({ticket.console_name})"
    resolved: list[ViewField] = []
    if ticket.resolved_at is not None:
        resolved.append(ViewField(name="Resolved", value=ticket.resolved_at))
    if ticket.resolved_by:
        resolved.append(ViewField(name="Resolved by", value=ticket.resolved_by))
    fields = (
        ViewField(name="Achievement", value=achievement_text, inline=False),
        ViewField(name="Game", value=game, inline=False),
        ViewField(name="State", value=state),
        ViewField(name="Type", value=report_type),
        ViewField(name="Hardcore", value=HARDCORE[ticket.hardcore]),
        ViewField(name="Reporter", value=ticket.reported_by or "Unknown"),
        ViewField(name="Achievement author", value=ticket.achievement_author or "Unknown"),
        ViewField(name="Reported", value=ticket.reported_at or "Unknown"),
        *resolved,
    )
    badge = f"{MEDIA}/Badge/{ticket.badge_name}.png" if ticket.badge_name else None
    return TicketView(
        provider=provider,
        provider_label=provider_label,
        ticket_id=str(ticket.id),
        title=f"Ticket #{ticket.id}: {achievement}",
        url=url or f"{SITE}/ticket/{ticket.id}",
        colour=int(colour),
        description=ticket.report_notes or "",
        description_audience=Audience.PUBLIC,
        thumbnail_url=badge,
        fields=fields,
        timestamp=ticket.reported_at,
        footer=f"{provider_label} · ticket #{ticket.id} · {state}",
        public_refusal=PENDING_REVIEW_REASON if ticket.report_state == PENDING_REVIEW else "",
    )
