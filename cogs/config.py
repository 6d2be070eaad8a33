"""
`/ticketconfig`: a guild's provider credentials, staff role, log channel and change audit.

Only members with Manage Server may use it. The default permission hides the command from
others, but admins can override that in the server settings, so the group checks again at run
time. Credentials are typed into a modal, checked with the provider before they are stored
(encrypted), and never shown back. Every change is recorded in the store's audit (who, when,
what, in the bot's own words); credential changes are also posted to the guild's log channel
when one is set. A post that fails never fails the change: the admin is told instead.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
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
from bot.store import AuditEntry

if TYPE_CHECKING:
    from bot.app import TicketLensBot

log = logging.getLogger(__name__)

MODAL_TIMEOUT_S = 600
#: The guild setting holding the log channel's id.
LOG_CHANNEL = "log_channel"
#: How many audit entries `/ticketconfig audit` shows.
AUDIT_SHOWN = 25
#: Discord's limit for an embed's description.
_DESCRIPTION_LIMIT = 4096
#: What the bot needs in the log channel to post its notices there.
_POST_PERMISSIONS = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
)
LOG_UNREACHABLE = (
    "The log channel could not be reached, so this change was not posted there. Check that "
    "TicketLens can view it and send messages and embeds there, or choose another with "
    "`/ticketconfig logchannel`."
)


class CheckStatus(enum.Enum):
    """What checking a credential with its provider found."""

    OK = "ok"
    REJECTED = "rejected"
    """It cannot work as it is: rejected key, no API access, a value the bot refuses."""
    UNREACHABLE = "unreachable"
    """Not checked: the provider is down, slowing us down or answering something else."""


@dataclass(frozen=True)
class CheckResult:
    """A credential check's outcome; `error` (stamped with its provider) says why if not OK."""

    status: CheckStatus
    error: TicketLensError | None = None
    advice: str = ""
    """The provider's own advice for `error` (`Provider.explain`), "" when it has none."""

    @property
    def why(self) -> str:
        """The error's detail as " (detail)", "" without one (safe to show: see bot.errors)."""
        detail = self.error.detail.strip() if self.error is not None else ""
        return f" ({detail})" if detail else ""


async def check_credential(
    bot: TicketLensBot, provider: Provider[Any], credential: Credential, *, stored: bool = False
) -> CheckResult:
    """
    The one check of a credential, at save time and by `/ticketconfig test`: every URL field
    against the URL rules (before the provider sends anything there), then `provider.verify`.
    It runs once and is never retried: a WHMCS login it fails counts towards the IP ban WHMCS
    imposes after three. Errors other than the expected ones propagate to the error handler.
    """
    try:
        try:
            for key in provider.url_fields():
                await bot.upstream.check_url(credential.get(key, ""))
            # A stored credential goes through `recheck`: WHMCS, say, will not try one it
            # rejected minutes ago (saving it again is how an admin says it changed).
            await (provider.recheck if stored else provider.verify)(credential)
        except TicketLensError as exc:
            raise exc.for_provider(provider) from None
    except (CredentialsRejected, NotPermitted, BadInput) as exc:
        return CheckResult(CheckStatus.REJECTED, exc, provider.explain(exc) or "")
    except (UpstreamUnavailable, RateLimited, BadAnswer) as exc:
        return CheckResult(CheckStatus.UNREACHABLE, exc, provider.explain(exc) or "")
    return CheckResult(CheckStatus.OK)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


async def post_to_log(bot: TicketLensBot, guild_id: int, embed: discord.Embed) -> bool | None:
    """
    Post `embed` to the guild's log channel: None when none is set, else whether it worked.
    A failure (no access, channel deleted, Discord down) is logged without the embed and
    never raised: the change it reports is already made.
    """
    stored = await bot.store.get_guild_setting(guild_id, LOG_CHANNEL)
    if stored is None:
        return None
    channel_id = int(stored)
    channel = bot.get_partial_messageable(channel_id, guild_id=guild_id)
    try:
        await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException as exc:
        log.warning(
            "could not post to log channel %s of guild %s: HTTP %s (code %s)",
            channel_id,
            guild_id,
            exc.status,
            exc.code,
        )
        return False
    except (aiohttp.ClientError, OSError) as exc:
        log.warning(
            "could not post to log channel %s of guild %s: %s",
            channel_id,
            guild_id,
            type(exc).__name__,
        )
        return False
    return True


def log_notice(title: str, text: str) -> discord.Embed:
    """
    A log channel notice. Built here, not with render_notice: the text is ours and its
    mentions should render as names (allowed mentions are none, so they never ping).
    """
    embed = discord.Embed(title=title, description=text, colour=Colour.BLURPLE)
    embed.timestamp = discord.utils.utcnow()
    return embed


