"""
Bench: watches. 1 000 watched RetroAchievements tickets over 100 guilds, all on one credential
(so one poller), in one bot process with the loopback Discord and the fake RetroAchievements.

Two questions, two numbers:

* the budget: the poller's requests counted at the fake provider, per minute of the pollers'
  (fake) clock, against RETROACHIEVEMENTS_WATCH_BUDGET_PER_MIN; and how often each watch is
  refreshed when 1 000 need more than the budget allows (they are polled in turns);
* interactive lookups: their latency (dispatch to answer, on the fake Discord's clock) with the
  watches polling against the same without any, as a ratio of medians and of 95th percentiles.
  The pollers' clock runs at real speed (what production sees) and 60 times faster (a stress
  row: the budget then lets 30 requests a real second through).

The pollers' clock is a `tests.fakes.clock.FakeClock`, so the budget phase covers 75 minutes
of polling in seconds. `make bench` ends with it; alone: `.venv/bin/python -m bench.watches`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

from bench.harness import API_KEY, CHANNEL_ID, USERNAME, BenchDiscord, TicketSupply
from bot import watch as watch_engine
from bot.storecommon import Watch
from cogs.retroachievements._client import RetroSettings
from tests.e2e.conftest import FAKE_TOKEN
from tests.fakes.clock import FakeClock
from tests.fakes.retroachievements import FakeRetroAchievements
from tests.harness import running_bot

RA = "retroachievements"
GUILDS = 100
WATCHES = 1_000
#: Guild ids far from channel ids and from each guild's role (its id + 1).
FIRST_GUILD = 10_000
INTERVAL_S = 300.0
BUDGET = RetroSettings.model_fields["watch_budget_per_min"].default
UPSTREAM_DELAY_S = 0.05
#: Interactive lookups per latency row, how many in flight, and the fake minutes of polling
#: whose requests are counted against the budget.
LOOKUPS = 400
IN_FLIGHT = 10
BUDGET_MINUTES = 75.0


def guild_ids() -> list[int]:
    return [FIRST_GUILD + 10 * i for i in range(GUILDS)]


@dataclass
class BudgetResult:
    fake_minutes: float
    requests: int
    busiest_minute: int
    watches_polled: int
    mean_refresh_min: float


@dataclass
class LatencyResult:
    label: str
    median_ms: float
    p95_ms: float
    poll_requests: int


async def add_watches(bot: Any, fake: BenchDiscord) -> None:
    """The credential in every guild, and 1 000 watches, 10 per guild, tracked at once, each
    with its card in its guild's channel at the fake (the hourly check finds it there)."""
    cog: Any = bot.get_cog("WatchCog")
    await asyncio.wait_for(cog.loaded.wait(), 10)
    credential = {"username": USERNAME, "api_key": API_KEY}
    ids = guild_ids()
    for guild_id in ids:
        await bot.store.put_credential(guild_id, None, RA, credential, set_by=1)
    stored = await bot.store.get_credential(ids[0], None, RA)
    provider = bot.providers[RA]
    # Every ticket of the fake is alike (open, no assignee, no replies): one state for all.
    state = watch_engine.ticket_state(
        provider, watch_engine.public_view(provider, await provider.fetch(stored, 1))
    )
    now = datetime.fromtimestamp(cog.watcher.clock.now(), UTC)
    for n in range(WATCHES):
        guild_index = n % GUILDS
        ticket_id = n + 1
        channel_id = CHANNEL_ID + guild_index
        card = fake.user_message("card", channel_id=channel_id, author_id=fake.bot_user_id)
        watch = Watch(
            guild_id=ids[guild_index],
            channel_id=channel_id,
            message_id=int(card["id"]),
            provider=RA,
            kind="ticket",
            ref=str(ticket_id),
            state=state,
            added_by=1,
            added_at=now,
            last_ok_at=now,
        )
        watch.id = await bot.store.add_watch(watch) or 0
        cog.watcher.track(watch, stored.fingerprint)


async def budget_phase(
    bot: Any, ra: FakeRetroAchievements, clock: FakeClock, minutes: float
) -> BudgetResult:
    ra.delay_s = 0.0  # only the count matters here
    start = len(ra.requests)
    started = clock.now()
    await clock.advance(minutes * 60)
    times = ra.request_times[start:]
    ids = [int(r["i"]) for r in ra.requests[start:] if "i" in r]
    busiest = max((sum(1 for u in times if t <= u < t + 60) for t in times), default=0)
    polled: dict[int, list[float]] = {}
    for ticket_id, at in zip(ids, times, strict=True):
        polled.setdefault(ticket_id, []).append(at)
    gaps = [b - a for ts in polled.values() for a, b in itertools.pairwise(ts)]
    return BudgetResult(
        fake_minutes=(clock.now() - started) / 60,
        requests=len(times),
        busiest_minute=busiest,
        watches_polled=len(polled),
        mean_refresh_min=(statistics.fmean(gaps) / 60) if gaps else float("nan"),
    )


