"""
`/ticketconfig`: a guild's provider credentials, staff role, log channel and change audit.

Only members with Manage Server may use it. The default permission hides the command from
others, but admins can override that in the server settings, so the group checks again at run
time. Credentials are typed into a modal, checked with the provider before they are stored
(encrypted), and never shown back. Every change is recorded in the store's audit (who, when,
what, in the bot's own words); credential changes are also posted to the guild's log channel
when one is set. A post that fails never fails the change: the admin is told instead.

Every text is an English template worded by `bot.i18n`: answers (and the form) in the
member's language, log-channel posts in the guild's. Provider labels stay as they are; the
words a provider supplies (field labels, advice, error details) may be `Msg`s, worded with
`worded`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
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
from bot.i18n import Translate, english, worded
from bot.providers.base import Credential, Provider
from bot.providers.palette import Colour
from bot.render import render_error, render_notice
from bot.respond import send_private
from bot.store import AuditEntry, LookupRecord
from cogs._health_notes import failing_note, members_failing_note, usage_lines

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


def post_permissions(tr: Translate) -> tuple[tuple[str, str], ...]:
    """What the bot needs in the log channel to post its notices there: (flag, name shown)."""
    return (
        ("view_channel", tr("View Channel")),
        ("send_messages", tr("Send Messages")),
        ("embed_links", tr("Embed Links")),
    )


def log_unreachable(tr: Translate) -> str:
    """The note for an admin whose change could not be posted to the log channel."""
    return tr(
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

    def detail(self, tr: Translate) -> str:
        """The error's detail in `tr`'s language, "" without one (safe to show: see bot.errors)."""
        return worded(self.error.detail, tr).strip() if self.error is not None else ""

    def why(self, tr: Translate) -> str:
        """The error's detail as " (detail)", "" without one."""
        detail = self.detail(tr)
        return f" ({detail})" if detail else ""

    def advice_in(self, tr: Translate) -> str:
        """The provider's advice in `tr`'s language ("" when it has none)."""
        return worded(self.advice, tr)


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


def guild_words(bot: TicketLensBot, interaction: discord.Interaction) -> Translate:
    """Texts for the log channel: a channel, not a member, so the guild's language (English
    when we do not speak it)."""
    return bot.i18n.bind(interaction.guild_locale)


def log_notice(title: str, text: str) -> discord.Embed:
    """
    A log channel notice. Built here, not with render_notice: the text is ours and its
    mentions should render as names (allowed mentions are none, so they never ping).
    """
    embed = discord.Embed(title=title, description=text, colour=Colour.BLURPLE)
    embed.timestamp = discord.utils.utcnow()
    return embed


def set_notice(tr: Translate, *, user: int, label: str, unchecked: bool) -> tuple[str, str]:
    """The log channel's title and text for credentials set by `user` (in `tr`'s words: the
    guild's, `guild_words`)."""
    if unchecked:
        text = tr(
            "<@{user}> stored **{label}** credentials for this server without a check "
            "({label} could not be reached).",
            user=user,
            label=label,
        )
    else:
        text = tr(
            "<@{user}> stored **{label}** credentials for this server.", user=user, label=label
        )
    return tr("Credentials set"), text


def removed_notice(tr: Translate, *, user: int, label: str) -> tuple[str, str]:
    """The log channel's title and text for credentials deleted by `user` (in `tr`'s words:
    the guild's, `guild_words`)."""
    text = tr("<@{user}> deleted this server's **{label}** credentials.", user=user, label=label)
    return tr("Credentials removed"), text


async def post_credential_change(
    bot: TicketLensBot, interaction: discord.Interaction, title: str, text: str, tr: Translate
) -> str:
    """
    Tell the log channel about a credential change (`title` and `text` in the guild's words,
    `guild_words`); a note for the admin's answer, in their language (`tr`).
    """
    assert interaction.guild_id is not None  # guild_only
    posted = await post_to_log(bot, interaction.guild_id, log_notice(title, text))
    return log_unreachable(tr) if posted is False else ""


