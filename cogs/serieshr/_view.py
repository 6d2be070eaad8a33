"""
A series.hr ticket as a `TicketView`: a public summary, the conversation for the requester.

Our own words (field names, fallbacks, the status and priority tables) are `bot.i18n.Msg`s,
worded for each reader with the German in `locales/`; what series.hr sends stays as it came.
"""

from __future__ import annotations

from typing import Final

from bot.i18n import Msg
from bot.providers.base import Audience, EntryKind, TicketView, ViewEntry, ViewField
from bot.providers.palette import Colour, priority_label, status_of
from cogs.serieshr._models import SrKeyedMessage, SrTicket, SrUser

#: Status -> (label, colour); the documented set is exactly these four. Any other status keeps
#: no colour (`unknown=None` below), as it always had.
STATUSES: Final[dict[str, tuple[str, Colour]]] = {
    "open": (Msg("Open"), Colour.ORANGE),
    "in-progress": (Msg("In progress"), Colour.BLUE),
    "resolved": (Msg("Resolved"), Colour.GREEN),
    "closed": (Msg("Closed"), Colour.GREY),
}
#: The two documented message types; anything else (system messages' type is undocumented) is
#: shown as a system message with its type.
KINDS: Final[dict[str, EntryKind]] = {
    "author_message": EntryKind.CUSTOMER,
    "staff_message": EntryKind.STAFF,
}
_PLAIN_SYSTEM_TYPES: Final = frozenset({"", "system", "system_message"})
UNKNOWN: Final = Msg("Unknown")


def _roblox_user(user_id: str) -> Msg:
    return Msg("Roblox user {id}", id=user_id)


def _person(user: SrUser | None, user_id: str | None = None) -> str | None:
    """The name to show ("Display Name (@username)", either part) or the Roblox user id."""
    display = (user.display_name or "").strip() if user else ""
    username = (user.username or "").strip() if user else ""
    uid = (user.user_id if user else None) or user_id
    if display and username and display != username:
        return f"{display} (@{username})"
    if display or username:
        return display or f"@{username}"
    return _roblox_user(uid) if uid else None


def _game_report(ticket: SrTicket) -> str:
    if ticket.game_report is None:
        return UNKNOWN
    if not ticket.game_report:
        return Msg("No")
    data = ticket.game_data or {}
    place = data.get("PlaceId", data.get("placeId"))
    if isinstance(place, int | str) and place != "":
        return Msg("Yes · place {place}", place=place)
    return Msg("Yes")


def _status(value: str | None) -> tuple[str, int | None]:
    """(label, colour) of a status: ours for the documented ones, else the API's, humanised."""
    if not (value or "").strip():
        return UNKNOWN, None
    return status_of(value or "", STATUSES, unknown=None)


def _priority(value: str | None) -> str:
    """The label of a priority: ours for the documented ones, else the API's, humanised."""
    key = (value or "").strip().lower()
    if not key:
        return UNKNOWN
    return priority_label(key)


def _entries(ticket: SrTicket) -> tuple[ViewEntry, ...]:
    """The conversation in time order (then by message key); bodies for the requester only."""
    known: dict[str, str] = {}
    if ticket.author and ticket.author.user_id:
        known[ticket.author.user_id] = _person(ticket.author) or Msg("Ticket author")
    if ticket.claimed_by:
        known[ticket.claimed_by] = (
            _person(ticket.claimed_by_user, ticket.claimed_by)
            or ticket.claimed_by_name
            or _roblox_user(ticket.claimed_by)
        )

    def order(message: SrKeyedMessage) -> tuple[bool, float, str]:
        at = message.timestamp
        return (at is None, at.timestamp() if at else 0.0, message.key)

    entries = []
    for message in sorted(ticket.messages, key=order):
        kind = KINDS.get(message.type or "", EntryKind.SYSTEM)
        author = known.get(message.author or "") or (
            _roblox_user(message.author) if message.author else "series.hr"
        )
        if kind is EntryKind.SYSTEM and (message.type or "").lower() not in _PLAIN_SYSTEM_TYPES:
            # An undocumented type: show it, so staff can tell what the entry is. Only the
            # layout is ours: the type is the API's, kept out of the template.
            author = Msg("{author} ({type})", author=author, type=message.type)
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
    status, colour = _status(ticket.status)
    claimed = (
        _person(ticket.claimed_by_user, ticket.claimed_by)
        or ticket.claimed_by_name
        or Msg("Unclaimed")
    )
    entries = _entries(ticket)
    fields = [
        ViewField(name=Msg("Status"), value=status),
        ViewField(name=Msg("Priority"), value=_priority(ticket.priority)),
        ViewField(name=Msg("Category"), value=ticket.category or "—"),
        ViewField(name=Msg("Department"), value=ticket.department or "—"),
        ViewField(name=Msg("Author"), value=_person(ticket.author) or UNKNOWN),
        ViewField(name=Msg("Claimed by"), value=claimed),
        ViewField(name=Msg("Game report"), value=_game_report(ticket)),
        ViewField(name=Msg("Created"), value=ticket.created_at or UNKNOWN),
        ViewField(name=Msg("Updated"), value=ticket.updated_at or UNKNOWN),
        ViewField(name=Msg("Messages"), value=str(len(entries))),
    ]
    subject = (ticket.subject or "").strip()
    # The product's name is a value, never part of a template: it is not translated.
    product = "series.hr"
    return TicketView(
        provider=provider,
        provider_label=provider_label,
        ticket_id=shown_id,
        title=(
            f"{shown_id}: {subject}"
            if subject
            else Msg("{label} ticket {id}", label=product, id=shown_id)
        ),
        colour=colour,
        fields=tuple(fields),
        entries=entries,
        entries_title=Msg("Conversation"),
        timestamp=ticket.created_at,
        footer=Msg("{label} · {id} · {status}", label=product, id=shown_id, status=status),
    )
