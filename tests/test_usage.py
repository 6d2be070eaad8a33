"""
Upstream use per credential (`bot.usage`): the counts, the last 429 and the announced
allowance, read robustly; and what `/ticketconfig show` says of them, through the real bot
against a fake TeamBattles that meters its keys.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from bot.app import TicketLensBot
from bot.usage import Allowance, Usage, parse_allowance
from cogs.teambattles._client import TeamBattlesSettings
from tests.e2e.conftest import GUILD_ID
from tests.e2e.fake_discord import MANAGE_GUILD, FakeDiscord
from tests.fakes.teambattles import FakeTeamBattles, TbKey, TbRequest, tb_key, tb_ticket
from tests.harness import all_text, embeds_of, running_bot

TB = "teambattles"
TEAM_KEY, ALICE_KEY = tb_key(3), tb_key(1)
ADMIN, ALICE = 701, 703
NOW = 1_780_000_000.0
RATE_NAMES = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def headers(limit: str | None, remaining: str | None, reset: str | None) -> dict[str, str]:
    values = dict(zip(RATE_NAMES, (limit, remaining, reset), strict=True))
    return {name: value for name, value in values.items() if value is not None}


# -- reading the headers ----------------------------------------------------------------------


def test_the_announced_allowance_is_read():
    """Limit, remaining, and the reset in seconds from now (as teambattles documents it)."""
    assert parse_allowance(headers("60", "59", "1"), NOW) == Allowance(
        seen_at=NOW, remaining=59, limit=60, reset_at=NOW + 1
    )
    assert parse_allowance(headers(" 300 ", "0", "12.0"), NOW) == Allowance(
        seen_at=NOW, remaining=0, limit=300, reset_at=NOW + 12
    )


def test_a_reset_given_as_a_unix_time_is_read_as_one():
    """Older teambattles docs describe X-RateLimit-Reset as a Unix time: either works."""
    announced = parse_allowance(headers("60", "0", str(int(NOW) + 40)), NOW)
    assert announced is not None
    assert announced.reset_at == int(NOW) + 40


@pytest.mark.parametrize(
    "garbage",
    ["", "abc", "-1", "nan", "inf", "1e99", "0x10", "5, 6", "\u0665", "९"],
)
def test_a_garbage_value_is_ignored_on_its_own(garbage):
    """A value that is no count is left out; the headers that are fine still count."""
    assert parse_allowance(headers(garbage, garbage, garbage), NOW) is None
    kept = parse_allowance(headers("60", garbage, garbage), NOW)
    assert kept == Allowance(seen_at=NOW, limit=60)
    kept = parse_allowance(headers(garbage, "7", "2"), NOW)
    assert kept == Allowance(seen_at=NOW, remaining=7, reset_at=NOW + 2)


def test_contradictions_and_absurd_resets_are_not_believed():
    """More left than the limit, or a reset weeks away, are dropped; no headers: nothing."""
    assert parse_allowance(headers("60", "61", "1"), NOW) == Allowance(
        seen_at=NOW, limit=60, reset_at=NOW + 1
    )
    assert parse_allowance(headers("60", "1", str(60 * 24 * 3600)), NOW) == Allowance(
        seen_at=NOW, remaining=1, limit=60
    )
    assert parse_allowance(headers("60", "1", str(int(NOW) - 10)), NOW) == Allowance(
        seen_at=NOW, remaining=1, limit=60
    )
    assert parse_allowance({}, NOW) is None


# -- counting ------------------------------------------------------------------------------------


class Ticking:
    """A clock the test moves (seconds, Unix time)."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def test_requests_are_counted_for_the_last_hour_per_credential():
    """A sliding hour per (provider, credential): older requests drop out, others are apart."""
    clock = Ticking()
    usage = Usage(clock=clock)
    usage.record(TB, "a", 200, {})
    clock.now += 30 * 60
    usage.record(TB, "a", 200, {})
    usage.record(TB, "a")  # no answer (a timeout): it was sent, so it counts
    usage.record(TB, "b", 200, {})
    usage.record("whmcs", "a", 200, {})
    report = usage.report(TB, "a")
    assert report is not None
    assert report.requests == 3
    clock.now += 31 * 60
    report = usage.report(TB, "a")
    assert report is not None
    assert report.requests == 2
    clock.now += 60 * 60
    report = usage.report(TB, "a")
    assert report is not None
    assert (report.requests, report.last_429, report.allowance) == (0, None, None)
    assert usage.report(TB, "never") is None


def test_the_last_429_and_the_last_allowance_are_kept():
    """A 429 is remembered with its time; the newest usable announcement wins, a garbage one
    does not erase it."""
    clock = Ticking()
    usage = Usage(clock=clock)
    usage.record(TB, "a", 200, headers("60", "59", "1"))
    clock.now += 5
    usage.record(TB, "a", 429, headers("60", "0", "3"))
    clock.now += 5
    usage.record(TB, "a", 200, headers("x", "y", "z"))
    report = usage.report(TB, "a")
    assert report is not None
    assert report.last_429 == NOW + 5
    assert report.allowance == Allowance(seen_at=NOW + 5, remaining=0, limit=60, reset_at=NOW + 8)


def test_memory_is_bounded_by_credentials():
    """Beyond `size` credentials, the least recently used one is forgotten."""
    usage = Usage(size=2, clock=Ticking())
    for key in ("a", "b", "c"):
        usage.record(TB, key, 200, {})
    assert usage.report(TB, "a") is None
    assert usage.report(TB, "c") is not None


# -- through the bot -----------------------------------------------------------------------------

TEAM_TICKETS = [f"teamticket{n:022d}" for n in range(4)]


