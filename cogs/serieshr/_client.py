"""series.hr: `GET /tickets/get/{ticketId}` -> TicketView, and its errors -> typed errors."""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar, Final
from urllib.parse import quote

from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from bot.errors import (
    BadAnswer,
    BadInput,
    CredentialsRejected,
    NotPermitted,
    TicketLensError,
    TicketNotFound,
)
from bot.http import Fetcher, HttpAnswer, fingerprint
from bot.providers.base import (
    Audience,
    Credential,
    CredentialField,
    EntryKind,
    Provider,
    TicketView,
    ViewEntry,
    ViewField,
    Visibility,
)
from bot.settings import ProviderSettings
from cogs.serieshr._models import SrKeyedMessage, SrTicket, SrUser

log = logging.getLogger(__name__)

#: `TICKET-`, digits, `-`, letters/digits (the docs' `TICKET-1234567890-ABCD`); the prefix is
#: accepted in any case and sent upper-case, the rest exactly as typed (case-sensitivity of
#: lookups is undocumented).
_TICKET_ID_RE: Final = re.compile(r"(?i:TICKET)-([0-9]{1,20})-([A-Za-z0-9]{1,40})")
#: A MongoDB object id: 24 hex digits (sent lower-case, as MongoDB spells them).
_OBJECT_ID_RE: Final = re.compile(r"[0-9A-Fa-f]{24}")

#: An id in the documented TicketId form that no workspace has: a 404 "Ticket not found" for it
#: proves the key, the plan and the module (those are checked before the lookup).
PROBE_ID: Final = "TICKET-0-TICKETLENSCHECK"

ID_HELP: Final = (
    "A series.hr ticket id looks like `TICKET-1234567890-ABCD`, or is the ticket's 24-character "
    "object id (digits 0-9 and letters a-f)."
)

# What we tell the admin, by cause (each a distinct `detail`, matched again in `explain`).
PLAN: Final = "the workspace's plan has no API access to tickets"
MODULE: Final = "the Tickets module is not enabled for this workspace"
KEY_INVALID: Final = "the API key is not valid or no longer active"
KEY_MISSING: Final = "no API key was sent"

ADVICE: Final[dict[str, str]] = {
    PLAN: (
        "The series.hr Tickets API needs a **Premium** or **Enterprise** workspace "
        "subscription. Once the workspace has one, the same key works."
    ),
    MODULE: (
        "Turn the **Tickets** module on in the series.hr workspace's settings; the same key "
        "then works."
    ),
    KEY_INVALID: (
        "Copy the workspace's API key again from series.hr (or create a new one) and store it "
        "with `/ticketconfig set provider:serieshr`."
    ),
    KEY_MISSING: "Store the workspace's API key with `/ticketconfig set provider:serieshr`.",
}

# Status -> (label, colour); the documented set is exactly these four.
STATUSES: Final[dict[str, tuple[str, int]]] = {
    "open": ("Open", 0xE67E22),
    "in-progress": ("In progress", 0x3498DB),
    "resolved": ("Resolved", 0x2ECC71),
    "closed": ("Closed", 0x95A5A6),
}
PRIORITIES: Final[dict[str, str]] = {
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "urgent": "Urgent",
}
#: The two documented message types; anything else (system messages' type is undocumented) is
#: shown as a system message with its type.
KINDS: Final[dict[str, EntryKind]] = {
    "author_message": EntryKind.CUSTOMER,
    "staff_message": EntryKind.STAFF,
}
_PLAIN_SYSTEM_TYPES: Final = frozenset({"", "system", "system_message"})


class SeriesHrSettings(ProviderSettings):
    """`SERIESHR_*` settings."""

    model_config = SettingsConfigDict(env_prefix="SERIESHR_")

    base_url: str = Field("https://api.series.hr", pattern=r"^https?://")
    #: The documented limit: 25 requests per second per API key.
    rate_per_s: float = Field(25.0, gt=0, le=100_000)


def parse_ref(text: str) -> str:
    """The normalised ticket id, or BadInput (before any request) for anything else."""
    raw = text.strip()
    match = _TICKET_ID_RE.fullmatch(raw)
    if match is not None:
        return f"TICKET-{match.group(1)}-{match.group(2)}"
    if _OBJECT_ID_RE.fullmatch(raw):
        return raw.lower()
    raise BadInput(SeriesHr.key, ID_HELP)


def ticket_path(ref: str) -> str:
    """The path segment for `ref`: percent-encoded, so `/`, `..` and `?` cannot steer the URL."""
    return quote(ref, safe="")


