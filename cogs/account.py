"""
`/ticketaccount`: what TicketLens keeps for one member in a server, managed by that member.

`forget` deletes the member's lookup history here (what autocomplete offers them) at once;
every member has it. `link`, `unlink` and `show` are only there when a provider is
owner-scoped (scope MEMBER, e.g. TeamBattles) or works in the member's own app
(`user_installable`, below): an owner-scoped provider reads only the tickets of the key's
owner, so a key stands for its owner. Any member may link their own key in a server: it is
checked with the provider first, stored encrypted and bound to (server, member), used only for
that member's own lookups, never shown back, and deleted at once by `unlink`. Linking and
unlinking are personal: neither in the configuration audit nor posted to the log channel (the
background check, `cogs.health`, does tell the log channel once when a linked key starts
failing, naming the member without a ping). Every answer is ephemeral, in the member's language
(`bot.i18n`), like the form.

Where TicketLens is installed to the member's own account (a DM, a group DM, a server without
the bot: `bot.access.installed_guild` is None), the same commands manage the member's
user-scope keys instead, for `user_installable` providers (e.g. RetroAchievements): one per
provider, the member's everywhere outside servers with TicketLens, stored encrypted per user
(not per server), and used only there; a server with TicketLens keeps using its own
credentials. No lookup history is kept there, so `forget` has nothing to delete.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.access import NotInstalledHere, installed_guild
from bot.app import ANY_CONTEXT, ANY_INSTALL
from bot.i18n import Translate
from bot.providers.base import Credential, CredentialScope, Provider
from bot.render import render_error, render_notice
from bot.respond import send_private
from cogs.config import CredentialModal

if TYPE_CHECKING:
    from bot.app import TicketLensBot

log = logging.getLogger(__name__)


def member_providers(bot: TicketLensBot) -> list[Provider[Any]]:
    """Providers whose members link their own credential (in a server, or for the app
    installed to their account), by label."""
    return sorted(
        (
            p
            for p in bot.providers.values()
            if p.scope is CredentialScope.MEMBER or p.user_installable
        ),
        key=lambda p: p.label.lower(),
    )


class AccountModal(CredentialModal):
    """The provider's credential form, stored for the member who submits it."""

    def __init__(self, bot: TicketLensBot, provider: Provider[Any], tr: Translate) -> None:
        super().__init__(bot, provider, tr)
        self.custom_id = f"ticketlens:account:{provider.key}"

    @staticmethod
    def form_title(provider: Provider[Any], tr: Translate) -> str:
        """The form's title (before Discord's cut)."""
        return tr("Link your {label} account", label=provider.label)

    def rejected_title(self, tr: Translate) -> str:
        """The title of the answer when nothing was stored."""
        return tr("Not linked")

    def saved_title(self, tr: Translate) -> str:
        """The title of the answer once it is stored."""
        return tr("Linked")

    def unchecked_warning(self, tr: Translate) -> str:
        """Why it was stored without a check."""
        return tr(
            "{label} could not be reached to check this key just now; "
            "a lookup will tell if they work.",
            label=self.provider.label,
        )

    def rejected_text(self, tr: Translate, why: str) -> str:
        """The provider refused it (`why`: " (detail)" or "")."""
        return tr(
            "{label} did not accept this key{why}, so nothing was stored. "
            "Check and run `/ticketaccount link provider:{key}` again.",
            label=self.provider.label,
            why=why,
            key=self.provider.key,
        )

    def invalid_text(self, tr: Translate, reason: str) -> str:
        """A value the bot refuses (`reason`: a sentence saying which)."""
        return tr(
            "{reason} Nothing was stored; correct it and run "
            "`/ticketaccount link provider:{key}` again.",
            reason=reason,
            key=self.provider.key,
        )

    def owner(self, interaction: discord.Interaction) -> int | None:
        """Anyone may link their own key; it is theirs alone."""
        return interaction.user.id

    async def after_store(
        self, interaction: discord.Interaction, guild_id: int, *, unchecked: bool, tr: Translate
    ) -> str:
        """A member's own key is theirs: not a server change, so no audit and no log post."""
        return ""

    def saved_text(self, tr: Translate, warning: str) -> str:
        """What the member reads once it is stored."""
        label, key = self.provider.label, self.provider.key
        if warning:
            return tr(
                "Your {label} key was stored encrypted for this server; only you can use it. "
                "{warning}",
                label=label,
                warning=warning,
            )
        return tr(
            "Your {label} key was checked and stored encrypted for this server. Only "
            "you can use it: `/ticket {key}` now shows your own tickets. "
            "`/ticketaccount unlink provider:{key}` deletes it.",
            label=label,
            key=key,
        )


