"""teambattles.gg: `GET /tickets/{ticketId}` -> TicketView, and its errors -> typed errors."""

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
    CredentialScope,
    EntryKind,
    Provider,
    TicketView,
    ViewEntry,
    ViewField,
    Visibility,
)
from bot.settings import ProviderSettings
from cogs.teambattles._models import TbTicket

log = logging.getLogger(__name__)

KEY_PREFIX: Final = "tb_"
#: `tb_` then the key proper (64 hex digits today; any visible ASCII but space is accepted, so a
#: change of format upstream does not lock members out). Nothing that could break a header.
_KEY_RE: Final = re.compile(r"tb_[\x21-\x7e]{1,300}")
#: The ticket id is a TeamBattles (Convex) document id; its grammar is undocumented, so any
#: letters, digits, `_` and `-` are accepted. `/`, `.`, `?` and `#` never are.
_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,100}")
#: `#123` or a short number: the ticket's number, which the API cannot look up.
_NUMBER_RE: Final = re.compile(r"#\s*\d+|\d{1,9}")
#: An id no ticket has: for a good key the answer is 404 TICKET_NOT_FOUND.
PROBE_ID: Final = "ticketlenskeycheck00000000000000"

ID_HELP: Final = (
    "A TeamBattles ticket id is the code in the ticket's address (letters and digits), "
    "not its number."
)
NUMBER_HELP: Final = (
    "That looks like a ticket number. TeamBattles looks tickets up by their id: the code in "
    "the ticket's address (letters and digits), not `#123`."
)

# What we tell the member, by cause (each a distinct `detail`, matched again in `explain`).
KEY_FORMAT: Final = "a TeamBattles API key starts with tb_"
KEY_INVALID: Final = "the API key is not valid or was revoked"
KEY_EXPIRED: Final = "the API key has expired"
KEY_MISSING: Final = "no API key was sent"
KEY_PAUSED: Final = "the API key is paused"
SCOPE: Final = "the API key lacks the tickets.read:read permission"
PLAN: Final = "the key's developer plan does not include this"
NOT_YOURS: Final = "not found, or not a ticket of this account"

_REPLACE_KEY: Final = (
    "A member's own key is replaced with `/ticketaccount link provider:teambattles`, the "
    "server's shared team key with `/ticketconfig set provider:teambattles`."
)
ADVICE: Final[dict[str, str]] = {
    KEY_FORMAT: (
        "Copy the whole key: it starts with `tb_` and is shown once, when it is created in "
        "your TeamBattles developer settings."
    ),
    KEY_INVALID: f"Create a new key in your TeamBattles developer settings. {_REPLACE_KEY}",
    KEY_EXPIRED: f"Create a new key (or extend this one) on TeamBattles. {_REPLACE_KEY}",
    KEY_MISSING: _REPLACE_KEY,
    KEY_PAUSED: "Resume the key in your TeamBattles developer settings, then try again.",
    SCOPE: (
        "TicketLens reads tickets with the **Tickets: Read** permission (`tickets.read:read`). "
        "Give the key that permission in your TeamBattles developer settings (or create a new "
        f"key with it). {_REPLACE_KEY}"
    ),
    PLAN: "The key's TeamBattles developer plan does not allow this request.",
}
NOT_FOUND_ADVICE: Final = (
    "TeamBattles answers the same either way: the ticket was not found, or not a ticket of this "
    "account (a key reads only its owner's tickets)."
)

# Status -> (label, colour): the documented enum.
STATUSES: Final[dict[str, tuple[str, int]]] = {
    "open": ("Open", 0xE67E22),
    "in_progress": ("In progress", 0x3498DB),
    "awaiting_response": ("Awaiting response", 0xF1C40F),
    "resolved": ("Resolved", 0x2ECC71),
    "closed": ("Closed", 0x95A5A6),
}
PRIORITIES: Final[dict[str, str]] = {
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "urgent": "Urgent",
}


class TeamBattlesSettings(ProviderSettings):
    """`TEAMBATTLES_*` settings."""

    model_config = SettingsConfigDict(env_prefix="TEAMBATTLES_")

    base_url: str = Field("https://teambattles.gg/api/v1", pattern=r"^https?://")
    #: TeamBattles meters each key with a token bucket that depends on its developer plan (Free:
    #: bursts of 60, then 1/s); its 429s carry Retry-After, which the fetcher waits out.
    rate_per_s: float = Field(5.0, gt=0, le=100_000)


def parse_ref(text: str) -> str:
    """The ticket id as typed, or BadInput (before any request)."""
    raw = text.strip()
    if _NUMBER_RE.fullmatch(raw):
        raise BadInput(TeamBattles.key, NUMBER_HELP)
    if not _ID_RE.fullmatch(raw):
        raise BadInput(TeamBattles.key, ID_HELP)
    return raw


def ticket_path(ref: str) -> str:
    """The path segment for `ref`: percent-encoded, so `/`, `..` and `?` cannot steer the URL."""
    return quote(ref, safe="")


