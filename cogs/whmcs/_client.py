"""
WHMCS: `GetTicket` -> TicketView, and its errors -> typed errors.

One POST to `{url}/includes/api.php` per lookup (form-encoded, `responsetype=json`). WHMCS
answers errors with `"result": "error"` and a message, with HTTP 200 or 403 depending on the
install and the check that failed: the body decides, not the status. The URL is the guild's,
so every request goes out with `untrusted_url=True` (https, public addresses only, checked at
connect time, redirects never followed; see `bot.netguard`). Facts and their sources:
shared/providers/whmcs-notes.md.
"""

from __future__ import annotations

import html
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

from cachetools import TTLCache
from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict
from yarl import URL

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
    TextFormat,
    TicketView,
    ViewEntry,
    ViewField,
    Visibility,
)
from bot.redact import Redactor
from bot.settings import ProviderSettings
from cogs.whmcs._models import WhmcsNote, WhmcsReply, WhmcsTicket, attachment_names

log = logging.getLogger(__name__)

API_PATH: Final = "/includes/api.php"

#: After WHMCS rejected a credential, lookups with it are not sent again for this long: three
#: failed logins within 30 minutes make WHMCS ban the bot's IP (15 minutes by default), which
#: would break every lookup on that install, also after the credentials are fixed.
REJECTED_HOLD_S: Final = 15 * 60

#: Longest upstream message we pass on (after redaction).
MESSAGE_LIMIT: Final = 300

#: Credential-level failures: the identifier, secret or access key is wrong.
_REJECTING: Final = (
    "authentication failed",
    "invalid or missing credentials",
    "invalid password provided",
    "administrator account disabled",
    "invalid access key",
)

_STATUS_COLOURS: Final = {
    "open": 0x2ECC71,
    "answered": 0x3498DB,
    "customer-reply": 0xE67E22,
    "closed": 0x95A5A6,
    "on hold": 0x9B59B6,
    "in progress": 0xF1C40F,
}
_DEFAULT_COLOUR: Final = 0x607D8B

# A message that still holds real tags (7.x notes skip strip_tags); everything else is the
# HTML-escaped Markdown (or BBCode-ish plain text) WHMCS stores.
_HTML_TAG_RE = re.compile(
    r"<(?:/?(?:p|br|div|span|a|b|i|u|s|strong|em|ul|ol|li|blockquote|pre|code|h[1-6]|img|"
    r"table|tr|td|th|hr|font)\b[^>]*)>",
    re.IGNORECASE,
)
_NVP_RESULT_RE = re.compile(r"(?:^|;)\s*result=([^;]*)", re.IGNORECASE)
_NVP_MESSAGE_RE = re.compile(
    r"(?:^|;)\s*message=(.*?)(?=;\s*[a-z_]+=|$)", re.IGNORECASE | re.DOTALL
)
_XML_RESULT_RE = re.compile(r"<result>\s*(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?\s*</result>", re.DOTALL)
_XML_MESSAGE_RE = re.compile(r"<message>\s*(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?\s*</message>", re.DOTALL)
_MARKDOWN_CHARS_RE = re.compile(r"([\\*_~|`\[\]])")
_NO_DATE: Final = ("", "0000-00-00", "0000-00-00 00:00:00")


class WhmcsSettings(ProviderSettings):
    """`WHMCS_*` settings."""

    model_config = SettingsConfigDict(env_prefix="WHMCS_")

    rate_per_s: float = Field(2.0, gt=0, le=100_000)


@dataclass(frozen=True, slots=True)
class WhmcsRef:
    """One lookup: by `ticketid` or `ticketnum`, and the reply order asked for."""

    by: Literal["ticketid", "ticketnum"]
    value: str
    newest_first: bool = False

    @property
    def label(self) -> str:
        """How the user typed it: `id:42` or `number:ABC-123456`."""
        return f"{'id' if self.by == 'ticketid' else 'number'}:{self.value}"


def endpoint(url: str) -> str:
    """`{url}/includes/api.php`; a URL that already ends with it is kept as is."""
    parsed = URL(url.strip())
    path = parsed.path.rstrip("/")
    if not path.endswith(API_PATH):
        path += API_PATH
    return str(parsed.with_path(path).with_query(None).with_fragment(None))


