"""
The bot's Prometheus metrics: one `Metrics` per bot, on a registry of its own.

Not prometheus_client's global default registry: tests run several bots in one process, and
each must count only its own work. The bot makes the `Metrics` and hands it to what measures
(`bot.http.Http.instrument`, `bot.cache.TicketCache`); nothing here is a module global. The
`/metrics` endpoint (`bot.health`) serves `registry`.

Labels are provider keys, the outcome and error kinds below and shard ids: a small fixed set.
Never a guild, a member, a ticket reference or anything from a credential.

Hot path: every lookup makes about four observations (its outcome and time, each upstream
attempt, each turn of the rate limiter). Labelled children are looked up once and kept in a
dict, so an observation costs a dict lookup and prometheus_client's own increment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from bot.errors import (
    BadAnswer,
    BadInput,
    CredentialsRejected,
    NotConfigured,
    NotPermitted,
    PolicyRefusal,
    RateLimited,
    TicketNotFound,
    UpstreamUnavailable,
)

__all__ = ["OUTCOMES", "UPSTREAM_ERROR_KINDS", "Metrics", "outcome_of"]

#: How a lookup ended (`ticketlens_lookups_total{outcome}`).
OUTCOMES: Final = (
    "ok",
    # Answered with a kept copy: the provider was rate limiting or down (`bot.cache`).
    "stale",
    "not_found",
    "refused",
    "not_configured",
    "rejected",
    "rate_limited",
    "unavailable",
    "bad_answer",
    "bad_input",
    "error",
)
#: How one upstream attempt failed (`ticketlens_upstream_errors_total{kind}`).
UPSTREAM_ERROR_KINDS: Final = (
    "timeout",
    "connect",
    "tls",
    "cut_short",
    "invalid",
    "too_large",
    "http_429",
    "http_5xx",
)

#: Most specific first: `LinkedKeyRejected` is a `CredentialsRejected`, `NotLinked` a
#: `NotConfigured`. Anything else (an unreadable stored credential, a bug, Discord refusing
#: the answer) is "error".
_OUTCOME_OF: Final[tuple[tuple[type[Exception], str], ...]] = (
    (TicketNotFound, "not_found"),
    # Our visibility rules, and the provider's "valid key, but not allowed to".
    (PolicyRefusal, "refused"),
    (NotPermitted, "refused"),
    (NotConfigured, "not_configured"),
    (CredentialsRejected, "rejected"),
    (RateLimited, "rate_limited"),
    (UpstreamUnavailable, "unavailable"),
    (BadAnswer, "bad_answer"),
    (BadInput, "bad_input"),
)

# Buckets, in seconds. A lookup: ~50 ms to a couple of seconds, up to the retry budget (20 s).
_LOOKUP_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)
# One upstream attempt: bounded by HTTP_TIMEOUT_S (at most 120).
_UPSTREAM_BUCKETS: Final = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A turn of the rate limiter: nearly always 0 (the first bucket), else up to the retry budget.
_WAIT_BUCKETS: Final = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)


def outcome_of(error: BaseException) -> str:
    """The outcome label for a lookup that raised `error`."""
    for cls, outcome in _OUTCOME_OF:
        if isinstance(error, cls):
            return outcome
    return "error"


#: What the shard collector reads: (shard id, gateway latency in seconds) per shard.
ShardLatencies = Callable[[], Iterable[tuple[int, float]]]


class _ShardLatency:
    """`ticketlens_shard_latency_seconds{shard}`, read from discord.py when scraped (no cost
    between scrapes). A shard without a heartbeat answer yet (latency inf or nan) is left out."""

    NAME: Final = "ticketlens_shard_latency_seconds"
    HELP: Final = "Time between the last gateway heartbeat and its acknowledgement, per shard."

    def __init__(self, source: ShardLatencies) -> None:
        self.source = source

    def describe(self) -> Iterator[Metric]:
        # Lets the registry learn the name without calling `collect` (the bot may not be up).
        yield GaugeMetricFamily(self.NAME, self.HELP, labels=["shard"])

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=["shard"])
        for shard, latency in self.source():
            if math.isfinite(latency):
                family.add_metric([str(shard)], latency)
        yield family


class Metrics:
    """The bot's metrics and the small functions the core calls to update them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.lookups = Counter(
            "ticketlens_lookups",
            "Lookups answered (commands, buttons, context menu), by provider and outcome.",
            ["provider", "outcome"],
            registry=registry,
        )
        self.lookup_seconds = Histogram(
            "ticketlens_lookup_seconds",
            "A lookup end to end: from the command to the answer sent (or the error).",
            buckets=_LOOKUP_BUCKETS,
            registry=registry,
        )
        self.upstream_seconds = Histogram(
            "ticketlens_upstream_seconds",
            "One upstream HTTP attempt, from sending to the whole answer read (or failing).",
            ["provider"],
            buckets=_UPSTREAM_BUCKETS,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "ticketlens_upstream_errors",
            "Upstream HTTP attempts that failed, retried or not, by provider and kind.",
            ["provider", "kind"],
            registry=registry,
        )
        self.ratelimit_wait_seconds = Histogram(
            "ticketlens_ratelimit_wait_seconds",
            "Time a request waited for its turn under the per-credential rate limit.",
            buckets=_WAIT_BUCKETS,
            registry=registry,
        )
        self.cache_hits = Counter(
            "ticketlens_cache_hits",
            "Lookups answered without an upstream call of their own: from the ticket cache, "
            "or by joining the same call already in flight.",
            registry=registry,
        )
        self._shards: _ShardLatency | None = None
        self._lookups: dict[tuple[str, str], Counter] = {}
        self._upstream: dict[str, Histogram] = {}
        self._errors: dict[tuple[str, str], Counter] = {}

    # -- what the core calls ------------------------------------------------------------

    def observe_lookup(self, provider: str, outcome: str, seconds: float) -> None:
        """A lookup ended with `outcome` (see `OUTCOMES`) after `seconds`."""
        key = (provider, outcome)
        child = self._lookups.get(key)
        if child is None:
            child = self._lookups[key] = self.lookups.labels(provider, outcome)
        child.inc()
        self.lookup_seconds.observe(seconds)

    def observe_upstream(self, provider: str, seconds: float) -> None:
        """One upstream attempt took `seconds` (answered or failed)."""
        child = self._upstream.get(provider)
        if child is None:
            child = self._upstream[provider] = self.upstream_seconds.labels(provider)
        child.observe(seconds)

    def upstream_error(self, provider: str, kind: str) -> None:
        """One upstream attempt failed this way (see `UPSTREAM_ERROR_KINDS`)."""
        key = (provider, kind)
        child = self._errors.get(key)
        if child is None:
            child = self._errors[key] = self.upstream_errors.labels(provider, kind)
        child.inc()

    def observe_ratelimit_wait(self, seconds: float) -> None:
        """A request got its turn after waiting `seconds` (0 when it was free at once)."""
        self.ratelimit_wait_seconds.observe(seconds)

    def cache_hit(self) -> None:
        """A lookup was served without an upstream call of its own."""
        self.cache_hits.inc()

    def watch_shards(self, source: ShardLatencies) -> None:
        """Report each shard's gateway latency from `source` when scraped (once per bot)."""
        if self._shards is not None:
            self._shards.source = source
            return
        self._shards = _ShardLatency(source)
        self.registry.register(self._shards)
