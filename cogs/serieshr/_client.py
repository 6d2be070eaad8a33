"""series.hr: `GET /tickets/get/{ticketId}`, and its errors -> typed errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from pydantic_settings import SettingsConfigDict

from bot.errors import (
    BadAnswer,
    CredentialsRejected,
    NotPermitted,
    TicketLensError,
    TicketNotFound,
)
from bot.i18n import Msg
from bot.providers.base import (
    Audience,
    Credential,
    CredentialField,
    FieldKind,
    Provider,
    TicketView,
    Visibility,
)
from bot.providers.parsing import NOT_A_TICKET, path_segment, read_model
from bot.settings import ProviderSettings
from cogs.serieshr._models import SrTicket, find_refs, parse_ref
from cogs.serieshr._view import to_view

if TYPE_CHECKING:
    from bot.http import Http, HttpAnswer

#: An id in the documented TicketId form that no workspace has: a 404 "Ticket not found" for it
#: proves the key, the plan and the module (those are checked before the lookup).
PROBE_ID: Final = "TICKET-0-TICKETLENSCHECK"

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


class SeriesHrSettings(ProviderSettings):
    """`SERIESHR_*` settings."""

    model_config = SettingsConfigDict(env_prefix="SERIESHR_")

    base_url: str = "https://api.series.hr"
    #: The documented limit: 25 requests per second per API key.
    rate_per_s: float = 25.0
    # 4% of the documented 25/s (1 500/min): 60 polls a minute is 300 watches every 5 minutes,
    # and interactive lookups keep the rest.
    watch_budget_per_min: int = 60


class SeriesHr(Provider[str]):
    """Workspace tickets of series.hr (Roblox groups): private, staff only."""

    key = "serieshr"
    label = "series.hr"
    credential_fields = (
        CredentialField("api_key", Msg("API key"), kind=FieldKind.SECRET, max_length=200),
    )
    visibility = Visibility(public_allowed=True, staff_only=True, public_audience=Audience.PUBLIC)
    secret_headers = frozenset({"apikey"})

    def __init__(self, http: Http, settings: SeriesHrSettings) -> None:
        super().__init__(http, settings)
        self.base = settings.base_url.rstrip("/")

    def parse_ref(self, text: str) -> str:
        """A `TICKET-…` id or an object id, normalised; BadInput for anything else."""
        return parse_ref(text)

    def find_refs(self, text: str, credential: Mapping[str, str] | None) -> list[str]:
        """`TICKET-…` ids in a message."""
        return find_refs(text)

    async def _get(self, credential: Credential, ref: str) -> HttpAnswer:
        return await self.http.request(
            "GET",
            f"{self.base}/tickets/get/{path_segment(ref)}",
            credential=credential,
            # The header, never the query string: URLs end up in logs and proxies.
            headers={"apikey": credential.get("api_key", ""), "Accept": "application/json"},
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
            raise BadAnswer(f"HTTP {answer.status}") from None

    async def fetch(self, credential: Credential, ref: str) -> TicketView:
        """Fetch ticket `ref` (already validated by `parse_ref`)."""
        answer = await self._get(credential, ref)
        self._raise_for(answer, ref, credential)
        payload = answer.json()
        data = payload.get("data") if isinstance(payload, dict) else None
        raw = data.get("Ticket", data.get("ticket")) if isinstance(data, dict) else None
        ticket = read_model(SrTicket, raw)
        if ticket.shown_id is None:
            # Only readable once validated: an `_id` object or an empty `TicketId` is no id.
            raise BadAnswer(NOT_A_TICKET)
        return to_view(ticket, provider=self.key, provider_label=self.label)

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
            raise CredentialsRejected(KEY_MISSING if missing else KEY_INVALID)
        if status == 403:
            if any(w in lowered for w in ("subscription", "premium", "enterprise", "plan")):
                raise NotPermitted(PLAN)
            if "not enabled" in lowered or "disabled" in lowered:
                raise NotPermitted(MODULE)
            if any(w in lowered for w in ("key", "invalid", "inactive", "unauthori")):
                raise CredentialsRejected(KEY_INVALID)
            raise NotPermitted(self._quote(message, credential) or "HTTP 403")
        if status in (400, 404):
            raise TicketNotFound(ref)
        raise BadAnswer(f"HTTP {status}")

    def _quote(self, message: str, credential: Credential) -> str:
        """An upstream message fit to show: one line, short, never the key nor another secret."""
        text = self.quote(message, credential, limit=150)
        return f"series.hr says: {text}" if text else ""

    def explain(self, error: TicketLensError) -> str | None:
        """What to do about a plan, module or key problem."""
        return ADVICE.get(error.detail)


def _envelope(answer: HttpAnswer) -> tuple[int | None, str] | None:
    """(error.code, error.message) of a `{success:false, error:{...}}` answer, else None."""
    try:
        payload: Any = answer.json()
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
