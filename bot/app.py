"""
The Bot subclass: life cycle and registries.

It holds what a lookup needs (store, HTTP, ticket cache, access rules, redactor) but decides
nothing about them. Start-up is sequential and fail-fast: every extension under `cogs/` is
loaded in `setup_hook` (provider packages first, then core modules such as `cogs.config`, which
build their choices from the registry), then the command tree is synced only if its hash
changed since the last sync. Providers plug in through their Cog (`bot.providers.extension`),
which calls `register_provider` and `add_lookup_command`; nothing in `bot/` names a provider.

It owns its metrics (`bot.metrics`, handed to the HTTP layer and the ticket cache) and, with
METRICS_PORT, the `/healthz` and `/metrics` endpoint (`bot.health`), started in `setup_hook`.
Shutting down (`shutdown`, on SIGTERM) is graceful: every command and button press is admitted
by `admit`, which refuses new ones once draining ("restarting", through the one error handler)
and keeps the task of each one running, so `shutdown` can wait for them before closing.

It is an `AutoShardedBot`: SHARD_COUNT and SHARD_IDS let several processes split the shards
(unset: this process runs all of Discord's recommended count). Only the process holding shard 0
syncs the command tree. Once this process's start is complete (`on_ready`, all its shards
ready), the data of guilds its shards no longer hold is forgotten (`bot.cleanup`). A guild's
events all arrive at one shard, hence at one process, so what is kept per guild in memory (the
ticket cache, rate limits, the SQLite store's read caches) needs no sharing between processes.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging
import pkgutil
from collections.abc import Mapping
from typing import Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands
from pydantic_settings import BaseSettings

import cogs
from bot import controls, wording
from bot.access import Access, describe_install
from bot.cache import TicketCache
from bot.cleanup import forget_departed_guilds
from bot.errors import TicketLensError
from bot.health import Endpoint, GatewayState
from bot.http import Http
from bot.i18n import Translator, worded
from bot.metrics import Metrics
from bot.providers.base import Provider, TicketView
from bot.providers.extension import PROVIDER_EXTRA
from bot.redact import Redactor
from bot.render import render_error
from bot.respond import release, send_private
from bot.settings import Settings
from bot.store import CredentialUnreadable, Store
from bot.usage import Usage

log = logging.getLogger(__name__)

S = TypeVar("S", bound=BaseSettings)

#: The cyclic collector's thresholds once connected (`tune_collector`); Python's: 700, 10, 10.
GC_THRESHOLDS = (2_000, 10, 10)


#: `meta` key holding the Discord application whose guilds the database records.
APPLICATION_META = "application_id"

#: Where top-level commands may be installed and used (Discord's `integration_types` and
#: `contexts`): by default a server that installed TicketLens, in that server only.
GUILD_INSTALL_ONLY = app_commands.AppInstallationType(guild=True, user=False)
GUILD_CONTEXT_ONLY = app_commands.AppCommandContext(
    guild=True, dm_channel=False, private_channel=False
)
#: ... and for what also works with TicketLens installed to a member's own account: in
#: servers (with or without the bot), DMs with the bot, and group DMs and other DMs.
ANY_INSTALL = app_commands.AppInstallationType(guild=True, user=True)
ANY_CONTEXT = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)


def discover_extensions() -> list[str]:
    """Every extension under `cogs/`: provider packages first, then core modules."""
    packages: list[str] = []
    modules: list[str] = []
    for info in pkgutil.iter_modules(cogs.__path__, "cogs."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        (packages if info.ispkg else modules).append(info.name)
    return sorted(packages) + sorted(modules)


def tune_collector() -> None:
    """
    Set the cyclic garbage collector up for serving, once start-up is over.

    Measured under `make bench` with gc.callbacks: at Python's default thresholds (700, 10,
    10) the collector cost ~0.19 ms per lookup (a young collection of ~0.3 ms every four
    lookups at 100 in flight, and full ones walking every module). Freezing what exists now
    (modules, the command tree, the guild cache: alive for the whole process anyway), a young
    generation of 2 000 allocations, and interactions freed without it (`respond.release`)
    bring it to ~0.02 ms per lookup, and the resident memory grows less under load than
    with the defaults. Garbage cycles wait at most 2 000 allocations longer.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class Restarting(app_commands.CheckFailure):
    """A command or button press that arrived while the bot shuts down: not run, and the
    member is told to try again in a moment (`wording.RESTARTING`)."""


