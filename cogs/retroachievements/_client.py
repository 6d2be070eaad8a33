"""
RetroAchievements over HTTP: `API_GetTicketData` answers -> typed errors, or a ticket view.

See docs/providers/retroachievements.md for the endpoint, its parameters and its answers.
"""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from bot.errors import BadAnswer, CredentialsRejected, NotPermitted, TicketNotFound
from bot.http import Http, HttpAnswer
from bot.providers.base import (
    Credential,
    CredentialField,
    FieldKind,
    Provider,
    TicketView,
    Visibility,
)
from bot.providers.parsing import read_model
from bot.settings import ProviderSettings
from cogs.retroachievements._models import RaTicket
from cogs.retroachievements._view import to_view


class RetroSettings(ProviderSettings):
    """`RETROACHIEVEMENTS_*` settings."""

    model_config = SettingsConfigDict(env_prefix="RETROACHIEVEMENTS_")

    base_url: str = "https://retroachievements.org/API/"
    rate_per_s: float = 5.0


class RetroAchievements(Provider[int]):
    """Achievement tickets, readable by any signed-in member on the site: `public:true` may
    post them, but for quarantined (Pending Review) ones (see `_view.py`)."""

    key = "retroachievements"
    label = "RetroAchievements"
    credential_fields = (
        CredentialField("username", "Username", kind=FieldKind.PLAIN, max_length=64),
        CredentialField("api_key", "Web API key", kind=FieldKind.SECRET, max_length=128),
    )
    # The Web API key travels in the query string.
    secret_params = frozenset({"y"})
    visibility = Visibility(public_allowed=True)

    def __init__(self, http: Http, settings: RetroSettings) -> None:
        super().__init__(http, settings)
        self.endpoint = settings.base_url.rstrip("/") + "/API_GetTicketData.php"

    async def _get(self, credential: Credential, params: dict[str, str]) -> HttpAnswer:
        # Only `y` authenticates; `z` is ignored upstream but harmless (the JS client sends it).
        query = {**params, "y": credential.get("api_key", ""), "z": credential.get("username", "")}
        return await self.http.request("GET", self.endpoint, credential=credential, params=query)

    def _raise_for(self, answer: HttpAnswer, ref: int | None) -> None:
        if answer.status == 401:
            raise CredentialsRejected("the web API key was not accepted")
        if answer.status == 403:
            raise NotPermitted("access denied")
        if answer.status == 404 and ref is not None:
            raise TicketNotFound(str(ref))
        if answer.status != 200:
            raise BadAnswer(f"HTTP {answer.status}")

    async def verify(self, credential: Credential) -> None:
        """The recent-tickets list (one item) answers 200 only for a valid key."""
        answer = await self._get(credential, {"c": "1"})
        self._raise_for(answer, None)

    async def fetch(self, credential: Credential, ref: int) -> TicketView:
        """Fetch ticket `ref` (already validated >= 1)."""
        answer = await self._get(credential, {"i": str(ref)})
        self._raise_for(answer, ref)
        # A 200 without an id (e.g. the recent list) means the id was not understood.
        ticket = read_model(
            RaTicket, answer.json(), is_ticket=lambda p: bool({"ID", "id"} & p.keys())
        )
        return to_view(ticket, provider=self.key, provider_label=self.label)
