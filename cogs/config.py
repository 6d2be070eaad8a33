"""
`/ticketconfig`: set, remove and show a guild's provider credentials.

Only members with Manage Server may use it. The default permission hides the command from
others, but admins can override that in the server settings, so the group checks again at run
time. Credentials are typed into a modal, checked with the provider before they are stored
(encrypted), and never shown back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.errors import (
    BadAnswer,
    BadInput,
    CredentialsRejected,
    NotPermitted,
    RateLimited,
    TicketLensError,
    UpstreamUnavailable,
)
from bot.providers.base import Credential, Provider
from bot.providers.palette import Colour
from bot.render import render_error, render_notice
from bot.respond import send_private

if TYPE_CHECKING:
    from bot.app import TicketLensBot

log = logging.getLogger(__name__)

MODAL_TIMEOUT_S = 600


class CredentialModal(discord.ui.Modal):
    """One text input per credential field of a provider; checked before it is stored."""

    def __init__(self, bot: TicketLensBot, provider: Provider[Any]) -> None:
        # Discord caps modal titles at 45 characters.
        super().__init__(
            title=f"{provider.label} credentials"[:45],
            timeout=MODAL_TIMEOUT_S,
            custom_id=f"ticketlens:config:{provider.key}",
        )
        self.bot = bot
        self.provider = provider
        self.inputs: dict[str, discord.ui.TextInput[CredentialModal]] = {}
        for field in provider.credential_fields:
            text_input: discord.ui.TextInput[CredentialModal] = discord.ui.TextInput(
                label=field.label[:45],
                custom_id=field.key,
                required=field.required,
                max_length=field.max_length,
                placeholder=field.placeholder,
            )
            self.add_item(text_input)
            self.inputs[field.key] = text_input

    def values(self) -> dict[str, str]:
        """What was typed; surrounding spaces are a paste artefact no key or URL contains."""
        return {key: item.value.strip() for key, item in self.inputs.items() if item.value.strip()}

    # What differs between the server's form and a member's own (cogs/account.py).
    noun = "these credentials"
    rejected_title = "Not saved"
    saved_title = "Saved"

    def retry_command(self) -> str:
        """The command that opens this form again."""
        return f"`/ticketconfig set provider:{self.provider.key}`"

    def owner(self, interaction: discord.Interaction) -> int | None:
        """Whose credential this is (None: the server's); refuses who may not set it."""
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return None

    def saved_text(self, warning: str) -> str:
        """What the member reads once it is stored."""
        label, key = self.provider.label, self.provider.key
        if warning:
            return f"{label} credentials were stored encrypted. {warning}"
        return (
            f"{label} credentials were checked and stored encrypted. Try them with `/ticket {key}`."
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Check the credential with the provider, then store it encrypted."""
        provider = self.provider
        credential = Credential(self.values())
        self.bot.access.remember_secrets(provider, credential)
        guild_id = interaction.guild_id
        if guild_id is None:
            raise app_commands.NoPrivateMessage()
        owner = self.owner(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        accepted, warning = await self._check(interaction, credential)
        if not accepted:
            return
        await self.bot.store.put_credential(
            guild_id, owner, provider.key, credential, set_by=interaction.user.id
        )
        log.info(
            "%s credential stored for guild %s (owner %s) by user %s",
            provider.key,
            guild_id,
            owner if owner is not None else "the server",
            interaction.user.id,
        )
        await interaction.followup.send(
            embed=render_notice(self.saved_title, self.saved_text(warning)), ephemeral=True
        )

    async def _check(
        self, interaction: discord.Interaction, credential: Credential
    ) -> tuple[bool, str]:
        """
        Verify with the provider: (False, _) rejected, the member was told, nothing stored;
        (True, warning) could not check now: stored anyway, so nothing typed is lost.
        """
        provider = self.provider
        try:
            try:
                # A URL the guild typed is checked here for every provider that takes one,
                # before the provider sends anything to it.
                for key in provider.url_fields():
                    await self.bot.upstream.check_url(credential.get(key, ""))
                await provider.verify(credential)
            except TicketLensError as exc:
                raise exc.for_provider(provider) from None
        except (CredentialsRejected, NotPermitted, BadInput) as exc:
            if isinstance(exc, BadInput):
                # What was typed cannot work (e.g. a URL the bot refuses to connect to).
                reason = exc.detail.strip() or "A value in the form is not valid."
                if not reason.endswith((".", "!", "?")):
                    reason += "."
                text = (
                    f"{reason} Nothing was stored; correct it and run {self.retry_command()} again."
                )
            else:
                why = f" ({exc.detail})" if exc.detail else ""
                text = (
                    f"{provider.label} did not accept {self.noun}{why}, so nothing was stored. "
                    f"Check and run {self.retry_command()} again."
                )
            advice = provider.explain(exc)
            if advice:
                text = f"{text}\n{advice}"
            await interaction.followup.send(
                embed=render_error(self.rejected_title, text), ephemeral=True
            )
            return False, ""
        except (UpstreamUnavailable, RateLimited, BadAnswer):
            return True, (
                f"{provider.label} could not be reached to check {self.noun} just now; "
                "a lookup will tell if they work."
            )
        return True, ""

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception
    ) -> None:
        """Route failures through the bot's one error handler."""
        await self.bot.report_error(interaction, error)


class ConfigGroup(app_commands.Group):
    """`/ticketconfig`, checked at run time for Manage Server."""

    def __init__(self, bot: TicketLensBot) -> None:
        super().__init__(
            name="ticketconfig",
            description="Set up TicketLens for this server (needs Manage Server).",
            guild_only=True,
            default_permissions=discord.Permissions(manage_guild=True),
        )
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Refuse members without Manage Server, whatever the command permissions say."""
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True


def provider_choices(bot: TicketLensBot) -> list[app_commands.Choice[str]]:
    """One choice per registered provider (providers load before this module)."""
    return [
        app_commands.Choice(name=p.label, value=p.key)
        for p in sorted(bot.providers.values(), key=lambda p: p.label.lower())
    ]


def build_group(bot: TicketLensBot) -> ConfigGroup:
    """The `/ticketconfig` group with its subcommands, closed over the bot."""
    group = ConfigGroup(bot)
    choices = provider_choices(bot)

    def provider_of(key: str) -> Provider[Any]:
        return bot.providers[key]

    @group.command(name="set", description="Store credentials for a provider (opens a form).")
    @app_commands.describe(provider="Which system to connect.")
    @app_commands.choices(provider=choices)
    async def set_(interaction: discord.Interaction, provider: str) -> None:
        await interaction.response.send_modal(CredentialModal(bot, provider_of(provider)))

    @group.command(name="remove", description="Delete this server's credentials for a provider.")
    @app_commands.describe(provider="Which system to disconnect.")
    @app_commands.choices(provider=choices)
    async def remove(interaction: discord.Interaction, provider: str) -> None:
        assert interaction.guild_id is not None  # guild_only
        chosen = provider_of(provider)
        removed = await bot.store.delete_credential(interaction.guild_id, None, chosen.key)
        log.info(
            "%s credentials removed=%s for guild %s by user %s",
            chosen.key,
            removed,
            interaction.guild_id,
            interaction.user.id,
        )
        text = (
            f"{chosen.label} credentials were deleted."
            if removed
            else f"No {chosen.label} credentials were stored for this server."
        )
        await send_private(
            interaction, render_notice("Removed" if removed else "Nothing to remove", text)
        )

    @group.command(
        name="staffrole",
        description="Set the role whose members count as staff (no role: clear it).",
    )
    @app_commands.describe(role="Members with this role may see staff-only tickets and notes.")
    async def staffrole(interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        assert interaction.guild_id is not None  # guild_only
        await bot.access.set_staff_role(interaction.guild_id, role.id if role else None)
        log.info(
            "staff role %s for guild %s by user %s",
            role.id if role else "cleared",
            interaction.guild_id,
            interaction.user.id,
        )
        text = (
            f"Members with {role.mention} now count as staff, as do members with **Manage Server**."
            if role
            else "The staff role was cleared: only members with **Manage Server** count as staff."
        )
        embed = discord.Embed(title="Staff role", description=text, colour=Colour.BLURPLE)
        await send_private(interaction, embed)

    @group.command(name="show", description="Which providers are set up here, by whom and when.")
    async def show(interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        stored = await bot.store.list_credentials(interaction.guild_id)
        lines = []
        for provider in sorted(bot.providers.values(), key=lambda p: p.label.lower()):
            own = [c for c in stored if c.provider == provider.key and c.user_id is None]
            members = sum(1 for c in stored if c.provider == provider.key and c.user_id is not None)
            if own:
                info = own[0]
                status = f"set by <@{info.set_by}> <t:{int(info.set_at.timestamp())}:R>"
            else:
                status = f"not set (`/ticketconfig set provider:{provider.key}`)"
            if members:
                status += f"; {members} member(s) linked their own"
            lines.append(f"**{provider.label}**: {status}")
        role_id = await bot.access.staff_role(interaction.guild_id)
        lines.append(
            f"**Staff**: Manage Server and <@&{role_id}>"
            if role_id
            else "**Staff**: members with Manage Server (`/ticketconfig staffrole` adds a role)"
        )
        # Built here, not with render_notice: the text is ours and the set_by mentions should
        # render as names (allowed mentions are none, so they never ping).
        embed = discord.Embed(
            title="TicketLens on this server", description="\n".join(lines), colour=Colour.BLURPLE
        )
        await send_private(interaction, embed)

    return group


async def setup(bot: TicketLensBot) -> None:
    """Add `/ticketconfig` (after every provider registered)."""
    bot.tree.add_command(build_group(bot))