async def post_credential_change(
    bot: TicketLensBot, interaction: discord.Interaction, title: str, text: str
) -> str:
    """Tell the log channel about a credential change; a note for the admin's answer."""
    assert interaction.guild_id is not None  # guild_only
    posted = await post_to_log(bot, interaction.guild_id, log_notice(title, text))
    return LOG_UNREACHABLE if posted is False else ""


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
        note = await self.after_store(interaction, guild_id, unchecked=bool(warning))
        text = self.saved_text(warning)
        await interaction.followup.send(
            embed=render_notice(self.saved_title, f"{text}\n{note}" if note else text),
            ephemeral=True,
        )

    async def after_store(
        self, interaction: discord.Interaction, guild_id: int, *, unchecked: bool
    ) -> str:
        """
        Record the server's change in the audit and tell the log channel; a note for the
        answer ("" if none). Never a value from the form: only who, what and which provider.
        """
        label = self.provider.label
        action = "set (unchecked)" if unchecked else "set"
        await self.bot.store.add_audit(guild_id, interaction.user.id, action, label)
        how = f" without a check ({label} could not be reached)" if unchecked else ""
        return await post_credential_change(
            self.bot,
            interaction,
            "Credentials set",
            f"<@{interaction.user.id}> stored **{label}** credentials for this server{how}.",
        )

    async def _check(
        self, interaction: discord.Interaction, credential: Credential
    ) -> tuple[bool, str]:
        """
        Verify with the provider: (False, _) rejected, the member was told, nothing stored;
        (True, warning) could not check now: stored anyway, so nothing typed is lost.
        """
        provider = self.provider
        result = await check_credential(self.bot, provider, credential)
        if result.status is CheckStatus.UNREACHABLE:
            return True, (
                f"{provider.label} could not be reached to check {self.noun} just now; "
                "a lookup will tell if they work."
            )
        if result.status is CheckStatus.OK:
            return True, ""
        if isinstance(result.error, BadInput):
            # What was typed cannot work (e.g. a URL the bot refuses to connect to).
            reason = _sentence(result.error.detail.strip() or "A value in the form is not valid")
            text = f"{reason} Nothing was stored; correct it and run {self.retry_command()} again."
        else:
            text = (
                f"{provider.label} did not accept {self.noun}{result.why}, so nothing was "
                f"stored. Check and run {self.retry_command()} again."
            )
        if result.advice:
            text = f"{text}\n{result.advice}"
        await interaction.followup.send(
            embed=render_error(self.rejected_title, text), ephemeral=True
        )
        return False, ""

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


def missing_post_permissions(
    interaction: discord.Interaction, channel: discord.abc.GuildChannel
) -> list[str] | None:
    """
    The permissions the bot lacks to post notices in `channel`, or None if it cannot know:
    that needs the bot's own member in the cache (`app_permissions` only covers the channel
    the command was used in).
    """
    guild = interaction.guild
    me = guild.me if guild is not None else None
    if me is None:
        return None
    allowed = channel.permissions_for(me)
    return [name for flag, name in _POST_PERMISSIONS if not getattr(allowed, flag)]


def check_answer(provider: Provider[Any], result: CheckResult) -> discord.Embed:
    """What `/ticketconfig test` found, and what to do about it."""
    label, why = provider.label, result.why
    replace = f"`/ticketconfig set provider:{provider.key}`"
    error = result.error
    if result.status is CheckStatus.OK:
        return render_notice(
            f"✅ {label} works", f"{label} accepted this server's stored credentials just now."
        )
    if isinstance(error, BadInput):
        text = _sentence(error.detail.strip() or "A stored value is not valid")
        text += f" Replace the credentials with {replace}."
    elif isinstance(error, CredentialsRejected):
        text = f"{label} rejected the stored credentials{why}. Replace them with {replace}."
    elif isinstance(error, NotPermitted):
        text = (
            f"{label} refused the request{why}: these credentials are not allowed to use its "
            "API (their role, permissions or plan lack API access, or the bot's IP address "
            "is not allowed)."
        )
    elif isinstance(error, RateLimited):
        text = f"{label} asked TicketLens to slow down, so nothing was checked. Try again later."
    elif isinstance(error, BadAnswer):
        text = (
            f"{label} answered something TicketLens cannot read{why}, so the credentials were "
            f"not checked. Check the address with {replace}, or try again later."
        )
    else:
        text = (
            f"{label} did not answer{why}: its host looks down or unreachable from the bot, "
            "so the credentials were not checked. Try again later."
        )
    if result.advice:
        text = f"{text}\n{result.advice}"
    if result.status is CheckStatus.UNREACHABLE:
        return render_error(f"{label} could not be checked", text, colour=Colour.ORANGE)
    return render_error(f"{label} is not working", text)


