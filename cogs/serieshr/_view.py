"""A series.hr ticket as a `TicketView`: a public summary, the conversation for the requester."""

from __future__ import annotations

from typing import Final

from bot.providers.base import Audience, EntryKind, TicketView, ViewEntry, ViewField
from bot.providers.palette import Colour, priority_label, status_of
from cogs.serieshr._models import SrKeyedMessage, SrTicket, SrUser

#: Status -> (label, colour); the documented set is exactly these four. Any other status keeps
#: no colour (`unknown=None` below), as it always had.
STATUSES: Final[dict[str, tuple[str, Colour]]] = {
    "open": ("Open", Colour.ORANGE),
    "in-progress": ("In progress", Colour.BLUE),
    "resolved": ("Resolved", Colour.GREEN),
    "closed": ("Closed", Colour.GREY),
}
#: The two documented message types; anything else (system messages' type is undocumented) is
#: shown as a system message with its type.
KINDS: Final[dict[str, EntryKind]] = {
    "author_message": EntryKind.CUSTOMER,
    "staff_message": EntryKind.STAFF,
}
_PLAIN_SYSTEM_TYPES: Final = frozenset({"", "system", "system_message"})


def _person(user: SrUser | None, user_id: str | None = None) -> str | None:
    """The name to show ("Display Name (@username)", either part) or the Roblox user id."""
    display = (user.display_name or "").strip() if user else ""
    username = (user.username or "").strip() if user else ""
    uid = (user.user_id if user else None) or user_id
    if display and username and display != username:
        return f"{display} (@{username})"
    if display or username:
        return display or f"@{username}"
    return f"Roblox user {uid}" if uid else None


def _game_report(ticket: SrTicket) -> str:
    if ticket.game_report is None:
        return "Unknown"
    if not ticket.game_report:
        return "No"
    data = ticket.game_data or {}
    place = data.get("PlaceId", data.get("placeId"))
    return f"Yes · place {place}" if isinstance(place, int | str) and place != "" else "Yes"


def _entries(ticket: SrTicket) -> tuple[ViewEntry, ...]:
    """The conversation in time order (then by message key); bodies for the requester only."""
    known: dict[str, str] = {}
    if ticket.author and ticket.author.user_id:
        known[ticket.author.user_id] = _person(ticket.author) or "Ticket author"
    if ticket.claimed_by:
        known[ticket.claimed_by] = (
            _person(ticket.claimed_by_user, ticket.claimed_by)
            or ticket.claimed_by_name
            or f"Roblox user {ticket.claimed_by}"
        )

    def order(message: SrKeyedMessage) -> tuple[bool, float, str]:
        at = message.timestamp
        return (at is None, at.timestamp() if at else 0.0, message.key)

    entries = []
    for message in sorted(ticket.messages, key=order):
        kind = KINDS.get(message.type or "", EntryKind.SYSTEM)
        author = known.get(message.author or "") or (
            f"Roblox user {message.author}" if message.author else "series.hr"
        )
        if kind is EntryKind.SYSTEM and (message.type or "").lower() not in _PLAIN_SYSTEM_TYPES:
            # An undocumented type: show it, so staff can tell what the entry is.
            author = f"{author} ({message.type})"
        entries.append(
            ViewEntry(
                author=author,
                body=message.content or "",
                kind=kind,
                at=message.timestamp,
                audience=Audience.REQUESTER,
            )
        )
    return tuple(entries)


def to_view(ticket: SrTicket, *, provider: str, provider_label: str) -> TicketView:
    """The neutral view: a public summary, with the conversation for the requester only."""
    shown_id = ticket.shown_id or "?"
    status, colour = status_of(ticket.status or "", STATUSES, unknown=None)
    claimed = (
        _person(ticket.claimed_by_user, ticket.claimed_by) or ticket.claimed_by_name or "Unclaimed"
    )
    entries = _entries(ticket)
    fields = [
        ViewField(name="Status", value=status),
        ViewField(name="Priority", value=priority_label(ticket.priority or "")),
        ViewField(name="Category", value=ticket.category or "—"),
        ViewField(name="Department", value=ticket.department or "—"),
        ViewField(name="Author", value=_person(ticket.author) or "Unknown"),
        ViewField(name="Claimed by", value=claimed),
        ViewField(name="Game report", value=_game_report(ticket)),
        ViewField(name="Created", value=ticket.created_at or "Unknown"),
        ViewField(name="Updated", value=ticket.updated_at or "Unknown"),
        ViewField(name="Messages", value=str(len(entries))),
    ]
    subject = (ticket.subject or "").strip()
    return TicketView(
        provider=provider,
        provider_label=provider_label,
        ticket_id=shown_id,
        title=f"{shown_id}: {subject}" if subject else f"series.hr ticket {shown_id}",
        colour=colour,
        fields=tuple(fields),
        entries=entries,
        entries_title="Conversation",
        timestamp=ticket.created_at,
        footer=f"series.hr · {shown_id} · {status}",
    )
