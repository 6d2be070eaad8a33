"""
`/ticketaccount`: what TicketLens keeps for one member in a server, managed by that member.

`forget` deletes the member's lookup history here (what autocomplete offers them) at once;
every member has it. `link`, `unlink` and `show` are only there when a provider is
owner-scoped (scope MEMBER, e.g. TeamBattles): such a provider reads only the tickets of the
key's owner, so a key stands for its owner. Any member may link their own key in a server: it
is checked with the provider first, stored encrypted and bound to (server, member), used only
for that member's own lookups, never shown back, and deleted at once by `unlink`. These are
personal: neither audited nor posted to the log channel. Every answer is ephemeral, in the
member's language (`bot.i18n`), like the form.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.i18n import Translate
from bot.providers.base import CredentialScope, Provider
from bot.render import render_error, render_notice
from bot.respond import send_private
from cogs.config import CredentialModal

if TYPE_CHECKING:
    from bot.app import TicketLensBot

log = logging.getLogger(__name__)


def member_providers(bot: TicketLensBot) -> list[Provider[Any]]:
    """Providers whose members link their own credential, by label."""
    return sorted(
        (p for p in bot.providers.values() if p.scope is CredentialScope.MEMBER),
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


def build_group(bot: TicketLensBot, providers: list[Provider[Any]]) -> app_commands.Group:
    """
    The `/ticketaccount` group: `forget` always, `link`/`unlink`/`show` over the owner-scoped
    `providers` when there are any (a choice list cannot be empty).
    """
    group = app_commands.Group(
        name="ticketaccount",
        description="Your own accounts and lookup history in this server (only for you).",
        guild_only=True,
    )
    if providers:
        add_account_commands(bot, group, providers)

    @group.command(name="forget", description="Delete your lookup history in this server, at once.")
    async def forget(interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        user_id = interaction.user.id
        deleted = await bot.store.forget_history(interaction.guild_id, user_id)
        log.info(
            "lookup history forgotten (%d entries) for member %s in guild %s",
            deleted,
            user_id,
            interaction.guild_id,
        )
        tr = bot.i18n.for_interaction(interaction)
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

    @group.command(name="link", description="Link your own account's key (opens a form).")
    @app_commands.describe(provider="Which system your key is for.")
    @app_commands.choices(provider=choices)
    async def link(interaction: discord.Interaction, provider: str) -> None:
        chosen = by_key.get(provider)
        if chosen is None:
            await unknown(interaction, provider)
            return
        modal = AccountModal(bot, chosen, bot.i18n.for_interaction(interaction))
        await interaction.response.send_modal(modal)

    @group.command(name="unlink", description="Delete your own key for a system, at once.")
    @app_commands.describe(provider="Which system's key to delete.")
    @app_commands.choices(provider=choices)
    async def unlink(interaction: discord.Interaction, provider: str) -> None:
        assert interaction.guild_id is not None  # guild_only
        chosen = by_key.get(provider)
        if chosen is None:
            await unknown(interaction, provider)
            return
        tr = bot.i18n.for_interaction(interaction)
        user_id = interaction.user.id
        removed = await bot.store.delete_credential(interaction.guild_id, user_id, chosen.key)
        log.info(
            "%s key unlinked=%s by member %s in guild %s",
            chosen.key,
            removed,
            user_id,
            interaction.guild_id,
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
        assert interaction.guild_id is not None  # guild_only
        tr = bot.i18n.for_interaction(interaction)
        stored = await bot.store.list_credentials(interaction.guild_id)
        mine = {c.provider: c for c in stored if c.user_id == interaction.user.id}
        shared = {c.provider for c in stored if c.user_id is None}
        lines = []
        for provider in providers:
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


async def setup(bot: TicketLensBot) -> None:
    """Add `/ticketaccount` (after every provider registered, for its provider choices)."""
    bot.tree.add_command(build_group(bot, member_providers(bot)))
