"""
teambattles.gg: `GET /tickets/{ticketId}`, and its answers -> typed errors.

What each answer means, and where that is documented: docs/providers/teambattles.md.
"""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic_settings import SettingsConfigDict

from bot.errors import (
    BadAnswer,
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
    CredentialScope,
    FieldKind,
    Provider,
    TicketView,
    Visibility,
)
from bot.providers.parsing import path_segment, read_model
from bot.settings import ProviderSettings
from cogs.teambattles._models import TbTicket, parse_ref
from cogs.teambattles._view import to_view

KEY_PREFIX: Final = "tb_"
#: `tb_` then the key proper (64 hex digits today; any visible ASCII but space is accepted, so a
#: change of format upstream does not lock members out). Nothing that could break a header.
_KEY_RE: Final = re.compile(r"tb_[\x21-\x7e]{1,300}")
#: An id no ticket has: for a good key the answer is 404 TICKET_NOT_FOUND.
PROBE_ID: Final = "ticketlenskeycheck00000000000000"

# What we tell the member, by cause (each a distinct `detail`, matched again in `explain`).
# Our words, so `Msg`s: shown in the reader's language wherever the core words a detail.
KEY_FORMAT: Final = Msg("a TeamBattles API key starts with tb_")
KEY_INVALID: Final = Msg("the API key is not valid or was revoked")
KEY_EXPIRED: Final = Msg("the API key has expired")
KEY_MISSING: Final = Msg("no API key was sent")
KEY_PAUSED: Final = Msg("the API key is paused")
SCOPE: Final = Msg("the API key lacks the tickets.read:read permission")
PLAN: Final = Msg("the key's developer plan does not include this")
NOT_YOURS: Final = Msg("not found, or not a ticket of this account")
ACCESS_DENIED: Final = Msg("access denied")

# Each advice is one whole text (no pieces joined), so each language words it as one; the
# sentence on replacing a key ends several of them.
ADVICE: Final[dict[str, str]] = {
    KEY_FORMAT: Msg(
        "Copy the whole key: it starts with `tb_` and is shown once, when it is created in "
        "your TeamBattles developer settings."
    ),
    KEY_INVALID: Msg(
        "Create a new key in your TeamBattles developer settings. A member's own key is "
        "replaced with `/ticketaccount link provider:teambattles`, the server's shared team "
        "key with `/ticketconfig set provider:teambattles`."
    ),
    KEY_EXPIRED: Msg(
        "Create a new key (or extend this one) on TeamBattles. A member's own key is replaced "
        "with `/ticketaccount link provider:teambattles`, the server's shared team key with "
        "`/ticketconfig set provider:teambattles`."
    ),
    KEY_MISSING: Msg(
        "A member's own key is replaced with `/ticketaccount link provider:teambattles`, the "
        "server's shared team key with `/ticketconfig set provider:teambattles`."
    ),
    KEY_PAUSED: Msg("Resume the key in your TeamBattles developer settings, then try again."),
    SCOPE: Msg(
        "TicketLens reads tickets with the **Tickets: Read** permission (`tickets.read:read`). "
        "Give the key that permission in your TeamBattles developer settings (or create a new "
        "key with it). A member's own key is replaced with "
        "`/ticketaccount link provider:teambattles`, the server's shared team key with "
        "`/ticketconfig set provider:teambattles`."
    ),
    PLAN: Msg("The key's TeamBattles developer plan does not allow this request."),
}
NOT_FOUND_ADVICE: Final = Msg(
    "TeamBattles answers the same either way: the ticket was not found, or not a ticket of this "
    "account (a key reads only its owner's tickets)."
)


class TeamBattlesSettings(ProviderSettings):
    """`TEAMBATTLES_*` settings."""

    model_config = SettingsConfigDict(env_prefix="TEAMBATTLES_")

    base_url: str = "https://teambattles.gg/api/v1"
    #: TeamBattles meters each key with a token bucket that depends on its developer plan (Free:
    #: bursts of 60, then 1/s); its 429s carry Retry-After, which the HTTP layer waits out.
    rate_per_s: float = 5.0


class TeamBattles(Provider[str]):
    """A key's owner's support tickets: owner-scoped, so never posted publicly."""

    key = "teambattles"
    label = "TeamBattles"
    scope = CredentialScope.MEMBER
    credential_fields = (
        CredentialField(
            "api_key", Msg("API key"), kind=FieldKind.SECRET, placeholder="tb_…", max_length=300
        ),
    )
    visibility = Visibility(public_allowed=False)
    secret_headers = frozenset({"authorization"})

    def __init__(self, http: Http, settings: TeamBattlesSettings) -> None:
        super().__init__(http, settings)
        self.base = settings.base_url.rstrip("/")

    def parse_ref(self, text: str) -> str:
        """The ticket id (its document id); BadInput for a ticket number or anything else."""
        return parse_ref(text)

    async def _get(self, credential: Credential, ref: str) -> HttpAnswer:
        key = credential.get("api_key", "")
        return await self.http.request(
            "GET",
            f"{self.base}/tickets/{path_segment(ref)}",
            credential=credential,
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        )

    async def verify(self, credential: Credential) -> None:
        """
        Refuse a key that does not start with `tb_` (no request); then look up an id no ticket
        has: 404 TICKET_NOT_FOUND proves the key and its `tickets.read:read` permission.
        """
        key = credential.get("api_key", "")
        if not key.startswith(KEY_PREFIX):
            raise CredentialsRejected(KEY_FORMAT)
        if not _KEY_RE.fullmatch(key):
            raise CredentialsRejected(KEY_INVALID)
        answer = await self._get(credential, PROBE_ID)
        if answer.status == 404 and _code(answer) == "ticket_not_found":
            return
        try:
            _raise_for(answer, PROBE_ID)
        except TicketNotFound:
            # A 404 with another body (a wrong TEAMBATTLES_BASE_URL?) proves nothing.
            raise BadAnswer(f"HTTP {answer.status}") from None

    async def fetch(self, credential: Credential, ref: str) -> TicketView:
        """Fetch ticket `ref` (already validated by `parse_ref`)."""
        answer = await self._get(credential, ref)
        _raise_for(answer, ref)
        ticket = read_model(TbTicket, answer.json(), is_ticket=lambda p: "id" in p)
        return to_view(ticket, provider=self.key, provider_label=self.label)

    def explain(self, error: TicketLensError) -> str | None:
        """The owner-scoped 404's meaning, and what to do about key problems."""
        if isinstance(error, TicketNotFound):
            return NOT_FOUND_ADVICE
        return ADVICE.get(error.detail)


def _raise_for(answer: HttpAnswer, ref: str) -> None:
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
        raise CredentialsRejected(detail)
    if status == 403:
        if code in ("api_key_permission_denied", "insufficient_scope") or (
            "tickets.read" in _details(answer)
        ):
            raise NotPermitted(SCOPE)
        if code == "api_key_muted":
            raise NotPermitted(KEY_PAUSED)
        if code in ("api_plan_required", "api_feature_required"):
            raise NotPermitted(PLAN)
        if code == "ticket_access_denied":
            raise TicketNotFound(ref, NOT_YOURS)
        raise NotPermitted(ACCESS_DENIED)
    if status in (400, 404):
        # Owner-scoped: a missing ticket and someone else's both answer 404.
        raise TicketNotFound(ref, NOT_YOURS)
    raise BadAnswer(f"HTTP {status}")


def _payload(answer: HttpAnswer) -> dict[str, Any]:
    try:
        payload = answer.json()
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
