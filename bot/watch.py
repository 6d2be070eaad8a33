"""
Watches: tickets kept current in a card, and feeds posting a list's new tickets (`/ticketwatch`).

The polling engine, knowing neither Discord nor any provider: the cards themselves are the
`Output`'s business (`cogs.watch`), what a ticket's state is the provider's
(`Provider.watch_state`, `Provider.fetch_feed`).

One `Poller` per (provider, credential fingerprint) polls every watch made with that credential,
whatever guild it is in, so one credential's requests are counted in one place: in one process.
With SHARD_IDS, the same credential stored in guilds of different processes has one budget per
process (nothing is shared between them). Its budget is the provider's `watch_budget_per_min`:
never more requests in any 60 seconds (a sliding window).
A credential whose watches need more per interval than the budget allows has them polled in
turns, each less often, rather than faster. Ticket fetches go through the ticket cache with
`fresh=True`: never an old answer, and a lookup of the same ticket running at that moment shares
the request. A 429 pauses the poller for its `Retry-After` at least (doubling from a minute when
there is none); any other failure keeps the card and marks it "last updated <time>" once.

Without message intents Discord never says a card was deleted, and a card is edited only when its
ticket changes: so at most once an hour per watch (`CARD_CHECK_S`), on a poll that found no
change, the `Output` is asked whether the card still exists (one Discord request, never one to
the provider). Every credential read is passed to `remember`, so its secrets are masked in logs
even when only watches use it (after a restart, no lookup may have read it yet).

Time comes from a `Clock` (`now`, `sleep`), so tests drive the pollers without waiting.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from bot.access import for_audience
from bot.cache import TicketCache
from bot.clock import Clock, SystemClock, utc_now
from bot.errors import RateLimited, TicketLensError, UpstreamUnavailable
from bot.providers.base import Credential, Provider, TicketView, WatchState
from bot.store import Store
from bot.storecommon import Watch

__all__ = [
    "Change",
    "Clock",
    "Output",
    "SystemClock",
    "Watcher",
    "changes_between",
    "make_clock",
    "public_view",
    "ticket_state",
]

log = logging.getLogger(__name__)

#: Each wait between polls is the interval shortened by up to this fraction (never lengthened:
#: a change is seen within one interval), so pollers started together drift apart.
JITTER: Final = 0.1
#: The budget's window, in seconds.
WINDOW_S: Final = 60.0
#: Back-off after a 429 without Retry-After: doubling from this, up to the maximum.
BACKOFF_START_S: Final = 60.0
BACKOFF_MAX_S: Final = 3600.0
#: A poll that failed after the HTTP layer's retries (`bot.http.Http`: 3 attempts by default)
#: may have made this many requests more than the one counted: charged to the budget too.
RETRIED_ATTEMPTS: Final = 2
#: How often, at most, a card whose ticket does not change is checked to still exist.
CARD_CHECK_S: Final = 3600.0


def make_clock() -> Clock:
    """The clock the bot's watches use (tests replace this function to drive them)."""
    return SystemClock()


class Output(Protocol):
    """What the engine asks of the cards (`cogs.watch`). Each answer False means the card or
    its channel is gone: the watch is deleted."""

    async def card_changed(self, watch: Watch, view: TicketView, changes: list[Change]) -> bool:
        """Show `view` (public already; with a `public_refusal`, not its content) in the card,
        and post one notice line under it saying `changes`, if any."""
        ...

    async def card_stale(self, watch: Watch) -> bool:
        """Mark the card "last updated <watch.last_ok_at>" (its provider is failing)."""
        ...

    async def feed_post(self, watch: Watch, view: TicketView) -> bool:
        """Post a new ticket of a feed (public already) as a card in the feed's channel."""
        ...

    async def card_exists(self, watch: Watch) -> bool:
        """Whether the card is still there (False only when it certainly is not)."""
        ...

    def forget(self, watch_id: int) -> None:
        """The watch is removed or gone: drop what is kept of its card."""
        ...


def public_view(provider: Provider[Any], view: TicketView) -> TicketView:
    """What a card shows of `view`: exactly what `public:true` would post."""
    return for_audience(view, provider.visibility.public_audience)


