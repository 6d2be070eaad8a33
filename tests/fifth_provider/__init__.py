"""
A fifth provider, as a newcomer would write it: one package, no edit in `bot/`.

It reads `GET {base_url}/tickets/{id}?sig=<key>` from a fake upstream in the test, so its
secret travels in a query parameter the core has never heard of (`sig`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from bot.errors import TicketNotFound
from bot.lookup import run_lookup
from bot.providers.base import (
    Credential,
    CredentialField,
    FieldKind,
    Provider,
    TicketView,
    ViewField,
    Visibility,
)
from bot.providers.extension import lookup_command, provider_setup
from bot.providers.palette import Colour, status_of
from bot.providers.parsing import path_segment, read_model
from bot.providers.values import OptText, Time
from bot.settings import ProviderSettings

if TYPE_CHECKING:
    from bot.app import TicketLensBot


class FifthSettings(ProviderSettings):
    """`FIFTH_*` settings."""

    model_config = SettingsConfigDict(env_prefix="FIFTH_")

    base_url: str = "https://fifth.invalid"


class FifthTicket(BaseModel):
    """The upstream's ticket."""

    id: str
    subject: OptText = None
    state: OptText = None
    opened: Time = None


class Fifth(Provider[str]):
    """Tickets of the fifth system."""

    key = "fifth"
    label = "Fifth"
    credential_fields = (CredentialField("token", "Token", kind=FieldKind.SECRET),)
    secret_params = frozenset({"sig"})
    visibility = Visibility(public_allowed=True)

    def __init__(self, http: Any, settings: FifthSettings) -> None:
        super().__init__(http, settings)
        self.base = settings.base_url.rstrip("/")

    async def verify(self, credential: Credential) -> None:
        """Nothing to check against in this example."""

    async def fetch(self, credential: Credential, ref: str) -> TicketView:
        """One ticket."""
        answer = await self.http.request(
            "GET",
            f"{self.base}/tickets/{path_segment(ref)}",
            credential=credential,
            params={"sig": credential.get("token", "")},
        )
        if answer.status == 404:
            raise TicketNotFound(ref)
        ticket = read_model(FifthTicket, answer.json(), is_ticket=lambda p: "id" in p)
        state, colour = status_of(ticket.state or "", {"open": ("Open", Colour.ORANGE)})
        return TicketView(
            provider=self.key,
            provider_label=self.label,
            ticket_id=ticket.id,
            title=ticket.subject or f"Ticket {ticket.id}",
            colour=colour,
            fields=(ViewField(name="State", value=state),),
            timestamp=ticket.opened,
        )


def build_command(bot: TicketLensBot, provider: Fifth) -> app_commands.Command[Any, Any, Any]:
    """`/ticket fifth id:<id>`."""

    @lookup_command("fifth", "Look up a ticket of the fifth system.", ticket_id="The ticket id.")
    async def fifth(interaction: discord.Interaction, ticket_id: str, public: bool = False) -> None:
        await run_lookup(bot, interaction, provider, ticket_id.strip(), public=public)

    return fifth


SETTINGS = (FifthSettings,)

setup = provider_setup(Fifth, FifthSettings, build_command)