class Whmcs(Provider[WhmcsRef]):
    """Support tickets of a self-hosted WHMCS: private conversations, so staff only."""

    key: ClassVar[str] = "whmcs"
    label: ClassVar[str] = "WHMCS"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField(
            "url", "WHMCS URL", placeholder="https://billing.example.com", max_length=300
        ),
        CredentialField("identifier", "API identifier", max_length=128),
        CredentialField("secret", "API secret", secret=True, max_length=128),
        CredentialField(
            "accesskey",
            "Access key (optional)",
            secret=True,
            required=False,
            placeholder="Only if $api_access_key is set in configuration.php",
            max_length=128,
        ),
    )
    visibility: ClassVar[Visibility] = Visibility(public_allowed=True, staff_only=True)

    def __init__(self, fetcher: Fetcher, settings: WhmcsSettings, redactor: Redactor) -> None:
        self.fetcher = fetcher
        self.settings = settings
        self.redactor = redactor
        self._rejected: TTLCache[str, str] = TTLCache(maxsize=4096, ttl=REJECTED_HOLD_S)

    def secrets_of(self, credential: Credential) -> list[str]:
        """The secret and access key, and the identifier too (half of the login)."""
        return [
            value
            for key, value in credential.items()
            if key in ("identifier", "secret", "accesskey") and value
        ]

    # -- requests ----------------------------------------------------------------------------

    async def _get_ticket(self, credential: Credential, fields: dict[str, str]) -> HttpAnswer:
        url = credential.get("url", "")
        identifier = credential.get("identifier", "")
        try:
            target = endpoint(url)
        except (TypeError, ValueError):
            raise BadInput(self.key, "The stored WHMCS URL is not a valid URL.") from None
        data = {
            "action": "GetTicket",
            "responsetype": "json",
            "identifier": identifier,
            "secret": credential.get("secret", ""),
            **fields,
        }
        if credential.get("accesskey"):
            data["accesskey"] = credential["accesskey"]
        # GetTicket is a POST but only reads: safe to retry.
        return await self.fetcher.request(
            self.key,
            "POST",
            target,
            data=data,
            rate_key=fingerprint(self.key, target, identifier),
            rate_per_s=self.settings.rate_per_s,
            idempotent=True,
            untrusted_url=True,
        )

    def _credential_key(self, credential: Credential) -> str:
        return fingerprint(*(f"{k}={v}" for k, v in sorted(credential.items())))

    async def verify(self, credential: Credential) -> None:
        """
        The URL must pass the address rules now; then `GetTicket` for ticket id 0 must answer
        "Ticket ID Not Found", which proves the credentials (with an API role that only
        allows GetTicket, too).
        """
        await self.fetcher.check_url(self.key, credential.get("url", ""))
        if not credential.get("identifier") or not credential.get("secret"):
            raise BadInput(self.key, "The API identifier and the API secret are both needed.")
        key = self._credential_key(credential)
        try:
            answer = await self._get_ticket(credential, {"ticketid": "0"})
            self._read(answer, credential, None)
        except BadAnswer as exc:
            # Whatever answered there is not WHMCS's API (or leads elsewhere): keep nothing.
            detail = exc.detail
        except CredentialsRejected as exc:
            self._rejected[key] = exc.detail
            raise
        else:
            self._rejected.pop(key, None)
            return
        raise BadInput(self.key, f"{detail[:1].upper()}{detail[1:]}.")

    async def fetch(self, credential: Credential, ref: WhmcsRef) -> TicketView:
        """Fetch one ticket by id or number, replies in the order asked for."""
        key = self._credential_key(credential)
        held = self._rejected.get(key)
        if held is not None:
            raise CredentialsRejected(
                self.key,
                f"{held}; not tried again for now, as repeated failed logins make WHMCS ban "
                "the bot's IP",
            )
        answer = await self._get_ticket(
            credential,
            {ref.by: ref.value, "repliessort": "DESC" if ref.newest_first else "ASC"},
        )
        try:
            payload = self._read(answer, credential, ref)
        except CredentialsRejected as exc:
            self._rejected[key] = exc.detail
            raise
        try:
            ticket = WhmcsTicket.model_validate(payload)
        except ValidationError as exc:
            log.warning("unreadable WHMCS ticket: %d problem(s)", exc.error_count())
            raise BadAnswer(self.key, "the ticket could not be read") from None
        if ticket.number is None and not ticket.tid:
            raise BadAnswer(self.key, "the answer is not a ticket")
        return to_view(ticket, ref)

    # -- answers -----------------------------------------------------------------------------

    def _read(
        self, answer: HttpAnswer, credential: Credential, ref: WhmcsRef | None
    ) -> dict[str, Any]:
        """
        The success payload, or the typed error. `ref` None is the save-time probe, for which
        "Ticket ID Not Found" is the expected answer (an empty payload is returned).
        """
        status = answer.status
        if 300 <= status < 400:
            raise BadAnswer(self.key, self._redirect_detail(answer, credential))
        payload = _decode(answer)
        if payload is None:
            if status in (401, 403):
                raise NotPermitted(
                    self.key,
                    f"HTTP {status} without a WHMCS answer: a firewall, WAF or proxy in front "
                    "of WHMCS may be blocking the bot",
                )
            raise BadAnswer(self.key, f"no WHMCS API answered at that URL (HTTP {status})")
        result = str(payload.get("result") or "").strip().lower()
        if result == "error":
            message = payload.get("message")
            error = self._error_for(message if isinstance(message, str) else "", credential, ref)
            if error is None:
                return {}
            raise error
        if result != "success" or status != 200:
            raise BadAnswer(self.key, f"no WHMCS API answered at that URL (HTTP {status})")
        return payload

    def _error_for(
        self, message: str, credential: Credential, ref: WhmcsRef | None
    ) -> TicketLensError | None:
        low = " ".join(message.split()).lower()
        shown = self._clean(message, credential)
        if low.startswith("ticket id not found"):
            return None if ref is None else TicketNotFound(self.key, ref.label)
        if low.startswith(_REJECTING):
            return CredentialsRejected(self.key, shown)
        if low.startswith(("invalid ip", "ip banned", "invalid permissions", "access denied")):
            return NotPermitted(self.key, shown)
        if not shown:
            return NotPermitted(self.key, "WHMCS reported an error without a message")
        return NotPermitted(self.key, f"WHMCS said: {shown}")

    def _clean(self, text: str, credential: Credential) -> str:
        """An upstream message as we may show it: secrets masked, one line, bounded."""
        self.redactor.add(*self.secrets_of(credential))
        line = " ".join(self.redactor.redact(text).split())
        return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 1] + "…"

    def _redirect_detail(self, answer: HttpAnswer, credential: Credential) -> str:
        where = ""
        try:
            location = URL(answer.headers.get("Location", "").strip())
        except (TypeError, ValueError):
            location = None
        if location is not None and location.is_absolute() and location.host:
            origin = f"{location.scheme}://{location.host}"
            where = f" to {self._clean(origin, credential)}"
        elif location is not None and str(location):
            where = " to another page of the same site"
        return (
            f"WHMCS answered with a redirect (HTTP {answer.status}){where}, which TicketLens "
            "does not follow"
        )

    # -- advice ------------------------------------------------------------------------------

    def explain(self, error: TicketLensError) -> str | None:
        """What to do about WHMCS's own failure modes."""
        detail = error.detail.lower()
        configure = f"`/ticketconfig set provider:{self.key}`"
        if isinstance(error, TicketNotFound):
            if error.ticket_ref.startswith("id:"):
                return (
                    "TicketLens looked it up by **id**, the internal ticket ID (as in the admin "
                    "area's ticket URL). For the ticket number customers see, such as "
                    "`ABC-123456`, use `number:` instead."
                )
            return (
                "TicketLens looked it up by **number**, the ticket number customers see. For "
                "the internal ticket ID, use `id:` instead."
            )
        if isinstance(error, NotPermitted):
            if detail.startswith("invalid ip"):
                return (
                    "WHMCS only answers API calls from allowed IP addresses. A WHMCS admin can "
                    "allow the bot's IP address (the one named above) under **Setup → General "
                    "Settings → Security → API IP Access Restriction** (one address per line, "
                    "no ranges), or set `$api_access_key` in WHMCS's configuration.php and "
                    f"enter it as **Access key (optional)** with {configure}."
                )
            if detail.startswith("ip banned"):
                return (
                    "WHMCS bans an IP address for a while (15 minutes by default) after 3 failed "
                    "logins within 30 minutes. Check the stored credentials, then wait or ask a "
                    "WHMCS admin to lift the ban on the bot's IP address."
                )
            if detail.startswith("invalid permissions"):
                return (
                    "Give the API credential's role the **GetTicket** permission (Tickets "
                    "group) in WHMCS's API roles."
                )
            if detail.startswith("access denied"):
                return (
                    "The WHMCS admin behind the API credential needs the **API Access** permission."
                )
            if detail.startswith("http 40"):
                return (
                    "Ask whoever runs the WHMCS site to let the bot's requests to "
                    "`/includes/api.php` through."
                )
            return None
        if isinstance(error, CredentialsRejected):
            if detail.startswith("invalid access key"):
                return (
                    "The access key must match `$api_access_key` in WHMCS's configuration.php; "
                    f"leave it empty if that is not set. Replace it with {configure}."
                )
            return (
                "Use an API credential (identifier and secret from WHMCS's **Manage API "
                "Credentials** page), not an admin username and password."
            )
        if isinstance(error, BadAnswer | BadInput) and "redirect" in detail:
            # BadAnswer's own text does not show the detail; BadInput's does.
            said = (
                f"{error.detail[:1].upper()}{error.detail[1:]}. "
                if isinstance(error, BadAnswer)
                else ""
            )
            return (
                f"{said}The credentials only ever go to the address that was entered, so a "
                "member with **Manage Server** needs to enter the address WHMCS answers on "
                f"directly (check https:// and www.) with {configure}."
            )
        if isinstance(error, BadInput) and detail.startswith("the url was refused"):
            return f"A member with **Manage Server** can enter another URL with {configure}."
        if isinstance(error, BadInput) and detail.startswith("no whmcs api answered"):
            return (
                "Enter the address of the WHMCS install itself (what comes before `/admin` or "
                "`/clientarea.php`), such as `https://billing.example.com`."
            )
        return None


