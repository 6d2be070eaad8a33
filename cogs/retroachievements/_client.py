"""
RetroAchievements over HTTP: `API_GetTicketData` answers -> typed errors, or a ticket view.

A ref is a ticket id (one ticket) or an `RaQuery` (one of the aggregate modes, see
`_aggregates.py`). See docs/providers/retroachievements.md for the endpoint, its parameters
and its answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from pydantic_settings import SettingsConfigDict

from bot.errors import BadAnswer, CredentialsRejected, NotPermitted, TicketNotFound
from bot.http import Http, HttpAnswer
from bot.i18n import Msg
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
from cogs.retroachievements import _aggregates
from cogs.retroachievements._aggregates import RaQuery, check_id
from cogs.retroachievements._models import RaTicket
from cogs.retroachievements._view import to_view

#: What `/ticketwatch add id:` takes: a ticket id in digits, as `/ticket retroachievements id:`.
_TICKET_ID: Final = re.compile(r"[0-9]{1,10}")


class RetroSettings(ProviderSettings):
    """`RETROACHIEVEMENTS_*` settings."""

    model_config = SettingsConfigDict(env_prefix="RETROACHIEVEMENTS_")

    base_url: str = "https://retroachievements.org/API/"
    rate_per_s: float = 5.0
    # A tenth of `rate_per_s` (5/s = 300/min): RetroAchievements publishes no limit, and the
    # site is run by volunteers; 30 polls a minute is 150 watches at the default 5 minutes.
    watch_budget_per_min: int = 30


class RetroAchievements(Provider[int | RaQuery]):
    """Achievement tickets, readable by any signed-in member on the site: `public:true` may
    post them, but for quarantined (Pending Review) ones and lists showing one (see
    `_view.py`, `_aggregates.py`)."""

    key = "retroachievements"
    label = "RetroAchievements"
    credential_fields = (
        CredentialField("username", Msg("Username"), kind=FieldKind.PLAIN, max_length=64),
        CredentialField("api_key", Msg("Web API key"), kind=FieldKind.SECRET, max_length=128),
    )
    # The Web API key travels in the query string.
    secret_params = frozenset({"y"})
    visibility = Visibility(public_allowed=True)
    # Any signed-in member can read tickets on the site, with their own Web API key: nothing a
    # server keeps private, so it also works in DMs with the member's own key.
    user_installable = True

    def __init__(self, http: Http, settings: RetroSettings) -> None:
        super().__init__(http, settings)
        self.endpoint = settings.base_url.rstrip("/") + "/API_GetTicketData.php"

    async def _get(self, credential: Credential, params: dict[str, str]) -> HttpAnswer:
        # Only `y` authenticates; `z` is ignored upstream but harmless (the JS client sends it).
        query = {**params, "y": credential.get("api_key", ""), "z": credential.get("username", "")}
        return await self.http.request("GET", self.endpoint, credential=credential, params=query)

    def _raise_for(self, answer: HttpAnswer, missing: TicketNotFound | None) -> None:
        """Map a non-200 answer; `missing` is what a 404 means here (None: a bad answer)."""
        if answer.status == 401:
            raise CredentialsRejected("the web API key was not accepted")
        if answer.status == 403:
            raise NotPermitted("access denied")
        if answer.status == 404 and missing is not None:
            raise missing
        if answer.status != 200:
            raise BadAnswer(f"HTTP {answer.status}")

    async def verify(self, credential: Credential) -> None:
        """The recent-tickets list (one item) answers 200 only for a valid key."""
        answer = await self._get(credential, {"c": "1"})
        self._raise_for(answer, None)

    async def fetch(self, credential: Credential, ref: int | RaQuery) -> TicketView:
        """Fetch ticket `ref`, or the aggregate `ref` names."""
        if isinstance(ref, RaQuery):
            return await self._fetch_query(credential, ref)
        answer = await self._get(credential, {"i": str(check_id(ref))})
        self._raise_for(answer, TicketNotFound(str(ref)))
        # A 200 without an id (e.g. the recent list) means the id was not understood.
        ticket = read_model(
            RaTicket, answer.json(), is_ticket=lambda p: bool({"ID", "id"} & p.keys())
        )
        return to_view(ticket, provider=self.key, provider_label=self.label)

    async def _fetch_query(self, credential: Credential, query: RaQuery) -> TicketView:
        # A 404 names what was not found: the game, achievement or user (recent and
        # most-reported never answer 404).
        answer = await self._get(credential, _aggregates.query_params(query))
        self._raise_for(answer, _aggregates.not_found(query))
        return _aggregates.read_aggregate(
            query, answer.json(), provider=self.key, provider_label=self.label
        )

    # -- references ----------------------------------------------------------------------

    def ref_text(self, ref: int | RaQuery) -> str:
        """A ticket as its id ("123"); a query as "g:123", "a:55", "u:Name", "recent", "top"."""
        return _aggregates.ref_text(ref)

    def parse_ref(self, text: str) -> int | RaQuery:
        """What `ref_text` wrote, read back strictly (BadInput for anything else)."""
        return _aggregates.parse_ref(text)

    def find_refs(self, text: str, credential: Mapping[str, str] | None) -> list[int | RaQuery]:
        """Ticket links and `[ticket=N]` shortcodes in `text`; the site's host is fixed, so
        the credential plays no part."""
        return list(_aggregates.find_refs(text))

    def remembers(self, ref: int | RaQuery) -> bool:
        """Only single tickets go into a member's history, not lists."""
        return isinstance(ref, int)

    # -- watches -------------------------------------------------------------------------

    def watch_ref(self, text: str) -> int | RaQuery:
        """One ticket, by its id: a list ("recent", "g:1", "top", "u:Name") is no ticket a
        card can show (a game's new tickets are `/ticketwatch retroachievements-game`)."""
        digits = text.strip()
        # 0 is never an id: check_id refuses it with the words it uses for any bad ticket id.
        return check_id(int(digits) if _TICKET_ID.fullmatch(digits) else 0)

    def feed_ref(self, text: str) -> int | RaQuery | None:
        """A game's tickets ("g:123") are a feed: `/ticketwatch retroachievements-game`."""
        ref = self.parse_ref(text)
        return ref if isinstance(ref, RaQuery) and ref.mode == "game" else None

    async def fetch_feed(
        self, credential: Credential, ref: int | RaQuery
    ) -> list[tuple[str, TicketView]]:
        """A game's newest tickets (the `g=` mode with details: every state, see the notes),
        each as the single ticket's view, so a Pending Review one keeps its `public_refusal`."""
        if not isinstance(ref, RaQuery) or ref.mode != "game":
            return await super().fetch_feed(credential, ref)
        answer = await self._get(credential, _aggregates.query_params(ref))
        self._raise_for(answer, _aggregates.not_found(ref))
        return [
            (
                self.ref_text(ticket.id),
                to_view(ticket, provider=self.key, provider_label=self.label),
            )
            for ticket in _aggregates.game_tickets(answer.json())
        ]