class SeriesHr(Provider[str]):
    """Workspace tickets of series.hr (Roblox groups): private, staff only."""

    key: ClassVar[str] = "serieshr"
    label: ClassVar[str] = "series.hr"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("api_key", "API key", secret=True, max_length=200),
    )
    visibility: ClassVar[Visibility] = Visibility(
        public_allowed=True, staff_only=True, public_audience=Audience.PUBLIC
    )

    def __init__(self, fetcher: Fetcher, settings: SeriesHrSettings) -> None:
        self.fetcher = fetcher
        self.settings = settings
        self.base = settings.base_url.rstrip("/")

    async def _get(self, credential: Credential, ref: str) -> HttpAnswer:
        key = credential.get("api_key", "")
        return await self.fetcher.request(
            self.key,
            "GET",
            f"{self.base}/tickets/get/{ticket_path(ref)}",
            # The header, never the query string: URLs end up in logs and proxies.
            headers={"apikey": key, "Accept": "application/json"},
            rate_key=fingerprint(self.key, key),
            rate_per_s=self.settings.rate_per_s,
        )

    async def verify(self, credential: Credential) -> None:
        """Look up an id that cannot exist: 404 "Ticket not found" proves key, plan and module."""
        answer = await self._get(credential, PROBE_ID)
        envelope = _envelope(answer)
        if envelope is not None and 404 in (answer.status, envelope[0]):
            return
        try:
            self._raise_for(answer, PROBE_ID, credential)
        except TicketNotFound:
            # A 400, or a 404 that is not series.hr's envelope (a wrong SERIESHR_BASE_URL):
            # nothing is proven either way.
            raise BadAnswer(self.key, f"HTTP {answer.status}") from None

    async def fetch(self, credential: Credential, ref: str) -> TicketView:
        """Fetch ticket `ref` (already validated by `parse_ref`)."""
        answer = await self._get(credential, ref)
        self._raise_for(answer, ref, credential)
        payload = answer.json(self.key)
        data = payload.get("data") if isinstance(payload, dict) else None
        raw = data.get("Ticket", data.get("ticket")) if isinstance(data, dict) else None
        if not isinstance(raw, dict):
            raise BadAnswer(self.key, "the answer is not a ticket")
        try:
            ticket = SrTicket.model_validate(raw)
        except ValidationError as exc:
            log.warning("unreadable series.hr ticket: %d problem(s)", exc.error_count())
            raise BadAnswer(self.key, "the ticket could not be read") from None
        if ticket.shown_id is None:
            raise BadAnswer(self.key, "the answer is not a ticket")
        return to_view(ticket)

    def _raise_for(self, answer: HttpAnswer, ref: str, credential: Credential) -> None:
        """Raise the typed error for a failed answer; return for a successful one."""
        envelope = _envelope(answer)
        status = answer.status
        code, message = envelope if envelope is not None else (None, "")
        if status == 200:
            if envelope is None:
                return
            # `success: false` in a 200: the HTTP code is repeated in `error.code`.
            status = code if code is not None else 400
        lowered = message.lower()
        if status == 401:
            missing = "required" in lowered or "missing" in lowered
            raise CredentialsRejected(self.key, KEY_MISSING if missing else KEY_INVALID)
        if status == 403:
            if any(w in lowered for w in ("subscription", "premium", "enterprise", "plan")):
                raise NotPermitted(self.key, PLAN)
            if "not enabled" in lowered or "disabled" in lowered:
                raise NotPermitted(self.key, MODULE)
            if any(w in lowered for w in ("key", "invalid", "inactive", "unauthori")):
                raise CredentialsRejected(self.key, KEY_INVALID)
            raise NotPermitted(self.key, _quote(message, credential) or "HTTP 403")
        if status in (400, 404):
            raise TicketNotFound(self.key, ref)
        raise BadAnswer(self.key, f"HTTP {status}")

    def explain(self, error: TicketLensError) -> str | None:
        """What to do about a plan, module or key problem."""
        return ADVICE.get(error.detail)


def _envelope(answer: HttpAnswer) -> tuple[int | None, str] | None:
    """(error.code, error.message) of a `{success:false, error:{...}}` answer, else None."""
    try:
        payload: Any = answer.json(SeriesHr.key)
    except BadAnswer:
        return None
    if not isinstance(payload, dict) or payload.get("success") is not False:
        return None
    error = payload.get("error")
    if not isinstance(error, dict):
        return None, str(error or "")
    code = error.get("code")
    number = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = error.get("message")
    return number, message if isinstance(message, str) else ""


def _quote(message: str, credential: Credential) -> str:
    """An upstream message fit to show: one line, short, never the key."""
    text = " ".join(message.split())[:150]
    key = credential.get("api_key", "")
    if key:
        text = text.replace(key, "[key]")
    return f"series.hr says: {text}" if text else ""


def _humanise(value: str) -> str:
    text = value.replace("-", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else "Unknown"


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


def to_view(ticket: SrTicket) -> TicketView:
    """The neutral view: a public summary, with the conversation for the requester only."""
    shown_id = ticket.shown_id or "?"
    status_key = (ticket.status or "").strip().lower()
    status, colour = STATUSES.get(status_key, (_humanise(status_key), None))
    priority_key = (ticket.priority or "").strip().lower()
    priority = PRIORITIES.get(priority_key) or _humanise(priority_key)
    claimed = (
        _person(ticket.claimed_by_user, ticket.claimed_by) or ticket.claimed_by_name or "Unclaimed"
    )
    entries = _entries(ticket)
    fields = [
        ViewField(name="Status", value=status),
        ViewField(name="Priority", value=priority),
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
        provider=SeriesHr.key,
        provider_label=SeriesHr.label,
        ticket_id=shown_id,
        title=f"{shown_id}: {subject}" if subject else f"series.hr ticket {shown_id}",
        colour=colour,
        fields=tuple(fields),
        entries=entries,
        entries_title="Conversation",
        timestamp=ticket.created_at,
        footer=f"series.hr · {shown_id} · {status}",
    )
