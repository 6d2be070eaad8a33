"""
WHMCS: `GetTicket` over HTTP, and its answers -> typed errors (API facts: docs/providers/whmcs.md).

One POST to `{url}/includes/api.php` per lookup (form-encoded, `responsetype=json`). WHMCS
answers errors with `"result": "error"` and a message, with HTTP 200 or 403 depending on the
install and the check that failed: the body decides, not the status. The URL is the guild's
(a `FieldKind.URL` field), so the core checks it when it is saved and binds our client
untrusted: https, public addresses only, checked at connect time, redirects never followed
(see `bot.netguard`).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from cachetools import TTLCache
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
from bot.http import Http, HttpAnswer
from bot.i18n import Msg
from bot.providers.base import (
    Credential,
    CredentialField,
    FieldKind,
    Provider,
    TicketView,
    Visibility,
    fingerprint_of,
)
from bot.providers.parsing import read_model
from bot.settings import ProviderSettings
from cogs.whmcs._advice import capitalised, explain
from cogs.whmcs._models import WhmcsTicket, is_ticket
from cogs.whmcs._view import to_view

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

_NVP_RESULT_RE = re.compile(r"(?:^|;)\s*result=([^;]*)", re.IGNORECASE)
_NVP_MESSAGE_RE = re.compile(
    r"(?:^|;)\s*message=(.*?)(?=;\s*[a-z_]+=|$)", re.IGNORECASE | re.DOTALL
)
_XML_RESULT_RE = re.compile(r"<result>\s*(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?\s*</result>", re.DOTALL)
_XML_MESSAGE_RE = re.compile(r"<message>\s*(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?\s*</message>", re.DOTALL)
# What PHP prints for a notice, in text or HTML error display ("Warning: ..." or
# "<b>Deprecated</b>:  ..."), at the start of a line.
_PHP_NOTICE_RE = re.compile(
    r"(?:^|\n|<br\s*/?>)\s*(?:<b>)?(?:PHP )?"
    r"(?:Deprecated|Warning|Notice|Strict Standards|Fatal error|Parse error)(?:</b>)?:",
    re.IGNORECASE,
)
_JSON: Final = json.JSONDecoder()

#: An install that prints PHP notices into its answers, and no WHMCS answer after them.
PHP_NOTICES: Final = Msg(
    "WHMCS answered, but with PHP warnings before the data: check its error display settings"
)


class WhmcsSettings(ProviderSettings):
    """`WHMCS_*` settings."""

    model_config = SettingsConfigDict(env_prefix="WHMCS_")

    rate_per_s: float = 2.0
    # 5% of `rate_per_s` (2/s = 120/min): every WHMCS API call logs in and writes the install's
    # API log, on the customer's own server.
    watch_budget_per_min: int = 6


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


#: Ticket numbers come from an admin-defined mask (at most 15 characters, but `%i` and `%y`
#: expand); no fixed pattern is safe, so only the length is bounded.
NUMBER_MAX = 64

ONE_OF = Msg(
    "Give exactly one of `id` (the internal ticket ID, as in the admin area) or `number` "
    "(the ticket number customers see, such as `ABC-123456`)."
)
ID_FORMAT = Msg("A WHMCS ticket id is a whole number, 1 or more.")


def make_ref(ticket_id: int | None, number: str | None, replies: str) -> WhmcsRef:
    """The lookup for these options, or `BadInput` (nothing is sent upstream then)."""
    number = (number or "").strip().lstrip("#").strip() or None
    if (ticket_id is None) == (number is None):
        raise BadInput(ONE_OF)
    if replies not in ("oldest", "newest"):
        raise BadInput(Msg("`replies` is `oldest` or `newest`."))
    newest_first = replies == "newest"
    if ticket_id is not None:
        if ticket_id < 1:
            raise BadInput(ID_FORMAT)
        return WhmcsRef("ticketid", str(ticket_id), newest_first)
    assert number is not None
    if len(number) > NUMBER_MAX or any(ch.isspace() or not ch.isprintable() for ch in number):
        raise BadInput(Msg("That is not a WHMCS ticket number (such as `ABC-123456`)."))
    return WhmcsRef("ticketnum", number, newest_first)


#: Links to a ticket on the guild's own install: the client area's `viewticket.php?tid=<number>`
#: (its `c=` access key is never read or kept) and the admin area's
#: `<admin dir>/supporttickets.php?action=view&id=<id>` (the admin directory's name is the
#: install's choice). docs/providers/whmcs.md, "Ticket links".
_URL_IN_TEXT_RE: Final = re.compile(r"https?://[^\s<>()\[\]\"'`|]+", re.IGNORECASE)


def find_refs(text: str, install: str) -> list[WhmcsRef]:
    """Links to tickets on the WHMCS at `install` (its host and path), in order, each once."""
    try:
        base = URL(install.strip())
    except (TypeError, ValueError):
        return []
    if not base.host:
        return []
    prefix = base.path.rstrip("/") + "/"
    found: dict[WhmcsRef, None] = {}
    for match in _URL_IN_TEXT_RE.finditer(text):
        try:
            url = URL(match.group(0).rstrip(".,;:!?"))
        except (TypeError, ValueError):
            continue
        if (url.host or "").lower() != base.host.lower() or url.port != base.port:
            continue
        if not url.path.startswith(prefix):
            continue
        page = url.path.rsplit("/", 1)[-1].lower()
        try:
            if page == "viewticket.php" and url.query.get("tid"):
                found.setdefault(make_ref(None, url.query["tid"], "oldest"))
            elif page == "supporttickets.php" and url.query.get("action") == "view":
                number = url.query.get("id", "")
                if number.isascii() and number.isdigit():
                    found.setdefault(make_ref(int(number), None, "oldest"))
        except BadInput:
            continue
    return list(found)


def endpoint(url: str) -> str:
    """`{url}/includes/api.php`; a URL that already ends with it is kept as is."""
    parsed = URL(url.strip())
    path = parsed.path.rstrip("/")
    if not path.endswith(API_PATH):
        path += API_PATH
    return str(parsed.with_path(path).with_query(None).with_fragment(None))


class Whmcs(Provider[WhmcsRef]):
    """Support tickets of a self-hosted WHMCS: private conversations, so staff only."""

    key = "whmcs"
    label = "WHMCS"
    credential_fields = (
        CredentialField(
            "url",
            Msg("WHMCS URL"),
            kind=FieldKind.URL,
            placeholder="https://billing.example.com",
            max_length=300,
        ),
        # Half of the login: masked like the secret.
        CredentialField("identifier", Msg("API identifier"), kind=FieldKind.SECRET, max_length=128),
        CredentialField("secret", Msg("API secret"), kind=FieldKind.SECRET, max_length=128),
        CredentialField(
            "accesskey",
            Msg("Access key (optional)"),
            kind=FieldKind.SECRET,
            required=False,
            placeholder=Msg("Only if $api_access_key is set in configuration.php"),
            max_length=128,
        ),
    )
    visibility = Visibility(public_allowed=True, staff_only=True)
    secret_params = frozenset({"identifier", "secret", "accesskey"})
    # Three failed logins in 30 minutes ban the bot's IP: one rejected check is enough.
    stop_checks_after_rejection = True

    def __init__(self, http: Http, settings: WhmcsSettings) -> None:
        super().__init__(http, settings)
        # By credential fingerprint: another credential is tried at once, and saving this one
        # again (`verify` passing) lifts its hold.
        self._rejected: TTLCache[str, str] = TTLCache(maxsize=4096, ttl=REJECTED_HOLD_S)

    # -- requests ----------------------------------------------------------------------------

    async def _get_ticket(self, credential: Credential, fields: dict[str, str]) -> HttpAnswer:
        try:
            target = endpoint(credential.get("url", ""))
        except (TypeError, ValueError):
            raise BadInput(Msg("The stored WHMCS URL is not a valid URL.")) from None
        data = {
            "action": "GetTicket",
            "responsetype": "json",
            "identifier": credential.get("identifier", ""),
            "secret": credential.get("secret", ""),
            **fields,
        }
        if credential.get("accesskey"):
            data["accesskey"] = credential["accesskey"]
        # GetTicket is a POST but only reads: safe to retry.
        return await self.http.request(
            "POST", target, credential=credential, data=data, idempotent=True
        )

    def ref_text(self, ref: WhmcsRef) -> str:
        """`i` (id) or `n` (number), `+` oldest or `-` newest replies first, then the value."""
        kind = "i" if ref.by == "ticketid" else "n"
        return f"{kind}{'-' if ref.newest_first else '+'}{ref.value}"

    def watch_ref(self, text: str) -> WhmcsRef:
        """`/ticketwatch add id:` takes the internal ticket id (digits) or the ticket number
        customers see, as `/ticket whmcs` does."""
        text = text.strip()
        if text.isascii() and text.isdigit() and len(text) <= 19:
            return make_ref(int(text), None, "oldest")
        return make_ref(None, text, "oldest")

    def parse_ref(self, text: str) -> WhmcsRef:
        """The inverse of `ref_text`, validated like the command's options."""
        kind, order, value = text[:1], text[1:2], text[2:]
        if kind not in ("i", "n") or order not in ("+", "-") or not value:
            raise BadInput(Msg("That is not a WHMCS ticket reference."))
        replies = "newest" if order == "-" else "oldest"
        if kind == "n":
            ref = make_ref(None, value, replies)
        elif not (value.isascii() and value.isdigit()) or len(value) > 19:
            raise BadInput(ID_FORMAT)
        else:
            ref = make_ref(int(value), None, replies)
        # One text per ref (no `i+007`, no padded number): what we wrote, or nothing.
        if self.ref_text(ref) != text:
            raise BadInput(Msg("That is not a WHMCS ticket reference."))
        return ref

    def id_option(self, ref: WhmcsRef) -> int | None:
        """The `id` option is the ticket id; a ticket number goes in `number` instead."""
        return int(ref.value) if ref.by == "ticketid" else None

    def find_refs(self, text: str, credential: Mapping[str, str] | None) -> list[WhmcsRef]:
        """Ticket links to this guild's own WHMCS (no credential: its host is unknown)."""
        if credential is None or not credential.get("url"):
            return []
        return find_refs(text, credential["url"])

    async def verify(self, credential: Credential) -> None:
        """
        `GetTicket` for ticket id 0 must answer "Ticket ID Not Found", which proves the
        credentials (with an API role that only allows GetTicket, too). The core has checked
        the URL against the address rules before this is called.
        """
        if not credential.get("identifier") or not credential.get("secret"):
            raise BadInput(Msg("The API identifier and the API secret are both needed."))
        key = fingerprint_of(credential)
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
        raise BadInput(_sentence(detail))

    def _refuse_if_held(self, credential: Credential) -> None:
        held = self._rejected.get(fingerprint_of(credential))
        if held is not None:
            raise CredentialsRejected(
                Msg(
                    "{reason}; not tried again for now, as repeated failed logins make WHMCS "
                    "ban the bot's IP",
                    reason=held,
                )
            )

    async def recheck(self, credential: Credential) -> None:
        """The stored credentials again, unless WHMCS rejected them in the last 15 minutes
        (three failed logins ban the bot's IP): then that rejection, without a request."""
        self._refuse_if_held(credential)
        await self.verify(credential)

    async def fetch(self, credential: Credential, ref: WhmcsRef) -> TicketView:
        """Fetch one ticket by id or number, replies in the order asked for."""
        self._refuse_if_held(credential)
        answer = await self._get_ticket(
            credential,
            {ref.by: ref.value, "repliessort": "DESC" if ref.newest_first else "ASC"},
        )
        try:
            payload = self._read(answer, credential, ref)
        except CredentialsRejected as exc:
            self._rejected[fingerprint_of(credential)] = exc.detail
            raise
        ticket = read_model(WhmcsTicket, payload, is_ticket=is_ticket)
        return to_view(ticket, ref, provider=self.key, provider_label=self.label)

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
            raise BadAnswer(self._redirect_detail(answer, credential))
        payload = _decode(answer)
        if payload is None:
            if status in (401, 403):
                raise NotPermitted(
                    Msg(
                        "HTTP {status} without a WHMCS answer: a firewall, WAF or proxy in "
                        "front of WHMCS may be blocking the bot",
                        status=status,
                    )
                )
            if _PHP_NOTICE_RE.search(_body_text(answer)):
                raise BadAnswer(PHP_NOTICES)
            raise BadAnswer(_no_api(status))
        result = str(payload.get("result") or "").strip().lower()
        if result == "error":
            message = payload.get("message")
            error = self._error_for(message if isinstance(message, str) else "", credential, ref)
            if error is None:
                return {}
            raise error
        if result != "success" or status != 200:
            raise BadAnswer(_no_api(status))
        return payload

    def _error_for(
        self, message: str, credential: Credential, ref: WhmcsRef | None
    ) -> TicketLensError | None:
        low = " ".join(message.split()).lower()
        shown = self.quote(message, credential, limit=MESSAGE_LIMIT)
        if low.startswith("ticket id not found"):
            return None if ref is None else TicketNotFound(ref.label)
        if low.startswith(_REJECTING):
            return CredentialsRejected(shown)
        if low.startswith(("invalid ip", "ip banned", "invalid permissions", "access denied")):
            return NotPermitted(shown)
        if not shown:
            return NotPermitted(Msg("WHMCS reported an error without a message"))
        return NotPermitted(Msg("WHMCS said: {message}", message=shown))

    def _redirect_detail(self, answer: HttpAnswer, credential: Credential) -> str:
        status = answer.status
        try:
            location = URL(answer.headers.get("Location", "").strip())
        except (TypeError, ValueError):
            location = None
        if location is not None and location.is_absolute() and location.host:
            origin = f"{location.scheme}://{location.host}"
            return Msg(
                "WHMCS answered with a redirect (HTTP {status}) to {origin}, which TicketLens "
                "does not follow",
                status=status,
                origin=self.quote(origin, credential, limit=MESSAGE_LIMIT),
            )
        if location is not None and str(location):
            return Msg(
                "WHMCS answered with a redirect (HTTP {status}) to another page of the same "
                "site, which TicketLens does not follow",
                status=status,
            )
        return Msg(
            "WHMCS answered with a redirect (HTTP {status}), which TicketLens does not follow",
            status=status,
        )

    def explain(self, error: TicketLensError) -> str | None:
        """What to do about WHMCS's own failure modes (`_advice`)."""
        return explain(error, key=self.key)