def _decode(answer: HttpAnswer) -> dict[str, Any] | None:
    """The answer as a dict with `result`: JSON, or the NVP/XML WHMCS uses for early errors."""
    text = answer.text.strip()
    if text.startswith("{"):
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):
            payload = None
        return payload if isinstance(payload, dict) else None
    if text.startswith("<"):
        result = _XML_RESULT_RE.search(text)
        if result is None:
            return None
        message = _XML_MESSAGE_RE.search(text)
        return {
            "result": html.unescape(result.group(1)),
            "message": html.unescape(message.group(1)) if message else "",
        }
    if len(text) <= 4096:
        result = _NVP_RESULT_RE.search(text)
        if result is not None:
            message = _NVP_MESSAGE_RE.search(text)
            return {"result": result.group(1), "message": message.group(1) if message else ""}
    return None


# -- the view -------------------------------------------------------------------------------


def _date(value: str) -> str:
    value = value.strip()
    return "" if value in _NO_DATE else value


def _format_of(text: str) -> TextFormat:
    return TextFormat.HTML if _HTML_TAG_RE.search(text) else TextFormat.MARKDOWN


def _with_attachments(body: str, fmt: TextFormat, names: list[str], removed: bool) -> str:
    if not names:
        return body
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    line = f"📎 {shown}" + (" (files removed)" if removed else "")
    if fmt is TextFormat.HTML:
        return f"{body}<br><br>{html.escape(line)}"
    escaped = _MARKDOWN_CHARS_RE.sub(r"\\\1", line)
    return f"{body}\n\n{escaped}"


