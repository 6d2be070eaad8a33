"""
Who may use which credential and see what: the one place that decides it.

The rules themselves are pure functions over plain values (`decide`, `for_audience`, the
credential order in `Access.credential`'s docstring), so each is tested directly. `Access`
applies them to a Discord interaction: it finds out whether the member counts as staff and
which stored credential they may use. The lookup, the buttons that will re-run it, and the
`/ticketconfig` and `/ticketaccount` commands all come here; nothing else reads the staff role
or picks a credential.

Where an interaction runs decides whose rules apply (`installed_guild`): under a server's own
installation of TicketLens, that server's credentials, staff and settings, as always; under the
member's own installation (a DM, a group DM, or a server where only the member added the app),
no server's anything: only providers that declare `user_installable`, only with the member's
own user-scope credential, nobody is staff, and a public answer only where the app may post.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

import discord
from discord import app_commands

from bot.errors import (
    CredentialsRejected,
    LinkedKeyRejected,
    NotConfigured,
    NotLinked,
    PolicyRefusal,
    TicketLensError,
)
from bot.i18n import Translate
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
from bot.wording import Wording

__all__ = [
    "STAFF_ROLE",
    "Access",
    "Decision",
    "NotInstalledHere",
    "NotLinkedForApp",
    "ResolvedCredential",
    "Viewer",
    "check_publishable",
    "decide",
    "describe_install",
    "for_audience",
    "installed_guild",
    "public_allowed_here",
]

#: Guild setting holding the staff role id.
STAFF_ROLE = "staff_role"


#: Discord's `authorizing_integration_owners` key of a server's own installation.
_GUILD_INSTALL = 0

NOT_INSTALLED_HERE: Final = Wording(
    "Only in a server with TicketLens",
    "{label} lookups work only in a server where TicketLens is installed: they use that "
    "server's credentials and rules. `/ticket help` says what works here.",
)
LINK_FOR_APP: Final = Wording(
    "Link your {label} account",
    "Here TicketLens runs as your own app, so {label} lookups use your own key. Link it with "
    "`/ticketaccount link provider:{key}` (in this chat or any DM with TicketLens); only you "
    "can use it.",
)


class NotInstalledHere(PolicyRefusal, app_commands.CheckFailure):
    """A provider that is not `user_installable`, used outside a server where TicketLens is
    installed: refused before anything runs (a check on its commands) or is fetched."""

    def __init__(self) -> None:
        super().__init__("not_installed_here")


class NotLinkedForApp(NotLinked):
    """Outside a server with TicketLens, the member has no user-scope key for the provider."""


def describe_install(error: TicketLensError, tr: Translate) -> tuple[str, str] | None:
    """Title and text for this module's errors, in `tr`'s language; None for any other."""
    provider = error.provider
    if provider is None:
        return None
    if isinstance(error, NotInstalledHere):
        return NOT_INSTALLED_HERE.say(tr, label=provider.label)
    if isinstance(error, NotLinkedForApp):
        return LINK_FOR_APP.say(tr, label=provider.label, key=provider.key)
    return None


def installed_guild(interaction: discord.Interaction) -> int | None:
    """
    The guild whose own installation of TicketLens this interaction runs under, or None when it
    runs under the member's own installation: a DM or group DM (no guild), or a server where
    only the member added the app (`authorizing_integration_owners` then names the member,
    without that guild's install). Where both are installed Discord names both: the guild's.
    """
    guild_id = interaction.guild_id
    if guild_id is None or not interaction.is_guild_integration():
        return None
    return guild_id


def public_allowed_here(interaction: discord.Interaction) -> bool:
    """
    Whether a public answer may be posted where `interaction` runs: always in a server with
    TicketLens (its own rules apply) and in DMs and group DMs (the member's own chats); in a
    server where only the member added the app, only if Discord lets the app send messages
    with embeds in that channel (the server may restrict external apps).
    """
    if installed_guild(interaction) is not None or interaction.guild_id is None:
        return True
    allowed = interaction.app_permissions
    return allowed.send_messages and allowed.embed_links


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
        """Staff: members with Manage Server, or the role set with `/ticketconfig staffrole`,
        in a server where TicketLens is installed; nobody under the member's own installation
        (Manage Server in a server without TicketLens means nothing to it)."""
        if installed_guild(interaction) is None:
            return False
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

        `guild_id` is `installed_guild`'s: None outside a server with TicketLens, where only a
        `user_installable` provider works (else NotInstalledHere), with the member's own
        user-scope credential (else NotLinkedForApp). In a server: owner-scoped providers use
        the member's own linked credential first; the guild's shared one only for staff (it
        reads the team account's tickets, not the member's). Others: the guild's credential.
        """
        if guild_id is None:
            if not provider.user_installable:
                raise NotInstalledHere()
            own = await self._store.get_user_credential(user_id, provider.key)
            if own is None:
                raise NotLinkedForApp()
            self.remember_secrets(provider, own)
            # A member's own key: rejected, it is theirs to replace (`rejected`).
            return ResolvedCredential(own, shared=False, scope=CredentialScope.MEMBER)
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
