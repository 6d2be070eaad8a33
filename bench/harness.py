"""
The machinery of the bench: the fakes, the subject processes, the load and the statistics.

Latency is measured inside the fake Discord, on its own clock: from the moment it dispatches
INTERACTION_CREATE (`FakeInteraction.sent_at`) to the arrival of the final response, which is
the accepted callback for a direct answer or the PATCH of @original after a deferral. A lookup
is closed-loop: `in_flight` workers each send one interaction, wait for its final response and
send the next, every one for a ticket id never asked before (so no cache answers).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.e2e.fake_discord import (
    MANAGE_GUILD,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    RecordedRequest,
)
from tests.fakes.retroachievements import FakeRetroAchievements, ra_ticket

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token.fake.value"  # noqa: S105  (the fake Discord's, not a secret)
API_KEY = "bench-ra-key-0123456789"
USERNAME = "bench-moderator"
GUILD_ID, CHANNEL_ID, OWNER_ID, MEMBER_ID = 1000, 2000, 1, 5555
#: A guild on each shard of 2 (Discord: `(guild_id >> 22) % shard_count`), for the scale-out runs.
SHARDED_GUILD_IDS = (GUILD_ID, (1 << 22) + GUILD_ID + 1)
DEADLINE_S = 3.0
LOOKUP_TIMEOUT_S = 15.0
START_TIMEOUT_S = 30.0
UPSTREAM_DELAY_S = 0.05
#: Far above any load the bench makes, so the per-key limiter never holds a lookup back.
RATE_PER_S = "100000"

#: Settings any subject reads: never inherited from the shell running the bench.
_SETTINGS = re.compile(
    r"^(DISCORD_TOKEN|DATABASE_URL|SECRET_KEY|DATA_DIR|HTTP_TIMEOUT_S|CACHE_TTL_S|LOG_LEVEL"
    r"|DEV_GUILD_ID|RETROACHIEVEMENTS_.*|BARE_.*|METRICS_.*|SHUTDOWN_TIMEOUT_S|DATABASE_.*)$"
)


# -- the fakes ---------------------------------------------------------------------------------


class TicketSupply(Mapping[int, dict[str, Any]]):
    """Every positive id is a ticket, built when asked: no table of 100 000 tickets."""

    def __getitem__(self, key: int) -> dict[str, Any]:
        if not isinstance(key, int) or key < 1:
            raise KeyError(key)
        return ra_ticket(key)

    def __iter__(self) -> Iterator[int]:
        return iter((1,))

    def __len__(self) -> int:
        return 1


@dataclass
class Outcome:
    """One lookup as Discord saw it."""

    latency: float | None  # dispatch -> final response, seconds; None if it never came
    ok: bool  # the final response is the ticket
    missed: bool  # no accepted initial response within the deadline
    deferred: bool


class BenchDiscord(FakeDiscord):
    """FakeDiscord that resolves a future per interaction when its final response arrives."""

    def __init__(self, name: str, guild_ids: Sequence[int] = (GUILD_ID,)) -> None:
        guilds = [
            FakeGuild(
                id=gid,
                name=f"Bench Guild {i}",
                owner_id=OWNER_ID,
                channels={CHANNEL_ID + i: "general"},
            )
            for i, gid in enumerate(guild_ids)
        ]
        super().__init__(
            token=TOKEN,
            guilds=guilds,
            owner_id=OWNER_ID,
            callback_deadline=DEADLINE_S,
            default_user_id=MEMBER_ID,
        )
        self.name = name
        self.guild_ids = tuple(guild_ids)
        self._turn = itertools.count()
        self._waiters: dict[int, asyncio.Future[Outcome]] = {}

    def _waiter(self, interaction_id: int) -> asyncio.Future[Outcome]:
        future = self._waiters.get(interaction_id)
        if future is None:
            future = self._waiters[interaction_id] = asyncio.get_running_loop().create_future()
        return future

    def _finish(self, inter: FakeInteraction, req: RecordedRequest, body: Any) -> None:
        future = self._waiter(inter.id)
        if future.done():
            return
        first = inter.callbacks[0] if inter.callbacks else None
        missed = first is None or first.status >= 300 or first.delay > DEADLINE_S
        embeds = (body or {}).get("embeds") or []
        ok = bool(embeds) and str(embeds[0].get("title", "")).startswith("Ticket #")
        deferred = first is not None and first.type == 5
        latency = req.received_at - inter.sent_at
        future.set_result(Outcome(latency, ok and not missed, missed, deferred))

    async def _callback(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        response = await super()._callback(req, m)
        inter = self.interactions.get(int(m["iid"]))
        if inter is not None and inter.callbacks:
            record = inter.callbacks[-1]
            if record.status >= 300 or record.type == 4:
                self._finish(inter, req, record.data)
        return response

    async def _edit_message(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        response = await super()._edit_message(req, m)
        if m["mid"] == "@original" and response.status < 300:
            inter = self._tokens.get(m["token"])
            if inter is not None:
                self._finish(inter, req, req.json)
        return response

    async def lookup(self, ticket_id: int) -> Outcome:
        """A member runs `/ticket retroachievements id:<ticket_id>`; its outcome. With several
        guilds, the lookups take turns over them."""
        guild_id = None
        if len(self.guild_ids) > 1:
            guild_id = self.guild_ids[next(self._turn) % len(self.guild_ids)]
        inter = await self.send_interaction(
            "ticket retroachievements", {"id": ticket_id}, guild_id=guild_id, permissions=0
        )
        try:
            return await asyncio.wait_for(self._waiter(inter.id), LOOKUP_TIMEOUT_S)
        except TimeoutError:
            first = inter.callbacks[0] if inter.callbacks else None
            missed = first is None or first.status >= 300 or first.delay > DEADLINE_S
            return Outcome(None, False, missed, first is not None and first.type == 5)

    def forget(self) -> None:
        """Drop what was recorded (between runs: the fake must not grow for minutes)."""
        self.requests.clear()
        self.interactions.clear()
        self._tokens.clear()
        self.messages.clear()
        self.dispatched.clear()
        self.gateway_received.clear()
        self.deleted_message_ids.clear()
        self._waiters.clear()
        for session in self._sessions:
            session.history.clear()


# -- the subjects ------------------------------------------------------------------------------


@dataclass
class Subject:
    """One process under test, connected to its own BenchDiscord."""

    name: str
    module: str
    folder: Path
    fake: BenchDiscord
    proc: subprocess.Popen[bytes] | None = None
    profile: Path | None = None
    """Run the process under cProfile, writing its stats here when it exits."""
    extra_env: dict[str, str] = field(default_factory=dict)
    """Settings of this process on top of the bench's (DATABASE_URL, SHARD_IDS, ...)."""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def env(self, ra_url: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not _SETTINGS.match(k)}
        env = self.fake.subprocess_env(base)
        env["PYTHONPATH"] = env["PYTHONPATH"] + os.pathsep + str(REPO)
        env["DISCORD_TOKEN"] = TOKEN
        if self.module == "bot":
            env.update(
                RETROACHIEVEMENTS_BASE_URL=ra_url,
                RETROACHIEVEMENTS_RATE_PER_S=RATE_PER_S,
                LOG_LEVEL="WARNING",
            )
        else:
            env.update(BARE_RA_URL=ra_url, BARE_RA_KEY=API_KEY)
        env.update(self.extra_env)
        return env

    async def start(self, ra_url: str) -> None:
        """Start the process and wait for its gateway session (and configure TicketLens)."""
        await self.fake.start()
        self.launch(ra_url)
        try:
            await self.fake.wait_for_gateway_ready(START_TIMEOUT_S)
        except TimeoutError:
            raise SystemExit(self.no_connection()) from None
        if self.module == "bot":
            await configure(self.fake)

    def no_connection(self) -> str:
        assert self.proc is not None
        return f"{self.name} did not connect (exit {self.proc.poll()}); see {self.folder}"

    def launch(self, ra_url: str) -> None:
        """Start the process (its fake already serving); don't wait for it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (
            (self.folder / "stdout.log").open("wb") as out,
            (self.folder / "stderr.log").open("wb") as err,
        ):
            profiler = ["-m", "cProfile", "-o", str(self.profile)] if self.profile else []
            self.proc = subprocess.Popen(  # noqa: S603  (our module; polled, not waited)
                [sys.executable, *profiler, "-m", self.module],
                cwd=self.folder,
                env=self.env(ra_url),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    async def stop(self) -> None:
        await self.terminate()
        await self.fake.stop()

    async def terminate(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; the fake keeps serving."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while self.proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)  # the fake keeps serving while the process exits
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def cpu_s(self) -> float:
        """User + system CPU time the process used so far, seconds (/proc/<pid>/stat)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        """Resident memory of the process (VmRSS), MiB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        kib = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)[1])  # type: ignore[index]
        return kib / 1024


@dataclass
class Group:
    """TicketLens processes sharing one BenchDiscord (and one database): `shard_count` > 1
    gives process i SHARD_COUNT=shard_count, SHARD_IDS=i. Measured like one subject: lookups
    spread over the fake's guilds, CPU summed over the processes."""

    name: str
    fake: BenchDiscord
    folder: Path
    processes: int
    env: dict[str, str]
    members: list[Subject] = field(default_factory=list)

    async def start(self, ra_url: str) -> None:
        await self.fake.start()
        for i in range(self.processes):
            env = dict(self.env)
            if self.processes > 1:
                env.update(SHARD_COUNT=str(self.processes), SHARD_IDS=str(i))
            member = Subject(f"{self.name}-{i}", "bot", self.folder / str(i), self.fake)
            member.extra_env = env
            self.members.append(member)
            member.launch(ra_url)
        try:
            if self.processes > 1:
                await self.fake.wait_for_shards_ready(
                    range(self.processes), START_TIMEOUT_S, shard_count=self.processes
                )
            else:
                await self.fake.wait_for_gateway_ready(START_TIMEOUT_S)
        except TimeoutError:
            raise SystemExit("; ".join(m.no_connection() for m in self.members)) from None
        for guild_id in self.fake.guild_ids:
            await configure(self.fake, guild_id)

    async def stop(self) -> None:
        for member in self.members:
            await member.terminate()
        await self.fake.stop()

    def cpu_s(self) -> float:
        return sum(member.cpu_s() for member in self.members)


