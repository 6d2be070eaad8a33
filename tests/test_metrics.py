"""
Health, metrics and graceful shutdown, over real HTTP and the loopback Discord.

The real bot runs in this process (`tests/harness.py`) with METRICS_PORT set to a free port of
127.0.0.1; lookups go to the fake RetroAchievements, and `/metrics` and `/healthz` are read with
an aiohttp client, as Prometheus and a service manager would.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import TicketLensBot
from bot.errors import (
    BadAnswer,
    BadInput,
    LinkedKeyRejected,
    NotLinked,
    NotPermitted,
    PolicyRefusal,
    RateLimited,
    TicketNotFound,
    UpstreamUnavailable,
)
from bot.health import GatewayState
from bot.metrics import OUTCOMES, UPSTREAM_ERROR_KINDS, outcome_of
from cogs.retroachievements._client import RetroSettings
from tests.e2e.conftest import GUILD_ID
from tests.e2e.fake_discord import MANAGE_GUILD, FakeDiscord, FakeInteraction
from tests.e2e.test_bot_e2e import LOG_RECORD, START_TIMEOUT_S, start_bot
from tests.fakes.retroachievements import FakeRetroAchievements, ra_ticket
from tests.harness import all_text, embeds_of, running_bot
from tests.test_main import run_bot

RA = "retroachievements"
GOOD = {"username": "mod", "api_key": "good-key"}
#: Long enough for a whole health check to give up on a hung store (2 s) and answer.
WAIT_S = 10.0


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def metrics_bot(
    fake_discord: FakeDiscord, fake_ra: FakeRetroAchievements, data: Path
) -> AsyncIterator[tuple[TicketLensBot, str]]:
    """The real bot, RetroAchievements configured for the test guild, and its endpoint's URL."""
    port = free_port()
    section = RetroSettings(base_url=fake_ra.url, rate_per_s=100)
    async with running_bot(
        fake_discord,
        data,
        sections={RetroSettings: section},
        settings={"METRICS_PORT": port},
    ) as bot:
        await bot.store.put_credential(GUILD_ID, None, RA, GOOD, set_by=1)
        yield bot, f"http://127.0.0.1:{port}"


async def get(url: str) -> tuple[int, str, str]:
    """Status, content type and body of GET `url`."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, timeout=aiohttp.ClientTimeout(total=WAIT_S)) as response,
    ):
        return response.status, response.headers.get("Content-Type", ""), await response.text()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """One sample's value (0 if absent: a labelled series exists once it was counted)."""
    return found.get((name, frozenset(labels.items())), 0.0)


async def lookup(fake_discord: FakeDiscord, ticket_id: int) -> FakeInteraction:
    """`/ticket retroachievements id:<ticket_id>` by a member, answered directly."""
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": ticket_id}, permissions=0)
    await fake_discord.wait_for_response(inter)
    return inter


async def answered(fake_discord: FakeDiscord, inter: FakeInteraction) -> dict[str, Any]:
    """The answer's message once final: a direct reply, or a deferral edited into place."""

    def done() -> dict[str, Any] | None:
        message = fake_discord.messages.get(inter.original_message_id or 0)
        final = message is not None and not int(message["flags"]) & 128  # not "thinking"
        return message if final else None

    return await fake_discord.wait_until(done, WAIT_S, "the final answer")


async def until_status(url: str, status: int) -> str:
    """Poll `url` until it answers `status`; its body then."""
    async with asyncio.timeout(WAIT_S):
        while True:
            got, _, body = await get(url)
            if got == status:
                return body
            await asyncio.sleep(0.05)


async def test_metrics_count_lookups_cache_hits_and_upstream_errors(
    fake_discord, fake_ra, tmp_path
):
    """/metrics counts each lookup by provider and outcome, the cache hits, every failed
    upstream attempt by kind, upstream and rate-limit timings, and the shard's latency."""
    fake_ra.tickets[123] = ra_ticket(123)
    fake_ra.tickets[124] = ra_ticket(124)
    async with metrics_bot(fake_discord, fake_ra, tmp_path) as (bot, base):
        first = await lookup(fake_discord, 123)
        assert all_text(embeds_of(first.response.data)).startswith("Ticket #123")
        await lookup(fake_discord, 123)  # from the cache
        await lookup(fake_discord, 404)  # not found upstream
        fake_ra.fail_next = 3  # every attempt of the next lookup: HTTP 500
        failed = await lookup(fake_discord, 124)
        assert "Ticket #124" not in all_text(embeds_of(failed.response.data))

        status, content_type, body = await get(f"{base}/metrics")
        providers = set(bot.providers)
    assert status == 200
    assert content_type.startswith("text/plain")
    found = samples(body)
    lookups = "ticketlens_lookups_total"
    assert value(found, lookups, provider=RA, outcome="ok") == 2.0
    assert value(found, lookups, provider=RA, outcome="not_found") == 1.0
    assert value(found, lookups, provider=RA, outcome="unavailable") == 1.0
    assert value(found, "ticketlens_lookup_seconds_count") == 4.0
    assert value(found, "ticketlens_cache_hits_total") == 1.0
    errors = "ticketlens_upstream_errors_total"
    assert value(found, errors, provider=RA, kind="http_5xx") == 3.0
    # 123 once, 404 once, 124 three times: each attempt timed, each waited for its turn.
    assert value(found, "ticketlens_upstream_seconds_count", provider=RA) == 5.0
    assert value(found, "ticketlens_ratelimit_wait_seconds_count") == 5.0
    assert ("ticketlens_shard_latency_seconds", frozenset({("shard", "0")})) in found
    # Labels are providers, outcomes, error kinds, shard ids and buckets: never a guild, a
    # member or a ticket.
    allowed = {
        "provider": providers,
        "outcome": set(OUTCOMES),
        "kind": set(UPSTREAM_ERROR_KINDS),
    }
    for name, labels in found:
        for label, text in labels:
            if label == "shard":
                assert text.isdigit(), (name, text)
            elif label != "le":
                assert text in allowed[label], (name, label, text)
    assert f'"{GUILD_ID}"' not in body
    assert "good-key" not in body


