"""
A TeamBattles ticket -> the neutral `TicketView`; every part is the key owner's.

Our own words (field names, the speakers we name, the documented enum values in words) are
`Msg`s, translated per reader; the subject, description and messages are the ticket's own, and
a value outside the documented ones is shown humanised, as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from bot.i18n import Msg
from bot.providers import palette
from bot.providers.base import Audience, EntryKind, TicketView, ViewEntry, ViewField
from bot.providers.palette import Colour, humanise, priority_label, status_of
from cogs.teambattles._models import TbTicket

#: Status -> (label, colour): the documented enum.
STATUSES: Final[dict[str, tuple[str, Colour]]] = {
    "open": (Msg("Open"), Colour.ORANGE),
    "in_progress": (Msg("In progress"), Colour.BLUE),
    "awaiting_response": (Msg("Awaiting response"), Colour.YELLOW),
    "resolved": (Msg("Resolved"), Colour.GREEN),
    "closed": (Msg("Closed"), Colour.GREY),
}
#: Category -> label, for the values the docs name (the API's, and the UI's in snake case; it is a
#: free string, so others are humanised). Each label is what `humanise` makes of its value, so
#: English reads the same either way.
CATEGORIES: Final[Mapping[str, str]] = {
    "account": Msg("Account"),
    "billing": Msg("Billing"),
    "technical": Msg("Technical"),
    "technical_bug": Msg("Technical bug"),
    "bug_report": Msg("Bug report"),
    "feature_request": Msg("Feature request"),
    "match_dispute": Msg("Match dispute"),
    "general": Msg("General"),
    "league": Msg("League"),
    "other": Msg("Other"),
}
#: Our word for a missing date (the kit's for a missing value, `humanise("")`).
UNKNOWN: Final = palette.UNKNOWN


def _entries(ticket: TbTicket) -> tuple[ViewEntry, ...]:
    """The thread: in time order when every message has a time, else as sent."""
    messages = list(ticket.messages)
    if all(m.created_at is not None for m in messages):
        messages.sort(key=lambda m: m.created_at.timestamp() if m.created_at else 0.0)
    entries = []
    for message in messages:
        author: str
        if message.is_system:
            author, kind = "TeamBattles", EntryKind.SYSTEM
        elif message.is_own_message:
            author, kind = Msg("You"), EntryKind.CUSTOMER
        else:
            author, kind = Msg("TeamBattles support"), EntryKind.STAFF
        entries.append(
            ViewEntry(
                author=author,
                body=message.content,
                kind=kind,
                at=message.created_at,
                audience=Audience.REQUESTER,
            )
        )
    return tuple(entries)


def to_view(ticket: TbTicket, *, provider: str, provider_label: str) -> TicketView:
    """The neutral view; owner-scoped, so every part is for the requester only."""
    status, colour = status_of(ticket.status, STATUSES)
    priority = priority_label(ticket.priority)
    category = CATEGORIES.get(ticket.category) or humanise(ticket.category)
    number = f"#{ticket.ticket_number}" if ticket.ticket_number is not None else ticket.id
    private = Audience.REQUESTER
    fields = [
        ViewField(name=Msg("Status"), value=status, audience=private),
        ViewField(name=Msg("Priority"), value=priority, audience=private),
        ViewField(name=Msg("Category"), value=category, audience=private),
        ViewField(name=Msg("Created"), value=ticket.created_at or UNKNOWN, audience=private),
        ViewField(name=Msg("Updated"), value=ticket.updated_at or UNKNOWN, audience=private),
    ]
    if ticket.resolved_at is not None:
        fields.append(ViewField(name=Msg("Resolved"), value=ticket.resolved_at, audience=private))
    if ticket.closed_at is not None:
        fields.append(ViewField(name=Msg("Closed"), value=ticket.closed_at, audience=private))
    fields.append(ViewField(name=Msg("Ticket id"), value=ticket.id, inline=False, audience=private))
    subject = ticket.subject.strip()
    if subject:
        title = Msg("Ticket {number}: {subject}", number=number, subject=subject)
    else:
        title = Msg("{label} ticket {number}", label=provider_label, number=number)
    return TicketView(
        provider=provider,
        provider_label=provider_label,
        ticket_id=number,
        title=title,
        colour=colour,
        description=ticket.description,
        description_audience=private,
        fields=tuple(fields),
        entries=_entries(ticket),
        entries_title=Msg("Messages"),
        timestamp=ticket.created_at,
        footer=Msg(
            "{label} · ticket {number} · {status}",
            label=provider_label,
            number=number,
            status=status,
        ),
    )