def audit_embed(entries: list[AuditEntry]) -> discord.Embed:
    """
    One line per change, newest first: `<t:unix:f> <@actor> action detail`. Built here, not
    with render_notice: every word is ours and the mentions should render as names (allowed
    mentions are none, so they never ping).
    """
    lines: list[str] = []
    size = 0
    for entry in entries:
        line = f"<t:{int(entry.at.timestamp())}:f> <@{entry.actor_id}> {entry.action}"
        line = f"{line} {entry.detail}" if entry.detail else line
        # Details are bounded, but 25 long ones would pass Discord's limit: stop before it.
        size += len(line) + 1
        if size > _DESCRIPTION_LIMIT:
            break
        lines.append(line)
    return discord.Embed(
        title="Configuration changes",
        description="\n".join(lines) or "No changes recorded yet.",
        colour=Colour.BLURPLE,
    )


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
        if not removed:
            text = f"No {chosen.label} credentials were stored for this server."
            await send_private(interaction, render_notice("Nothing to remove", text))
            return
        await bot.store.add_audit(interaction.guild_id, interaction.user.id, "remove", chosen.label)
        text = f"{chosen.label} credentials were deleted."
        if await bot.store.get_guild_setting(interaction.guild_id, LOG_CHANNEL) is not None:
            # Posting may wait on Discord's rate limits: answer within 3 s, then follow up.
            await interaction.response.defer(ephemeral=True, thinking=True)
            note = await post_credential_change(
                bot,
                interaction,
                "Credentials removed",
                f"<@{interaction.user.id}> deleted this server's **{chosen.label}** credentials.",
            )
            if note:
                text = f"{text}\n{note}"
        await send_private(interaction, render_notice("Removed", text))

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
        await bot.store.add_audit(
            interaction.guild_id,
            interaction.user.id,
            "staffrole",
            f"<@&{role.id}>" if role else "cleared",
        )
        text = (
            f"Members with {role.mention} now count as staff, as do members with **Manage Server**."
            if role
            else "The staff role was cleared: only members with **Manage Server** count as staff."
        )
        embed = discord.Embed(title="Staff role", description=text, colour=Colour.BLURPLE)
        await send_private(interaction, embed)

    @group.command(
        name="logchannel",
        description="Post who sets or removes credentials in a channel (no channel: stop).",
    )
    @app_commands.describe(channel="Where TicketLens posts credential changes (never the values).")
    async def logchannel(
        interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        assert interaction.guild_id is not None  # guild_only
        guild_id, user_id = interaction.guild_id, interaction.user.id
        if channel is None:
            await bot.store.set_guild_setting(guild_id, LOG_CHANNEL, None)
            await bot.store.add_audit(guild_id, user_id, "logchannel", "cleared")
            log.info("log channel cleared for guild %s by user %s", guild_id, user_id)
            text = "Credential changes are no longer posted in a channel."
            embed = discord.Embed(title="Log channel", description=text, colour=Colour.BLURPLE)
            await send_private(interaction, embed)
            return
        missing = missing_post_permissions(interaction, channel)
        if missing:
            text = (
                f"TicketLens cannot post in {channel.mention}: it lacks "
                f"{', '.join(f'**{name}**' for name in missing)} there. Nothing was changed; "
                "give it those permissions (or pick another channel) and run this again."
            )
            embed = discord.Embed(title="Log channel not set", description=text, colour=Colour.RED)
            await send_private(interaction, embed)
            return
        await bot.store.set_guild_setting(guild_id, LOG_CHANNEL, str(channel.id))
        await bot.store.add_audit(guild_id, user_id, "logchannel", f"<#{channel.id}>")
        log.info("log channel %s for guild %s by user %s", channel.id, guild_id, user_id)
        text = (
            f"Who sets or removes credentials is now posted in {channel.mention} (never "
            "the values)."
        )
        if missing is None:
            text += (
                " TicketLens could not check its permissions there; if a post fails, the "
                "admin who made the change is told."
            )
        embed = discord.Embed(title="Log channel", description=text, colour=Colour.BLURPLE)
        await send_private(interaction, embed)

    @group.command(name="test", description="Check this server's stored credentials now.")
    @app_commands.describe(provider="Which system's credentials to check.")
    @app_commands.choices(provider=choices)
    async def check_stored(interaction: discord.Interaction, provider: str) -> None:
        assert interaction.guild_id is not None  # guild_only
        chosen = provider_of(provider)
        # The provider may take seconds to answer: acknowledge within Discord's 3 s first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        # Unreadable (CredentialUnreadable) goes to the error handler's usual answer.
        credential = await bot.store.get_credential(interaction.guild_id, None, chosen.key)
        if credential is None:
            text = (
                f"No {chosen.label} credentials are set for this server: "
                f"use `/ticketconfig set provider:{chosen.key}`."
            )
            await send_private(interaction, render_error(f"{chosen.label} is not set", text))
            return
        bot.access.remember_secrets(chosen, credential)
        result = await check_credential(bot, chosen, credential, stored=True)
        log.info(
            "%s credentials tested for guild %s by user %s: %s",
            chosen.key,
            interaction.guild_id,
            interaction.user.id,
            result.status.value,
        )
        await send_private(interaction, check_answer(chosen, result))

    @group.command(name="audit", description="The last 25 configuration changes here.")
    async def audit(interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        entries = await bot.store.list_audit(interaction.guild_id, AUDIT_SHOWN)
        await send_private(interaction, audit_embed(entries))

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
