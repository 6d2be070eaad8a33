"""
Request spacing per (provider client, credential): the one rate limiter.

Rate and cache state stay in this process on purpose, also when several processes split the
shards (SHARD_IDS): every event of a guild arrives at one shard, hence at one process, and
a guild's credentials (its own, and a member's personal key stored per guild and member) are
used only for that guild, so no other process sends with them. Two cases it does not cover,
where each process spaces the same secret on its own (together they may send up to the rate
times the processes using it): the same secret entered in two guilds whose shards run in
different processes, and a member's user-scope key (the app installed to their own account,
stored per member, not per guild). That key is used from wherever the member runs TicketLens
outside its servers: their DMs and group DMs reach shard 0's process, and a server without the
bot reaches the process of that server's shard. One member's own lookups are few, so this is
accepted rather than shared between processes.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Final

from cachetools import LRUCache

from bot.errors import RateLimited

__all__ = ["RATE_SLACK_S", "RateLimits", "Spacer", "check_rate"]

#: Extra spacing, in seconds per `rate_per_s` requests. Our guarantee is measured where we
#: start requests; the provider counts arrivals, which network jitter can squeeze closer
#: together. With this slack, N+1 consecutive starts span at least 1.1 s, so jitter below
#: 100 ms cannot make the provider see more than N in one second.
RATE_SLACK_S: Final = 0.1


class Spacer:
    """
    Request starts at least `interval` apart, in arrival order (a leaky bucket of size 1).

    Not a bucket of N per second: N would start at once and then one more every 1/N s, so a
    one-second window could see up to 2N-1 starts. Replaces aiolimiter's AsyncLimiter(1,
    interval), which spaced starts the same way but woke every waiter on each slot: with 100
    lookups waiting, that polling cost more than the wait. Here the waiters queue on a FIFO lock
    and only the head sleeps. Spacing is measured from the previous start as it really
    happened, so a stalled event loop cannot release a burst.
    """

    __slots__ = ("interval", "last_start", "lock", "queued")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last_start = -math.inf
        self.lock = asyncio.Lock()
        self.queued = 0

    async def acquire(self, max_wait: float) -> bool:
        """Wait for this request's turn; False (without waiting) if that is beyond `max_wait`."""
        now = time.monotonic()
        head_wait = self.last_start + self.interval - now
        if self.queued == 0 and head_wait <= 0 and not self.lock.locked():
            # Nobody ahead and the slot is free: take it without touching the lock.
            self.last_start = now
            return True
        if max(0.0, head_wait) + self.queued * self.interval > max_wait:
            return False
        self.queued += 1
        try:
            async with self.lock:
                wait = self.last_start + self.interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.last_start = time.monotonic()
        finally:
            self.queued -= 1
        return True


class RateLimits:
    """One `Spacer` per key, bounded: an evicted one only matters if its key returns within
    about a second."""

    def __init__(self, *, max_wait_s: float, slots: int = 10_000) -> None:
        self._spacers: LRUCache[tuple[object, str], Spacer] = LRUCache(maxsize=slots)
        self._max_wait_s = max_wait_s

    async def acquire(self, owner: object, key: str, rate_per_s: float) -> float:
        """Wait for the next start for (`owner`, `key`) at `rate_per_s` and return the seconds
        waited (`ticketlens_ratelimit_wait_seconds`); RateLimited if the queue is longer than
        the retry budget."""
        started = time.monotonic()
        spacer = self._spacers.get((owner, key))
        if spacer is None:
            spacer = Spacer((1 + RATE_SLACK_S) / rate_per_s)
            self._spacers[(owner, key)] = spacer
        if not await spacer.acquire(self._max_wait_s):
            raise RateLimited(detail="local rate limit")
        return time.monotonic() - started


def check_rate(rate_per_s: float) -> float:
    """`rate_per_s` if it is a usable rate; ValueError otherwise."""
    if not (math.isfinite(rate_per_s) and rate_per_s > 0):
        raise ValueError("rate_per_s must be a positive number")
    return rate_per_s
