"""
A provider package as a discord.py extension: its Cog, and the `setup()` every package shares.

The `/ticket` group belongs to the core, and discord.py adds a Cog's own app commands at the
tree's top level, so a provider's subcommand is built by its command module (closed over the
provider) and attached under `/ticket` when the Cog loads; unloading detaches it and forgets
the provider. `bot.reload_extension("cogs.whmcs")` therefore swaps one provider without a
restart. Listeners and start/stop work of a provider belong on its Cog.

The `/ticket` and `/tickets` groups also work where TicketLens is installed to a member's own
account (`bot.app`); the commands of a provider that is not `user_installable` get a check
that refuses them there, politely and before anything runs (`bot.access.NotInstalledHere`).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import NotInstalledHere, installed_guild
from bot.errors import BadInput
from bot.i18n import package_catalogs
from bot.providers.base import Provider
from bot.settings import ProviderSettings

if TYPE_CHECKING:
    from bot.app import TicketLensBot

__all__ = ["PROVIDER_EXTRA", "ProviderCog", "lookup_command", "provider_setup"]

#: Key in a lookup command's `extras` holding its provider.
PROVIDER_EXTRA = "ticketlens_provider"
#: Discord's limits on autocomplete answers.
CHOICES_LIMIT = 25
CHOICE_NAME_LIMIT = 100

P = TypeVar("P", bound=Provider[Any])
S = TypeVar("S", bound=ProviderSettings)

Command = app_commands.Command[Any, Any, Any]
Callback = Callable[..., Coroutine[Any, Any, None]]


class ProviderCog(commands.Cog):
    """One provider's presence in the bot: registered, with its `/ticket` subcommand."""

    def __init__(
        self,
        bot: TicketLensBot,
        provider: Provider[Any],
        command: Command,
        lists: app_commands.Group | None = None,
    ) -> None:
        self.bot = bot
        self.provider = provider
        self.command = command
        self.lists = lists
        # Errors raised while a command parses its options (before the lookup stamps its
        # own) get their provider from here, in the bot's error handler.
        command.extras[PROVIDER_EXTRA] = provider
        subcommands = [sub for sub in lists.walk_commands()] if lists is not None else []
        for sub in subcommands:
            sub.extras[PROVIDER_EXTRA] = provider
        if not provider.user_installable:
            for each in (command, *subcommands):
                if isinstance(each, app_commands.Command):
                    each.add_check(_installed_here)

    async def cog_load(self) -> None:
        """Make the provider known, its words translatable and its subcommands available."""
        self.bot.register_provider(self.provider)
        # A provider's own words (`bot.i18n.Msg` in its views) are translated by catalogs in
        # its package's `locales/`, so a new provider brings its translations along.
        package = sys.modules[type(self.provider).__module__].__package__
        if package:
            self.bot.i18n.add_catalogs(package_catalogs(package))
        self.bot.add_lookup_command(self.command)
        if self.lists is not None:
            self.bot.add_list_group(self.lists)

    async def cog_unload(self) -> None:
        """Take the subcommands away and forget the provider."""
        self.bot.remove_lookup_command(self.command.name)
        if self.lists is not None:
            self.bot.remove_list_group(self.lists.name)
        self.bot.unregister_provider(self.provider.key)


async def _installed_here(interaction: discord.Interaction) -> bool:
    """The check on a provider's commands that only work in a server with TicketLens."""
    if installed_guild(interaction) is None:
        raise NotInstalledHere()
    return True


def provider_setup(
    provider_cls: Callable[..., P],
    settings_cls: type[S],
    build_command: Callable[[TicketLensBot, P], Command],
    build_lists: Callable[[TicketLensBot, P], app_commands.Group] | None = None,
) -> Callable[[TicketLensBot], Awaitable[None]]:
    """
    The extension's `setup(bot)`: build the provider over the bot's HTTP, add its Cog with
    its `/ticket` subcommand and, when `build_lists` is given, its `/tickets` group.
    """

    async def setup(bot: TicketLensBot) -> None:
        provider = provider_cls(bot.upstream, bot.section(settings_cls))
        # A Cog class of the provider's own, named after it and living in its package:
        # discord.py removes an extension's Cogs by their module when it unloads or reloads it.
        cog_cls = types.new_class(
            f"{type(provider).__name__}Cog",
            (ProviderCog,),
            {"name": provider.label},
            lambda namespace: namespace.update(__module__=type(provider).__module__),
        )
        lists = build_lists(bot, provider) if build_lists is not None else None
        await bot.add_cog(cog_cls(bot, provider, build_command(bot, provider), lists))

    return setup


def lookup_command(
    name: str, description: str, **option_help: str
) -> Callable[[Callback], Command]:
    """
    The decorators every `/ticket <name>` subcommand shares: its name and description, each
    option's help, and the ticket parameter `ticket_id` shown as the option `id` (a Python
    parameter may not shadow the builtin).
    """

    def decorate(callback: Callback) -> Command:
        described = app_commands.describe(**option_help)(callback)
        renamed = app_commands.rename(ticket_id="id")(described)
        completed = app_commands.autocomplete(ticket_id=complete_ticket_id)(renamed)
        return app_commands.command(name=name, description=description)(completed)

    return decorate


async def complete_ticket_id(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[Any]]:
    """
    The `id` option's suggestions: the member's own successful lookups in this server with
    this command's provider, newest first, filtered by what is typed (at most 25, Discord's
    limit). The store keeps them 30 days; nothing else is suggested (nor anything outside a
    server with TicketLens, where no history is kept).
    """
    command = interaction.command
    provider = command.extras.get(PROVIDER_EXTRA) if command is not None else None
    guild_id = installed_guild(interaction)
    if not isinstance(provider, Provider) or guild_id is None:
        return []
    bot: TicketLensBot = interaction.client  # type: ignore[assignment]
    recent = await bot.store.recent_lookups(guild_id, interaction.user.id, provider.key)
    typed = str(current or "").strip().lower()
    choices: list[app_commands.Choice[Any]] = []
    for text in recent:
        try:
            value = provider.id_option(provider.parse_ref(text))
        except BadInput:
            continue  # written by an older version, or no longer valid: not offered
        shown = str(value)
        if value is None or (typed and typed not in shown.lower()):
            continue
        choices.append(app_commands.Choice(name=shown[:CHOICE_NAME_LIMIT], value=value))
        if len(choices) == CHOICES_LIMIT:
            break
    return choices
