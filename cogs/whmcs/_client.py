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
from cogs.whmcs._advice import explain
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
PHP_NOTICES: Final = (
    "WHMCS answered, but with PHP warnings before the data: check its error display settings"
)


class WhmcsSettings(ProviderSettings):
    """`WHMCS_*` settings."""

    model_config = SettingsConfigDict(env_prefix="WHMCS_")

    rate_per_s: float = 2.0


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

    key = "whmcs"
    label = "WHMCS"
    credential_fields = (
        CredentialField(
            "url",
            "WHMCS URL",
            kind=FieldKind.URL,
            placeholder="https://billing.example.com",
            max_length=300,
        ),
        # Half of the login: masked like the secret.
        CredentialField("identifier", "API identifier", kind=FieldKind.SECRET, max_length=128),
        CredentialField("secret", "API secret", kind=FieldKind.SECRET, max_length=128),
        CredentialField(
            "accesskey",
            "Access key (optional)",
            kind=FieldKind.SECRET,
            required=False,
            placeholder="Only if $api_access_key is set in configuration.php",
            max_length=128,
        ),
    )
    visibility = Visibility(public_allowed=True, staff_only=True)
    secret_params = frozenset({"identifier", "secret", "accesskey"})

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
            raise BadInput("The stored WHMCS URL is not a valid URL.") from None
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

    async def verify(self, credential: Credential) -> None:
        """
        `GetTicket` for ticket id 0 must answer "Ticket ID Not Found", which proves the
        credentials (with an API role that only allows GetTicket, too). The core has checked
        the URL against the address rules before this is called.
        """
        if not credential.get("identifier") or not credential.get("secret"):
            raise BadInput("The API identifier and the API secret are both needed.")
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
        raise BadInput(f"{detail[:1].upper()}{detail[1:]}.")

    async def fetch(self, credential: Credential, ref: WhmcsRef) -> TicketView:
        """Fetch one ticket by id or number, replies in the order asked for."""
        key = fingerprint_of(credential)
        held = self._rejected.get(key)
        if held is not None:
            raise CredentialsRejected(
                f"{held}; not tried again for now, as repeated failed logins make WHMCS ban "
                "the bot's IP"
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
                    f"HTTP {status} without a WHMCS answer: a firewall, WAF or proxy in front "
                    "of WHMCS may be blocking the bot",
                )
            if _PHP_NOTICE_RE.search(_body_text(answer)):
                raise BadAnswer(PHP_NOTICES)
            raise BadAnswer(f"no WHMCS API answered at that URL (HTTP {status})")
        result = str(payload.get("result") or "").strip().lower()
        if result == "error":
            message = payload.get("message")
            error = self._error_for(message if isinstance(message, str) else "", credential, ref)
            if error is None:
                return {}
            raise error
        if result != "success" or status != 200:
            raise BadAnswer(f"no WHMCS API answered at that URL (HTTP {status})")
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
            return NotPermitted("WHMCS reported an error without a message")
        return NotPermitted(f"WHMCS said: {shown}")

    def _redirect_detail(self, answer: HttpAnswer, credential: Credential) -> str:
        where = ""
        try:
            location = URL(answer.headers.get("Location", "").strip())
        except (TypeError, ValueError):
            location = None
        if location is not None and location.is_absolute() and location.host:
            origin = f"{location.scheme}://{location.host}"
            where = f" to {self.quote(origin, credential, limit=MESSAGE_LIMIT)}"
        elif location is not None and str(location):
            where = " to another page of the same site"
        return (
            f"WHMCS answered with a redirect (HTTP {answer.status}){where}, which TicketLens "
            "does not follow"
        )

    def explain(self, error: TicketLensError) -> str | None:
        """What to do about WHMCS's own failure modes (`_advice`)."""
        return explain(error, key=self.key)


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