def _entry(
    author: str, date: str, text: str, names: list[str], removed: bool, **kind: Any
) -> ViewEntry:
    fmt = _format_of(text)
    body = text.strip() or "(no text)"
    label = f"{author} · {date}" if date else author
    return ViewEntry(
        author=label, body=_with_attachments(body, fmt, names, removed), format=fmt, **kind
    )


def _reply_entry(reply: WhmcsReply) -> ViewEntry:
    if reply.by_staff:
        name = reply.admin.strip() or reply.requestor_name.strip() or reply.name.strip() or "Staff"
        kind = EntryKind.STAFF
    else:
        name = reply.requestor_name.strip() or reply.name.strip() or "Customer"
        requestor_type = reply.requestor_type.strip()
        if requestor_type:
            name = f"{name} ({requestor_type})"
        kind = EntryKind.CUSTOMER
    return _entry(
        name,
        _date(reply.date),
        reply.message,
        reply.attachment_names,
        reply.attachments_removed,
        kind=kind,
        audience=Audience.REQUESTER,
    )


def _note_entry(note: WhmcsNote) -> ViewEntry:
    return _entry(
        note.admin.strip() or "Staff",
        _date(note.date),
        note.message,
        note.attachment_names,
        note.attachments_removed,
        kind=EntryKind.INTERNAL_NOTE,
        audience=Audience.STAFF,
    )


def _by_id(items: list[Any], id_of: Any) -> tuple[list[Any], bool]:
    """Oldest first by numeric id (the order WHMCS stores them in), and whether that worked."""
    try:
        return sorted(items, key=lambda item: int(id_of(item))), True
    except ValueError:
        return list(items), False