def _no_api(status: int) -> Msg:
    """What an answer that is not WHMCS's API is (a BadAnswer's detail)."""
    return Msg("no WHMCS API answered at that URL (HTTP {status})", status=status)


def _sentence(detail: str) -> str:
    """A BadAnswer's detail as the sentence a BadInput shows (our words kept translatable)."""
    if isinstance(detail, Msg) and detail.template == _no_api(0).template:
        return Msg("No WHMCS API answered at that URL (HTTP {status}).", **detail.values)
    detail = capitalised(detail)
    return Msg("{detail}.", detail=detail) if isinstance(detail, Msg) else f"{detail}."


def _body_text(answer: HttpAnswer) -> str:
    return answer.text.lstrip("\ufeff").strip()


def _decode(answer: HttpAnswer) -> dict[str, Any] | None:
    """
    The answer as a dict with `result`: JSON, or the NVP/XML WHMCS uses for early errors.

    A UTF-8 byte order mark in a PHP file of the install starts every answer with U+FEFF
    (which `str.strip` keeps), and PHP notices shown by the install come before the data;
    the JSON object after them (WHMCS writes `result` first) is read all the same.
    """
    text = _body_text(answer)
    if text.startswith("{"):
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):
            payload = None
        return payload if isinstance(payload, dict) else None
    start = text.find('{"result"')
    if start > 0:
        try:
            payload, _ = _JSON.raw_decode(text, start)
        except (ValueError, RecursionError):
            payload = None
        if isinstance(payload, dict):
            return payload
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