@dataclass
class MeteredTeamBattles(FakeTeamBattles):
    """The fake TeamBattles, with its X-RateLimit-* headers replaced by `announce` (when set)
    and the next `rate_limit_next` requests answered 429."""

    announce: dict[str, str] | None = None
    rate_limit_next: int = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            self.requests.append(TbRequest(request.raw_path, request.headers.get("Authorization")))
            limited = {**headers("60", "0", "0"), "Retry-After": "0"}
            return web.json_response(
                {"error": "error_api_rate_limited"}, status=429, headers=limited
            )
        response = await super()._handle(request)
        if self.announce is not None:
            for name in RATE_NAMES:
                response.headers.pop(name, None)
            response.headers.update(self.announce)
        return response


@pytest.fixture
async def fake_tb() -> AsyncIterator[MeteredTeamBattles]:
    """The metered fake: the server's team key and Alice's own, each with tickets."""
    server = MeteredTeamBattles(keys={TEAM_KEY: TbKey("team"), ALICE_KEY: TbKey("alice")})
    for ticket_id in TEAM_TICKETS:
        server.add("team", tb_ticket(ticket_id))
    server.add("alice", tb_ticket("aliceticket000000000000000000001"))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake_discord, fake_tb, tmp_path) -> AsyncIterator[TicketLensBot]:
    """The real bot, TeamBattles pointed at the metered fake, the server's team key stored."""
    section = TeamBattlesSettings(base_url=fake_tb.url)
    async with running_bot(
        fake_discord, tmp_path, sections={TeamBattlesSettings: section}
    ) as running:
        await running.store.put_credential(GUILD_ID, None, TB, {"api_key": TEAM_KEY}, set_by=ADMIN)
        yield running


async def look_up(fake_discord: FakeDiscord, ticket_id: str, user_id: int = ADMIN) -> str:
    """/ticket teambattles as staff (the team key) or a member; the answer's text."""
    inter = await fake_discord.send_interaction(
        f"ticket {TB}", {"id": ticket_id}, permissions=MANAGE_GUILD, user_id=user_id
    )
    response = await fake_discord.wait_for_response(inter)
    if response.type == 5:
        return all_text(embeds_of((await fake_discord.wait_for_followups(inter))[0]))
    return all_text(embeds_of(response.data))


async def show(fake_discord: FakeDiscord) -> list[str]:
    """The lines of /ticketconfig show."""
    inter = await fake_discord.send_interaction(
        "ticketconfig show", {}, user_id=ADMIN, permissions=MANAGE_GUILD
    )
    response = await fake_discord.wait_for_response(inter)
    return str(embeds_of(response.data)[0]["description"]).splitlines()


def usage_line(lines: list[str]) -> str | None:
    """The line under TeamBattles, if there is one."""
    index = next(i for i, line in enumerate(lines) if line.startswith("**TeamBattles**"))
    following = lines[index + 1] if index + 1 < len(lines) else ""
    return following if following.startswith("└ ") else None


async def test_show_lists_requests_and_the_allowance_teambattles_announces(bot, fake_discord):
    """Two lookups with the server's key: "2 request(s) in the last hour" and the allowance
    left, as of when it was announced; nothing before any request."""
    assert usage_line(await show(fake_discord)) is None
    for ticket_id in TEAM_TICKETS[:2]:
        assert "Match result not recorded" in await look_up(fake_discord, ticket_id)
    line = usage_line(await show(fake_discord))
    assert line is not None
    assert re.fullmatch(r"└ 2 request\(s\) in the last hour; 59 of 60 left <t:\d+:R>", line), line


async def test_show_says_when_teambattles_last_answered_429(bot, fake_discord, fake_tb):
    """A 429 waited out (Retry-After: 0): the lookup works, both requests count, and the
    last rate limit is shown."""
    fake_tb.rate_limit_next = 1
    assert "Match result not recorded" in await look_up(fake_discord, TEAM_TICKETS[0])
    assert len(fake_tb.requests) == 2
    line = usage_line(await show(fake_discord))
    assert line is not None
    assert re.fullmatch(
        r"└ 2 request\(s\) in the last hour; last rate limit \(429\) <t:\d+:R>; "
        r"59 of 60 left <t:\d+:R>",
        line,
    ), line


@pytest.mark.parametrize(
    ("announce", "shown"),
    [
        (headers("sixty", "-4", "soon"), ""),
        ({"X-RateLimit-Remaining": "\u0665", "X-RateLimit-Limit": "1e400"}, ""),
        # More left than the limit: which is wrong is unknown, so only the limit is said.
        (headers("60", "999", "1"), r"; limit 60 <t:\d+:R>"),
    ],
)
async def test_garbage_headers_never_break_a_lookup(bot, fake_discord, fake_tb, announce, shown):
    """Headers that are no counts: the lookup answers, the request counts, and no allowance
    is made up from them."""
    fake_tb.announce = announce
    assert "Match result not recorded" in await look_up(fake_discord, TEAM_TICKETS[1])
    line = usage_line(await show(fake_discord))
    assert line is not None
    assert re.fullmatch(r"└ 1 request\(s\) in the last hour" + shown, line), line


async def test_a_members_own_key_is_not_reported_on_the_servers_line(bot, fake_discord):
    """Only the server's own credential is reported: a member's personal key is theirs."""
    await bot.store.put_credential(GUILD_ID, ALICE, TB, {"api_key": ALICE_KEY}, set_by=ALICE)
    text = await look_up(fake_discord, "aliceticket000000000000000000001", user_id=ALICE)
    assert "Match result not recorded" in text
    assert usage_line(await show(fake_discord)) is None
