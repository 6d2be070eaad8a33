"""
`/ticket help`: what TicketLens can do in this server, for the member asking.

Built from what is registered and stored now (providers, their rules, this server's and this
member's credentials, the member's permissions), never from a fixed list, so it stays true as
providers come and go. Private, like every answer that is about the member.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import discord
from discord import app_commands

from bot.access import installed_guild
from bot.i18n import Translate
from bot.providers.base import CredentialScope, Provider
from bot.providers.palette import Colour
from bot.respond import send_private
from cogs.links import MENU_NAME

if TYPE_CHECKING:
    from bot.app import TicketLensBot

HELP_NAME: Final = "help"
#: Discord's limit on an embed field's value.
FIELD_LIMIT: Final = 1024


def provider_line(
    provider: Provider[Any], *, guild_set: bool, own_set: bool, staff: bool, tr: Translate
) -> str:
    """One provider as this member can use it here."""
    key = provider.key
    if provider.scope is CredentialScope.MEMBER:
        if own_set:
            status = tr("your own key is linked: it shows your tickets")
        elif staff and guild_set:
            status = tr("the server's team key (staff); link your own to see yours")
        else:
            status = tr("link your own key first: `/ticketaccount link provider:{key}`", key=key)
    elif not guild_set:
        status = tr("not set up here yet (an admin runs `/ticketconfig set`)")
    elif provider.visibility.staff_only and not staff:
        status = tr("staff only: you are not staff here")
    else:
        status = tr("ready")
    if provider.visibility.public_allowed and (staff or not provider.visibility.staff_only):
        status += tr("; `public` posts it in the channel")
    return f"**{provider.label}** `/ticket {key}`: {status}"


def _fit(lines: list[str]) -> str:
    text = "\n".join(lines)
    return text if len(text) <= FIELD_LIMIT else text[: FIELD_LIMIT - 1] + "…"


async def describe(bot: TicketLensBot, interaction: discord.Interaction) -> discord.Embed:
    """The help embed for the member behind `interaction`, in their language."""
    tr = bot.i18n.for_interaction(interaction)
    guild_id = installed_guild(interaction)
    if guild_id is None:
        return await describe_app(bot, interaction, tr)
    staff = await bot.access.is_staff(interaction)
    stored = await bot.store.list_credentials(guild_id)
    guild_set = {c.provider for c in stored if c.user_id is None}
    own_set = {c.provider for c in stored if c.user_id == interaction.user.id}
    providers = sorted(bot.providers.values(), key=lambda p: p.label.lower())
    standing = tr("you count as **staff** here.") if staff else tr("you are not staff here.")
    embed = discord.Embed(
        title=tr("TicketLens here"),
        description=tr(
            "Look tickets up without leaving Discord. Answers are only for you unless you ask "
            "for `public`; {standing}",
            standing=standing,
        ),
        colour=Colour.BLURPLE,
    )
    lines = [
        provider_line(p, guild_set=p.key in guild_set, own_set=p.key in own_set, staff=staff, tr=tr)
        for p in providers
    ]
    embed.add_field(name=tr("Look up a ticket"), value=_fit(lines) or tr("No system is connected."))
    embed.add_field(
        name=tr("From a message"),
        value=tr(
            "Right-click (or long-press) a message, **Apps → {menu}**: the ticket links and "
            "ids in it are looked up (the first 5), only for you.",
            menu=tr(MENU_NAME),
        ),
        inline=False,
    )
    lists = [
        f"`/tickets {tr(group.name)} {tr(sub.name)}`"
        for group in bot.list_group.commands
        if isinstance(group, app_commands.Group)
        for sub in group.commands
    ]
    if lists:
        embed.add_field(name=tr("Counts and lists"), value=_fit([", ".join(lists)]), inline=False)
    embed.add_field(
        name=tr("Buttons and history"),
        value=tr(
            "**Refresh** fetches the ticket again and **Previous/Next** turn pages, for whoever "
            "ran the lookup and for staff, as long as the message exists. The `id` option "
            "suggests your own lookups of the last 30 days; `/ticketaccount forget` clears them."
        ),
        inline=False,
    )
    if interaction.permissions.manage_guild:
        embed.add_field(
            name=tr("Setting up (you have Manage Server)"),
            value=tr(
                "`/ticketconfig set`, `remove`, `show`, `test` for credentials; "
                "`/ticketconfig staffrole` for who counts as staff; `/ticketconfig logchannel` "
                "and `/ticketconfig audit` for a trail of changes."
            ),
            inline=False,
        )
    return embed


async def describe_app(
    bot: TicketLensBot, interaction: discord.Interaction, tr: Translate
) -> discord.Embed:
    """Help where TicketLens runs as the member's own app (a DM, a group DM, a server without
    the bot): the providers that work there with the member's own key, and which do not."""
    linked = {c.provider for c in await bot.store.list_user_credentials(interaction.user.id)}
    providers = sorted(bot.providers.values(), key=lambda p: p.label.lower())
    embed = discord.Embed(
        title=tr("TicketLens as your app"),
        description=tr(
            "Here TicketLens runs as the app installed to your account, with your own keys. "
            "Answers are only for you unless you ask for `public` (where the app may post)."
        ),
        colour=Colour.BLURPLE,
    )
    lines = []
    for p in providers:
        if not p.user_installable:
            continue
        if p.key in linked:
            status = tr("your own key is linked")
        else:
            status = tr("link your own key first: `/ticketaccount link provider:{key}`", key=p.key)
        lines.append(f"**{p.label}** `/ticket {p.key}`: {status}")
    others = [p.label for p in providers if not p.user_installable]
    if others:
        lines.append(
            tr(
                "{labels}: only in a server where TicketLens is installed.",
                labels=", ".join(others),
            )
        )
    embed.add_field(name=tr("Look up a ticket"), value=_fit(lines) or tr("No system is connected."))
    return embed


def build_command(bot: TicketLensBot) -> app_commands.Command[Any, Any, Any]:
    """`/ticket help`, closed over the bot."""

    @app_commands.command(
        name=HELP_NAME, description="What TicketLens can do here, and what you may use."
    )
    async def help_(interaction: discord.Interaction) -> None:
        await send_private(interaction, await describe(bot, interaction))

    return help_


async def setup(bot: TicketLensBot) -> None:
    """Add `/ticket help` (after every provider registered)."""
    bot.add_lookup_command(build_command(bot))