def ticket_state(provider: Provider[Any], public: TicketView) -> str:
    """A ticket's watched state as stored (JSON), from its public view."""
    state = provider.watch_state(public)
    return json.dumps(
        {
            "state": str(state.state),
            "assignee": str(state.assignee),
            "replies": state.replies,
            "refusal": str(public.public_refusal),
        },
        sort_keys=True,
    )


def _read_state(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


#: One change a notice line tells: what ("state", "assignee", "replies"), from, to.
Change = tuple[str, str, str]


def changes_between(old: dict[str, Any], new: WatchState) -> list[Change]:
    """What changed that the card shows, for the one notice line (`Output` words it)."""
    changes: list[Change] = []
    if "state" in old and old["state"] != new.state:
        changes.append(("state", str(old["state"]), new.state))
    if "assignee" in old and old["assignee"] != new.assignee:
        changes.append(("assignee", str(old["assignee"]), new.assignee))
    if "replies" in old and old["replies"] != new.replies:
        changes.append(("replies", str(old["replies"]), str(new.replies)))
    return changes


@dataclass(eq=False)
class Poller:
    """The watches of one (provider, credential): polled in turns within its budget."""

    provider: str
    fingerprint: str
    budget_per_min: int
    watches: dict[int, Watch] = field(default_factory=dict)
    #: When each of the last requests went out (clock seconds), for the sliding window.
    sent: deque[float] = field(default_factory=deque)
    cursor: int = 0
    task: asyncio.Task[None] | None = None
    failures_429: int = 0

    def batch(self, size: int) -> list[Watch]:
        """The next `size` watches, in turns, so every watch is polled as often as the others."""
        ordered = list(self.watches.values())
        if len(ordered) <= size:
            return ordered
        start = self.cursor % len(ordered)
        self.cursor = start + size
        return [ordered[(start + i) % len(ordered)] for i in range(size)]

    def charge(self, clock: Clock, extra: int) -> None:
        """Count `extra` requests made just now beyond the one `spend` counted (the HTTP
        layer's retries of a failed request)."""
        self.sent.extend([clock.now()] * extra)

    async def spend(self, clock: Clock) -> None:
        """Wait until one more request keeps within `budget_per_min` in every 60 s, and count
        it."""
        while True:
            now = clock.now()
            while self.sent and now - self.sent[0] >= WINDOW_S:
                self.sent.popleft()
            if len(self.sent) < self.budget_per_min:
                self.sent.append(now)
                return
            await clock.sleep(self.sent[0] + WINDOW_S - now)


class Watcher:
    """Every watch of this process's guilds, polled by one `Poller` per credential."""

    def __init__(
        self,
        *,
        store: Store,
        providers: Mapping[str, Provider[Any]],
        tickets: TicketCache[TicketView],
        output: Output,
        clock: Clock,
        interval_s: float,
        budget_of: Callable[[Provider[Any]], int],
        remember: Callable[[Provider[Any], Credential], None],
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._providers = providers
        self._tickets = tickets
        self._output = output
        self.clock = clock
        self._interval_s = interval_s
        self._budget_of = budget_of
        self._remember = remember
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter only
        self._pollers: dict[tuple[str, str], Poller] = {}
        #: When each watch's card was last known to exist (clock seconds; in memory only).
        self._card_seen: dict[int, float] = {}
        self._closed = False

    # -- what is watched ------------------------------------------------------------------

    @property
    def pollers(self) -> list[Poller]:
        """The running pollers (one per provider and credential)."""
        return list(self._pollers.values())

    def watched(self) -> list[Watch]:
        """Every watch being polled."""
        return [w for p in self._pollers.values() for w in p.watches.values()]

    async def load(self, holds: Callable[[int], bool]) -> int:
        """Start polling the stored watches of the guilds `holds` says are this process's
        (with SHARD_IDS, only those of its shards); how many."""
        count = 0
        for watch in await self._store.list_watches():
            if not holds(watch.guild_id) or watch.provider not in self._providers:
                continue
            credential = await self._credential(self._providers[watch.provider], watch)
            # No readable credential: polled (and marked failing) under no fingerprint.
            self.track(watch, credential.fingerprint if credential is not None else "")
            count += 1
        return count

    def track(self, watch: Watch, fingerprint: str) -> None:
        """Poll `watch` (stored, with its id) with the poller of its credential."""
        if self._closed:
            return
        for other in self._pollers.values():
            other.watches.pop(watch.id, None)  # moving to another credential's poller
        self._card_seen.setdefault(watch.id, self.clock.now())
        key = (watch.provider, fingerprint)
        poller = self._pollers.get(key)
        if poller is None:
            provider = self._providers[watch.provider]
            poller = Poller(watch.provider, fingerprint, max(1, self._budget_of(provider)))
            self._pollers[key] = poller
        poller.watches[watch.id] = watch
        if poller.task is None or poller.task.done():
            poller.task = asyncio.get_running_loop().create_task(
                self._run(poller), name=f"watch-poller-{watch.provider}"
            )

    def untrack(self, *watch_ids: int) -> None:
        """Stop polling these watches (removed, or their card is gone), and drop what is kept
        in memory of them."""
        for watch_id in watch_ids:
            for poller in self._pollers.values():
                poller.watches.pop(watch_id, None)
            self._card_seen.pop(watch_id, None)
            self._output.forget(watch_id)

    def untrack_guild(self, guild_id: int) -> None:
        """Stop polling a guild's watches (its data is forgotten)."""
        self.untrack(*(w.id for w in self.watched() if w.guild_id == guild_id))

    async def close(self) -> None:
        """Stop every poller."""
        self._closed = True
        tasks = [p.task for p in self._pollers.values() if p.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pollers.clear()

    # -- the first look, when a watch is added --------------------------------------------

    async def first_ticket(
        self, provider: Provider[Any], credential: Credential, ref: Hashable
    ) -> TicketView:
        """The ticket as a card would show it now (fresh from the provider)."""
        return await self._fetch_public(provider, credential, ref)

    async def _fetch_public(
        self, provider: Provider[Any], credential: Credential, ref: Hashable
    ) -> TicketView:
        """`ref` fetched anew (not from the cache; a lookup of it in flight is shared), as a
        card shows it."""
        view = await self._tickets.get(
            (provider.key, credential.fingerprint, ref),
            lambda: provider.fetch(credential, ref),
            fresh=True,
        )
        return public_view(provider, view)

    async def first_feed(self, provider: Provider[Any], credential: Credential, ref: Any) -> str:
        """A feed's state now: every ticket it lists counts as seen (none is posted)."""
        items = await provider.fetch_feed(credential, ref)
        return _feed_state([r for r, v in items if not v.public_refusal])

    # -- polling ---------------------------------------------------------------------------

    def _per_cycle(self, poller: Poller) -> int:
        # Spread rather than exceed: a cycle polls what the budget allows in one interval.
        return max(1, math.floor(poller.budget_per_min * self._interval_s / WINDOW_S))

    def _wait(self) -> float:
        return self._interval_s * (1 - JITTER * self._rng.random())

    async def _run(self, poller: Poller) -> None:
        clock = self.clock
        due = clock.now() + self._wait()
        try:
            while poller.watches:
                await clock.sleep(due - clock.now())
                try:
                    for watch in poller.batch(self._per_cycle(poller)):
                        if watch.id in poller.watches:
                            await self._poll(poller, watch)
                except RateLimited as exc:
                    poller.failures_429 += 1
                    backoff = min(BACKOFF_START_S * 2 ** (poller.failures_429 - 1), BACKOFF_MAX_S)
                    wait = max(exc.retry_after, 0.0) if exc.retry_after is not None else backoff
                    log.info(
                        "%s watches rate limited; waiting %.0f s before polling again",
                        poller.provider,
                        wait,
                    )
                    due = clock.now() + wait
                    continue
                poller.failures_429 = 0
                due = max(due + self._wait(), clock.now())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a %s watch poller stopped", poller.provider)
        finally:
            key = (poller.provider, poller.fingerprint)
            if self._pollers.get(key) is poller and not self._closed:
                if poller.watches:
                    # A watch added while this task was ending: keep polling.
                    poller.task = asyncio.get_running_loop().create_task(self._run(poller))
                else:
                    del self._pollers[key]

    async def _poll(self, poller: Poller, watch: Watch) -> None:
        provider = self._providers.get(watch.provider)
        if provider is None:
            return  # its extension is unloaded: polled again once it is back
        credential = await self._credential(provider, watch)
        if credential is None:
            await self._failed(watch)
            return
        if credential.fingerprint != poller.fingerprint:
            # The guild saved another credential: its watches move to that one's poller.
            self.track(watch, credential.fingerprint)
            return
        await poller.spend(self.clock)
        try:
            if watch.kind == "feed":
                await self._poll_feed(provider, credential, watch)
            else:
                await self._poll_ticket(provider, credential, watch)
        except RateLimited:
            # The HTTP layer may have waited out a short Retry-After and tried again.
            poller.charge(self.clock, RETRIED_ATTEMPTS)
            raise
        except TicketLensError as exc:
            if isinstance(exc, UpstreamUnavailable):
                poller.charge(self.clock, RETRIED_ATTEMPTS)
            log.info("watch %s (%s) failed: %s", watch.id, provider.key, type(exc).__name__)
            await self._failed(watch)
        except Exception:
            log.warning("watch %s (%s) failed", watch.id, provider.key, exc_info=True)
            await self._failed(watch)

    async def _poll_ticket(
        self, provider: Provider[Any], credential: Credential, watch: Watch
    ) -> None:
        public = await self._fetch_public(provider, credential, provider.parse_ref(watch.ref))
        state = ticket_state(provider, public)
        stale = watch.failing_since is not None
        watch.last_ok_at = utc_now(self.clock)
        watch.failing_since = None
        if state != watch.state or stale:
            changes = (
                changes_between(_read_state(watch.state), provider.watch_state(public))
                if state != watch.state
                else []
            )
            watch.state = state
            if not self._live(watch):
                return
            if not await self._output.card_changed(watch, public, changes):
                await self._gone(watch)
                return
            self._card_seen[watch.id] = self.clock.now()
        elif not await self._card_still_there(watch):
            await self._gone(watch)
            return
        await self._save(watch)

    async def _card_still_there(self, watch: Watch) -> bool:
        """At most once per `CARD_CHECK_S` per watch, whether its unchanged card still exists
        (nothing tells the bot when one is deleted)."""
        now = self.clock.now()
        if not self._live(watch) or now - self._card_seen.setdefault(watch.id, now) < CARD_CHECK_S:
            return True
        self._card_seen[watch.id] = now  # checked now, whatever the answer
        return await self._output.card_exists(watch)

    async def _poll_feed(
        self, provider: Provider[Any], credential: Credential, watch: Watch
    ) -> None:
        ref = provider.feed_ref(watch.ref)
        if ref is None:
            await self._gone(watch)
            return
        items = await provider.fetch_feed(credential, ref)
        seen = set(_read_state(watch.state).get("seen") or [])
        watch.last_ok_at = utc_now(self.clock)
        watch.failing_since = None
        # Oldest first; a quarantined ticket is neither posted nor counted as seen, so it is
        # posted once it is released.
        for text, view in reversed(items):
            if text in seen or view.public_refusal or not self._live(watch):
                continue
            if not await self._output.feed_post(watch, public_view(provider, view)):
                await self._gone(watch)
                return
        watch.state = _feed_state([r for r, v in items if not v.public_refusal])
        await self._save(watch)

    async def _credential(self, provider: Provider[Any], watch: Watch) -> Credential | None:
        """The guild's stored credential for `provider` (None if none or unreadable), its
        secrets masked in logs from now on."""
        try:
            credential = await self._store.get_credential(watch.guild_id, None, provider.key)
        except Exception:
            return None
        if credential is not None:
            self._remember(provider, credential)
        return credential

    def _live(self, watch: Watch) -> bool:
        return any(watch.id in p.watches for p in self._pollers.values())

    async def _failed(self, watch: Watch) -> None:
        if watch.failing_since is not None:
            return  # marked already: the card is edited once per failing spell
        watch.failing_since = utc_now(self.clock)
        live = watch.kind == "ticket" and self._live(watch)
        if live and not await self._output.card_stale(watch):
            await self._gone(watch)
            return
        await self._save(watch)

    async def _save(self, watch: Watch) -> None:
        if not await self._store.save_watch(watch):
            self.untrack(watch.id)  # removed meanwhile (by a command, or another process)

    async def _gone(self, watch: Watch) -> None:
        log.info("watch %s: its card or channel is gone; removed", watch.id)
        self.untrack(watch.id)
        await self._store.delete_watch(watch.id)


def _feed_state(seen: list[str]) -> str:
    return json.dumps({"seen": seen})
