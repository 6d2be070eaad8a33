"""
How much each credential is used upstream, in memory: what `/ticketconfig show` reports.

`bot.http` records every request it sends (each attempt, retries too) under its provider and
the credential's fingerprint (`bot.providers.base.fingerprint`, never the credential): counts
per minute for the last hour, the time of the last 429, and the allowance the provider last
announced in `X-RateLimit-*` headers (any provider that sends them; teambattles does).

Per process and bounded: the least recently used credentials are dropped beyond `size`. A
guild's lookups all run in the process holding its shard, so that process counts every request
of that guild's credentials (a key shared by several guilds in several processes is counted by
each for its own guilds).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cachetools import LRUCache

__all__ = ["WINDOW_S", "Allowance", "Usage", "UsageReport", "parse_allowance"]

#: The window counted: the last hour, in minute buckets.
WINDOW_S = 3600
_BUCKET_S = 60
_BUCKETS = WINDOW_S // _BUCKET_S
#: Credentials remembered at most (a few hundred bytes each).
DEFAULT_SIZE = 10_000
#: Header values beyond these are not believed (a garbage header must not show nonsense).
_MAX_COUNT = 10**9
_MAX_RESET_S = 7 * 24 * 3600
#: A `X-RateLimit-Reset` this large is a Unix time (older teambattles docs), not seconds.
_UNIX_TIME_FROM = 10**9
_MAX_UNIX_TIME = 10**11
_NUMBER = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,6})?")


@dataclass(frozen=True, slots=True)
class Allowance:
    """What a provider last announced about a credential's allowance."""

    seen_at: float
    """When it was announced (Unix time)."""
    remaining: int | None = None
    limit: int | None = None
    reset_at: float | None = None
    """When the allowance is available again (Unix time), where announced."""


@dataclass(frozen=True, slots=True)
class UsageReport:
    """One credential's use, as `/ticketconfig show` reports it."""

    requests: int
    """Requests sent in the last hour."""
    last_429: float | None
    """When the provider last answered 429 (Unix time), None if never (since remembered)."""
    allowance: Allowance | None


def _count(value: str | None, most: int = _MAX_COUNT) -> int | None:
    """A whole number from 0 to `most` in a header ("60", "59.0"); None for anything else."""
    # ASCII digits only: float() would also take "1e9", "nan" or other scripts' digits.
    if value is None or _NUMBER.fullmatch(value.strip()) is None:
        return None
    number = float(value.strip())
    return int(number) if number <= most else None


def parse_allowance(headers: Mapping[str, str], now: float) -> Allowance | None:
    """
    The allowance a response announces in `X-RateLimit-Limit`, `-Remaining` and `-Reset`
    (the reset in seconds from now, or a Unix time when it is that large); None without a
    usable one. Each header is read on its own: a garbage value is ignored, never raised.
    """
    remaining = _count(headers.get("X-RateLimit-Remaining"))
    limit = _count(headers.get("X-RateLimit-Limit"))
    reset = _count(headers.get("X-RateLimit-Reset"), _MAX_UNIX_TIME)
    reset_at: float | None = None
    if reset is not None:
        if reset >= _UNIX_TIME_FROM:
            reset_at = float(reset) if 0 <= reset - now <= _MAX_RESET_S else None
        elif reset <= _MAX_RESET_S:
            reset_at = now + reset
    if limit is not None and remaining is not None and remaining > limit:
        remaining = None  # contradicts the limit: which one is wrong is unknown
    if remaining is None and limit is None:
        return None
    return Allowance(seen_at=now, remaining=remaining, limit=limit, reset_at=reset_at)


class _Counter:
    """One credential's counts: requests per minute (at most the last hour's), the last 429,
    the last announced allowance."""

    __slots__ = ("allowance", "buckets", "last_429")

    def __init__(self) -> None:
        # minute number -> requests in it; at most _BUCKETS + 1 entries, pruned on each write.
        self.buckets: dict[int, int] = {}
        self.last_429: float | None = None
        self.allowance: Allowance | None = None

    def add(self, now: float) -> None:
        minute = int(now // _BUCKET_S)
        self.buckets[minute] = self.buckets.get(minute, 0) + 1
        if len(self.buckets) > _BUCKETS + 1:
            oldest = minute - _BUCKETS
            for old in [m for m in self.buckets if m < oldest]:
                del self.buckets[old]

    def in_window(self, now: float) -> int:
        # The current minute and the 59 before it: "the last hour", to the minute.
        first = int(now // _BUCKET_S) - _BUCKETS + 1
        return sum(count for minute, count in self.buckets.items() if minute >= first)


class Usage:
    """Every credential's use in this process, by (provider key, credential fingerprint)."""

    def __init__(self, *, size: int = DEFAULT_SIZE, clock: Callable[[], float] = time.time) -> None:
        self._counters: LRUCache[tuple[str, str], _Counter] = LRUCache(maxsize=size)
        self._clock = clock

    def record(
        self,
        provider: str,
        fingerprint: str,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """One request sent with a credential, with its answer's status and headers (None: it
        got no answer, such as a timeout; it was still sent, so it counts)."""
        now = self._clock()
        key = (provider, fingerprint)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = _Counter()
        counter.add(now)
        if status == 429:
            counter.last_429 = now
        announced = parse_allowance(headers, now) if headers is not None else None
        if announced is not None:
            counter.allowance = announced

    def report(self, provider: str, fingerprint: str) -> UsageReport | None:
        """The credential's use, None when nothing is remembered of it."""
        counter = self._counters.get((provider, fingerprint))
        if counter is None:
            return None
        return UsageReport(
            requests=counter.in_window(self._clock()),
            last_429=counter.last_429,
            allowance=counter.allowance,
        )
