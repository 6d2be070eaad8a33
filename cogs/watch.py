"""
`/ticketwatch`: a ticket's card kept current in a channel, and RetroAchievements game feeds.

Staff add a watch; the card is exactly what `public:true` would post (`bot.access` and
`bot.render`), made with the server's own credential, and it never pings. The polling is
`bot.watch`'s; this module is its Discord side (`Cards`): editing the card in place, the one
notice line per change in a thread of the card (or, where threads cannot be started, as a reply
to it), the "last updated" mark while the provider fails, and removing a watch whose card or
channel is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import aiohttp
import discord
from cachetools import LRUCache
from discord import app_commands
from discord.ext import commands

from bot import watch as engine
from bot.clock import utc_now
from bot.errors import NotConfigured, TicketLensError
from bot.i18n import Msg, Translate, worded
from bot.providers.base import Credential, CredentialScope, Provider, TicketView, ViewField
from bot.render import (
    FIELD_COUNT_LIMIT,
    MESSAGE_TOTAL_LIMIT,
    embeds_size,
    render_error,
    render_notice,
    render_pages,
)
from bot.respond import send_private
from bot.storecommon import Watch
from bot.wording import Wording

if TYPE_CHECKING:
    from discord.types.embed import Embed as EmbedData

    from bot.app import TicketLensBot

log = logging.getLogger(__name__)

#: The provider whose game feeds `/ticketwatch retroachievements-game` follows.
RA_KEY: Final = "retroachievements"
#: Threads of cards archive after a week without notices (Discord's longest).
THREAD_ARCHIVE_MIN: Final = 10080
THREAD_NAME_LIMIT: Final = 100
#: Room the list keeps under an embed description's 4096 characters.
LIST_TEXT_LIMIT: Final = 3800
NO_PINGS: Final = discord.AllowedMentions.none()
#: Cards kept in memory, as their embeds (to mark one stale without fetching it back from
#: Discord; a card not kept costs that one GET). A card's embeds hold at most Discord's 6,000
#: characters, so this keeps well under 20 MB however many watches there are.
SHOWN_KEPT: Final = 1_000

STAFF_ONLY: Final = Wording(
    "Staff only",
    "Only staff (members with **Manage Server** or the staff role set with "
    "`/ticketconfig staffrole`) can manage watches.",
)
NOT_WATCHABLE: Final = Wording(
    "Can't watch this system",
    "{label} tickets can't be watched: a watch posts a public card, and {label} tickets are "
    "not posted in channels.",
)
TICKET_NOT_PUBLIC: Final = Wording(
    "Can't watch this ticket",
    "{label} keeps this ticket out of public view: {reason}. A watch posts a public card, so it "
    "can't be watched.",
)
AT_CAP: Final = Wording(
    "Too many watches",
    "This server already has {count} watches, the most allowed ({limit}). Remove one with "
    "`/ticketwatch remove` first.",
)
ALREADY: Final = Wording("Already watched", "{label} {ref} is already watched here: {where}.")
NO_CHANNEL: Final = Wording(
    "Can't post there",
    "TicketLens cannot post in {channel}: it needs to view the channel, send messages and "
    "embed links there.",
)
NOT_FOUND: Final = Wording("No such watch", "No watch here follows `{ref}`.")
AMBIGUOUS: Final = Wording(
    "Which one?",
    "Several systems have a watch on `{ref}` here ({labels}). Say which with `provider`.",
)
NO_FEEDS: Final = Wording("Not available", "{label} is not connected to TicketLens.")
MEMBER_CANNOT_POST: Final = Wording(
    "You can't post there",
    "You can't send messages with embeds in {channel} yourself, so a watch can't post there "
    "for you either. Pick a channel where you can.",
)


def card_embeds(
    view: TicketView, tr: Translate, *, stale_since: datetime | None = None
) -> list[discord.Embed]:
    """A card: the ticket's public render (page 1), or why it is no longer public; with
    "Last updated <time>" while its provider fails (a field: Discord renders timestamps
    there, not in footers)."""
    if view.public_refusal:
        return [
            render_notice(
                tr("{label} ticket {id}", label=view.provider_label, id=view.ticket_id),
                tr(
                    "No longer shown here: {reason}.",
                    reason=worded(view.public_refusal, tr),
                ),
            )
        ]
    if stale_since is not None:
        stamp = ViewField(name=Msg("Last updated"), value=stale_since, inline=False)
        view = dataclasses.replace(view, fields=(stamp, *view.fields))
    return render_pages(view, tr=tr)[0]


def _mark_stale(embeds: list[discord.Embed], since: datetime, tr: Translate) -> bool:
    """Add "Last updated <time>" to a card fetched back from Discord; whether it fit."""
    if not embeds:
        return False
    first = embeds[0]
    name = tr("Last updated")
    value = f"<t:{int(since.timestamp())}:R>"
    if any(f.name == name for f in first.fields):
        return True
    fits = embeds_size(embeds) + len(name) + len(value) <= MESSAGE_TOTAL_LIMIT
    if len(first.fields) >= FIELD_COUNT_LIMIT or not fits:
        return False
    first.insert_field_at(0, name=name, value=value, inline=False)
    return True


def notice_line(changes: list[engine.Change], tr: Translate) -> str:
    """The one line a change posts: "Open → Resolved", "Assignee: A → B", "Replies: 3 → 4"."""
    parts: list[str] = []
    for what, old, new in changes:
        # The old value was stored as English text; when the new one is our own word (a
        # provider's state table), the old one is too, and is worded alike.
        ours = isinstance(new, Msg) and "{" not in old and "}" not in old
        old_text = (tr(old) if ours and old else old) or "—"
        new_text = worded(new, tr) or "—"
        if what == "state":
            parts.append(tr("{old} → {new}", old=old_text, new=new_text))
        elif what == "assignee":
            parts.append(tr("Assignee: {old} → {new}", old=old_text, new=new_text))
        else:
            parts.append(tr("Replies: {old} → {new}", old=old_text, new=new_text))
    return " · ".join(parts)


def card_link(watch: Watch) -> str:
    """The card's jump link (a feed: its channel)."""
    if not watch.message_id:
        return f"<#{watch.channel_id}>"
    return f"https://discord.com/channels/{watch.guild_id}/{watch.channel_id}/{watch.message_id}"


