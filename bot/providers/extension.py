"""
A provider package as a discord.py extension: its Cog, and the `setup()` every package shares.

The `/ticket` group belongs to the core, and discord.py adds a Cog's own app commands at the
tree's top level, so a provider's subcommand is built by its command module (closed over the
provider) and attached under `/ticket` when the Cog loads; unloading detaches it and forgets
the provider. `bot.reload_extension("cogs.whmcs")` therefore swaps one provider without a
restart. Listeners and start/stop work of a provider belong on its Cog.
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from discord import app_commands
from discord.ext import commands

from bot.providers.base import Provider
from bot.settings import ProviderSettings

if TYPE_CHECKING:
    from bot.app import TicketLensBot

__all__ = ["PROVIDER_EXTRA", "ProviderCog", "lookup_command", "provider_setup"]

#: Key in a lookup command's `extras` holding its provider.
PROVIDER_EXTRA = "ticketlens_provider"

P = TypeVar("P", bound=Provider[Any])
S = TypeVar("S", bound=ProviderSettings)

Command = app_commands.Command[Any, Any, Any]
Callback = Callable[..., Coroutine[Any, Any, None]]


class ProviderCog(commands.Cog):
    """One provider's presence in the bot: registered, with its `/ticket` subcommand."""

    def __init__(self, bot: TicketLensBot, provider: Provider[Any], command: Command) -> None:
        self.bot = bot
        self.provider = provider
        self.command = command
        # Errors raised while the command parses its options (before the lookup stamps its
        # own) get their provider from here, in the bot's error handler.
        command.extras[PROVIDER_EXTRA] = provider

    async def cog_load(self) -> None:
        """Make the provider known and its subcommand available."""
        self.bot.register_provider(self.provider)
        self.bot.add_lookup_command(self.command)

    async def cog_unload(self) -> None:
        """Take the subcommand away and forget the provider."""
        self.bot.remove_lookup_command(self.command.name)
        self.bot.unregister_provider(self.provider.key)


def provider_setup(
    provider_cls: Callable[..., P],
    settings_cls: type[S],
    build_command: Callable[[TicketLensBot, P], Command],
) -> Callable[[TicketLensBot], Awaitable[None]]:
    """The extension's `setup(bot)`: build the provider over the bot's HTTP, add its Cog."""

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
        await bot.add_cog(cog_cls(bot, provider, build_command(bot, provider)))

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
        return app_commands.command(name=name, description=description)(renamed)

    return decorate
