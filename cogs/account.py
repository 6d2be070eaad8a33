"""
`/ticketaccount`: what TicketLens keeps for one member in a server, managed by that member.

`forget` deletes the member's lookup history here (what autocomplete offers them) at once;
every member has it. `link`, `unlink` and `show` are only there when a provider is
owner-scoped (scope MEMBER, e.g. TeamBattles): such a provider reads only the tickets of the
key's owner, so a key stands for its owner. Any member may link their own key in a server: it
is checked with the provider first, stored encrypted and bound to (server, member), used only
for that member's own lookups, never shown back, and deleted at once by `unlink`. These are
personal: neither audited nor posted to the log channel. Every answer is ephemeral.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

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

    def __init__(self, bot: TicketLensBot, provider: Provider[Any]) -> None:
        super().__init__(bot, provider)
        # Discord caps modal titles at 45 characters.
        self.title = f"Link your {provider.label} account"[:45]
        self.custom_id = f"ticketlens:account:{provider.key}"

    noun = "this key"
    rejected_title = "Not linked"
    saved_title = "Linked"

    def retry_command(self) -> str:
        """The command that opens this form again."""
        return f"`/ticketaccount link provider:{self.provider.key}`"

    def owner(self, interaction: discord.Interaction) -> int | None:
        """Anyone may link their own key; it is theirs alone."""
        return interaction.user.id

    async def after_store(
        self, interaction: discord.Interaction, guild_id: int, *, unchecked: bool
    ) -> str:
        """A member's own key is theirs: not a server change, so no audit and no log post."""
        return ""

    def saved_text(self, warning: str) -> str:
        """What the member reads once it is stored."""
        label, key = self.provider.label, self.provider.key
        if warning:
            return (
                f"Your {label} key was stored encrypted for this server; only you can use it. "
                f"{warning}"
            )
        return (
            f"Your {label} key was checked and stored encrypted for this server. Only "
            f"you can use it: `/ticket {key}` now shows your own tickets. "
            f"`/ticketaccount unlink provider:{key}` deletes it."
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
        if deleted:
            entries = "1 entry" if deleted == 1 else f"{deleted} entries"
            text = (
                f"Deleted {entries} of your lookup history on this server: `id` suggestions "
                "start afresh from your next lookup."
            )
        else:
            text = "You had no lookup history on this server."
        await send_private(interaction, render_notice("Lookup history deleted", text))

    return group


def add_account_commands(
    bot: TicketLensBot, group: app_commands.Group, providers: list[Provider[Any]]
) -> None:
    """`link`, `unlink` and `show` over the owner-scoped `providers`."""
    by_key = {p.key: p for p in providers}
    choices = [app_commands.Choice(name=p.label, value=p.key) for p in providers]

    async def unknown(interaction: discord.Interaction, key: str) -> None:
        # Discord only offers the choices, but a client can send any value.
        await send_private(
            interaction,
            render_error("Not available", f"`{key}` has no personal accounts to link."),
        )

    @group.command(name="link", description="Link your own account's key (opens a form).")
    @app_commands.describe(provider="Which system your key is for.")
    @app_commands.choices(provider=choices)
    async def link(interaction: discord.Interaction, provider: str) -> None:
        chosen = by_key.get(provider)
        if chosen is None:
            await unknown(interaction, provider)
            return
        await interaction.response.send_modal(AccountModal(bot, chosen))

    @group.command(name="unlink", description="Delete your own key for a system, at once.")
    @app_commands.describe(provider="Which system's key to delete.")
    @app_commands.choices(provider=choices)
    async def unlink(interaction: discord.Interaction, provider: str) -> None:
        assert interaction.guild_id is not None  # guild_only
        chosen = by_key.get(provider)
        if chosen is None:
            await unknown(interaction, provider)
            return
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
            title = "Unlinked"
            text = (
                f"Your {chosen.label} key was deleted from TicketLens for this server. It still "
                f"exists on {chosen.label}: revoke it there if you no longer use it."
            )
        else:
            title = "Nothing to unlink"
            text = f"You have no {chosen.label} key linked on this server."
        await send_private(interaction, render_notice(title, text))

    @group.command(name="show", description="Which of your own accounts are linked here.")
    async def show(interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        stored = await bot.store.list_credentials(interaction.guild_id)
        mine = {c.provider: c for c in stored if c.user_id == interaction.user.id}
        shared = {c.provider for c in stored if c.user_id is None}
        lines = []
        for provider in providers:
            info = mine.get(provider.key)
            if info is not None:
                status = (
                    f"linked <t:{int(info.set_at.timestamp())}:R>, used only for you "
                    f"(`/ticketaccount unlink provider:{provider.key}` deletes it)"
                )
            else:
                status = f"not linked (`/ticketaccount link provider:{provider.key}`)"
            if provider.key in shared:
                status += "; this server also has a shared team key, for staff only"
            lines.append(f"**{provider.label}**: {status}")
        await send_private(interaction, render_notice("Your linked accounts", "\n".join(lines)))


async def setup(bot: TicketLensBot) -> None:
    """Add `/ticketaccount` (after every provider registered, for its provider choices)."""
    bot.tree.add_command(build_group(bot, member_providers(bot)))
