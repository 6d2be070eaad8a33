"""
Who may use which credential and see what: the one place that decides it.

The rules themselves are pure functions over plain values (`decide`, `for_audience`, the
credential order in `Access.credential`'s docstring), so each is tested directly. `Access`
applies them to a Discord interaction: it finds out whether the member counts as staff and
which stored credential they may use. The lookup, the buttons that will re-run it, and the
`/ticketconfig` and `/ticketaccount` commands all come here; nothing else reads the staff role
or picks a credential.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import discord

from bot.errors import (
    CredentialsRejected,
    LinkedKeyRejected,
    NotConfigured,
    NotLinked,
    PolicyRefusal,
)
from bot.providers.base import (
    Audience,
    Credential,
    CredentialScope,
    Provider,
    TicketView,
    Visibility,
)
from bot.redact import Redactor
from bot.store import Store

__all__ = [
    "STAFF_ROLE",
    "Access",
    "Decision",
    "ResolvedCredential",
    "Viewer",
    "check_publishable",
    "decide",
    "for_audience",
]

#: Guild setting holding the staff role id.
STAFF_ROLE = "staff_role"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The member asking, reduced to what the rules need."""

    user_id: int
    is_staff: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one lookup: refused (with why), or allowed with an audience."""

    allowed: bool
    ephemeral: bool
    audience: Audience
    refusal: str | None = None


def decide(visibility: Visibility, viewer: Viewer, *, public_requested: bool) -> Decision:
    """Decide whether a lookup may run and how its answer is shown."""
    if visibility.staff_only and not viewer.is_staff:
        return Decision(False, True, Audience.PUBLIC, "staff_only")
    private = Audience.STAFF if viewer.is_staff else Audience.REQUESTER
    if not public_requested:
        return Decision(True, True, private)
    if not visibility.public_allowed:
        return Decision(False, True, private, "public_not_allowed")
    return Decision(True, False, visibility.public_audience)


def for_audience(
    view: TicketView, audience: Audience, *, shared_account: bool = False
) -> TicketView:
    """
    Only the parts of `view` that `audience` may see, marked when it was seen with a shared
    account. One copy of the view, and none when nothing is taken away or added.
    """
    update: dict[str, Any] = {}
    if view.description and view.description_audience > audience:
        update["description"] = ""
    fields = tuple(f for f in view.fields if f.audience <= audience)
    if len(fields) != len(view.fields):
        update["fields"] = fields
    entries = tuple(e for e in view.entries if e.audience <= audience)
    if len(entries) != len(view.entries):
        update["entries"] = entries
    if shared_account != view.shared_account:
        update["shared_account"] = shared_account
    return dataclasses.replace(view, **update) if update else view


def check_publishable(view: TicketView, decision: Decision) -> None:
    """
    A public post of a ticket its provider keeps out of public view is refused (the answer
    to the invoker alone stays allowed): `PolicyRefusal("ticket_not_public")` with the reason.
    """
    if not decision.ephemeral and view.public_refusal:
        raise PolicyRefusal("ticket_not_public", reason=view.public_refusal)


@dataclass(frozen=True, slots=True)
class ResolvedCredential:
    """A decrypted credential and whose it is."""

    values: Credential
    shared: bool
    """True when a member-scoped provider is used with the guild's shared credential."""
    scope: CredentialScope = CredentialScope.GUILD

    @property
    def fingerprint(self) -> str:
        """The credential's cache and rate key (computed once per stored credential)."""
        return self.values.fingerprint

    def rejected(self, error: CredentialsRejected) -> CredentialsRejected:
        """The error to show when the provider refused this credential: a member's own key is
        theirs to fix (`/ticketaccount link`), not an admin's."""
        if not self.shared and self.scope is CredentialScope.MEMBER:
            remapped = LinkedKeyRejected(error.detail)
            remapped.provider = error.provider
            return remapped
        return error


class Access:
    """The rules above, applied to interactions over the store."""

    def __init__(self, store: Store, redactor: Redactor) -> None:
        self._store = store
        self._redactor = redactor

    async def is_staff(self, interaction: discord.Interaction) -> bool:
        """Staff: members with Manage Server, or the role set with `/ticketconfig staffrole`."""
        if interaction.permissions.manage_guild:
            return True
        member = interaction.user
        if interaction.guild_id is None or not isinstance(member, discord.Member):
            return False
        role_id = await self._store.get_guild_setting(interaction.guild_id, STAFF_ROLE)
        # The interaction carries the member's role ids, so no member cache or intent is needed.
        return role_id is not None and any(str(role.id) == role_id for role in member.roles)

    async def viewer(self, interaction: discord.Interaction) -> Viewer:
        """The member behind `interaction`, as the rules see them."""
        return Viewer(user_id=interaction.user.id, is_staff=await self.is_staff(interaction))

    async def staff_role(self, guild_id: int) -> int | None:
        """The staff role's id in a guild, if one is set."""
        value = await self._store.get_guild_setting(guild_id, STAFF_ROLE)
        return int(value) if value is not None and value.isdigit() else None

    async def set_staff_role(self, guild_id: int, role_id: int | None) -> None:
        """Set (or with None clear) a guild's staff role."""
        await self._store.set_guild_setting(
            guild_id, STAFF_ROLE, str(role_id) if role_id is not None else None
        )

    def remember_secrets(
        self, provider: Provider[Any], credential: Credential | dict[str, str]
    ) -> None:
        """Mask this credential's secrets in every log line from now on."""
        self._redactor.add(*provider.secrets_of(credential))

    async def credential(
        self, guild_id: int | None, user_id: int, provider: Provider[Any], *, is_staff: bool
    ) -> ResolvedCredential:
        """
        The credential this member may use with `provider` here, or NotConfigured/NotLinked.

        Owner-scoped providers: the member's own linked credential first; the guild's shared
        one only for staff (it reads the team account's tickets, not the member's). Others:
        the guild's credential.
        """
        if guild_id is None:
            raise NotConfigured("not in a guild")
        scope = provider.scope
        if scope is CredentialScope.MEMBER:
            own = await self._store.get_credential(guild_id, user_id, provider.key)
            if own is not None:
                return self._resolved(provider, own, shared=False)
            shared = (
                await self._store.get_credential(guild_id, None, provider.key) if is_staff else None
            )
            if shared is None:
                raise NotLinked()
            return self._resolved(provider, shared, shared=True)
        credential = await self._store.get_credential(guild_id, None, provider.key)
        if credential is None:
            raise NotConfigured()
        return self._resolved(provider, credential, shared=False)

    def _resolved(
        self, provider: Provider[Any], values: Credential, *, shared: bool
    ) -> ResolvedCredential:
        self.remember_secrets(provider, values)
        return ResolvedCredential(values, shared=shared, scope=provider.scope)
