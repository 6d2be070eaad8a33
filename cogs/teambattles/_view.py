"""A TeamBattles ticket -> the neutral `TicketView`; every part is the key owner's."""

from __future__ import annotations

from typing import Final

from bot.providers.base import Audience, EntryKind, TicketView, ViewEntry, ViewField
from bot.providers.palette import Colour, humanise, priority_label, status_of
from cogs.teambattles._models import TbTicket

#: Status -> (label, colour): the documented enum.
STATUSES: Final[dict[str, tuple[str, Colour]]] = {
    "open": ("Open", Colour.ORANGE),
    "in_progress": ("In progress", Colour.BLUE),
    "awaiting_response": ("Awaiting response", Colour.YELLOW),
    "resolved": ("Resolved", Colour.GREEN),
    "closed": ("Closed", Colour.GREY),
}


def _entries(ticket: TbTicket) -> tuple[ViewEntry, ...]:
    """The thread: in time order when every message has a time, else as sent."""
    messages = list(ticket.messages)
    if all(m.created_at is not None for m in messages):
        messages.sort(key=lambda m: m.created_at.timestamp() if m.created_at else 0.0)
    entries = []
    for message in messages:
        if message.is_system:
            author, kind = "TeamBattles", EntryKind.SYSTEM
        elif message.is_own_message:
            author, kind = "You", EntryKind.CUSTOMER
        else:
            author, kind = "TeamBattles support", EntryKind.STAFF
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
    number = f"#{ticket.ticket_number}" if ticket.ticket_number is not None else ticket.id
    private = Audience.REQUESTER
    fields = [
        ViewField(name="Status", value=status, audience=private),
        ViewField(name="Priority", value=priority_label(ticket.priority), audience=private),
        ViewField(name="Category", value=humanise(ticket.category), audience=private),
        ViewField(name="Created", value=ticket.created_at or "Unknown", audience=private),
        ViewField(name="Updated", value=ticket.updated_at or "Unknown", audience=private),
    ]
    if ticket.resolved_at is not None:
        fields.append(ViewField(name="Resolved", value=ticket.resolved_at, audience=private))
    if ticket.closed_at is not None:
        fields.append(ViewField(name="Closed", value=ticket.closed_at, audience=private))
    fields.append(ViewField(name="Ticket id", value=ticket.id, inline=False, audience=private))
    subject = ticket.subject.strip()
    return TicketView(
        provider=provider,
        provider_label=provider_label,
        ticket_id=number,
        title=f"Ticket {number}: {subject}" if subject else f"TeamBattles ticket {number}",
        colour=colour,
        description=ticket.description,
        description_audience=private,
        fields=tuple(fields),
        entries=_entries(ticket),
        timestamp=ticket.created_at,
        footer=f"TeamBattles · ticket {number} · {status}",
    )