async def lookups(fake: BenchDiscord, total: int, in_flight: int, first_id: int) -> list[float]:
    """`total` lookups of tickets never asked before, `in_flight` at a time; latencies (s)."""
    ids = iter(range(first_id, first_id + total))
    latencies: list[float] = []

    async def worker() -> None:
        for ticket_id in ids:
            outcome = await fake.lookup(ticket_id)
            if outcome.latency is not None and outcome.ok:
                latencies.append(outcome.latency)

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return latencies


async def drive(clock: FakeClock, speed: float, stop: asyncio.Event) -> None:
    """Move the pollers' clock on at `speed` times real time until `stop`."""
    last = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(0.05)
        now = time.monotonic()
        await clock.advance((now - last) * speed)
        last = now


async def latency_phase(
    fake: BenchDiscord,
    ra: FakeRetroAchievements,
    clock: FakeClock | None,
    *,
    label: str,
    speed: float,
    total: int,
    in_flight: int,
    first_id: int,
) -> LatencyResult:
    ra.delay_s = UPSTREAM_DELAY_S
    start = len(ra.requests)
    stop = asyncio.Event()
    driver = asyncio.create_task(drive(clock, speed, stop)) if clock is not None else None
    try:
        latencies = await lookups(fake, total, in_flight, first_id)
    finally:
        stop.set()
        if driver is not None:
            await driver
    polls = sum(1 for r in ra.requests[start:] if "i" in r and int(r["i"]) <= WATCHES)
    cut = statistics.quantiles(latencies, n=20)
    return LatencyResult(label, statistics.median(latencies) * 1000, cut[18] * 1000, polls)


async def bench(total: int, in_flight: int, budget_minutes: float) -> None:
    clock = FakeClock()
    watch_engine.make_clock = lambda: clock  # the bot below builds its watcher with it
    ra = FakeRetroAchievements(keys={API_KEY}, tickets=TicketSupply())  # type: ignore[arg-type]
    ra.clock = clock.now
    await ra.start()
    fake = BenchDiscord("watches", guild_ids=guild_ids())
    fake.token = FAKE_TOKEN  # the in-process bot of `tests.harness` logs in with the tests' token
    await fake.start()
    sections: dict[type[BaseSettings], BaseSettings] = {
        RetroSettings: RetroSettings(base_url=ra.url, rate_per_s=100_000)
    }
    try:
        with tempfile.TemporaryDirectory(prefix="bench-watches-") as data:
            async with running_bot(fake, Path(data), sections=sections) as bot:
                await add_watches(bot, fake)
                await lookups(fake, 50, in_flight, 50_000)  # warm-up, not measured
                before = await latency_phase(
                    fake,
                    ra,
                    None,
                    label="no watches",
                    speed=0,
                    total=total,
                    in_flight=in_flight,
                    first_id=100_000,
                )
                # The watches are added: let the first interval pass, the poller is busy now.
                cog: Any = bot.get_cog("WatchCog")
                budget = await budget_phase(bot, ra, clock, budget_minutes)
                rows = [before]
                for speed, label in (
                    (1.0, "1 000 watches, clock ×1"),
                    (60.0, "1 000 watches, clock ×60"),
                ):
                    rows.append(
                        await latency_phase(
                            fake,
                            ra,
                            clock,
                            label=label,
                            speed=speed,
                            total=total,
                            in_flight=in_flight,
                            first_id=200_000 + int(speed) * 10_000,
                        )
                    )
                pollers = len(cog.watcher.pollers)
    finally:
        await fake.stop()
        await ra.stop()
    report(budget, rows, pollers)


def report(budget: BudgetResult, rows: list[LatencyResult], pollers: int) -> None:
    per_cycle = int(BUDGET * INTERVAL_S / 60)
    print(f"Watches: {WATCHES} over {GUILDS} guilds, one credential ({pollers} poller)")
    print(
        f"  budget {BUDGET}/min, interval {INTERVAL_S / 60:g} min -> {per_cycle} polls per "
        f"interval; each watch every ~{WATCHES / per_cycle * INTERVAL_S / 60:.0f} min"
    )
    verdict = "within" if budget.busiest_minute <= BUDGET else "OVER"
    print(
        f"  {budget.fake_minutes:.0f} fake minutes: {budget.requests} requests at the fake "
        f"provider, busiest minute {budget.busiest_minute} ({verdict} the budget of {BUDGET}); "
        f"{budget.watches_polled} watches polled, each refreshed every "
        f"{budget.mean_refresh_min:.1f} min on average"
    )
    base = rows[0]
    print(f"  {'interactive lookups':<28} {'median':>9} {'p95':>9} {'ratio':>7} {'polls':>6}")
    for row in rows:
        ratio = row.median_ms / base.median_ms
        print(
            f"  {row.label:<28} {row.median_ms:7.1f}ms {row.p95_ms:7.1f}ms "
            f"{ratio:6.2f}x {row.poll_requests:6d}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--lookups", type=int, default=LOOKUPS)
    parser.add_argument("--in-flight", type=int, default=IN_FLIGHT)
    parser.add_argument("--budget-minutes", type=float, default=BUDGET_MINUTES)
    args = parser.parse_args()
    asyncio.run(bench(args.lookups, args.in_flight, args.budget_minutes))


if __name__ == "__main__":
    main()