class CredentialModal(discord.ui.Modal):
    """
    One text input per credential field of a provider; checked before it is stored.

    Built when the command runs, in the invoker's language (`tr`): its title, labels and
    placeholders. Answers to the submission follow the submitting interaction's language.
    """

    def __init__(self, bot: TicketLensBot, provider: Provider[Any], tr: Translate) -> None:
        # Discord caps modal titles and input labels at 45 characters, placeholders at 100:
        # cut after translating.
        super().__init__(
            title=self.form_title(provider, tr)[:45],
            timeout=MODAL_TIMEOUT_S,
            custom_id=f"ticketlens:config:{provider.key}",
        )
        self.bot = bot
        self.provider = provider
        self.inputs: dict[str, discord.ui.TextInput[CredentialModal]] = {}
        for field in provider.credential_fields:
            placeholder = worded(field.placeholder, tr)[:100] if field.placeholder else None
            text_input: discord.ui.TextInput[CredentialModal] = discord.ui.TextInput(
                label=worded(field.label, tr)[:45],
                custom_id=field.key,
                required=field.required,
                max_length=field.max_length,
                placeholder=placeholder,
            )
            self.add_item(text_input)
            self.inputs[field.key] = text_input

    def values(self) -> dict[str, str]:
        """What was typed; surrounding spaces are a paste artefact no key or URL contains."""
        return {key: item.value.strip() for key, item in self.inputs.items() if item.value.strip()}

    # What differs between the server's form and a member's own (cogs/account.py): whole
    # sentences, so each language can build them its own way.

    @staticmethod
    def form_title(provider: Provider[Any], tr: Translate) -> str:
        """The form's title (before Discord's cut)."""
        return tr("{label} credentials", label=provider.label)

    def rejected_title(self, tr: Translate) -> str:
        """The title of the answer when nothing was stored."""
        return tr("Not saved")

    def saved_title(self, tr: Translate) -> str:
        """The title of the answer once it is stored."""
        return tr("Saved")

    def unchecked_warning(self, tr: Translate) -> str:
        """Why it was stored without a check."""
        return tr(
            "{label} could not be reached to check these credentials just now; "
            "a lookup will tell if they work.",
            label=self.provider.label,
        )

    def rejected_text(self, tr: Translate, why: str) -> str:
        """The provider refused it (`why`: " (detail)" or "")."""
        return tr(
            "{label} did not accept these credentials{why}, so nothing was stored. "
            "Check and run `/ticketconfig set provider:{key}` again.",
            label=self.provider.label,
            why=why,
            key=self.provider.key,
        )

    def invalid_text(self, tr: Translate, reason: str) -> str:
        """A value the bot refuses (`reason`: a sentence saying which)."""
        return tr(
            "{reason} Nothing was stored; correct it and run "
            "`/ticketconfig set provider:{key}` again.",
            reason=reason,
            key=self.provider.key,
        )

    def owner(self, interaction: discord.Interaction) -> int | None:
        """Whose credential this is (None: the server's); refuses who may not set it."""
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return None

    def saved_text(self, tr: Translate, warning: str) -> str:
        """What the member reads once it is stored."""
        label, key = self.provider.label, self.provider.key
        if warning:
            return tr(
                "{label} credentials were stored encrypted. {warning}", label=label, warning=warning
            )
        return tr(
            "{label} credentials were checked and stored encrypted. Try them with `/ticket {key}`.",
            label=label,
            key=key,
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
        tr = self.bot.i18n.for_interaction(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        accepted, warning = await self._check(interaction, credential, tr)
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
        note = await self.after_store(interaction, guild_id, unchecked=bool(warning), tr=tr)
        text = self.saved_text(tr, warning)
        await interaction.followup.send(
            embed=render_notice(self.saved_title(tr), f"{text}\n{note}" if note else text),
            ephemeral=True,
        )

    async def after_store(
        self, interaction: discord.Interaction, guild_id: int, *, unchecked: bool, tr: Translate
    ) -> str:
        """
        Record the server's change in the audit and tell the log channel; a note for the
        answer ("" if none, else in `tr`'s language). Never a value from the form: only who,
        what and which provider.
        """
        label = self.provider.label
        action = "set (unchecked)" if unchecked else "set"
        await self.bot.store.add_audit(guild_id, interaction.user.id, action, label)
        title, text = set_notice(
            guild_words(self.bot, interaction),
            user=interaction.user.id,
            label=label,
            unchecked=unchecked,
        )
        return await post_credential_change(self.bot, interaction, title, text, tr)

    async def _check(
        self, interaction: discord.Interaction, credential: Credential, tr: Translate
    ) -> tuple[bool, str]:
        """
        Verify with the provider: (False, _) rejected, the member was told, nothing stored;
        (True, warning) could not check now: stored anyway, so nothing typed is lost.
        """
        result = await check_credential(self.bot, self.provider, credential)
        if result.status is CheckStatus.UNREACHABLE:
            return True, self.unchecked_warning(tr)
        if result.status is CheckStatus.OK:
            return True, ""
        if isinstance(result.error, BadInput):
            # What was typed cannot work (e.g. a URL the bot refuses to connect to).
            reason = _sentence(result.detail(tr) or tr("A value in the form is not valid"))
            text = self.invalid_text(tr, reason)
        else:
            text = self.rejected_text(tr, result.why(tr))
        advice = result.advice_in(tr)
        if advice:
            text = f"{text}\n{advice}"
        await interaction.followup.send(
            embed=render_error(self.rejected_title(tr), text), ephemeral=True
        )
        return False, ""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """A form submitted while the bot restarts is refused (nothing is stored, the member
        is told to try again); one submitted before is waited for by the shutdown."""
        self.bot.admit(interaction)
        return True

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
    interaction: discord.Interaction, channel: discord.abc.GuildChannel, tr: Translate = english
) -> list[str] | None:
    """
    The permissions the bot lacks to post notices in `channel` (their names in `tr`'s
    language), or None if it cannot know: that needs the bot's own member in the cache
    (`app_permissions` only covers the channel the command was used in).
    """
    guild = interaction.guild
    me = guild.me if guild is not None else None
    if me is None:
        return None
    allowed = channel.permissions_for(me)
    return [name for flag, name in post_permissions(tr) if not getattr(allowed, flag)]


def check_answer(provider: Provider[Any], result: CheckResult, tr: Translate) -> discord.Embed:
    """What `/ticketconfig test` found, and what to do about it, in `tr`'s language."""
    label, key, why = provider.label, provider.key, result.why(tr)
    error = result.error
    if result.status is CheckStatus.OK:
        return render_notice(
            tr("✅ {label} works", label=label),
            tr("{label} accepted this server's stored credentials just now.", label=label),
        )
    if isinstance(error, BadInput):
        text = tr(
            "{reason} Replace the credentials with `/ticketconfig set provider:{key}`.",
            reason=_sentence(result.detail(tr) or tr("A stored value is not valid")),
            key=key,
        )
    elif isinstance(error, CredentialsRejected):
        text = tr(
            "{label} rejected the stored credentials{why}. Replace them with "
            "`/ticketconfig set provider:{key}`.",
            label=label,
            why=why,
            key=key,
        )
    elif isinstance(error, NotPermitted):
        text = tr(
            "{label} refused the request{why}: these credentials are not allowed to use its "
            "API (their role, permissions or plan lack API access, or the bot's IP address "
            "is not allowed).",
            label=label,
            why=why,
        )
    elif isinstance(error, RateLimited):
        text = tr(
            "{label} asked TicketLens to slow down, so nothing was checked. Try again later.",
            label=label,
        )
    elif isinstance(error, BadAnswer):
        text = tr(
            "{label} answered something TicketLens cannot read{why}, so the credentials were "
            "not checked. Check the address with `/ticketconfig set provider:{key}`, or try "
            "again later.",
            label=label,
            why=why,
            key=key,
        )
    else:
        text = tr(
            "{label} did not answer{why}: its host looks down or unreachable from the bot, "
            "so the credentials were not checked. Try again later.",
            label=label,
            why=why,
        )
    advice = result.advice_in(tr)
    if advice:
        text = f"{text}\n{advice}"
    if result.status is CheckStatus.UNREACHABLE:
        title = tr("{label} could not be checked", label=label)
        return render_error(title, text, colour=Colour.ORANGE)
    return render_error(tr("{label} is not working", label=label), text)


def audit_words(tr: Translate) -> tuple[dict[str, str], dict[str, str]]:
    """
    The stored audit actions and details that are our words, as `tr` shows them: (actions,
    details). The actions are the subcommands' names; other details are data (provider
    labels, mentions) and stay as they are.
    """
    actions = {
        "set": tr("set"),
        "set (unchecked)": tr("set (unchecked)"),
        "remove": tr("remove"),
        "staffrole": tr("staffrole"),
        "logchannel": tr("logchannel"),
    }
    return actions, {"cleared": tr("cleared")}


def audit_embed(entries: list[AuditEntry], tr: Translate = english) -> discord.Embed:
    """
    One line per change, newest first: `<t:unix:f> <@actor> action detail`. Built here, not
    with render_notice: every word is ours and the mentions should render as names (allowed
    mentions are none, so they never ping). The entries are stored in English; `tr` words them.
    """
    actions, details = audit_words(tr)
    lines: list[str] = []
    size = 0
    for entry in entries:
        action = actions.get(entry.action, entry.action)
        line = f"<t:{int(entry.at.timestamp())}:f> <@{entry.actor_id}> {action}"
        line = f"{line} {details.get(entry.detail, entry.detail)}" if entry.detail else line
        # Details are bounded, but 25 long ones would pass Discord's limit: stop before it.
        size += len(line) + 1
        if size > _DESCRIPTION_LIMIT:
            break
        lines.append(line)
    return discord.Embed(
        title=tr("Configuration changes"),
        description="\n".join(lines) or tr("No changes recorded yet."),
        colour=Colour.BLURPLE,
    )


#: How many recorded lookups `/ticketconfig lookups` shows.
LOOKUPS_SHOWN = 25


def shown_words(tr: Translate) -> dict[str, str]:
    """How a recorded lookup was shown (the store's words), as `tr` says it."""
    return {
        "ephemeral": tr("privately"),
        "public": tr("publicly"),
        "shared": tr("shared to the channel"),
    }


def lookups_embed(
    records: list[LookupRecord],
    labels: Mapping[str, str],
    tr: Translate = english,
    *,
    days: int,
    filtered: bool = False,
) -> discord.Embed:
    """
    One line per lookup, newest first: `<t:unix:f> <@member> · **Provider** `ref` · <#channel>
    · how shown`. Built here, not with render_notice: the mentions should render as names
    (allowed mentions are none, so they never ping). `labels` names the providers by key (one
    no longer registered shows its key). The ref is what the member asked for: shown in code,
    where nothing in it is markup.
    """
    ways = shown_words(tr)
    lines: list[str] = []
    size = 0
    for record in records:
        ref = record.ref.replace("`", "\u02cb")
        where = f"<#{record.channel_id}>" if record.channel_id is not None else "—"
        line = (
            f"<t:{int(record.at.timestamp())}:f> <@{record.user_id}> · "
            f"**{labels.get(record.provider, record.provider)}** `{ref}` · {where} · "
            f"{ways.get(record.shown, record.shown)}"
        )
        # 25 lines with long refs would pass Discord's limit: stop before it, and say so.
        size += len(line) + 1
        if size > _DESCRIPTION_LIMIT - 200:
            left = len(records) - len(lines)
            lines.append(
                tr(
                    "{count} more not shown: narrow it down with `member` or `provider`.",
                    count=left,
                )
            )
            break
        lines.append(line)
    if not lines:
        empty = (
            tr("No lookups match in the last {days} days.", days=days)
            if filtered
            else tr("No lookups recorded in the last {days} days.", days=days)
        )
        lines.append(empty)
    embed = discord.Embed(
        title=tr("Recent lookups"), description="\n".join(lines), colour=Colour.BLURPLE
    )
    embed.set_footer(text=tr("Newest first. Each lookup is kept {days} days.", days=days))
    return embed


def build_group(bot: TicketLensBot) -> ConfigGroup:
    """The `/ticketconfig` group with its subcommands, closed over the bot."""
    group = ConfigGroup(bot)
    choices = provider_choices(bot)

    def provider_of(key: str) -> Provider[Any]:
        return bot.providers[key]

    def words(interaction: discord.Interaction) -> Translate:
        """The invoker's language (`bot.i18n.locale_for`)."""
        return bot.i18n.for_interaction(interaction)

    @group.command(name="set", description="Store credentials for a provider (opens a form).")
    @app_commands.describe(provider="Which system to connect.")
    @app_commands.choices(provider=choices)
    async def set_(interaction: discord.Interaction, provider: str) -> None:
        modal = CredentialModal(bot, provider_of(provider), words(interaction))
        await interaction.response.send_modal(modal)

    @group.command(name="remove", description="Delete this server's credentials for a provider.")
    @app_commands.describe(provider="Which system to disconnect.")
    @app_commands.choices(provider=choices)
    async def remove(interaction: discord.Interaction, provider: str) -> None:
        assert interaction.guild_id is not None  # guild_only
        tr = words(interaction)
        chosen = provider_of(provider)
        label = chosen.label
        removed = await bot.store.delete_credential(interaction.guild_id, None, chosen.key)
        log.info(
            "%s credentials removed=%s for guild %s by user %s",
            chosen.key,
            removed,
            interaction.guild_id,
            interaction.user.id,
        )
        if not removed:
            text = tr("No {label} credentials were stored for this server.", label=label)
            await send_private(interaction, render_notice(tr("Nothing to remove"), text))
            return
        await bot.store.add_audit(interaction.guild_id, interaction.user.id, "remove", label)
        text = tr("{label} credentials were deleted.", label=label)
        if await bot.store.get_guild_setting(interaction.guild_id, LOG_CHANNEL) is not None:
            # Posting may wait on Discord's rate limits: answer within 3 s, then follow up.
            await interaction.response.defer(ephemeral=True, thinking=True)
            title, posted = removed_notice(
                guild_words(bot, interaction), user=interaction.user.id, label=label
            )
            note = await post_credential_change(bot, interaction, title, posted, tr)
            if note:
                text = f"{text}\n{note}"
        await send_private(interaction, render_notice(tr("Removed"), text))

    @group.command(
        name="staffrole",
        description="Set the role whose members count as staff (no role: clear it).",
    )
    @app_commands.describe(role="Members with this role may see staff-only tickets and notes.")
    async def staffrole(interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        assert interaction.guild_id is not None  # guild_only
        tr = words(interaction)
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
            tr(
                "Members with {role} now count as staff, as do members with **Manage Server**.",
                role=role.mention,
            )
            if role
            else tr(
                "The staff role was cleared: only members with **Manage Server** count as staff."
            )
        )
        embed = discord.Embed(title=tr("Staff role"), description=text, colour=Colour.BLURPLE)
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
        tr = words(interaction)
        guild_id, user_id = interaction.guild_id, interaction.user.id
        if channel is None:
            await bot.store.set_guild_setting(guild_id, LOG_CHANNEL, None)
            await bot.store.add_audit(guild_id, user_id, "logchannel", "cleared")
            log.info("log channel cleared for guild %s by user %s", guild_id, user_id)
            text = tr("Credential changes are no longer posted in a channel.")
            embed = discord.Embed(title=tr("Log channel"), description=text, colour=Colour.BLURPLE)
            await send_private(interaction, embed)
            return
        missing = missing_post_permissions(interaction, channel, tr)
        if missing:
            text = tr(
                "TicketLens cannot post in {channel}: it lacks {permissions} there. Nothing was "
                "changed; give it those permissions (or pick another channel) and run this again.",
                channel=channel.mention,
                permissions=", ".join(f"**{name}**" for name in missing),
            )
            embed = discord.Embed(
                title=tr("Log channel not set"), description=text, colour=Colour.RED
            )
            await send_private(interaction, embed)
            return
        await bot.store.set_guild_setting(guild_id, LOG_CHANNEL, str(channel.id))
        await bot.store.add_audit(guild_id, user_id, "logchannel", f"<#{channel.id}>")
        log.info("log channel %s for guild %s by user %s", channel.id, guild_id, user_id)
        text = tr(
            "Who sets or removes credentials is now posted in {channel} (never the values).",
            channel=channel.mention,
        )
        if missing is None:
            unsure = tr(
                "TicketLens could not check its permissions there; if a post fails, the "
                "admin who made the change is told."
            )
            text = f"{text} {unsure}"
        embed = discord.Embed(title=tr("Log channel"), description=text, colour=Colour.BLURPLE)
        await send_private(interaction, embed)

    @group.command(name="test", description="Check this server's stored credentials now.")
    @app_commands.describe(provider="Which system's credentials to check.")
    @app_commands.choices(provider=choices)
    async def check_stored(interaction: discord.Interaction, provider: str) -> None:
        assert interaction.guild_id is not None  # guild_only
        tr = words(interaction)
        chosen = provider_of(provider)
        # The provider may take seconds to answer: acknowledge within Discord's 3 s first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        # Unreadable (CredentialUnreadable) goes to the error handler's usual answer.
        credential = await bot.store.get_credential(interaction.guild_id, None, chosen.key)
        if credential is None:
            text = tr(
                "No {label} credentials are set for this server: "
                "use `/ticketconfig set provider:{key}`.",
                label=chosen.label,
                key=chosen.key,
            )
            title = tr("{label} is not set", label=chosen.label)
            await send_private(interaction, render_error(title, text))
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
        await send_private(interaction, check_answer(chosen, result, tr))

    @group.command(name="audit", description="The last 25 configuration changes here.")
    async def audit(interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        entries = await bot.store.list_audit(interaction.guild_id, AUDIT_SHOWN)
        await send_private(interaction, audit_embed(entries, words(interaction)))

    @group.command(name="lookups", description="The last 25 ticket lookups here: who, what, where.")
    @app_commands.describe(
        member="Only this member's lookups.", provider="Only lookups with this system."
    )
    @app_commands.choices(provider=choices)
    async def lookups(
        interaction: discord.Interaction,
        member: discord.User | None = None,
        provider: str | None = None,
    ) -> None:
        assert interaction.guild_id is not None  # guild_only
        days = bot.settings.lookup_audit_days
        records = await bot.store.list_lookup_audit(
            interaction.guild_id,
            user_id=member.id if member is not None else None,
            provider=provider,
            limit=LOOKUPS_SHOWN,
            keep_days=days,
        )
        labels = {key: chosen.label for key, chosen in bot.providers.items()}
        filtered = member is not None or provider is not None
        embed = lookups_embed(records, labels, words(interaction), days=days, filtered=filtered)
        await send_private(interaction, embed)

    @group.command(name="show", description="Which providers are set up here, by whom and when.")
    async def show(interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        tr = words(interaction)
        stored = await bot.store.list_credentials(interaction.guild_id)
        checks = await bot.store.list_credential_health(interaction.guild_id)
        lines = []
        for provider in sorted(bot.providers.values(), key=lambda p: p.label.lower()):
            own = [c for c in stored if c.provider == provider.key and c.user_id is None]
            members = sum(1 for c in stored if c.provider == provider.key and c.user_id is not None)
            if own:
                info = own[0]
                status = tr(
                    "set by <@{user}> <t:{time}:R>",
                    user=info.set_by,
                    time=int(info.set_at.timestamp()),
                )
                status += failing_note(checks, provider, tr)
            else:
                status = tr("not set (`/ticketconfig set provider:{key}`)", key=provider.key)
            if members:
                status += tr("; {members} member(s) linked their own", members=members)
                status += members_failing_note(checks, provider, tr)
            lines.append(f"**{provider.label}**: {status}")
            if own:
                lines += await usage_lines(bot, interaction.guild_id, provider, tr)
        role_id = await bot.access.staff_role(interaction.guild_id)
        lines.append(
            tr("**Staff**: Manage Server and <@&{role}>", role=role_id)
            if role_id
            else tr("**Staff**: members with Manage Server (`/ticketconfig staffrole` adds a role)")
        )
        # Built here, not with render_notice: the text is ours and the set_by mentions should
        # render as names (allowed mentions are none, so they never ping).
        embed = discord.Embed(
            title=tr("TicketLens on this server"),
            description="\n".join(lines),
            colour=Colour.BLURPLE,
        )
        await send_private(interaction, embed)

    return group


async def setup(bot: TicketLensBot) -> None:
    """Add `/ticketconfig` (after every provider registered)."""
    bot.tree.add_command(build_group(bot))