class TeamBattles(Provider[str]):
    """A key's owner's support tickets: owner-scoped, so never posted publicly."""

    key: ClassVar[str] = "teambattles"
    label: ClassVar[str] = "TeamBattles"
    scope: ClassVar[CredentialScope] = CredentialScope.MEMBER
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("api_key", "API key", secret=True, placeholder="tb_…", max_length=300),
    )
    visibility: ClassVar[Visibility] = Visibility(public_allowed=False)

    def __init__(self, fetcher: Fetcher, settings: TeamBattlesSettings) -> None:
        self.fetcher = fetcher
        self.settings = settings
        self.base = settings.base_url.rstrip("/")

    async def _get(self, credential: Credential, ref: str) -> HttpAnswer:
        key = credential.get("api_key", "")
        return await self.fetcher.request(
            self.key,
            "GET",
            f"{self.base}/tickets/{ticket_path(ref)}",
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
            rate_key=fingerprint(self.key, key),
            rate_per_s=self.settings.rate_per_s,
        )

    async def verify(self, credential: Credential) -> None:
        """
        Refuse a key that does not start with `tb_` (no request); then look up an id no ticket
        has: 404 TICKET_NOT_FOUND proves the key and its `tickets.read:read` permission.
        """
        key = credential.get("api_key", "")
        if not key.startswith(KEY_PREFIX):
            raise CredentialsRejected(self.key, KEY_FORMAT)
        if not _KEY_RE.fullmatch(key):
            raise CredentialsRejected(self.key, KEY_INVALID)
        answer = await self._get(credential, PROBE_ID)
        if answer.status == 404 and _code(answer) == "ticket_not_found":
            return
        try:
            self._raise_for(answer, PROBE_ID)
        except TicketNotFound:
            # A 404 with another body (a wrong TEAMBATTLES_BASE_URL?) proves nothing.
            raise BadAnswer(self.key, f"HTTP {answer.status}") from None

    async def fetch(self, credential: Credential, ref: str) -> TicketView:
        """Fetch ticket `ref` (already validated by `parse_ref`)."""
        answer = await self._get(credential, ref)
        self._raise_for(answer, ref)
        payload = answer.json(self.key)
        if not isinstance(payload, dict) or "id" not in payload:
            raise BadAnswer(self.key, "the answer is not a ticket")
        try:
            ticket = TbTicket.model_validate(payload)
        except ValidationError as exc:
            log.warning("unreadable TeamBattles ticket: %d problem(s)", exc.error_count())
            raise BadAnswer(self.key, "the ticket could not be read") from None
        return to_view(ticket)

    def _raise_for(self, answer: HttpAnswer, ref: str) -> None:
        """Raise the typed error for a failed answer; return for a 200."""
        status = answer.status
        if status == 200:
            return
        code = _code(answer)
        if status == 401:
            detail = {
                "api_key_expired": KEY_EXPIRED,
                "api_key_required": KEY_MISSING,
            }.get(code, KEY_INVALID)
            raise CredentialsRejected(self.key, detail)
        if status == 403:
            if code in ("api_key_permission_denied", "insufficient_scope") or (
                "tickets.read" in _details(answer)
            ):
                raise NotPermitted(self.key, SCOPE)
            if code == "api_key_muted":
                raise NotPermitted(self.key, KEY_PAUSED)
            if code in ("api_plan_required", "api_feature_required"):
                raise NotPermitted(self.key, PLAN)
            if code == "ticket_access_denied":
                raise TicketNotFound(self.key, ref, NOT_YOURS)
            raise NotPermitted(self.key, "access denied")
        if status in (400, 404):
            # Owner-scoped: a missing ticket and someone else's both answer 404.
            raise TicketNotFound(self.key, ref, NOT_YOURS)
        raise BadAnswer(self.key, f"HTTP {status}")

    def explain(self, error: TicketLensError) -> str | None:
        """The owner-scoped 404's meaning, and what to do about key problems."""
        if isinstance(error, TicketNotFound):
            return NOT_FOUND_ADVICE
        return ADVICE.get(error.detail)


def _payload(answer: HttpAnswer) -> dict[str, Any]:
    try:
        payload = answer.json(TeamBattles.key)
    except BadAnswer:
        return {}
    return payload if isinstance(payload, dict) else {}


def _code(answer: HttpAnswer) -> str:
    """
    The `error` code, normalised: lower case, without the `error_` prefix. The ticket pages
    write `TICKET_NOT_FOUND`, the general list `error_*`; which one is sent is unverified.
    """
    code = _payload(answer).get("error")
    if not isinstance(code, str):
        return ""
    code = code.strip().lower()
    return code.removeprefix("error_")


def _details(answer: HttpAnswer) -> str:
    details = _payload(answer).get("details")
    return details.lower() if isinstance(details, str) else ""


def _humanise(value: str) -> str:
    text = value.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:] if text else "Unknown"


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


def to_view(ticket: TbTicket) -> TicketView:
    """The neutral view; every part is the key owner's, so for the requester only."""
    status, colour = STATUSES.get(
        ticket.status.strip().lower(), (_humanise(ticket.status), 0x607D8B)
    )
    priority = PRIORITIES.get(ticket.priority.strip().lower()) or _humanise(ticket.priority)
    number = f"#{ticket.ticket_number}" if ticket.ticket_number is not None else ticket.id
    private = Audience.REQUESTER
    fields = [
        ViewField(name="Status", value=status, audience=private),
        ViewField(name="Priority", value=priority, audience=private),
        ViewField(name="Category", value=_humanise(ticket.category), audience=private),
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
        provider=TeamBattles.key,
        provider_label=TeamBattles.label,
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