def timeline(ticket: WhmcsTicket, *, newest_first: bool) -> list[ViewEntry]:
    """
    Replies and notes in one conversation, oldest first or newest first.

    Replies are ordered by id (the opening message, id 0, first), whatever order the install
    sent (7.x ignores the sort for notes); notes are placed among them by date.
    """
    replies, sorted_ok = _by_id(ticket.replies, lambda r: r.replyid)
    if newest_first and not sorted_ok:
        replies.reverse()  # sent newest first and the ids are unusable: oldest first again
    notes, _ = _by_id(ticket.notes, lambda n: n.noteid)
    merged: list[ViewEntry] = []
    n = 0
    for reply in replies:
        reply_date = _date(reply.date)
        while n < len(notes) and reply_date and "" < _date(notes[n].date) < reply_date:
            merged.append(_note_entry(notes[n]))
            n += 1
        merged.append(_reply_entry(reply))
    merged.extend(_note_entry(note) for note in notes[n:])
    if newest_first:
        merged.reverse()
    return merged


def _requester(ticket: WhmcsTicket) -> str:
    name = (
        ticket.requestor_name.strip()
        or ticket.owner_name.strip()
        or ticket.name.strip()
        or "Unknown"
    )
    requestor_type = ticket.requestor_type.strip()
    return f"{name} ({requestor_type})" if requestor_type else name


def _service(value: str) -> str:
    value = value.strip()
    if len(value) > 1 and value[1:].isdigit():
        if value[0] in "Ss":
            return f"Service #{value[1:]}"
        if value[0] in "Dd":
            return f"Domain #{value[1:]}"
    return value


def to_view(ticket: WhmcsTicket, ref: WhmcsRef) -> TicketView:
    """
    The neutral view. Public (a `public:true` post): subject, status, priority, department,
    dates and reply count. The requester, the conversation and attachments are for the asker
    (who is staff: WHMCS is staff only); email, CC, flag and notes are staff-tagged.
    """
    number = str(ticket.number) if ticket.number is not None else ""
    tid = ticket.tid.strip() or number or ref.value
    status = ticket.status.strip() or "Unknown"
    replies = [r for r in ticket.replies if not r.is_opening]
    names = [name for r in ticket.replies for name in r.attachment_names]
    if not ticket.replies:
        names = attachment_names(ticket.attachment, ticket.attachments)
    removed = any(r.attachments_removed for r in ticket.replies) or ticket.attachments_removed
    attachments = str(len(names)) if names else "None"
    if names and removed:
        attachments += " (files removed)"

    fields: list[ViewField] = [
        ViewField(name="Status", value=status),
        ViewField(name="Priority", value=ticket.priority.strip() or "—"),
        ViewField(name="Department", value=ticket.deptname.strip() or "—"),
        ViewField(name="Requester", value=_requester(ticket), audience=Audience.REQUESTER),
    ]
    email = ticket.requestor_email.strip() or ticket.email.strip()
    if email:
        fields.append(ViewField(name="Email", value=email, audience=Audience.STAFF))
    if ticket.cc.strip():
        fields.append(ViewField(name="CC", value=ticket.cc.strip(), audience=Audience.STAFF))
    fields += [
        ViewField(name="Created", value=_date(ticket.date) or "—"),
        ViewField(name="Last reply", value=_date(ticket.lastreply) or "—"),
        ViewField(name="Replies", value=str(len(replies))),
        ViewField(
            name="Flagged to",
            value=f"Admin #{ticket.flag}" if ticket.flag else "Nobody",
            audience=Audience.STAFF,
        ),
    ]
    if ticket.admin.strip():
        fields.append(
            ViewField(name="Opened by staff", value=ticket.admin.strip(), audience=Audience.STAFF)
        )
    fields.append(ViewField(name="Attachments", value=attachments, audience=Audience.REQUESTER))
    if _service(ticket.service):
        fields.append(
            ViewField(name="Related to", value=_service(ticket.service), audience=Audience.STAFF)
        )

    subject = ticket.subject.strip()
    id_part = f" (id {number})" if number and number != tid else ""
    return TicketView(
        provider=Whmcs.key,
        provider_label=Whmcs.label,
        ticket_id=tid,
        title=f"Ticket #{tid}: {subject}" if subject else f"Ticket #{tid}",
        colour=_STATUS_COLOURS.get(status.lower(), _DEFAULT_COLOUR),
        fields=tuple(fields),
        entries=tuple(timeline(ticket, newest_first=ref.newest_first)),
        entries_title="Conversation",
        footer=f"WHMCS · ticket #{tid}{id_part} · {status} · times are WHMCS server time",
    )
