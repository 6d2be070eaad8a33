"""
RetroAchievements beyond one ticket: the aggregate queries, and tickets named in text.

`RaQuery` names one of API_GetTicketData's other modes (a game's tickets, an achievement's,
a developer's counts, the recent open tickets, the most-reported games); `query_params` is
its request and `read_aggregate` turns the answer into a `TicketView`. The provider's ref
is `int | RaQuery`: an int is one ticket.

References as text: `ref_text`/`parse_ref` write and strictly read back a ref (button custom
ids, lookup history), `find_refs` finds ticket links and `[ticket=N]` shortcodes in a
message. `check_id` is the one id rule the command, `parse_ref` and `find_refs` share.
See docs/providers/retroachievements.md ("Aggregates").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar, get_args
from urllib.parse import parse_qsl, quote, urlsplit

from pydantic import BaseModel

from bot.errors import BadInput, TicketNotFound
from bot.i18n import Msg
from bot.providers.base import Audience, EntryKind, TicketView, ViewEntry, ViewField
from bot.providers.palette import Colour, humanise
from bot.providers.parsing import read_model
from cogs.retroachievements._models import (
    RaAchievement,
    RaDeveloper,
    RaGame,
    RaMostReported,
    RaRecent,
    RaReportedGame,
    RaTicket,
)
from cogs.retroachievements._view import (
    MEDIA,
    PENDING_REVIEW,
    SITE,
    STATES,
    TYPES,
    UNKNOWN,
    UNKNOWN_STATE,
    achievement_name,
    described,
    game_name,
    two_lines,
)

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "LIST_COUNT",
    "MAX_ID",
    "MOST_REPORTED_COUNT",
    "Mode",
    "RaQuery",
    "check_id",
    "find_refs",
    "is_id",
    "not_found",
    "parse_ref",
    "query_params",
    "read_aggregate",
    "ref_text",
]

# --- ids and names ---------------------------------------------------------------------------

#: Ids are at most 10 digits: more than any RetroAchievements id, and well inside PHP's int.
MAX_ID: Final = 9_999_999_999
#: An id written by us: no sign, no leading zero, at most 10 digits.
_ID_TEXT: Final = re.compile(r"[1-9][0-9]{0,9}")
# What RAWeb accepts as a user identifier (`app/Support/Rules/ValidUserIdentifier.php`): a
# 26-character ULID (checked as [0-9A-Z], either case), else a username of 2-20 ASCII letters
# and digits (`ctype_alnum`). 21-25 characters are neither.
_DEVELOPER: Final = re.compile(r"[A-Za-z0-9]{2,20}|[A-Za-z0-9]{26}")
#: Longest text `ref_text` writes ("u:" and a ULID is 28); anything longer is forged.
REF_TEXT_LIMIT: Final = 60


def is_id(value: int) -> bool:
    """
    Whether `value` can be a RetroAchievements id: 1 to MAX_ID.

    The API reads 0 or less as "no id" and answers with another mode (the recent list), which
    must never be shown as the thing asked for; so nothing below 1 is ever sent.
    """
    return 1 <= value <= MAX_ID


Numbered = Literal["ticket", "game", "achievement"]
#: What an id is, by what it names: the answer to an id out of range (a whole sentence each,
#: so each language words its noun as it must).
_BAD_ID: Final[dict[Numbered, Msg]] = {
    "ticket": Msg(
        "A RetroAchievements ticket id is a whole number, 1 or more (at most 10 digits)."
    ),
    "game": Msg("A RetroAchievements game id is a whole number, 1 or more (at most 10 digits)."),
    "achievement": Msg(
        "A RetroAchievements achievement id is a whole number, 1 or more (at most 10 digits)."
    ),
}
_NOT_A_REF: Final = Msg("Not a RetroAchievements ticket reference.")


def check_id(value: int, what: Numbered = "ticket") -> int:
    """`value` if `is_id`, else BadInput saying what an id is (the command's answer too)."""
    if not is_id(value):
        raise BadInput(_BAD_ID[what])
    return value


def _id_text(text: str, what: Numbered) -> str:
    if not _ID_TEXT.fullmatch(text):
        raise BadInput(_BAD_ID[what])
    return text


# --- the query -------------------------------------------------------------------------------

Mode = Literal["game", "achievement", "developer", "recent", "most-reported"]
MODES: Final[frozenset[str]] = frozenset(get_args(Mode))

#: Tickets asked for in the list modes: the API's own maximum per request.
LIST_COUNT: Final = 100
#: Games asked for in the most-reported mode (upstream default 20; no offset there).
MOST_REPORTED_COUNT: Final = 25


@dataclass(frozen=True, slots=True)
class RaQuery:
    """
    One aggregate query. `arg` is the game or achievement id as decimal text, the developer's
    username or ULID, or "" (recent, most-reported). Every instance is valid (checked when
    made, BadInput otherwise), so a query built from a forged button cannot reach upstream.
    """

    mode: Mode
    arg: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BadInput(Msg("Unknown RetroAchievements query."))
        if self.mode == "game" or self.mode == "achievement":
            _id_text(self.arg, self.mode)
        elif self.mode == "developer":
            if not _DEVELOPER.fullmatch(self.arg):
                raise BadInput(
                    Msg(
                        "A RetroAchievements developer is a username (2 to 20 letters or "
                        "digits) or a 26-character ULID."
                    )
                )
        elif self.arg:
            raise BadInput(
                Msg("The RetroAchievements {mode} list takes no argument.", mode=self.mode)
            )

    @classmethod
    def game(cls, game_id: int) -> RaQuery:
        """A game's tickets, listed."""
        return cls("game", str(check_id(game_id, "game")))

    @classmethod
    def achievement(cls, achievement_id: int) -> RaQuery:
        """An achievement's open-ticket count."""
        return cls("achievement", str(check_id(achievement_id, "achievement")))

    @classmethod
    def developer(cls, name: str) -> RaQuery:
        """A developer's ticket counts, by username or ULID (surrounding spaces ignored)."""
        return cls("developer", name.strip())

    @classmethod
    def recent(cls) -> RaQuery:
        """The most recent open tickets."""
        return cls("recent")

    @classmethod
    def most_reported(cls) -> RaQuery:
        """The games with the most open tickets."""
        return cls("most-reported")

    @property
    def label(self) -> str:
        """A short human name for the query ("game 4321"): its ticket id, and in errors."""
        return f"{self.mode} {self.arg}" if self.arg else self.mode

    def footer(self, provider_label: str) -> Msg:
        """The footer of its answer: the provider and `label`, in the reader's words."""
        match self.mode:
            case "game":
                return Msg("{label} · game {arg}", label=provider_label, arg=self.arg)
            case "achievement":
                return Msg("{label} · achievement {arg}", label=provider_label, arg=self.arg)
            case "developer":
                return Msg("{label} · developer {arg}", label=provider_label, arg=self.arg)
            case "recent":
                return Msg("{label} · recent", label=provider_label)
            case "most-reported":
                return Msg("{label} · most-reported", label=provider_label)


def query_params(query: RaQuery) -> dict[str, str]:
    """The API parameters of `query` (the key is added by the client)."""
    match query.mode:
        case "game":
            return {"g": query.arg, "d": "1", "c": str(LIST_COUNT)}
        case "achievement":
            return {"a": query.arg}
        case "developer":
            return {"u": query.arg}
        case "recent":
            # No mode parameter at all: that is what selects the recent list upstream.
            return {"c": str(LIST_COUNT)}
        case "most-reported":
            return {"f": "1", "c": str(MOST_REPORTED_COUNT)}


def not_found(query: RaQuery) -> TicketNotFound:
    """The error for a 404 on `query` (an unknown game, achievement or user)."""
    return TicketNotFound(query.arg, f"{query.label} not found", noun=query.mode)


# --- references as text ----------------------------------------------------------------------

_PREFIXES: Final[dict[str, Mode]] = {"g:": "game", "a:": "achievement", "u:": "developer"}
_BARE: Final[dict[str, Mode]] = {"recent": "recent", "top": "most-reported"}


def ref_text(ref: int | RaQuery) -> str:
    """`ref` as compact text: "123", "g:123", "a:55", "u:Name", "recent" or "top"."""
    if isinstance(ref, int):
        return f"{check_id(ref):d}"
    for prefix, mode in _PREFIXES.items():
        if ref.mode == mode:
            return prefix + ref.arg
    return next(text for text, mode in _BARE.items() if mode == ref.mode)


def parse_ref(text: str) -> int | RaQuery:
    """The ref `ref_text` wrote, or BadInput for any other text."""
    if len(text) > REF_TEXT_LIMIT:
        raise BadInput(_NOT_A_REF)
    if _ID_TEXT.fullmatch(text):
        return check_id(int(text))
    if text in _BARE:
        return RaQuery(_BARE[text])
    mode = _PREFIXES.get(text[:2])
    if mode is None:
        raise BadInput(_NOT_A_REF)
    return RaQuery(mode, text[2:])


# Candidate links: http(s) and everything up to a character no bare link holds, or that ends
# a link in Discord markup (<link>, [text](link), ||spoiler||, `code`).
_LINK: Final = re.compile(r"https?://[^\s<>\"'`()\[\]{}|\\^]+", re.IGNORECASE)
# What a sentence or markdown puts right after a link, not part of it.
_LINK_TAIL: Final = ".,;:!?*_~"
_HOSTS: Final = frozenset({"retroachievements.org", "www.retroachievements.org"})
# /ticket/N, maybe followed by more path (/ticket/N/...); the rest of the URL is ignored.
_TICKET_PATH: Final = re.compile(r"/ticket/([0-9]{1,10})(?:/.*)?", re.IGNORECASE | re.DOTALL)
_LEGACY_PATH: Final = re.compile(r"/ticketmanager\.php", re.IGNORECASE)
_DIGITS: Final = re.compile(r"[0-9]{1,10}")
# The site's own shortcode (RAWeb `app/Support/Shortcode/Shortcode.php`, case-insensitive).
_SHORTCODE: Final = re.compile(r"\[ticket=([0-9]{1,10})\]", re.IGNORECASE)


def _ticket_of_link(link: str) -> int | None:
    """The ticket a retroachievements.org link names, or None."""
    try:
        parts = urlsplit(link.rstrip(_LINK_TAIL))
        port = parts.port
    except ValueError:
        return None
    # `hostname` is the host after any user info, so "retroachievements.org@evil.com" is
    # evil.com; user info or a port is no link anyone copies from the site: refused.
    if parts.hostname not in _HOSTS or port is not None or "@" in parts.netloc:
        return None
    if (found := _TICKET_PATH.fullmatch(parts.path)) is not None:
        number = int(found[1])
    elif _LEGACY_PATH.fullmatch(parts.path):
        # PHP reads the last `i` of the query string.
        values = [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k == "i"]
        if not values or not _DIGITS.fullmatch(values[-1]):
            return None
        number = int(values[-1])
    else:
        return None
    return number if is_id(number) else None


def find_refs(text: str) -> list[int]:
    """
    RetroAchievements tickets named in `text`, in order of appearance, each once: links to
    `retroachievements.org/ticket/N` (with or without www, http or https, anything after the
    id), legacy `ticketmanager.php?i=N` links, and `[ticket=N]` shortcodes. Links to any
    other host never count, whatever their path or query holds.
    """
    found: list[tuple[int, int]] = []
    for match in _LINK.finditer(text):
        number = _ticket_of_link(match[0])
        if number is not None:
            found.append((match.start(), number))
    for match in _SHORTCODE.finditer(text):
        number = int(match[1])
        if is_id(number):
            found.append((match.start(), number))
    found.sort()
    return list(dict.fromkeys(number for _, number in found))


# --- the answers as views --------------------------------------------------------------------

PENDING_IN_LIST_REASON: Final = Msg(
    "it lists a Pending Review ticket (quarantined until a moderator checks it)"
)


def _count(value: int | None) -> Msg:
    # A template of its own, so a language can group digits its way (or not at all).
    return UNKNOWN if value is None else Msg("{count:,}", count=value)


def _site_url(candidate: str | None, fallback_path: str) -> str:
    """The answer's URL when it is a page of the site itself, else ours built from ids."""
    if candidate and candidate.startswith(f"{SITE}/"):
        return candidate
    return SITE + fallback_path


def _state(ticket: RaTicket) -> str:
    # The table first for 4: whatever label an older server sends, quarantine reads the same
    # as in the single-ticket view.
    if ticket.report_state == PENDING_REVIEW:
        return STATES[PENDING_REVIEW][0]
    label, _ = (
        STATES.get(ticket.report_state, UNKNOWN_STATE)
        if ticket.report_state is not None
        else UNKNOWN_STATE
    )
    return described(ticket.report_state_description, label)


def _ticket_entry(ticket: RaTicket, *, with_game: bool) -> ViewEntry:
    achievement = achievement_name(ticket.achievement_title, ticket.achievement_id)
    report_type = described(
        ticket.report_type_description,
        TYPES.get(ticket.report_type, UNKNOWN) if ticket.report_type is not None else UNKNOWN,
    )
    # List items carry no URL; a bare link line, which Discord makes clickable.
    values = {
        "state": _state(ticket),
        "type": report_type,
        "reporter": ticket.reported_by or UNKNOWN,
        "link": f"{SITE}/ticket/{ticket.id}",
    }
    if with_game:
        game = game_name(ticket.game_title, ticket.console_name, ticket.game_id)
        body = Msg("{game}\n{state} · {type}\nReported by {reporter}\n{link}", game=game, **values)
    else:
        body = Msg("{state} · {type}\nReported by {reporter}\n{link}", **values)
    return ViewEntry(
        author=Msg("#{id} · {achievement}", id=ticket.id, achievement=achievement),
        body=body,
        kind=EntryKind.ITEM,
        at=ticket.reported_at,
        audience=Audience.PUBLIC,
    )


def _listed(tickets: list[RaTicket]) -> list[RaTicket]:
    # An id below 1 cannot be linked to or looked up: not a ticket we could show.
    return [t for t in tickets if is_id(t.id)]


def _refusal(tickets: list[RaTicket]) -> str:
    # A quarantined ticket is not posted in a channel on its own (`_view.py`), so neither is
    # a list showing it. Refusing the whole list rather than leaving the ticket out of a
    # public post keeps the list true to its count (the game count includes it) and shows
    # nothing the member did not see in private; `bot.access` acts on it.
    return PENDING_IN_LIST_REASON if any(t.report_state == PENDING_REVIEW for t in tickets) else ""


def _newer(listed: int, total: int | None) -> bool:
    """Whether a list shows only the newest `listed` of `total`."""
    return total is not None and total > listed


@dataclass(frozen=True, slots=True)
class _Context:
    query: RaQuery
    provider: str
    provider_label: str

    def view(
        self,
        *,
        title: str,
        url: str,
        colour: int,
        description: str,
        fields: tuple[ViewField, ...] = (),
        entries: tuple[ViewEntry, ...] = (),
        entries_title: str = "",
        thumbnail_url: str | None = None,
        public_refusal: str = "",
    ) -> TicketView:
        """A view of this query: every part public, as on the site."""
        return TicketView(
            provider=self.provider,
            provider_label=self.provider_label,
            ticket_id=self.query.label,
            title=title,
            url=url,
            colour=colour,
            description=description,
            description_audience=Audience.PUBLIC,
            thumbnail_url=thumbnail_url,
            fields=fields,
            entries=entries,
            entries_title=entries_title or Msg("Tickets"),
            footer=self.query.footer(self.provider_label),
            public_refusal=public_refusal,
        )


def _open_colour(count: int | None) -> int:
    return int(Colour.GREEN if count == 0 else Colour.ORANGE)


def _recent_description(listed: int, total: int | None) -> Msg:
    # Whole sentences, one per case, so each language can word them as one.
    if not listed:
        return Msg(
            "Open and Request tickets on published achievements, newest first. No open tickets."
        )
    if _newer(listed, total):
        return Msg(
            "Open and Request tickets on published achievements, newest first. "
            "The newest {listed} of {total:,} open tickets.",
            listed=listed,
            total=total,
        )
    return Msg("Open and Request tickets on published achievements, newest first.")


def _recent_view(answer: RaRecent, ctx: _Context) -> TicketView:
    tickets = _listed(answer.recent_tickets)
    return ctx.view(
        title=Msg("Recent open tickets"),
        url=_site_url(answer.url, "/tickets"),
        colour=_open_colour(answer.open_tickets),
        description=_recent_description(len(tickets), answer.open_tickets),
        fields=(ViewField(name=Msg("Open tickets"), value=_count(answer.open_tickets)),),
        entries=tuple(_ticket_entry(t, with_game=True) for t in tickets),
        entries_title=Msg("Open tickets, newest first"),
        public_refusal=_refusal(tickets),
    )


def _game_description(listed: int, total: int | None) -> Msg:
    if not listed:
        return Msg("Tickets on published achievements, in every state, newest first. No tickets.")
    if _newer(listed, total):
        return Msg(
            "Tickets on published achievements, in every state, newest first. "
            "The newest {listed} of {total:,} tickets.",
            listed=listed,
            total=total,
        )
    return Msg("Tickets on published achievements, in every state, newest first.")


def _game_view(answer: RaGame, ctx: _Context) -> TicketView:
    game_id = answer.game_id if answer.game_id is not None else int(ctx.query.arg)
    name = game_name(answer.game_title, answer.console_name, game_id)
    tickets = _listed(answer.tickets)
    icon = next((t.game_icon for t in tickets if t.game_icon), None)
    return ctx.view(
        title=Msg("Tickets: {game}", game=name),
        url=_site_url(answer.url, f"/game/{game_id}/tickets"),
        colour=int(Colour.BLURPLE),
        # Upstream counts and lists this game's tickets in every state (Closed and Resolved
        # too), although its key says "OpenTickets": the field says "Tickets", not "Open".
        description=_game_description(len(tickets), answer.open_tickets),
        thumbnail_url=f"{MEDIA}{icon}" if icon and icon.startswith("/") else None,
        fields=(ViewField(name=Msg("Tickets"), value=_count(answer.open_tickets)),),
        entries=tuple(_ticket_entry(t, with_game=False) for t in tickets),
        entries_title=Msg("Tickets, newest first"),
        public_refusal=_refusal(tickets),
    )


def _achievement_view(answer: RaAchievement, ctx: _Context) -> TicketView:
    achievement_id = (
        answer.achievement_id if answer.achievement_id is not None else int(ctx.query.arg)
    )
    name = achievement_name(answer.achievement_title, achievement_id)
    fields = [ViewField(name=Msg("Open tickets"), value=_count(answer.open_tickets))]
    if answer.achievement_type:
        # The API's own type ("progression"), humanised: its word, not ours.
        fields.append(ViewField(name=Msg("Type"), value=humanise(answer.achievement_type)))
    return ctx.view(
        title=Msg("Open tickets: {achievement}", achievement=name),
        url=_site_url(answer.url, f"/achievement/{achievement_id}/tickets"),
        colour=_open_colour(answer.open_tickets),
        description=answer.achievement_description or "",
        fields=tuple(fields),
    )


def _developer_view(answer: RaDeveloper, ctx: _Context) -> TicketView:
    name = answer.user or ctx.query.arg
    return ctx.view(
        title=Msg("Tickets of developer {name}", name=name),
        url=_site_url(answer.url, f"/user/{quote(name, safe='')}/tickets"),
        colour=_open_colour(answer.open),
        description=Msg(
            "Tickets on the published achievements they maintain. Request and Pending Review "
            "tickets are in none of these counts."
        ),
        fields=(
            ViewField(name=Msg("Open"), value=_count(answer.open)),
            ViewField(name=Msg("Closed"), value=_count(answer.closed)),
            ViewField(name=Msg("Resolved"), value=_count(answer.resolved)),
            ViewField(name=Msg("Total"), value=_count(answer.total)),
        ),
    )


def _game_entry(rank: int, game: RaReportedGame) -> ViewEntry:
    tickets = (
        Msg("1 open ticket")
        if game.open_tickets == 1
        else Msg("{count} open tickets", count=_count(game.open_tickets))
    )
    link = (
        f"{SITE}/game/{game.game_id}/tickets"
        if game.game_id is not None and is_id(game.game_id)
        else None
    )
    name = game_name(game.game_title, game.console, game.game_id)
    return ViewEntry(
        author=Msg("#{rank} · {game}", rank=rank, game=name),
        body=two_lines(tickets, link) if link else tickets,
        kind=EntryKind.ITEM,
        audience=Audience.PUBLIC,
    )


def _most_reported_view(answer: RaMostReported, ctx: _Context) -> TicketView:
    games = answer.most_reported_games
    return ctx.view(
        title=Msg("Most-reported games"),
        url=_site_url(answer.url, "/manage/most-reported-games"),
        colour=int(Colour.ORANGE),
        description=(
            Msg("Games with the most Open and Request tickets on published achievements.")
            if games
            else Msg("No game has open tickets.")
        ),
        entries=tuple(_game_entry(rank, g) for rank, g in enumerate(games, start=1)),
        entries_title=Msg("Games by open tickets"),
    )


def _read(model: type[M], payload: Any, *keys: str) -> M:
    # The API falls through to another mode on a parameter it cannot read (the recent list,
    # at the end): an answer without this mode's own key must not pass for one of this mode.
    return read_model(model, payload, is_ticket=lambda p: any(k in p for k in keys))


def read_aggregate(
    query: RaQuery, payload: Any, *, provider: str, provider_label: str
) -> TicketView:
    """The view of `query`'s answer; BadAnswer when it is not an answer of that mode."""
    ctx = _Context(query, provider, provider_label)
    match query.mode:
        case "recent":
            return _recent_view(_read(RaRecent, payload, "RecentTickets", "recentTickets"), ctx)
        case "most-reported":
            games = _read(RaMostReported, payload, "MostReportedGames", "mostReportedGames")
            return _most_reported_view(games, ctx)
        case "developer":
            return _developer_view(_read(RaDeveloper, payload, "User", "user", "ULID", "ulid"), ctx)
        case "game":
            return _game_view(_read(RaGame, payload, "GameID", "gameId"), ctx)
        case "achievement":
            answer = _read(RaAchievement, payload, "AchievementID", "achievementId")
            return _achievement_view(answer, ctx)


def game_tickets(payload: Any) -> list[RaTicket]:
    """The tickets of a game mode answer (`g=` with details), newest first, each one that can
    be linked to; BadAnswer when it is not an answer of that mode (a watch's feed)."""
    return _listed(_read(RaGame, payload, "GameID", "gameId").tickets)