async def configure(fake: BenchDiscord, guild_id: int | None = None) -> None:
    """Store the RetroAchievements credentials through /ticketconfig, as an admin would."""
    inter = await fake.send_interaction(
        "ticketconfig set",
        {"provider": "retroachievements"},
        guild_id=guild_id,
        permissions=MANAGE_GUILD,
        user_id=OWNER_ID,
    )
    modal = await fake.wait_for_response(inter, timeout=10)
    if modal.type != 9:
        raise SystemExit(f"/ticketconfig set did not open the form: {modal}")
    submit = await fake.send_modal_submit(
        "ticketlens:config:retroachievements",
        {"username": USERNAME, "api_key": API_KEY},
        guild_id=guild_id,
        permissions=MANAGE_GUILD,
        user_id=OWNER_ID,
    )
    reply = (await fake.wait_for_followups(submit, timeout=10))[0]
    title = (reply.get("embeds") or [{}])[0].get("title")
    if title != "Saved":
        raise SystemExit(f"TicketLens did not store the bench credentials: {reply}")


# -- load and statistics ----------------------------------------------------------------------


ticket_ids = itertools.count(1_000_000)


@dataclass
class Run:
    """One closed-loop run of `total` lookups with `in_flight` outstanding."""

    subject: str
    in_flight: int
    outcomes: list[Outcome]
    elapsed: float
    cpu_s: float  # CPU time the subject process used during the run

    @property
    def cpu_ms_per_lookup(self) -> float:
        return self.cpu_s * 1000 / len(self.outcomes)

    @property
    def latencies_ms(self) -> list[float]:
        return sorted(o.latency * 1000 for o in self.outcomes if o.latency is not None)

    def percentile(self, q: float) -> float:
        values = self.latencies_ms
        if not values:
            return math.nan
        return values[max(0, math.ceil(q * len(values)) - 1)]

    @property
    def throughput(self) -> float:
        return len(self.outcomes) / self.elapsed

    @property
    def missed(self) -> int:
        return sum(o.missed for o in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(not o.ok for o in self.outcomes)

    @property
    def deferred(self) -> int:
        return sum(o.deferred for o in self.outcomes)


async def run_load(
    subject: Subject | Group, ra: FakeRetroAchievements, in_flight: int, total: int
) -> Run:
    """`total` lookups of fresh ticket ids, `in_flight` at a time."""
    fake = subject.fake
    outcomes: list[Outcome] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            outcomes.append(await fake.lookup(next(ticket_ids)))

    cpu_before, started = subject.cpu_s(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed, cpu = time.monotonic() - started, subject.cpu_s() - cpu_before
    fake.forget()
    ra.requests.clear()
    return Run(subject.name, in_flight, outcomes, elapsed, cpu)


@dataclass
class Spread:
    """The median of per-run values, and their min and max."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def mid(self) -> float:
        return statistics.median(self.values) if self.values else math.nan

    def show(self, digits: int = 1) -> str:
        if not self.values:
            return "-"
        lo, hi = min(self.values), max(self.values)
        return f"{self.mid:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table, columns padded to their widest cell."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, rule, *body])
