"""
An achievement ticket -> the neutral `TicketView` (every part public, as on the site).

Our own words (field names, fallbacks, the state and type tables) are `bot.i18n.Msg`s, worded
for each reader with the German in `locales/`; what the API sends stays as it came.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypeVar

from bot.i18n import Msg
from bot.providers.base import Audience, TicketView, ViewField
from bot.providers.palette import Colour
from cogs.retroachievements._models import RaTicket

T = TypeVar("T")

SITE: Final = "https://retroachievements.org"
MEDIA: Final = "https://media.retroachievements.org"

# ReportState -> (label, colour). 4 is "Pending Review" (quarantined), added upstream in 2026.
# Not `palette.status_of`: an unknown state reads "Unknown", not its bare number.
STATES: Final[dict[int, tuple[Msg, Colour]]] = {
    0: (Msg("Closed"), Colour.GREY),
    1: (Msg("Open"), Colour.ORANGE),
    2: (Msg("Resolved"), Colour.GREEN),
    3: (Msg("Request"), Colour.YELLOW),
    4: (Msg("Pending Review"), Colour.PURPLE),
}
PENDING_REVIEW: Final = 4
#: State 4 is quarantined (RAWeb's ticket policy): never posted in a channel.
PENDING_REVIEW_REASON: Final = Msg("it is Pending Review (quarantined until a moderator checks it)")
UNKNOWN: Final = Msg("Unknown")
UNKNOWN_STATE: Final = (UNKNOWN, Colour.SLATE)
TYPES: Final[dict[int, Msg]] = {
    1: Msg("Triggered at the wrong time"),
    2: Msg("Did not trigger"),
}
HARDCORE: Final[dict[bool | None, Msg]] = {
    True: Msg("Yes"),
    False: Msg("No (softcore)"),
    None: UNKNOWN,
}


def _lookup(table: Mapping[int, T], code: int | None, unknown: T) -> T:
    """`table[code]`, or `unknown` for a missing or unlisted code."""
    return unknown if code is None else table.get(code, unknown)


def described(upstream: str | None, ours: Msg) -> str:
    """
    The API's own label (`ReportStateDescription`, `ReportTypeDescription`) when it has one,
    else ours. A label saying exactly what ours says is ours, so it is translated; one that
    says something else (a renamed or new state) is shown as the API wrote it.
    """
    return ours if not upstream or upstream == ours else upstream


def achievement_name(title: str | None, achievement_id: int | None) -> str:
    """The achievement's title, or our name for it from its id."""
    return title or Msg("Achievement {id}", id=achievement_id or "?")


def game_name(title: str | None, console: str | None, game_id: int | None = None) -> str:
    """The game's title (or our name for it) with its console, as "Title (Console)"."""
    name = title or (Msg("Game {id}", id=game_id) if game_id is not None else Msg("Unknown game"))
    # Only the layout is ours here: both parts may be upstream text, kept out of the template.
    return Msg("{game} ({console})", game=name, console=console) if console else name


def two_lines(first: str, second: str) -> Msg:
    """`first` and `second` on lines of their own (either may be upstream text or ours)."""
    return Msg("{first}\n{second}", first=first, second=second)


def _achievement(ticket: RaTicket) -> tuple[str, str]:
    """The achievement's name, and the field text (points and description added)."""
    name = achievement_name(ticket.achievement_title, ticket.achievement_id)
    text = name
    if ticket.points is not None:
        text = Msg("{achievement} · {points} points", achievement=name, points=ticket.points)
    if ticket.achievement_desc:
        text = two_lines(text, ticket.achievement_desc)
    return name, text


def to_view(ticket: RaTicket, *, provider: str, provider_label: str) -> TicketView:
    """The view of one achievement ticket."""
    state_label, colour = _lookup(STATES, ticket.report_state, UNKNOWN_STATE)
    state = described(ticket.report_state_description, state_label)
    report_type = described(
        ticket.report_type_description, _lookup(TYPES, ticket.report_type, UNKNOWN)
    )
    # Only an https link of theirs; anything else falls back to the site's ticket page.
    url = ticket.url if ticket.url and ticket.url.startswith("https://") else None
    achievement, achievement_text = _achievement(ticket)
    game = game_name(ticket.game_title, ticket.console_name)
    resolved: list[ViewField] = []
    if ticket.resolved_at is not None:
        resolved.append(ViewField(name=Msg("Resolved"), value=ticket.resolved_at))
    if ticket.resolved_by:
        resolved.append(ViewField(name=Msg("Resolved by"), value=ticket.resolved_by))
    fields = (
        ViewField(name=Msg("Achievement"), value=achievement_text, inline=False),
        ViewField(name=Msg("Game"), value=game, inline=False),
        ViewField(name=Msg("State"), value=state),
        ViewField(name=Msg("Type"), value=report_type),
        ViewField(name=Msg("Hardcore"), value=HARDCORE[ticket.hardcore]),
        ViewField(name=Msg("Reporter"), value=ticket.reported_by or UNKNOWN),
        ViewField(name=Msg("Achievement author"), value=ticket.achievement_author or UNKNOWN),
        ViewField(name=Msg("Reported"), value=ticket.reported_at or UNKNOWN),
        *resolved,
    )
    badge = f"{MEDIA}/Badge/{ticket.badge_name}.png" if ticket.badge_name else None
    return TicketView(
        provider=provider,
        provider_label=provider_label,
        ticket_id=str(ticket.id),
        title=Msg("Ticket #{id}: {achievement}", id=ticket.id, achievement=achievement),
        url=url or f"{SITE}/ticket/{ticket.id}",
        colour=int(colour),
        description=ticket.report_notes or "",
        description_audience=Audience.PUBLIC,
        thumbnail_url=badge,
        fields=fields,
        timestamp=ticket.reported_at,
        footer=Msg(
            "{label} · ticket #{id} · {state}", label=provider_label, id=ticket.id, state=state
        ),
        public_refusal=PENDING_REVIEW_REASON if ticket.report_state == PENDING_REVIEW else "",
    )
