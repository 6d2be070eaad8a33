"""
The ticket cache: whole lookups (`TicketView`s), cached for a short time and coalesced.

Keyed by (provider key, credential fingerprint, ref), so a view fetched with one credential is
never served to a lookup with another. `on_hit` counts the lookups it saved an upstream call
(`ticketlens_cache_hits_total`): a value served from the cache, and a caller that joined the
same call already in flight (also one upstream call not made).

It stays in this process on purpose, also when several processes split the shards
(SHARD_IDS): a guild's events all arrive at one shard, hence at one process, so every lookup
of a guild is served here, and a guild's credentials (its own, and a member's personal key
stored per guild and member) are used only for that guild, so no other process looks up with
them. An entry another process could use needs the same secret there: the same secret stored in
a guild of its shards, or a member's user-scope key (the app installed to their own account,
stored per member): their DMs reach shard 0's process, a server without the bot that server's
shard's. That process then fetches once for itself, which is correct, only not shared.

It also keeps, for up to `fallback_s`, the last value each key fetched and when (`last_good`):
what a lookup may show, marked as such, when the provider is rate limiting or down. Apart from
the fresh cache, and kept when that one is off (CACHE_TTL_S=0), so it needs its own bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Any, Final, Generic, TypeVar

from cachetools import TTLCache

__all__ = ["TicketCache"]

T = TypeVar("T")

_MISSING: Final = object()


class TicketCache(Generic[T]):
    """A bounded TTL cache of lookups that also shares one call among concurrent callers."""

    def __init__(
        self,
        *,
        ttl_s: float,
        size: int,
        on_hit: Callable[[], None] | None = None,
        fallback_s: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """
        `fallback_s` > 0 keeps the last value of up to `size` keys that long (`last_good`);
        `clock` (Unix seconds) dates them and times their expiry, and tests set it.
        """
        # TTL 0 turns the cache off but keeps the coalescing of concurrent calls.
        self._cache: TTLCache[Hashable, T] | None = (
            TTLCache(maxsize=size, ttl=ttl_s) if ttl_s > 0 else None
        )
        self._clock = clock
        # The wall clock, not a monotonic one: the time is shown (Discord's `<t:…:R>`).
        self._kept: TTLCache[Hashable, tuple[T, float]] | None = (
            TTLCache(maxsize=size, ttl=fallback_s, timer=clock) if fallback_s > 0 else None
        )
        self._inflight: dict[Hashable, asyncio.Task[T]] = {}
        self._on_hit = on_hit

    async def get(
        self, key: Hashable, factory: Callable[[], Awaitable[T]], *, fresh: bool = False
    ) -> T:
        """
        `factory()`'s result, cached for the TTL and shared by concurrent callers.

        While a call for `key` runs, other callers (fresh or not) await that same call rather
        than starting their own, so a burst of lookups makes one upstream request. A failure
        reaches every waiter and is not cached. `fresh=True` skips the cached value. A waiter
        that is cancelled does not cancel the call for the others.
        """
        if not fresh and self._cache is not None:
            value = self._cache.get(key, _MISSING)
            if value is not _MISSING:
                if self._on_hit is not None:
                    self._on_hit()
                return value  # type: ignore[return-value]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(_run(factory))
            self._inflight[key] = task
            task.add_done_callback(partial(self._settle, key))
        elif self._on_hit is not None:
            self._on_hit()
        return await asyncio.shield(task)

    def last_good(self, key: Hashable) -> tuple[T, float] | None:
        """The last value fetched for `key` and when (`clock` seconds), if that was within
        `fallback_s`; None otherwise (or when the fallback is off)."""
        if self._kept is None:
            return None
        return self._kept.get(key)

    def _settle(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if task.cancelled():
            return
        # Reading the exception also marks it retrieved: no "never retrieved" noise when every
        # waiter was cancelled before the call failed.
        if task.exception() is not None:
            return
        if self._cache is not None:
            self._cache[key] = task.result()
        if self._kept is not None:
            self._kept[key] = (task.result(), self._clock())


async def _run(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()