async def test_a_pressed_button_is_counted_under_its_provider(fake_discord, fake_ra, tmp_path):
    """Refresh is a lookup too; someone else's press is counted as refused."""
    fake_ra.tickets[7] = ra_ticket(7)
    async with metrics_bot(fake_discord, fake_ra, tmp_path) as (_, base):
        inter = await lookup(fake_discord, 7)
        message = fake_discord.messages[inter.original_message_id or 0]
        refresh = next(
            b["custom_id"]
            for row in message["components"]
            for b in row["components"]
            if b.get("label") == "Refresh"
        )
        for user_id in (fake_discord.default_user_id, 7777):
            pressed = await fake_discord.send_component(
                refresh, message_id=int(message["id"]), permissions=0, user_id=user_id
            )
            await fake_discord.wait_for_response(pressed)
        _, _, body = await get(f"{base}/metrics")
    found = samples(body)
    assert value(found, "ticketlens_lookups_total", provider=RA, outcome="ok") == 2.0
    assert value(found, "ticketlens_lookups_total", provider=RA, outcome="refused") == 1.0


async def test_healthz_follows_the_gateway(fake_discord, fake_ra, tmp_path):
    """200 "ok" while connected; 503 once the gateway drops (and until it resumes); 200 again."""
    async with metrics_bot(fake_discord, fake_ra, tmp_path) as (_, base):
        status, _, body = await get(f"{base}/healthz")
        assert (status, body.strip()) == (200, "ok")

        # Held while away: the bot's RESUME waits, so it stays disconnected until released.
        fake_discord.resume_gate.clear()
        await fake_discord.drop_connection()
        reason = await until_status(f"{base}/healthz", 503)
        assert "gateway" in reason

        fake_discord.resume_gate.set()
        await fake_discord.wait_for_resumed()
        assert (await until_status(f"{base}/healthz", 200)).strip() == "ok"


async def test_healthz_is_503_when_the_database_does_not_answer(
    fake_discord, fake_ra, tmp_path, monkeypatch
):
    """A store that hangs or fails: 503 naming the database (never its error's text)."""
    async with metrics_bot(fake_discord, fake_ra, tmp_path) as (bot, base):
        real = bot.store.get_meta

        async def hangs(key: str) -> str | None:
            await asyncio.Event().wait()
            return None

        monkeypatch.setattr(bot.store, "get_meta", hangs)
        status, _, body = await get(f"{base}/healthz")
        assert status == 503
        assert "database did not answer" in body

        monkeypatch.setattr(bot.store, "get_meta", real)
        assert (await get(f"{base}/healthz"))[0] == 200

        await bot.store.close()  # the harness closes it again: closing twice is harmless
        status, _, body = await get(f"{base}/healthz")
        assert status == 503
        assert body.strip() == "database unavailable (ValueError)"