class TicketLensTree(app_commands.CommandTree["TicketLensBot"]):
    """The command tree: every app command (context menus and autocomplete too) is admitted
    by the bot first (`TicketLensBot.admit`)."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Run it unless the bot is shutting down; an autocomplete then simply gets nothing."""
        if interaction.type is discord.InteractionType.autocomplete and self.client.draining:
            return False
        # Raises `Restarting`, which the tree hands to the one error handler.
        self.client.admit(interaction)
        return True


class TicketLensBot(commands.AutoShardedBot):
    """TicketLens: app commands only, no privileged intents, mentions never ping; the shards
    of SHARD_IDS out of SHARD_COUNT (unset: all of Discord's recommended count)."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        upstream: Http,
        redactor: Redactor,
        sections: Mapping[type[BaseSettings], BaseSettings] | None = None,
        tune_collector: bool = False,
        metrics: Metrics | None = None,
        **options: Any,
    ) -> None:
        shards: dict[str, Any] = {}
        if settings.shard_ids is not None:
            shards["shard_ids"] = list(settings.shard_ids)
        intents = discord.Intents.none()
        # GUILD_CREATE/GUILD_DELETE: we forget a guild's credentials when removed from it.
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=TicketLensTree,
            # Every top-level command is for servers that installed TicketLens unless it says
            # otherwise (`/ticket` and `/tickets` also work where a member installed the app).
            allowed_installs=GUILD_INSTALL_ONLY,
            allowed_contexts=GUILD_CONTEXT_ONLY,
            # No SHARD_COUNT: ask Discord (GET /gateway/bot) and run every shard here.
            shard_count=settings.shard_count,
            **shards,
            **options,
        )
        self.settings = settings
        self.store = store
        self.upstream = upstream
        self.redactor = redactor
        self.access = Access(store, redactor)
        # This bot's own registry: several bots in one process (tests) never share counts.
        self.metrics = metrics if metrics is not None else Metrics()
        upstream.instrument(self.metrics)
        # Requests per credential in the last hour, last 429, announced allowance (in memory):
        # `/ticketconfig show` reports them.
        self.usage = Usage()
        upstream.count_usage(self.usage)
        self.metrics.watch_shards(self.shard_latencies)
        self.tickets: TicketCache[TicketView] = TicketCache(
            ttl_s=settings.cache_ttl_s,
            size=settings.cache_size,
            on_hit=self.metrics.cache_hit,
            fallback_s=settings.cache_fallback_s,
        )
        #: Gateway connections down, from discord.py's events (`/healthz`).
        self.gateway = GatewayState()
        #: Set by `shutdown`: new commands are refused from then on.
        self.draining = False
        # The tasks running admitted commands and presses, until each is done.
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._endpoint: Endpoint | None = None
        # Keyed by qualified name: discord.py re-imports an extension's modules when it is
        # reloaded, so the class object a section was validated with may not be the one asking.
        self.sections: dict[str, BaseSettings] = {
            _qualname(cls): value for cls, value in (sections or {}).items()
        }
        self.providers: dict[str, Provider[Any]] = {}
        # Both groups are also there where a member installed TicketLens to their own account
        # (DMs, group DMs, servers without the bot): Discord only reads where a command may
        # run on the top-level command, so a provider's subcommand that must stay in servers
        # with TicketLens refuses elsewhere itself (`bot.providers.extension`).
        self.ticket_group = app_commands.Group(
            name="ticket",
            description="Look up a ticket from a connected system.",
            allowed_installs=ANY_INSTALL,
            allowed_contexts=ANY_CONTEXT,
        )
        # `/tickets <provider> ...`: lists and counts, for providers that offer them.
        self.list_group = app_commands.Group(
            name="tickets",
            description="Lists and counts of tickets from a connected system.",
            allowed_installs=ANY_INSTALL,
            allowed_contexts=ANY_CONTEXT,
        )
        # Every user-facing text's translations; discord.py's translator too (`setup_hook`).
        self.i18n = Translator()
        self.synced_this_start = False
        #: Set by the first `on_ready` of this process: its start is complete (`bot.cleanup`).
        self.started = False
        #: Set once the guilds removed while offline have been forgotten (or that failed).
        self.departed_checked = asyncio.Event()
        # Tuned once, by the real process only (`__main__`): tests run many bots in one process.
        self._tune_collector = tune_collector

    # -- provider registry -------------------------------------------------------------

    def section(self, cls: type[S]) -> S:
        """A settings section, validated by `__main__` before connecting (built on demand)."""
        found = self.sections.get(_qualname(cls))
        if isinstance(found, cls):
            return found
        section = cls(**found.model_dump()) if found is not None else cls()
        self.sections[_qualname(cls)] = section
        return section

    def register_provider(self, provider: Provider[Any]) -> None:
        """Make a provider known to configuration and lookups, and its secret names to the
        log redaction."""
        if provider.key in self.providers:
            raise ValueError(f"provider {provider.key!r} registered twice")
        self.redactor.learn_names(params=provider.secret_params, headers=provider.secret_headers)
        self.providers[provider.key] = provider

    def unregister_provider(self, key: str) -> None:
        """Forget a provider (its extension is being unloaded or reloaded)."""
        self.providers.pop(key, None)

    def add_lookup_command(self, command: app_commands.Command[Any, Any, Any]) -> None:
        """Add a provider's subcommand under `/ticket`."""
        self.ticket_group.add_command(command)

    def remove_lookup_command(self, name: str) -> None:
        """Remove a provider's subcommand from `/ticket`."""
        self.ticket_group.remove_command(name)

    def add_list_group(self, group: app_commands.Group) -> None:
        """Add a provider's lists and counts under `/tickets` (a group named after it)."""
        self.list_group.add_command(group)

    def remove_list_group(self, name: str) -> None:
        """Remove a provider's group from `/tickets`."""
        self.list_group.remove_command(name)

    # -- start-up ----------------------------------------------------------------------

    async def setup_hook(self) -> None:
        """Start the health and metrics endpoint (with METRICS_PORT: a port that is taken
        stops start-up before the gateway), load every extension, then sync commands only if
        they changed."""
        port = self.settings.metrics_port
        if port is not None and self._endpoint is None:
            endpoint = Endpoint(self, host=self.settings.metrics_host, port=port)
            await endpoint.start()
            self._endpoint = endpoint
        for name in discover_extensions():
            await self.load_extension(name)
        self.tree.add_command(self.ticket_group)
        # Discord refuses a group without subcommands.
        if self.list_group.commands:
            self.tree.add_command(self.list_group)
        controls.register(self)
        self.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]
        # Before syncing: the sync (and its hash) carry the commands' localisations.
        await self.tree.set_translator(self.i18n)
        if self.syncs_commands:
            await self.sync_if_changed()
        else:
            log.info("application commands are synced by the process holding shard 0; not syncing")

    @property
    def syncs_commands(self) -> bool:
        """Whether this process syncs the command tree: only the one holding shard 0 does, so
        processes starting together never race each other's sync (the hash is in the shared
        database's `meta`)."""
        shard_ids = self.settings.shard_ids
        return shard_ids is None or 0 in shard_ids

    def command_payload(self) -> list[dict[str, Any]]:
        """The command tree in the source language, without localisations."""
        return [command.to_dict(self.tree) for command in self.tree.get_commands()]

    async def synced_payload(self) -> list[dict[str, Any]]:
        """The command tree exactly as `tree.sync` sends it: with localisations, if any."""
        translator = self.tree.translator
        if translator is None:
            return self.command_payload()
        return [
            await command.get_translated_payload(self.tree, translator)
            for command in self.tree.get_commands()
        ]

    async def sync_if_changed(self) -> None:
        """Sync to DEV_GUILD_ID (or globally) when the tree's hash differs from the last one."""
        guild = (
            discord.Object(id=self.settings.dev_guild_id) if self.settings.dev_guild_id else None
        )
        # Hash what is sent, localisations included: a catalog change must re-sync too.
        digest = hashlib.sha256(
            json.dumps(await self.synced_payload(), sort_keys=True).encode()
        ).hexdigest()
        meta_key = f"command_hash:{guild.id if guild else 'global'}"
        if await self.store.get_meta(meta_key) == digest:
            log.info("application commands unchanged; not syncing")
            return
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        await self.store.set_meta(meta_key, digest)
        self.synced_this_start = True
        log.info("synced %d application commands (%s)", len(synced), meta_key)

    # -- gateway state, for /healthz and the shard latency metric ----------------------

    def shard_states(self) -> list[tuple[int, bool]]:
        """(shard id, closed) of each shard of an AutoShardedBot; [] for a single connection."""
        if isinstance(self, commands.AutoShardedBot):
            return [(shard_id, info.is_closed()) for shard_id, info in self.shards.items()]
        return []

    def shard_latencies(self) -> list[tuple[int, float]]:
        """(shard id, heartbeat latency in seconds) of each gateway connection of this
        process; a single connection is shard `shard_id`, or 0."""
        if isinstance(self, commands.AutoShardedBot):
            return list(self.latencies)
        return [(self.shard_id or 0, self.latency)]

    async def on_connect(self) -> None:
        """A session started (READY)."""
        self.gateway.up()

    async def on_resumed(self) -> None:
        """A dropped connection resumed its session."""
        self.gateway.up()

    async def on_disconnect(self) -> None:
        """A connection closed; discord.py reconnects and then says connect or resumed."""
        self.gateway.down()

    async def on_shard_connect(self, shard_id: int) -> None:
        """One shard's session started (AutoShardedBot)."""
        self.gateway.up(shard_id)

    async def on_shard_resumed(self, shard_id: int) -> None:
        """One shard resumed (AutoShardedBot)."""
        self.gateway.up(shard_id)

    async def on_shard_disconnect(self, shard_id: int) -> None:
        """One shard's connection closed (AutoShardedBot)."""
        self.gateway.down(shard_id)

    # -- graceful shutdown --------------------------------------------------------------

    def admit(self, interaction: discord.Interaction) -> None:
        """
        Let a command or button press run, and keep its task until it is done, so `shutdown`
        can wait for it. Called first thing in the task that runs it (the tree's check, a
        button's callback). `Restarting` once the bot is draining.
        """
        if self.draining:
            raise Restarting()
        task = asyncio.current_task()
        if task is not None and task not in self._in_flight:
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    @property
    def in_flight(self) -> int:
        """How many admitted commands and presses are still running."""
        return sum(1 for task in self._in_flight if not task.done())

    async def shutdown(self, timeout_s: float) -> None:
        """
        Stop taking commands, let those in flight finish (at most `timeout_s`), then close.
        The caller closes the HTTP session and the store after `start` returns.
        """
        if self.draining:
            return
        self.draining = True
        pending = [task for task in self._in_flight if not task.done()]
        log.info(
            "shutting down: %d command(s) in flight, waiting up to %g s for them",
            len(pending),
            timeout_s,
        )
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout_s)
            if late:
                log.warning(
                    "%d command(s) still running after %g s; stopping without them",
                    len(late),
                    timeout_s,
                )
        await self.close()

    async def close(self) -> None:
        """Close the gateway and HTTP to Discord, then stop the health endpoint."""
        try:
            await super().close()
        finally:
            endpoint, self._endpoint = self._endpoint, None
            if endpoint is not None:
                await endpoint.stop()

    # -- events ------------------------------------------------------------------------

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Removed from a guild (not an outage: that is `on_guild_unavailable`): forget it."""
        removed = await self.store.forget_guild(guild.id)
        log.info("removed from guild %s; deleted %d stored credential(s)", guild.id, removed)

    async def on_app_command_completion(
        self, interaction: discord.Interaction, command: app_commands.Command[Any, Any, Any]
    ) -> None:
        """A command answered: let its interaction go (see `bot.respond.release`)."""
        release(interaction)

    async def on_ready(self) -> None:
        """Log once we are connected (ids only). The first time in this process (every shard
        of it ready, their guild lists received): forget the guilds removed while offline."""
        user = self.user
        log.info(
            "connected as %s (%s) in %d guild(s)", user, user.id if user else "?", len(self.guilds)
        )
        if self._tune_collector:
            self._tune_collector = False
            tune_collector()
        if not self.started:
            # Again after a full reconnect: not run again (see `bot.cleanup`).
            self.started = True
            await self.forget_departed()

    def own_shards(self) -> tuple[int, list[int]] | None:
        """(shard count, this process's shard ids) once the shards are launched, else None."""
        count = self.shard_count
        if count is None:
            return None
        return count, list(self.shard_ids) if self.shard_ids is not None else list(range(count))

    async def forget_departed(self) -> None:
        """Forget the guilds of this process's shards it no longer holds (`bot.cleanup`);
        a failure is logged, and the next start tries again."""
        try:
            shards = self.own_shards()
            if shards is None:
                log.warning("shard count unknown; not looking for guilds removed while offline")
                return
            count, ids = shards
            # Guilds are only "removed" for the application that was in them: a database shared
            # by mistake with another bot (another token, same DATABASE_URL) must lose nothing.
            owner = await self.store.get_meta(APPLICATION_META)
            mine = str(self.application_id)
            if owner is None:
                await self.store.set_meta(APPLICATION_META, mine)
            elif owner != mine:
                log.warning(
                    "this database was used by application %s, not %s: not looking for guilds "
                    "removed while offline",
                    owner,
                    mine,
                )
                return
            await forget_departed_guilds(
                self.store,
                shard_count=count,
                shard_ids=ids,
                # get_guild knows unavailable guilds too: an outage keeps the data.
                holds=lambda guild_id: self.get_guild(guild_id) is not None,
            )
        except Exception:
            log.warning("could not forget the guilds removed while offline", exc_info=True)
        finally:
            self.departed_checked.set()

    # -- the one error handler ----------------------------------------------------------

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """
        Answer every failed app command politely and ephemerally.

        Precedence: our typed errors (their provider's wording), then permission and
        guild-only checks, then bad option values, then anything else (logged with traceback).
        """
        original: BaseException = error
        if isinstance(error, app_commands.CommandInvokeError):
            original = error.original
        await self.report_error(interaction, original)
        release(interaction)

    async def report_error(self, interaction: discord.Interaction, original: BaseException) -> None:
        """Tell the invoker what went wrong (ephemeral) and log what we must."""
        # The member's language, else the guild's, else English (`bot.i18n.locale_for`).
        tr = self.i18n.for_interaction(interaction)
        if isinstance(original, TicketLensError):
            command = interaction.command
            stamped = command.extras.get(PROVIDER_EXTRA) if command is not None else None
            if isinstance(stamped, Provider):
                original.for_provider(stamped)
            provider = original.provider
            title, text = describe_install(original, tr) or wording.describe(original, tr)
            advice = provider.explain(original) if provider is not None else None
            if advice:
                text = f"{text}\n{worded(advice, tr)}"
            log.info(
                "lookup failed: %s for provider %s in guild %s",
                type(original).__name__,
                provider.key if provider is not None else None,
                interaction.guild_id,
            )
        elif isinstance(original, Restarting):
            title, text = wording.RESTARTING.say(tr)
            log.info("refused interaction %s: shutting down", interaction.id)
        elif isinstance(original, CredentialUnreadable):
            # A row the key cannot open (restored from another install, tampered with): the
            # fix is to enter it again, not a bug report.
            title, text = wording.UNREADABLE_CREDENTIAL.say(tr)
            log.warning(
                "stored %s credential of guild %s does not open with this key",
                original.provider,
                original.guild_id,
            )
        elif isinstance(original, app_commands.MissingPermissions):
            title, text = wording.NEEDS_MANAGE_SERVER.say(tr)
        elif isinstance(original, app_commands.NoPrivateMessage):
            title, text = wording.GUILD_ONLY.say(tr)
        elif isinstance(original, app_commands.TransformerError):
            title, text = wording.BAD_VALUE.say(tr)
        else:
            name = interaction.command.qualified_name if interaction.command else "?"
            log.error(
                "unexpected error in /%s (guild %s, user %s)",
                name,
                interaction.guild_id,
                interaction.user.id,
                exc_info=original,
            )
            title, text = wording.UNEXPECTED.say(tr)
        try:
            await send_private(interaction, render_error(title, text))
        except discord.HTTPException:
            log.warning("could not deliver an error answer for interaction %s", interaction.id)
