"""
`python -m bench`: latency, throughput, memory and cache effect of TicketLens, with floors.

See `bench/__init__.py` for the three subjects. Progress goes to stderr, the tables to stdout.
`--reps` sets how many times each level is repeated (interleaving the subjects, in a rotating
order); `--quick` shrinks every run for a smoke test (its numbers are not worth comparing).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import os
import platform
import pstats
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench import watches
from bench.harness import (
    API_KEY,
    DEADLINE_S,
    RATE_PER_S,
    SHARDED_GUILD_IDS,
    UPSTREAM_DELAY_S,
    BenchDiscord,
    Group,
    Run,
    Spread,
    Subject,
    TicketSupply,
    run_load,
    table,
    ticket_ids,
)
from bench.postgres import Postgres
from tests.fakes.retroachievements import FakeRetroAchievements

MODULES = {"floor": "bench.floor_client", "bare": "bench.bare_bot", "bot": "bot"}
LEVELS = {1: 120, 10: 600, 100: 2000}
WARM_UP = 200
MEMORY_FIRST, MEMORY_TOTAL = 100, 10_000
SCALE_IN_FLIGHT, SCALE_LOOKUPS = 100, 2000
#: The scale-out setups: label, processes, on PostgreSQL.
SCALE_SETUPS = (
    ("one process, SQLite", 1, False),
    ("one process, PostgreSQL", 1, True),
    ("two processes (shards 0 and 1 of 2), PostgreSQL", 2, True),
)

# Targets.
OVERHEAD_P50_MS = 1.5  # at 10 in flight, bot p50 - floor p50
THROUGHPUT_SHARE = 0.90  # bot / bare at 100 in flight
P99_RATIO = 1.2  # bot / bare at 100 in flight
RSS_GROWTH_SLACK_MIB = 3.0  # bot growth - bare growth, 100 -> 10 000 lookups


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class Memory:
    after_first: float
    after_total: float
    missed: int
    failed: int

    @property
    def growth(self) -> float:
        return self.after_total - self.after_first


async def measure_memory(name: str, workdir: Path, ra: FakeRetroAchievements, total: int) -> Memory:
    """A fresh process: RSS after MEMORY_FIRST lookups, then after `total`."""
    subject = Subject(name, MODULES[name], workdir / f"{name}-memory", BenchDiscord(name))
    await subject.start(ra.url)
    try:
        first = await run_load(subject, ra, 10, MEMORY_FIRST)
        await asyncio.sleep(0.5)
        after_first = subject.rss_mib()
        rest = await run_load(subject, ra, 100, total - MEMORY_FIRST)
        await asyncio.sleep(0.5)
        after_total = subject.rss_mib()
    finally:
        await subject.stop()
    runs = (first, rest)
    log(f"  memory {name}: {after_first:.1f} -> {after_total:.1f} MiB")
    return Memory(
        after_first,
        after_total,
        sum(r.missed for r in runs),
        sum(r.failed for r in runs),
    )


async def cache_effect(subject: Subject, ra: FakeRetroAchievements, concurrent: int = 100) -> int:
    """Upstream calls made by `concurrent` simultaneous lookups of one new ticket."""
    ticket = next(ticket_ids)
    ra.requests.clear()
    await asyncio.gather(*(subject.fake.lookup(ticket) for _ in range(concurrent)))
    calls = sum(1 for r in ra.requests if r.get("i") == str(ticket))
    subject.fake.forget()
    ra.requests.clear()
    return calls


@dataclass
class ScaleOut:
    """The scale-out runs by setup label, and why the PostgreSQL ones were skipped, if so."""

    lookups: int
    runs: dict[str, list[Run]]
    skipped: str | None


async def scale_out(reps: int, lookups: int, workdir: Path, ra: FakeRetroAchievements) -> ScaleOut:
    """Closed-loop runs at SCALE_IN_FLIGHT of TicketLens on SQLite, on PostgreSQL, and as two
    processes splitting two shards over one PostgreSQL; lookups alternate over two guilds,
    one on each shard."""
    postgres = Postgres()
    skipped = postgres.start()
    if skipped is not None:
        log(f"scale-out: {skipped}: the PostgreSQL setups are skipped")
    secret_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    groups: dict[str, Group] = {}
    runs: dict[str, list[Run]] = {}
    try:
        for i, (label, processes, on_postgres) in enumerate(SCALE_SETUPS):
            if on_postgres and skipped is not None:
                continue
            env = {}
            if on_postgres:
                env = {"DATABASE_URL": await postgres.database_url(), "SECRET_KEY": secret_key}
            fake = BenchDiscord(f"scale-{i}", SHARDED_GUILD_IDS)
            groups[label] = Group(f"scale-{i}", fake, workdir / f"scale-{i}", processes, env)
        for label, group in groups.items():
            await group.start(ra.url)
            await run_load(group, ra, 10, WARM_UP)
            pids = ", ".join(str(m.pid) for m in group.members)
            log(f"started and warmed up {label} (pid {pids})")
        labels = list(groups)
        for rep in range(reps):
            order = labels[rep % len(labels) :] + labels[: rep % len(labels)]
            for label in order:
                run = await run_load(groups[label], ra, SCALE_IN_FLIGHT, lookups)
                runs.setdefault(label, []).append(run)
                log(
                    f"rep {rep + 1}/{reps} scale-out {label}: {run.throughput:6.0f}/s"
                    f"  cpu {run.cpu_ms_per_lookup:5.2f} ms/lookup"
                    f"  missed {run.missed}  failed {run.failed}"
                )
    finally:
        for group in groups.values():
            await group.stop()
        postgres.stop()
    return ScaleOut(lookups, runs, skipped)


def report_scale_out(result: ScaleOut) -> None:
    print(
        f"Scale-out: {result.lookups} lookups per run at {SCALE_IN_FLIGHT} in flight, "
        "alternating over two guilds (one on each shard of 2)"
    )
    print(
        "  - each setup on its own fake Discord, its own database (a fresh PostgreSQL database "
        "on one throwaway cluster, fsync off); credentials stored through /ticketconfig in "
        "both guilds"
    )
    print(
        f"  - {WARM_UP} warm-up lookups per setup; setups interleaved in a rotating order; "
        "CPU summed over the setup's processes"
    )
    print(
        f"  - {os.cpu_count()} CPU(s) shared by the bench process (fake Discord and load), "
        "PostgreSQL and the bot process(es): more processes only help with CPUs to spare"
    )
    rows = []
    for label, _, on_postgres in SCALE_SETUPS:
        if on_postgres and result.skipped is not None:
            rows.append([label, f"{result.skipped}: skipped", "", "", ""])
            continue
        setup_runs = result.runs.get(label, [])
        rate, cpu = Spread(), Spread()
        for run in setup_runs:
            rate.add(run.throughput)
            cpu.add(run.cpu_ms_per_lookup)
        rows.append(
            [
                label,
                rate.show(0),
                cpu.show(2),
                str(sum(r.missed for r in setup_runs)),
                str(sum(r.failed for r in setup_runs)),
            ]
        )
    print(
        table(
            [
                "setup",
                f"lookups/s at {SCALE_IN_FLIGHT} in flight",
                "CPU ms/lookup (sum over processes)",
                "missed 3 s",
                "not a ticket",
            ],
            rows,
        )
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def bench(reps: int, scale: float, profile: Path | None = None) -> None:
    levels = {n: max(n * 5, int(total * scale)) for n, total in LEVELS.items()}
    memory_total = max(MEMORY_FIRST * 2, int(MEMORY_TOTAL * scale))
    workdir = Path(tempfile.mkdtemp(prefix="ticketlens-bench-"))
    ra = FakeRetroAchievements(keys={API_KEY}, tickets=TicketSupply(), delay_s=UPSTREAM_DELAY_S)  # type: ignore[arg-type]
    await ra.start()
    subjects = {
        name: Subject(name, module, workdir / name, BenchDiscord(name))
        for name, module in MODULES.items()
    }
    if profile is not None:
        subjects["bot"].profile = profile
    runs: dict[tuple[str, int], list[Run]] = {}
    started = time.monotonic()
    try:
        for subject in subjects.values():
            await subject.start(ra.url)
            await run_load(subject, ra, 10, WARM_UP)
            log(f"started and warmed up {subject.name} (pid {subject.pid})")
        names = list(subjects)
        for rep in range(reps):
            order = names[rep % len(names) :] + names[: rep % len(names)]
            for level, total in levels.items():
                for name in order:
                    run = await run_load(subjects[name], ra, level, total)
                    runs.setdefault((name, level), []).append(run)
                    log(
                        f"rep {rep + 1}/{reps} {name:5} {level:3} in flight: "
                        f"p50 {run.percentile(0.5):6.1f} ms  p99 {run.percentile(0.99):6.1f} ms"
                        f"  {run.throughput:6.0f}/s  cpu {run.cpu_ms_per_lookup:5.2f} ms/lookup"
                        f"  missed {run.missed}  failed {run.failed}"
                    )
        cache_bot = await cache_effect(subjects["bot"], ra)
        cache_bare = await cache_effect(subjects["bare"], ra)
    finally:
        for subject in subjects.values():
            await subject.stop()
    memory = {
        name: await measure_memory(name, workdir, ra, memory_total) for name in ("bare", "bot")
    }
    scaled = await scale_out(
        reps, max(SCALE_IN_FLIGHT * 5, int(SCALE_LOOKUPS * scale)), workdir, ra
    )
    await ra.stop()
    elapsed = time.monotonic() - started
    report(levels, reps, runs, cache_bot, cache_bare, memory, memory_total, elapsed, workdir)
    report_scale_out(scaled)
    print()
    # In this process (the bot of `tests.harness`, its pollers on a fake clock), after the rest.
    await watches.bench(
        total=max(50, int(watches.LOOKUPS * scale)),
        in_flight=watches.IN_FLIGHT,
        budget_minutes=watches.BUDGET_MINUTES if scale >= 1 else 20.0,
    )
    print()
    print(f"(process logs: {workdir})")
    if profile is not None:
        show_profile(profile)


def show_profile(path: Path, top: int = 30) -> None:
    """The bot's hottest functions over the whole run (cProfile slows it: rank, don't time)."""
    stats = pstats.Stats(str(path))
    print()
    print(f"cProfile of the bot process ({path}), top {top} by own time:")
    stats.sort_stats("tottime").print_stats(top)
    print(f"top {top} by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)


def report(
    levels: dict[int, int],
    reps: int,
    runs: dict[tuple[str, int], list[Run]],
    cache_bot: int,
    cache_bare: int,
    memory: dict[str, Memory],
    memory_total: int,
    elapsed: float,
    workdir: Path,
) -> None:
    def spread(name: str, level: int, what: str) -> Spread:
        result = Spread()
        for run in runs.get((name, level), []):
            value = {
                "p50": run.percentile(0.5),
                "p99": run.percentile(0.99),
                "rate": run.throughput,
                "cpu": run.cpu_ms_per_lookup,
            }[what]
            result.add(value)
        return result

    print()
    print("TicketLens bench: loopback Discord, fake RetroAchievements answering in a fixed 50 ms")
    print(
        f"  {platform.python_implementation()} {platform.python_version()}, "
        f"discord.py {metadata.version('discord.py')}, {os.cpu_count()} CPU(s), "
        f"{reps} repetitions per level, {elapsed:.0f} s in all"
    )
    print("Choices:")
    print("  - every lookup asks for a ticket id never asked before: the cache never answers")
    print(
        f"  - RETROACHIEVEMENTS_RATE_PER_S={RATE_PER_S}: all lookups share one key, and its "
        f"limiter then spaces requests only >= {1.1 / float(RATE_PER_S) * 1000:.3f} ms apart"
    )
    print("  - LOG_LEVEL=WARNING, CACHE_TTL_S and everything else at their defaults")
    print(
        "  - each subject in its own process on its own fake Discord (callback deadline "
        f"{DEADLINE_S:.0f} s); levels run closed-loop; subjects interleaved in a rotating order"
    )
    print(f"  - {WARM_UP} warm-up lookups per process before measuring")
    print(
        "  - latency: INTERACTION_CREATE dispatch -> accepted callback (direct answer) or "
        "PATCH @original (deferred), on the fake's clock"
    )
    print("  - cells: median over repetitions (min–max), in ms unless noted")
    print()

    rows = []
    for level, total in levels.items():
        bot50, bot99 = spread("bot", level, "p50"), spread("bot", level, "p99")
        floor50 = spread("floor", level, "p50")
        overhead = Spread([b - f for b, f in zip(bot50.values, floor50.values, strict=False)])
        ratio = bot50.mid / floor50.mid if floor50.values else math.nan
        rows.append(
            [
                str(level),
                str(total),
                bot50.show(),
                bot99.show(),
                spread("bare", level, "p50").show(),
                spread("bare", level, "p99").show(),
                floor50.show(),
                spread("floor", level, "p99").show(),
                overhead.show(2),
                f"{ratio:.3f}x",
            ]
        )
    print("Latency")
    print(
        table(
            [
                "in flight",
                "lookups",
                "bot p50",
                "bot p99",
                "bare p50",
                "bare p99",
                "floor p50",
                "floor p99",
                "bot-floor p50",
                "bot/floor p50",
            ],
            rows,
        )
    )
    print()

    top = max(levels)
    rate_rows = []
    for name in ("bot", "bare", "floor"):
        subject_runs = [r for level in levels for r in runs.get((name, level), [])]
        rate_rows.append(
            [
                name,
                spread(name, top, "rate").show(0),
                spread(name, top, "cpu").show(2),
                str(sum(r.missed for r in subject_runs)),
                str(sum(r.failed for r in subject_runs)),
                str(sum(r.deferred for r in subject_runs)),
                str(sum(len(r.outcomes) for r in subject_runs)),
            ]
        )
    print(f"Throughput at {top} in flight, and outcomes over every measured run")
    print(
        table(
            [
                "subject",
                "lookups/s",
                "CPU ms/lookup",
                "missed 3 s",
                "not a ticket",
                "deferred",
                "lookups",
            ],
            rate_rows,
        )
    )
    print()

    mem_rows = [
        [
            name,
            f"{m.after_first:.1f}",
            f"{m.after_total:.1f}",
            f"{m.growth:+.1f}",
            str(m.missed),
            str(m.failed),
        ]
        for name, m in memory.items()
    ]
    print(f"Resident memory (VmRSS, MiB) of a fresh process, {memory_total} lookups")
    print(
        table(
            [
                "subject",
                f"after {MEMORY_FIRST}",
                f"after {memory_total}",
                "growth",
                "missed",
                "not a ticket",
            ],
            mem_rows,
        )
    )
    print()
    print(
        f"Cache effect: 100 concurrent lookups of one ticket -> {cache_bot} upstream call(s) "
        f"from TicketLens ({cache_bare} from the bare bot, which has no cache)"
    )
    print()

    bot10, floor10 = spread("bot", 10, "p50"), spread("floor", 10, "p50")
    overhead10 = bot10.mid - floor10.mid
    bot_rate, bare_rate = spread("bot", top, "rate").mid, spread("bare", top, "rate").mid
    bot_p99, bare_p99 = spread("bot", top, "p99").mid, spread("bare", top, "p99").mid
    bot_missed = sum(r.missed for level in levels for r in runs.get(("bot", level), []))
    bot_missed += memory["bot"].missed
    growth_gap = memory["bot"].growth - memory["bare"].growth
    targets = [
        (
            f"overhead vs floor at p50, 10 in flight <= {OVERHEAD_P50_MS} ms",
            f"{overhead10:.2f} ms",
            overhead10 <= OVERHEAD_P50_MS,
        ),
        (
            f"throughput at {top} in flight >= {THROUGHPUT_SHARE:.0%} of bare",
            f"{bot_rate / bare_rate:.0%} ({bot_rate:.0f} vs {bare_rate:.0f}/s)",
            bot_rate >= THROUGHPUT_SHARE * bare_rate,
        ),
        (
            f"p99 at {top} in flight <= {P99_RATIO}x bare",
            f"{bot_p99 / bare_p99:.2f}x ({bot_p99:.1f} vs {bare_p99:.1f} ms)",
            bot_p99 <= P99_RATIO * bare_p99,
        ),
        ("missed 3 s deadlines (bot, every run) == 0", str(bot_missed), bot_missed == 0),
        (
            f"RSS growth {MEMORY_FIRST} -> {memory_total} within {RSS_GROWTH_SLACK_MIB:.0f} MiB "
            "of bare",
            f"{growth_gap:+.1f} MiB ({memory['bot'].growth:+.1f} vs {memory['bare'].growth:+.1f})",
            growth_gap <= RSS_GROWTH_SLACK_MIB,
        ),
        ("100 concurrent lookups of one ticket -> 1 upstream call", str(cache_bot), cache_bot == 1),
    ]
    print("Targets")
    print(table(["target", "measured", ""], [[t, m, verdict(ok)] for t, m, ok in targets]))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--reps", type=int, default=3, help="repetitions per level (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke test: short runs")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="run the bot under cProfile, save its stats to FILE and print the top entries "
        "(the table's bot numbers are then not comparable)",
    )
    args = parser.parse_args()
    profile = args.profile.resolve() if args.profile else None
    asyncio.run(bench(max(1, args.reps), 0.1 if args.quick else 1.0, profile))


if __name__ == "__main__":
    main()