async def test_commands_and_presses_while_draining_are_told_to_retry(
    fake_discord, fake_ra, tmp_path, monkeypatch
):
    """
    A shutdown lets the lookup in flight finish and answer, while a command and a button
    press arriving meanwhile get a private "restarting" (and fetch nothing); then it closes.
    The lookup in flight is held at the provider until both were refused: no race.
    """
    fake_ra.tickets[31] = ra_ticket(31)
    fake_ra.tickets[32] = ra_ticket(32)
    async with metrics_bot(fake_discord, fake_ra, tmp_path) as (bot, base):
        earlier = await lookup(fake_discord, 32)
        message = fake_discord.messages[earlier.original_message_id or 0]
        refresh = next(
            b["custom_id"]
            for row in message["components"]
            for b in row["components"]
            if b.get("label") == "Refresh"
        )
        provider = bot.providers[RA]
        fetch, fetching, release = provider.fetch, asyncio.Event(), asyncio.Event()

        async def held(credential: Any, ref: Any) -> Any:
            fetching.set()
            await release.wait()
            return await fetch(credential, ref)

        monkeypatch.setattr(provider, "fetch", held)
        slow = await fake_discord.send_interaction(f"ticket {RA}", {"id": 31}, permissions=0)
        await asyncio.wait_for(fetching.wait(), WAIT_S)
        shutdown = asyncio.create_task(bot.shutdown(30.0))
        await asyncio.sleep(0)  # it has started draining
        assert bot.draining
        assert (await get(f"{base}/healthz"))[2].strip() == "shutting down"

        refused = await fake_discord.send_interaction(f"ticket {RA}", {"id": 32}, permissions=0)
        pressed = await fake_discord.send_component(
            refresh, message_id=int(message["id"]), permissions=0
        )
        for inter in (refused, pressed):
            response = await fake_discord.wait_for_response(inter)
            assert response.ephemeral
            text = all_text(embeds_of(response.data))
            assert "TicketLens is restarting; try again in a moment." in text

        assert not shutdown.done(), "still waiting for the lookup in flight"
        release.set()
        answer = await answered(fake_discord, slow)
        assert all_text(embeds_of(answer)).startswith("Ticket #31")
        await asyncio.wait_for(shutdown, WAIT_S)
        assert bot.is_closed()
    assert fake_ra.ticket_requests == 2, "nothing fetched for what came in while draining"


async def test_a_taken_metrics_port_stops_start_up_with_one_line(fake_discord, fake_ra, tmp_path):
    """METRICS_PORT in use: one plain line naming it, exit 2, and no gateway connection."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        bot = start_bot(fake_discord, fake_ra.url, tmp_path, METRICS_PORT=str(port))
        code = await bot.wait(START_TIMEOUT_S)
    stderr = bot.stderr
    assert code == 2, stderr[-3000:]
    plain = [line for line in stderr.splitlines() if line.strip() and not LOG_RECORD.match(line)]
    assert len(plain) == 1, plain
    assert "METRICS_PORT" in plain[0]
    assert f"127.0.0.1:{port}" in plain[0]
    assert "Traceback" not in stderr + bot.stdout
    assert not fake_discord.gateway_connections


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_a_bad_metrics_port_is_named(tmp_path, port):
    """METRICS_PORT must be 1..65535: one line naming it, exit 2."""
    result = run_bot(tmp_path, DISCORD_TOKEN="x.y.z", METRICS_PORT=port)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "METRICS_PORT" in result.stderr


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (TicketNotFound("5"), "not_found"),
        (PolicyRefusal("staff_only"), "refused"),
        (NotPermitted(), "refused"),
        (NotLinked(), "not_configured"),
        (LinkedKeyRejected(), "rejected"),
        (RateLimited(), "rate_limited"),
        (UpstreamUnavailable(), "unavailable"),
        (BadAnswer(), "bad_answer"),
        (BadInput(), "bad_input"),
        (RuntimeError("bug"), "error"),
    ],
)
def test_each_typed_error_has_its_outcome(error, outcome):
    """The typed errors map onto the fixed outcome labels; anything else is "error"."""
    assert outcome_of(error) == outcome
    assert outcome in OUTCOMES


def test_gateway_state_is_down_until_every_connection_is_back():
    """A shard stays down until it resumes, whatever the shard-less events say meanwhile."""
    gateway = GatewayState()
    assert gateway.problem() is None
    # What an AutoShardedBot hears when shards 0 and 1 drop, then 0 resumes.
    for shard in (0, 1):
        gateway.down(None)
        gateway.down(shard)
    gateway.up(None)
    gateway.up(0)
    assert gateway.problem() == "gateway disconnected (shard 1)"
    gateway.up(None)
    gateway.up(1)
    assert gateway.problem() is None
    gateway.down()
    assert gateway.problem() == "gateway disconnected"


async def test_a_credential_form_submitted_while_draining_is_not_stored(
    fake_discord, fake_ra, tmp_path
):
    """The form's answer says "restarting"; nothing is checked upstream or stored."""
    async with metrics_bot(fake_discord, fake_ra, tmp_path) as (bot, _):
        opened = await fake_discord.send_interaction(
            "ticketconfig set", {"provider": RA}, permissions=MANAGE_GUILD
        )
        await fake_discord.wait_for_response(opened)
        before = await bot.store.get_credential(GUILD_ID, None, RA)
        requests = len(fake_ra.requests)
        bot.draining = True
        submit = await fake_discord.send_modal_submit(
            f"ticketlens:config:{RA}",
            {"username": "mod", "api_key": "another-key"},
            permissions=MANAGE_GUILD,
        )
        response = await fake_discord.wait_for_response(submit)
        assert response.ephemeral
        assert "TicketLens is restarting" in all_text(embeds_of(response.data))
        assert await bot.store.get_credential(GUILD_ID, None, RA) == before
        assert len(fake_ra.requests) == requests
        bot.draining = False