def member_may_post(interaction: discord.Interaction, channel: discord.abc.GuildChannel) -> bool:
    """Whether the member may send messages with embeds in `channel` themselves (a watch must
    not post for them where they could not); True when Discord did not say who they are."""
    member = interaction.user
    if not isinstance(member, discord.Member):
        return True
    allowed = channel.permissions_for(member)
    return allowed.send_messages and allowed.embed_links


def watchable(provider: Provider[Any]) -> bool:
    """Whether a provider's tickets may be watched: the guild's own credential (not an
    owner-scoped one, such as a member's TeamBattles key) and public posts allowed."""
    return provider.scope is CredentialScope.GUILD and provider.visibility.public_allowed


class Cards:
    """`bot.watch.Output` on Discord: cards edited in place, notices in the card's thread."""

    def __init__(self, bot: TicketLensBot) -> None:
        self.bot = bot
        #: The embeds each card shows now (as sent), to add the stale mark without fetching
        #: them back; dropped when the watch ends.
        self._shown: LRUCache[int, list[EmbedData]] = LRUCache(maxsize=SHOWN_KEPT)

    def words(self, guild_id: int) -> Translate:
        """The guild's language: cards are read by everyone in the channel."""
        guild = self.bot.get_guild(guild_id)
        return self.bot.i18n.bind(guild.preferred_locale if guild is not None else None)

    def _card(self, watch: Watch) -> discord.PartialMessage:
        channel = self.bot.get_partial_messageable(watch.channel_id, guild_id=watch.guild_id)
        return channel.get_partial_message(watch.message_id)

    def remember(self, watch_id: int, embeds: list[discord.Embed]) -> None:
        """The embeds a card shows now."""
        self._shown[watch_id] = [embed.to_dict() for embed in embeds]

    def forget(self, watch_id: int) -> None:
        """The watch ended: its card is no longer kept."""
        self._shown.pop(watch_id, None)

    async def card_changed(
        self, watch: Watch, view: TicketView, changes: list[engine.Change]
    ) -> bool:
        """Edit the card in place, then post one notice line."""
        tr = self.words(watch.guild_id)
        embeds = card_embeds(view, tr)
        try:
            await self._card(watch).edit(embeds=embeds, allowed_mentions=NO_PINGS)
        except discord.NotFound:
            return False
        except discord.HTTPException as exc:
            log.warning("could not edit the card of watch %s: HTTP %s", watch.id, exc.status)
            return True
        self.remember(watch.id, embeds)
        if changes:
            await self._notice(watch, notice_line(changes, tr), tr, view)
        return True

    async def card_stale(self, watch: Watch) -> bool:
        """Mark the card "Last updated <time>"."""
        tr = self.words(watch.guild_id)
        card = self._card(watch)
        try:
            shown = self._shown.get(watch.id)
            if shown is not None:
                # A copy: Embed.from_dict keeps the dict's lists, and the mark is not kept.
                embeds = [discord.Embed.from_dict(d) for d in copy.deepcopy(shown)]
            else:
                embeds = (await card.fetch()).embeds
            if not _mark_stale(embeds, watch.last_ok_at, tr):
                return True
            await card.edit(embeds=embeds, allowed_mentions=NO_PINGS)
        except discord.NotFound:
            return False
        except discord.HTTPException as exc:
            log.warning("could not mark the card of watch %s: HTTP %s", watch.id, exc.status)
        return True

    async def feed_post(self, watch: Watch, view: TicketView) -> bool:
        """A new ticket of a feed, as a card of its own."""
        tr = self.words(watch.guild_id)
        channel = self.bot.get_partial_messageable(watch.channel_id, guild_id=watch.guild_id)
        try:
            await channel.send(embeds=card_embeds(view, tr), allowed_mentions=NO_PINGS)
        except discord.NotFound:
            return False
        except discord.HTTPException as exc:
            log.warning("could not post to the feed of watch %s: HTTP %s", watch.id, exc.status)
        return True

    async def card_exists(self, watch: Watch) -> bool:
        """Fetch the card: only Discord's 404 says it is gone. Anything else (no access, an
        outage) keeps the watch."""
        try:
            await self._card(watch).fetch()
        except discord.NotFound:
            return False
        except discord.HTTPException as exc:
            log.info("could not check the card of watch %s: HTTP %s", watch.id, exc.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("could not check the card of watch %s: %s", watch.id, type(exc).__name__)
        return True

    def _can_thread(self, watch: Watch) -> bool:
        channel = self.bot.get_channel(watch.channel_id)
        if not isinstance(channel, discord.TextChannel):
            return False  # a thread, voice or forum channel: no thread from a message there
        me = channel.guild.me
        if me is None:
            return True  # unknown: try, and reply instead if Discord refuses
        allowed = channel.permissions_for(me)
        return allowed.create_public_threads and allowed.send_messages_in_threads

    async def _notice(self, watch: Watch, line: str, tr: Translate, view: TicketView) -> None:
        if watch.thread_id:
            thread = self.bot.get_partial_messageable(watch.thread_id, guild_id=watch.guild_id)
            try:
                await thread.send(line, allowed_mentions=NO_PINGS)
                return
            except discord.HTTPException:
                watch.thread_id = 0  # deleted or locked: reply under the card instead
                await self._reply(watch, line)
                return
        if self._can_thread(watch):
            name = tr("Updates: {title}", title=worded(view.title, tr))[:THREAD_NAME_LIMIT]
            try:
                data = await self.bot.http.start_thread_with_message(
                    watch.channel_id,
                    watch.message_id,
                    name=name,
                    auto_archive_duration=THREAD_ARCHIVE_MIN,
                )
                watch.thread_id = int(data["id"])
            except discord.HTTPException as exc:
                log.info("no thread for watch %s (HTTP %s); replying", watch.id, exc.status)
            else:
                thread = self.bot.get_partial_messageable(watch.thread_id, guild_id=watch.guild_id)
                try:
                    await thread.send(line, allowed_mentions=NO_PINGS)
                    return
                except discord.HTTPException:
                    watch.thread_id = 0
        await self._reply(watch, line)

    async def _reply(self, watch: Watch, line: str) -> None:
        channel = self.bot.get_partial_messageable(watch.channel_id, guild_id=watch.guild_id)
        reference = discord.MessageReference(
            message_id=watch.message_id, channel_id=watch.channel_id, fail_if_not_exists=False
        )
        try:
            await channel.send(
                line, reference=reference, mention_author=False, allowed_mentions=NO_PINGS
            )
        except discord.HTTPException as exc:
            log.warning("could not post a notice of watch %s: HTTP %s", watch.id, exc.status)


class WatchCog(commands.Cog):
    """Starts the watches of this process's guilds once connected; drops the watches of
    deleted channels and forgotten guilds."""

    def __init__(self, bot: TicketLensBot) -> None:
        self.bot = bot
        self.cards = Cards(bot)
        settings = bot.settings
        self.watcher = engine.Watcher(
            store=bot.store,
            providers=bot.providers,
            tickets=bot.tickets,
            output=self.cards,
            clock=engine.make_clock(),
            interval_s=settings.watch_interval_minutes * 60,
            budget_of=self.budget_of,
            remember=bot.access.remember_secrets,
        )
        #: Set once the stored watches of this process's guilds are being polled.
        self.loaded = asyncio.Event()
        self._loading = False
        self._load_task: asyncio.Task[None] | None = None

    def budget_of(self, provider: Provider[Any]) -> int:
        """The provider's `watch_budget_per_min` (from its settings section)."""
        return provider.watch_budget_per_min

    async def cog_load(self) -> None:
        """Loaded into a bot that is connected already (`reload_extension`): no `on_ready`
        will come, so load the stored watches now."""
        if self.bot.is_ready():
            self._load_task = asyncio.get_running_loop().create_task(
                self._load(), name="watch-load"
            )

    async def cog_unload(self) -> None:
        """Stop the pollers (reload or shutdown)."""
        if self._load_task is not None:
            self._load_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._load_task
        await self.watcher.close()

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Poll the stored watches of the guilds this process holds."""
        await self._load()

    async def _load(self) -> None:
        """Once per cog: Discord sends `on_ready` again after a reconnect."""
        if self._loading:
            return
        self._loading = True
        count = await self.watcher.load(lambda guild_id: self.bot.get_guild(guild_id) is not None)
        self.loaded.set()
        log.info("polling %d stored watch(es)", count)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """The bot's own handler forgets the guild's data (watches too): stop polling them."""
        self.watcher.untrack_guild(guild.id)

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        """A deleted channel takes its cards and feeds with it."""
        removed = await self.bot.store.delete_watches_at(channel.id)
        self.watcher.untrack(*removed)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """A deleted card ends its watch. Without message intents (TicketLens asks for none)
        Discord does not send this for the bot's cards: a deleted card is then noticed at its
        next edit, or by the hourly check of unchanged cards (`Cards.card_exists`)."""
        removed = await self.bot.store.delete_watches_at(payload.channel_id, payload.message_id)
        self.watcher.untrack(*removed)


class WatchGroup(app_commands.Group):
    """`/ticketwatch`: staff only, checked in each command (a polite answer, not a failure)."""

    def __init__(self) -> None:
        super().__init__(
            name="ticketwatch",
            description="Keep a ticket's card up to date in a channel (staff only).",
            guild_only=True,
        )


def build_group(bot: TicketLensBot, cog: WatchCog) -> WatchGroup:
    """`/ticketwatch` and its subcommands, closed over the bot."""
    group = WatchGroup()
    choices = [
        app_commands.Choice(name=p.label, value=p.key)
        for p in sorted(bot.providers.values(), key=lambda p: p.label.lower())
        if watchable(p)
    ]

    async def staff(interaction: discord.Interaction, tr: Translate) -> bool:
        if await bot.access.is_staff(interaction):
            return True
        await send_private(interaction, render_error(*STAFF_ONLY.say(tr)))
        return False

    async def credential(guild_id: int, provider: Provider[Any]) -> Credential:
        found = await bot.store.get_credential(guild_id, None, provider.key)
        if found is None:
            raise NotConfigured().for_provider(provider)
        bot.access.remember_secrets(provider, found)
        return found

    async def may_post_there(
        interaction: discord.Interaction, channel: discord.TextChannel | None, tr: Translate
    ) -> bool:
        """The member may post in another channel they chose; else says so, privately."""
        if channel is None or channel.id == interaction.channel_id:
            return True
        if member_may_post(interaction, channel):
            return True
        title, text = MEMBER_CANNOT_POST.say(tr, channel=f"#{channel.name}")
        await send_private(interaction, render_error(title, text))
        return False

    async def can_add(
        interaction: discord.Interaction,
        guild_id: int,
        provider: Provider[Any],
        kind: str,
        ref: str,
        tr: Translate,
    ) -> bool:
        """Room under the guild's cap, and not watched here yet; else says why, privately."""
        limit = bot.settings.watch_limit_per_guild
        watches = await bot.store.list_watches(guild_id)
        if len(watches) >= limit:
            title, text = AT_CAP.say(tr, count=len(watches), limit=limit)
            await send_private(interaction, render_error(title, text))
            return False
        for watch in watches:
            if (watch.provider, watch.kind, watch.ref) == (provider.key, kind, ref):
                title, text = ALREADY.say(tr, label=provider.label, ref=ref, where=card_link(watch))
                await send_private(interaction, render_error(title, text))
                return False
        return True

    async def post(
        interaction: discord.Interaction,
        channel_id: int,
        embeds: list[discord.Embed],
        tr: Translate,
    ) -> discord.Message | None:
        target = bot.get_partial_messageable(channel_id, guild_id=interaction.guild_id)
        try:
            return await target.send(embeds=embeds, allowed_mentions=NO_PINGS)
        except (discord.Forbidden, discord.NotFound):
            title, text = NO_CHANNEL.say(tr, channel=f"<#{channel_id}>")
            await send_private(interaction, render_error(title, text))
            return None

    async def store_new(
        interaction: discord.Interaction,
        watch: Watch,
        credential: Credential,
        tr: Translate,
        label: str,
    ) -> Watch | None:
        watch_id = await bot.store.add_watch(watch)
        if watch_id is None:
            # Added by someone else meanwhile: this card goes, theirs stays.
            if watch.message_id:
                target = bot.get_partial_messageable(watch.channel_id)
                with contextlib.suppress(discord.HTTPException):
                    await target.get_partial_message(watch.message_id).delete()
            title, text = ALREADY.say(
                tr, label=label, ref=watch.ref, where=f"<#{watch.channel_id}>"
            )
            await send_private(interaction, render_error(title, text))
            return None
        watch.id = watch_id
        cog.watcher.track(watch, credential.fingerprint)
        return watch

    def new_watch(
        interaction: discord.Interaction,
        channel_id: int,
        message_id: int,
        provider: Provider[Any],
        kind: str,
        ref: str,
        state: str,
    ) -> Watch:
        """A watch about to be stored: added by this member, now, last seen working now."""
        assert interaction.guild_id is not None  # guild_only
        moment = utc_now(cog.watcher.clock)
        return Watch(
            guild_id=interaction.guild_id,
            channel_id=channel_id,
            message_id=message_id,
            provider=provider.key,
            kind=kind,
            ref=ref,
            state=state,
            added_by=interaction.user.id,
            added_at=moment,
            last_ok_at=moment,
        )

    @group.command(name="add", description="Post a ticket's card here and keep it up to date.")
    @app_commands.describe(
        provider="Which system the ticket is in.",
        id="The ticket's id, as in /ticket.",
        channel="Where to post the card (default: here).",
    )
    @app_commands.choices(provider=choices)
    async def add(
        interaction: discord.Interaction,
        provider: str,
        id: app_commands.Range[str, 1, 100],
        channel: discord.TextChannel | None = None,
    ) -> None:
        assert interaction.guild_id is not None  # guild_only
        guild_id = interaction.guild_id
        tr = bot.i18n.for_interaction(interaction)
        chosen = bot.providers.get(provider)
        if chosen is None:
            raise NotConfigured()
        if not await staff(interaction, tr):
            return
        if not watchable(chosen):
            await send_private(
                interaction, render_error(*NOT_WATCHABLE.say(tr, label=chosen.label))
            )
            return
        if not await may_post_there(interaction, channel, tr):
            return
        try:
            ref = chosen.watch_ref(id)
            found = await credential(guild_id, chosen)
        except TicketLensError as exc:
            raise exc.for_provider(chosen) from None
        ref_text = chosen.ref_text(ref)
        if not await can_add(interaction, guild_id, chosen, "ticket", ref_text, tr):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            view = await cog.watcher.first_ticket(chosen, found, ref)
        except TicketLensError as exc:
            raise exc.for_provider(chosen) from None
        if view.public_refusal:
            reason = worded(view.public_refusal, tr)
            title, text = TICKET_NOT_PUBLIC.say(tr, label=chosen.label, reason=reason)
            await send_private(interaction, render_error(title, text))
            return
        channel_id = channel.id if channel is not None else interaction.channel_id
        assert channel_id is not None
        embeds = card_embeds(view, cog.cards.words(guild_id))
        message = await post(interaction, channel_id, embeds, tr)
        if message is None:
            return
        watch = new_watch(
            interaction,
            channel_id,
            message.id,
            chosen,
            "ticket",
            ref_text,
            engine.ticket_state(chosen, view),
        )
        stored = await store_new(interaction, watch, found, tr, chosen.label)
        if stored is None:
            return
        cog.cards.remember(stored.id, embeds)
        log.info("watch %s added in guild %s (%s)", stored.id, guild_id, chosen.key)
        text = tr(
            "The card of {label} {ref} is in {where}; it is updated when the ticket changes.",
            label=chosen.label,
            ref=ref_text,
            where=card_link(stored),
        )
        await send_private(interaction, render_notice(tr("Watching"), text))

    @group.command(
        name="retroachievements-game",
        description="Post each new RetroAchievements ticket of a game here.",
    )
    @app_commands.describe(
        id="The game's id (in its address on the site).",
        channel="Where to post new tickets (default: here).",
    )
    async def retroachievements_game(
        interaction: discord.Interaction,
        id: app_commands.Range[int, 1, 9_999_999_999],
        channel: discord.TextChannel | None = None,
    ) -> None:
        assert interaction.guild_id is not None  # guild_only
        guild_id = interaction.guild_id
        tr = bot.i18n.for_interaction(interaction)
        if not await staff(interaction, tr):
            return
        chosen = bot.providers.get(RA_KEY)
        ref = chosen.feed_ref(f"g:{id}") if chosen is not None else None
        if chosen is None or ref is None:
            await send_private(
                interaction, render_error(*NO_FEEDS.say(tr, label="RetroAchievements"))
            )
            return
        if not await may_post_there(interaction, channel, tr):
            return
        try:
            found = await credential(guild_id, chosen)
        except TicketLensError as exc:
            raise exc.for_provider(chosen) from None
        ref_text = chosen.ref_text(ref)
        if not await can_add(interaction, guild_id, chosen, "feed", ref_text, tr):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            state = await cog.watcher.first_feed(chosen, found, ref)
        except TicketLensError as exc:
            raise exc.for_provider(chosen) from None
        channel_id = channel.id if channel is not None else interaction.channel_id
        assert channel_id is not None
        # A feed posts nothing until the game gets a ticket: one notice now shows at once
        # whether TicketLens can post there, rather than failing quietly later.
        words = cog.cards.words(guild_id)
        notice = render_notice(
            words("Watching"),
            words("New RetroAchievements tickets of game {id} will be posted here.", id=id),
        )
        posted = await post(interaction, channel_id, [notice], tr)
        if posted is None:
            return
        watch = new_watch(interaction, channel_id, 0, chosen, "feed", ref_text, state)
        if await store_new(interaction, watch, found, tr, chosen.label) is None:
            with contextlib.suppress(discord.HTTPException):
                await posted.delete()  # someone else's feed of it is there already
            return
        text = tr(
            "New tickets of game {id} will be posted in {where} (the tickets it has now are not).",
            id=id,
            where=f"<#{channel_id}>",
        )
        await send_private(interaction, render_notice(tr("Watching"), text))

    @group.command(name="list", description="This server's watches.")
    async def list_(interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        tr = bot.i18n.for_interaction(interaction)
        if not await staff(interaction, tr):
            return
        watches = await bot.store.list_watches(interaction.guild_id)
        lines: list[str] = []
        for index, watch in enumerate(watches):
            provider = bot.providers.get(watch.provider)
            label = provider.label if provider is not None else watch.provider
            if watch.kind == "feed":
                line = tr(
                    "**{label}** `{ref}` (new tickets) in <#{channel}>",
                    label=label,
                    ref=watch.ref,
                    channel=watch.channel_id,
                )
            else:
                line = tr(
                    "**{label}** `{ref}` in <#{channel}>: [card]({link})",
                    label=label,
                    ref=watch.ref,
                    channel=watch.channel_id,
                    link=card_link(watch),
                )
            if watch.failing_since is not None:
                line += " · " + tr(
                    "last updated <t:{time}:R>", time=int(watch.last_ok_at.timestamp())
                )
            if sum(len(x) + 1 for x in lines) + len(line) > LIST_TEXT_LIMIT:
                lines.append(tr("… and {count} more", count=len(watches) - index))
                break
            lines.append(line)
        limit = bot.settings.watch_limit_per_guild
        title = tr("Watches ({count} of {limit})", count=len(watches), limit=limit)
        text = "\n".join(lines) or tr(
            "Nothing is watched here. Add a card with `/ticketwatch add`."
        )
        # Built here, not with render_notice: the channel mentions should render as names
        # (allowed mentions are none, so they never ping).
        embed = discord.Embed(title=title, description=text, colour=discord.Colour.blurple())
        await send_private(interaction, embed)

    @group.command(name="remove", description="Stop watching a ticket (or a game's tickets).")
    @app_commands.describe(
        id="The ticket's id, as `/ticketwatch list` shows it.",
        provider="Which system, if several have a watch with this id.",
    )
    @app_commands.choices(provider=choices)
    async def remove(
        interaction: discord.Interaction,
        id: app_commands.Range[str, 1, 100],
        provider: str | None = None,
    ) -> None:
        assert interaction.guild_id is not None  # guild_only
        tr = bot.i18n.for_interaction(interaction)
        if not await staff(interaction, tr):
            return
        text = id.strip()
        matches = [
            w
            for w in await bot.store.list_watches(interaction.guild_id)
            if (provider is None or w.provider == provider) and _names(bot, w, text)
        ]
        if not matches:
            await send_private(interaction, render_error(*NOT_FOUND.say(tr, ref=text)))
            return
        if len({w.provider for w in matches}) > 1:
            labels = ", ".join(sorted(_label(bot, w.provider) for w in matches))
            title, body = AMBIGUOUS.say(tr, ref=text, labels=labels)
            await send_private(interaction, render_error(title, body))
            return
        for watch in matches:
            await bot.store.delete_watch(watch.id)
        cog.watcher.untrack(*(w.id for w in matches))
        log.info("%d watch(es) removed in guild %s", len(matches), interaction.guild_id)
        body = tr(
            "{label} `{ref}` is no longer watched; its card stays as it is.",
            label=_label(bot, matches[0].provider),
            ref=matches[0].ref,
        )
        await send_private(interaction, render_notice(tr("Removed"), body))

    @remove.autocomplete("id")
    async def remove_ids(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None or not await bot.access.is_staff(interaction):
            return []
        typed = current.strip().lower()
        choices: list[app_commands.Choice[str]] = []
        for watch in await bot.store.list_watches(interaction.guild_id):
            if typed and typed not in watch.ref.lower():
                continue
            name = f"{_label(bot, watch.provider)} · {watch.ref}"[:100]
            choices.append(app_commands.Choice(name=name, value=watch.ref))
            if len(choices) == 25:
                break
        return choices

    return group


def _label(bot: TicketLensBot, key: str) -> str:
    provider = bot.providers.get(key)
    return provider.label if provider is not None else key


def _names(bot: TicketLensBot, watch: Watch, text: str) -> bool:
    """Whether `text` (as typed, or as `/ticketwatch list` shows it) names `watch`."""
    if watch.ref == text:
        return True
    provider = bot.providers.get(watch.provider)
    if provider is None or watch.kind != "ticket":
        return False
    try:
        return provider.ref_text(provider.watch_ref(text)) == watch.ref
    except TicketLensError:
        return False


async def setup(bot: TicketLensBot) -> None:
    """Add `/ticketwatch` (after every provider registered) and start watching once ready."""
    cog = WatchCog(bot)
    await bot.add_cog(cog)
    bot.tree.add_command(build_group(bot, cog))


async def teardown(bot: TicketLensBot) -> None:
    """Remove `/ticketwatch` (its pollers stop with the cog)."""
    bot.tree.remove_command("ticketwatch")