class AppAccountModal(AccountModal):
    """
    The provider's credential form for the app installed to the member's own account: checked
    like any other, then stored encrypted for the member (not for a server), and used for their
    lookups wherever no server's installation applies.
    """

    def __init__(self, bot: TicketLensBot, provider: Provider[Any], tr: Translate) -> None:
        super().__init__(bot, provider, tr)
        self.custom_id = f"ticketlens:account-app:{provider.key}"

    def saved_text(self, tr: Translate, warning: str) -> str:
        """What the member reads once it is stored."""
        label, key = self.provider.label, self.provider.key
        if warning:
            return tr(
                "Your {label} key was stored encrypted for you; only you can use it. {warning}",
                label=label,
                warning=warning,
            )
        return tr(
            "Your {label} key was checked and stored encrypted for you. Only you can use it: "
            "`/ticket {key}` works here, in DMs and in servers without TicketLens (a server "
            "with TicketLens uses its own credentials). `/ticketaccount unlink provider:{key}` "
            "deletes it.",
            label=label,
            key=key,
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Check the key with the provider, then store it encrypted for the member."""
        provider = self.provider
        credential = Credential(self.values())
        self.bot.access.remember_secrets(provider, credential)
        tr = self.bot.i18n.for_interaction(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        accepted, warning = await self._check(interaction, credential, tr)
        if not accepted:
            return
        user_id = interaction.user.id
        await self.bot.store.put_user_credential(user_id, provider.key, credential)
        log.info("%s user-scope key stored for member %s", provider.key, user_id)
        await interaction.followup.send(
            embed=render_notice(self.saved_title(tr), self.saved_text(tr, warning)),
            ephemeral=True,
        )


def build_group(bot: TicketLensBot, providers: list[Provider[Any]]) -> app_commands.Group:
    """
    The `/ticketaccount` group: `forget` always, `link`/`unlink`/`show` over the owner-scoped
    `providers` when there are any (a choice list cannot be empty).
    """
    group = app_commands.Group(
        name="ticketaccount",
        description="Your own accounts and lookup history in this server (only for you).",
        # Also with TicketLens installed to the member's account: their user-scope keys.
        allowed_installs=ANY_INSTALL,
        allowed_contexts=ANY_CONTEXT,
    )
    if providers:
        add_account_commands(bot, group, providers)

    @group.command(name="forget", description="Delete your lookup history in this server, at once.")
    async def forget(interaction: discord.Interaction) -> None:
        tr = bot.i18n.for_interaction(interaction)
        guild_id = installed_guild(interaction)
        if guild_id is None:
            text = tr(
                "TicketLens keeps no lookup history outside servers where it is installed, "
                "so there is nothing to delete here."
            )
            await send_private(interaction, render_notice(tr("No lookup history here"), text))
            return
        user_id = interaction.user.id
        deleted = await bot.store.forget_history(guild_id, user_id)
        log.info(
            "lookup history forgotten (%d entries) for member %s in guild %s",
            deleted,
            user_id,
            guild_id,
        )
        if deleted == 1:
            text = tr(
                "Deleted 1 entry of your lookup history on this server: `id` suggestions "
                "start afresh from your next lookup."
            )
        elif deleted:
            text = tr(
                "Deleted {count} entries of your lookup history on this server: `id` "
                "suggestions start afresh from your next lookup.",
                count=deleted,
            )
        else:
            text = tr("You had no lookup history on this server.")
        await send_private(interaction, render_notice(tr("Lookup history deleted"), text))

    return group


def add_account_commands(
    bot: TicketLensBot, group: app_commands.Group, providers: list[Provider[Any]]
) -> None:
    """`link`, `unlink` and `show` over the owner-scoped `providers`."""
    by_key = {p.key: p for p in providers}
    choices = [app_commands.Choice(name=p.label, value=p.key) for p in providers]

    async def unknown(interaction: discord.Interaction, key: str) -> None:
        # Discord only offers the choices, but a client can send any value.
        tr = bot.i18n.for_interaction(interaction)
        await send_private(
            interaction,
            render_error(
                tr("Not available"), tr("`{key}` has no personal accounts to link.", key=key)
            ),
        )

    async def server_credentials(interaction: discord.Interaction, chosen: Provider[Any]) -> None:
        # In a server with TicketLens a guild-scoped provider uses the server's credentials;
        # a member's own key is for where TicketLens is installed to their account.
        tr = bot.i18n.for_interaction(interaction)
        text = tr(
            "In this server TicketLens reads {label} with the server's credentials "
            "(`/ticketconfig set provider:{key}`). Your own key is for TicketLens installed to "
            "your account: run `/ticketaccount link provider:{key}` in a DM with TicketLens.",
            label=chosen.label,
            key=chosen.key,
        )
        await send_private(interaction, render_notice(tr("Uses this server's credentials"), text))

    @group.command(name="link", description="Link your own account's key (opens a form).")
    @app_commands.describe(provider="Which system your key is for.")
    @app_commands.choices(provider=choices)
    async def link(interaction: discord.Interaction, provider: str) -> None:
        chosen = by_key.get(provider)
        if chosen is None:
            await unknown(interaction, provider)
            return
        tr = bot.i18n.for_interaction(interaction)
        modal: AccountModal
        if installed_guild(interaction) is None:
            if not chosen.user_installable:
                raise NotInstalledHere().for_provider(chosen)
            modal = AppAccountModal(bot, chosen, tr)
        elif chosen.scope is not CredentialScope.MEMBER:
            await server_credentials(interaction, chosen)
            return
        else:
            modal = AccountModal(bot, chosen, tr)
        await interaction.response.send_modal(modal)

    @group.command(name="unlink", description="Delete your own key for a system, at once.")
    @app_commands.describe(provider="Which system's key to delete.")
    @app_commands.choices(provider=choices)
    async def unlink(interaction: discord.Interaction, provider: str) -> None:
        chosen = by_key.get(provider)
        if chosen is None:
            await unknown(interaction, provider)
            return
        tr = bot.i18n.for_interaction(interaction)
        user_id = interaction.user.id
        guild_id = installed_guild(interaction)
        if guild_id is None:
            if not chosen.user_installable:
                raise NotInstalledHere().for_provider(chosen)
            removed = await bot.store.delete_user_credential(user_id, chosen.key)
            log.info("%s user-scope key unlinked=%s by member %s", chosen.key, removed, user_id)
            if removed:
                title = tr("Unlinked")
                text = tr(
                    "Your {label} key was deleted from TicketLens. It still exists on {label}: "
                    "revoke it there if you no longer use it.",
                    label=chosen.label,
                )
            else:
                title = tr("Nothing to unlink")
                text = tr(
                    "You have no {label} key linked for TicketLens on your account.",
                    label=chosen.label,
                )
            await send_private(interaction, render_notice(title, text))
            return
        removed = await bot.store.delete_credential(guild_id, user_id, chosen.key)
        log.info(
            "%s key unlinked=%s by member %s in guild %s",
            chosen.key,
            removed,
            user_id,
            guild_id,
        )
        if removed:
            title = tr("Unlinked")
            text = tr(
                "Your {label} key was deleted from TicketLens for this server. It still "
                "exists on {label}: revoke it there if you no longer use it.",
                label=chosen.label,
            )
        else:
            title = tr("Nothing to unlink")
            text = tr("You have no {label} key linked on this server.", label=chosen.label)
        await send_private(interaction, render_notice(title, text))

    @group.command(name="show", description="Which of your own accounts are linked here.")
    async def show(interaction: discord.Interaction) -> None:
        tr = bot.i18n.for_interaction(interaction)
        guild_id = installed_guild(interaction)
        if guild_id is None:
            await send_private(interaction, await app_accounts(interaction, tr))
            return
        stored = await bot.store.list_credentials(guild_id)
        mine = {c.provider: c for c in stored if c.user_id == interaction.user.id}
        shared = {c.provider for c in stored if c.user_id is None}
        lines = []
        for provider in (p for p in providers if p.scope is CredentialScope.MEMBER):
            info = mine.get(provider.key)
            if info is not None:
                status = tr(
                    "linked <t:{time}:R>, used only for you "
                    "(`/ticketaccount unlink provider:{key}` deletes it)",
                    time=int(info.set_at.timestamp()),
                    key=provider.key,
                )
            else:
                status = tr("not linked (`/ticketaccount link provider:{key}`)", key=provider.key)
            if provider.key in shared:
                status += tr("; this server also has a shared team key, for staff only")
            lines.append(f"**{provider.label}**: {status}")
        embed = render_notice(tr("Your linked accounts"), "\n".join(lines))
        await send_private(interaction, embed)

    async def app_accounts(interaction: discord.Interaction, tr: Translate) -> discord.Embed:
        # The member's user-scope keys: what their own installation of TicketLens uses.
        stored = {c.provider: c for c in await bot.store.list_user_credentials(interaction.user.id)}
        lines = []
        for provider in (p for p in providers if p.user_installable):
            info = stored.get(provider.key)
            if info is not None:
                status = tr(
                    "linked <t:{time}:R>, used only for you outside servers with TicketLens "
                    "(`/ticketaccount unlink provider:{key}` deletes it)",
                    time=int(info.set_at.timestamp()),
                    key=provider.key,
                )
            else:
                status = tr("not linked (`/ticketaccount link provider:{key}`)", key=provider.key)
            lines.append(f"**{provider.label}**: {status}")
        return render_notice(tr("Your linked accounts"), "\n".join(lines))


async def setup(bot: TicketLensBot) -> None:
    """Add `/ticketaccount` (after every provider registered, for its provider choices)."""
    bot.tree.add_command(build_group(bot, member_providers(bot)))
