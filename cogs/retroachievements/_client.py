"""RetroAchievements: `API_GetTicketData` -> TicketView, and its errors -> typed errors."""

from __future__ import annotations

import logging
from typing import ClassVar

from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from bot.errors import BadAnswer, CredentialsRejected, NotPermitted, TicketNotFound
from bot.http import Fetcher, HttpAnswer, fingerprint
from bot.providers.base import (
    Audience,
    Credential,
    CredentialField,
    Provider,
    TicketView,
    ViewField,
    Visibility,
)
from bot.settings import ProviderSettings
from cogs.retroachievements._models import RaTicket

log = logging.getLogger(__name__)

SITE = "https://retroachievements.org"
MEDIA = "https://media.retroachievements.org"

# ReportState -> (label, colour). 4 is "Pending Review" (quarantined), added upstream in 2026.
STATES: dict[int, tuple[str, int]] = {
    0: ("Closed", 0x95A5A6),
    1: ("Open", 0xE67E22),
    2: ("Resolved", 0x2ECC71),
    3: ("Request", 0xF1C40F),
    4: ("Pending Review", 0x9B59B6),
}
TYPES: dict[int, str] = {1: "Triggered at the wrong time", 2: "Did not trigger"}


class RetroSettings(ProviderSettings):
    """`RETROACHIEVEMENTS_*` settings."""

    model_config = SettingsConfigDict(env_prefix="RETROACHIEVEMENTS_")

    base_url: str = Field("https://retroachievements.org/API/", pattern=r"^https?://")
    rate_per_s: float = Field(5.0, gt=0, le=100_000)


class RetroAchievements(Provider[int]):
    """Achievement tickets; public on the site, so `public:true` may post them."""

    key: ClassVar[str] = "retroachievements"
    label: ClassVar[str] = "RetroAchievements"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("username", "Username", max_length=64),
        CredentialField("api_key", "Web API key", secret=True, max_length=128),
    )
    visibility: ClassVar[Visibility] = Visibility(public_allowed=True)

    def __init__(self, fetcher: Fetcher, settings: RetroSettings) -> None:
        self.fetcher = fetcher
        self.settings = settings
        self.endpoint = settings.base_url.rstrip("/") + "/API_GetTicketData.php"

    async def _get(self, credential: Credential, params: dict[str, str]) -> HttpAnswer:
        key = credential.get("api_key", "")
        # Only `y` authenticates; `z` is ignored upstream but harmless (the JS client sends it).
        query = {**params, "y": key, "z": credential.get("username", "")}
        return await self.fetcher.request(
            self.key,
            "GET",
            self.endpoint,
            params=query,
            rate_key=fingerprint(self.key, key),
            rate_per_s=self.settings.rate_per_s,
        )

    def _raise_for(self, answer: HttpAnswer, ref: int | None) -> None:
        if answer.status == 401:
            raise CredentialsRejected(self.key, "the web API key was not accepted")
        if answer.status == 403:
            raise NotPermitted(self.key, "access denied")
        if answer.status == 404 and ref is not None:
            raise TicketNotFound(self.key, str(ref))
        if answer.status != 200:
            raise BadAnswer(self.key, f"HTTP {answer.status}")

    async def verify(self, credential: Credential) -> None:
        """The recent-tickets list (one item) answers 200 only for a valid key."""
        answer = await self._get(credential, {"c": "1"})
        self._raise_for(answer, None)

    async def fetch(self, credential: Credential, ref: int) -> TicketView:
        """Fetch ticket `ref` (already validated >= 1)."""
        answer = await self._get(credential, {"i": str(ref)})
        self._raise_for(answer, ref)
        payload = answer.json(self.key)
        if not isinstance(payload, dict) or not ({"ID", "id"} & payload.keys()):
            # A non-ticket 200 (e.g. the recent list) means the id was not understood.
            raise BadAnswer(self.key, "the answer is not a ticket")
        try:
            ticket = RaTicket.model_validate(payload)
        except ValidationError as exc:
            log.warning("unreadable RetroAchievements ticket: %d problem(s)", exc.error_count())
            raise BadAnswer(self.key, "the ticket could not be read") from None
        return to_view(ticket)


def to_view(ticket: RaTicket) -> TicketView:
    """The neutral view of an achievement ticket (every part public, as on the site)."""
    state_label, colour = STATES.get(
        -1 if ticket.report_state is None else ticket.report_state, ("Unknown", 0x607D8B)
    )
    state = ticket.report_state_description or state_label
    report_type = ticket.report_type_description or TYPES.get(
        -1 if ticket.report_type is None else ticket.report_type, "Unknown"
    )
    url = ticket.url if ticket.url and ticket.url.startswith("https://") else None
    achievement = ticket.achievement_title or f"Achievement {ticket.achievement_id or '?'}"
    points = f" · {ticket.points} points" if ticket.points is not None else ""
    achievement_text = f"{achievement}{points}"
    if ticket.achievement_desc:
        achievement_text += f"\n{ticket.achievement_desc}"
    game = ticket.game_title or "Unknown game"
    if ticket.console_name:
        game += f" ({ticket.console_name})"
    hardcore = {True: "Yes", False: "No (softcore)", None: "Unknown"}[ticket.hardcore]
    resolved: list[ViewField] = []
    if ticket.resolved_at is not None:
        resolved.append(ViewField(name="Resolved", value=ticket.resolved_at))
    if ticket.resolved_by:
        resolved.append(ViewField(name="Resolved by", value=ticket.resolved_by))
    fields = (
        ViewField(name="Achievement", value=achievement_text, inline=False),
        ViewField(name="Game", value=game, inline=False),
        ViewField(name="State", value=state),
        ViewField(name="Type", value=report_type),
        ViewField(name="Hardcore", value=hardcore),
        ViewField(name="Reporter", value=ticket.reported_by or "Unknown"),
        ViewField(name="Achievement author", value=ticket.achievement_author or "Unknown"),
        ViewField(name="Reported", value=ticket.reported_at or "Unknown"),
        *resolved,
    )
    badge = f"{MEDIA}/Badge/{ticket.badge_name}.png" if ticket.badge_name else None
    return TicketView(
        provider=RetroAchievements.key,
        provider_label=RetroAchievements.label,
        ticket_id=str(ticket.id),
        title=f"Ticket #{ticket.id}: {achievement}",
        url=url or f"{SITE}/ticket/{ticket.id}",
        colour=colour,
        description=ticket.report_notes or "",
        description_audience=Audience.PUBLIC,
        thumbnail_url=badge,
        fields=fields,
        timestamp=ticket.reported_at,
        footer=f"RetroAchievements · ticket #{ticket.id} · {state}",
    )
