"""
The cached fallback, through the real app commands and buttons: when a provider is rate
limiting or down, the last answer fetched for the same ticket and credential (at most
CACHE_FALLBACK_S old) is shown marked "cached <time>; <provider> is not answering", with the
reader's own audience and rules; anything else (not found, a rejected key, an answer too old,
the fallback turned off) is the usual error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import TicketLensBot
from bot.cache import TicketCache
from bot.providers.base import TicketView
from bot.render import render_pages
from cogs.retroachievements._client import RetroSettings
from cogs.whmcs._client import WhmcsSettings
from tests.e2e.conftest import GUILD_ID
from tests.e2e.fake_discord import MANAGE_GUILD, FakeDiscord, FakeInteraction
from tests.fakes.retroachievements import ra_ticket
from tests.fakes.whmcs import GOOD as WHMCS_GOOD
from tests.fakes.whmcs import FakeWhmcs, sample_ticket
from tests.harness import all_text, embeds_of, running_bot, settle
from tests.test_render import PROPERTY, assert_message_fits, entry_embeds, views

RA, WH = "retroachievements", "whmcs"
RA_GOOD = {"username": "mod", "api_key": "good-key"}
FALLBACK_S = 600
#: The Unix time the fake clock starts at (2026-01-01).
START = 1_767_225_600.0
MARK = "is not answering"


class Clock:
    """The ticket cache's clock, moved by the test (no sleeps)."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def use_clock(bot: TicketLensBot, clock: Clock) -> None:
    """The bot's ticket cache as configured, timed by `clock` instead of the wall clock."""
    settings = bot.settings
    bot.tickets = TicketCache(
        ttl_s=settings.cache_ttl_s,
        size=settings.cache_size,
        on_hit=bot.metrics.cache_hit,
        fallback_s=settings.cache_fallback_s,
        clock=clock,
    )


@asynccontextmanager
async def fallback_bot(
    fake_discord: FakeDiscord, data: Path, clock: Clock, **settings: Any
) -> AsyncIterator[TicketLensBot]:
    """
    The real bot with RetroAchievements (pointed at the fake) and WHMCS. The fresh cache is
    off (CACHE_TTL_S=0), so every lookup asks the provider and only the fallback can answer
    for it; CACHE_FALLBACK_S is FALLBACK_S unless told.
    """
    core = {"CACHE_TTL_S": 0, "CACHE_FALLBACK_S": FALLBACK_S, "ALLOW_PRIVATE_URLS": True}
    sections = {
        RetroSettings: RetroSettings(base_url=settings.pop("ra_url"), rate_per_s=100),
        WhmcsSettings: WhmcsSettings(rate_per_s=100),
    }
    async with running_bot(
        fake_discord, data, sections=sections, settings={**core, **settings}
    ) as bot:
        use_clock(bot, clock)
        await bot.store.put_credential(GUILD_ID, None, RA, RA_GOOD, set_by=1)
        yield bot


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def bot(fake_discord, fake_ra, clock, tmp_path) -> AsyncIterator[TicketLensBot]:
    async with fallback_bot(fake_discord, tmp_path, clock, ra_url=fake_ra.url) as running:
        yield running


@pytest.fixture
async def fake_whmcs() -> AsyncIterator[FakeWhmcs]:
    """A fake WHMCS 8.x holding the sample ticket 42 (with an internal note)."""
    server = FakeWhmcs(version="8")
    await server.start()
    server.add(sample_ticket())
    yield server
    await server.stop()


async def look_up(
    fake_discord: FakeDiscord, provider: str, options: dict[str, Any], **member: Any
) -> tuple[FakeInteraction, list[dict[str, Any]], bool]:
    """Run `/ticket <provider>`; the interaction, the embeds it answered with, and whether
    the answer is private."""
    member.setdefault("permissions", 0)
    inter = await fake_discord.send_interaction(f"ticket {provider}", options, **member)
    response = await fake_discord.wait_for_response(inter)
    return inter, embeds_of(response.data), response.ephemeral


def mark(embeds: list[dict[str, Any]]) -> str:
    """The first line of the answer's first description (where the mark goes)."""
    return (embeds[0].get("description") or "").split("\n", 1)[0]


def button_id(message: dict[str, Any], label: str) -> str:
    """The custom id of the button labelled `label`."""
    found = [
        b["custom_id"]
        for row in message.get("components") or []
        for b in row.get("components") or []
        if b.get("label") == label
    ]
    assert len(found) == 1, label
    return found[0]


def lookups_counted(bot: TicketLensBot, outcome: str) -> float:
    value = bot.metrics.registry.get_sample_value(
        "ticketlens_lookups_total", {"provider": RA, "outcome": outcome}
    )
    return value or 0.0


# -- RetroAchievements: rate limited, down, too old, not found -------------------------------


async def test_a_rate_limited_provider_answers_with_the_kept_copy_marked(
    bot, fake_discord, fake_ra, clock
):
    """The same lookup while RetroAchievements answers 429: the ticket as fetched before, its
    first line saying when (Discord's relative time) and that the provider is not answering."""
    fake_ra.tickets[7] = ra_ticket(7)
    _, fresh, _ = await look_up(fake_discord, RA, {"id": 7})
    assert MARK not in all_text(fresh)
    fetched_at = int(clock.now)

    clock.now += 120
    fake_ra.tickets[7] = ra_ticket(7, AchievementTitle="Changed meanwhile")
    fake_ra.rate_limit_next = 10
    fake_ra.retry_after = "3600"  # longer than the bot waits: RateLimited at once
    requests = fake_ra.ticket_requests
    _, embeds, private = await look_up(fake_discord, RA, {"id": 7})

    assert fake_ra.ticket_requests == requests + 1  # it did ask first
    assert private
    assert mark(embeds) == (f"🕒 Cached <t:{fetched_at}:R>; RetroAchievements is not answering.")
    text = all_text(embeds)
    assert embeds[0]["title"].startswith("Ticket #7")
    assert "Sample Cheevo" in text  # the copy fetched before, not the change
    assert "Changed meanwhile" not in text
    assert "slow down" not in text
    await settle()  # counted once the answer is sent
    assert lookups_counted(bot, "stale") == 1.0
    assert lookups_counted(bot, "ok") == 1.0


async def test_refresh_while_the_provider_is_down_keeps_the_copy_marked(
    bot, fake_discord, fake_ra, clock
):
    """Refresh (which skips the cache) against a provider answering 503: the message shows the
    kept copy, marked, instead of an error."""
    fake_ra.tickets[8] = ra_ticket(8)
    inter, _, _ = await look_up(fake_discord, RA, {"id": 8, "public": True})
    message = fake_discord.messages[inter.original_message_id or 0]
    fetched_at = int(clock.now)

    clock.now += 60
    fake_ra.fail_status, fake_ra.fail_next = 503, 100
    pressed = await fake_discord.send_component(
        button_id(message, "Refresh"), message_id=int(message["id"]), permissions=0
    )
    await fake_discord.wait_for_response(pressed)

    assert pressed.original_message_id == int(message["id"])
    edited = fake_discord.messages[int(message["id"])]
    assert mark(edited["embeds"]) == (
        f"🕒 Cached <t:{fetched_at}:R>; RetroAchievements is not answering."
    )
    assert edited["embeds"][0]["title"].startswith("Ticket #8")
    assert not int(edited["flags"]) & 64  # still the public answer it was
    assert button_id(edited, "Refresh")


async def test_a_copy_older_than_the_setting_is_not_shown(bot, fake_discord, fake_ra, clock):
    """Past CACHE_FALLBACK_S the provider's error is shown, as without a copy."""
    fake_ra.tickets[9] = ra_ticket(9)
    await look_up(fake_discord, RA, {"id": 9})
    clock.now += FALLBACK_S + 1
    fake_ra.rate_limit_next, fake_ra.retry_after = 10, "3600"
    _, embeds, _ = await look_up(fake_discord, RA, {"id": 9})
    text = all_text(embeds)
    assert "RetroAchievements asks us to slow down" in text
    assert MARK not in text
    assert "Sample Cheevo" not in text


async def test_a_ticket_not_found_is_never_answered_from_the_copy(bot, fake_discord, fake_ra):
    """The provider answering (here: not found, then a rejected key) is news, not an outage."""
    fake_ra.tickets[10] = ra_ticket(10)
    await look_up(fake_discord, RA, {"id": 10})
    del fake_ra.tickets[10]
    _, embeds, _ = await look_up(fake_discord, RA, {"id": 10})
    text = all_text(embeds)
    assert "Ticket not found" in text
    assert MARK not in text

    fake_ra.tickets[10] = ra_ticket(10)
    await look_up(fake_discord, RA, {"id": 10})
    fake_ra.keys.clear()
    _, embeds, _ = await look_up(fake_discord, RA, {"id": 10})
    text = all_text(embeds)
    assert MARK not in text
    assert "Sample Cheevo" not in text


async def test_no_copy_of_another_ticket_or_before_any_answer(bot, fake_discord, fake_ra):
    """A ticket never fetched has no copy: the error, as before."""
    fake_ra.tickets[11] = ra_ticket(11)
    fake_ra.tickets[12] = ra_ticket(12)
    await look_up(fake_discord, RA, {"id": 11})
    fake_ra.rate_limit_next, fake_ra.retry_after = 10, "3600"
    _, embeds, _ = await look_up(fake_discord, RA, {"id": 12})
    assert "RetroAchievements asks us to slow down" in all_text(embeds)


async def test_zero_turns_the_fallback_off(fake_discord, fake_ra, clock, tmp_path):
    """CACHE_FALLBACK_S=0: a rate limited provider's error is shown, copy or not."""
    async with fallback_bot(fake_discord, tmp_path, clock, ra_url=fake_ra.url, CACHE_FALLBACK_S=0):
        fake_ra.tickets[13] = ra_ticket(13)
        await look_up(fake_discord, RA, {"id": 13})
        fake_ra.rate_limit_next, fake_ra.retry_after = 10, "3600"
        _, embeds, _ = await look_up(fake_discord, RA, {"id": 13})
        assert "RetroAchievements asks us to slow down" in all_text(embeds)
        assert MARK not in all_text(embeds)


# -- WHMCS: the reader's own audience on the kept copy ----------------------------------------


async def test_each_reader_gets_their_own_audience_from_the_copy(bot, fake_discord, fake_whmcs):
    """
    Staff looked the ticket up privately (internal notes and all); then WHMCS goes down. The
    copy is the whole ticket as the server's credential saw it, and each reader gets only
    their part: staff privately the notes, marked; a public post only the summary; a member
    who is not staff nothing at all (WHMCS is staff only).
    """
    credential = {"url": fake_whmcs.url, **WHMCS_GOOD}
    await bot.store.put_credential(GUILD_ID, None, WH, credential, set_by=1)
    _, fresh, _ = await look_up(fake_discord, WH, {"id": 42}, permissions=MANAGE_GUILD)
    assert "Internal note (staff only)" in all_text(fresh)

    fake_whmcs.error = (503, "Service Unavailable")
    _, public, private = await look_up(
        fake_discord, WH, {"id": 42, "public": True}, permissions=MANAGE_GUILD
    )
    assert not private
    text = all_text(public)
    assert MARK in mark(public)
    assert "WHMCS is not answering" in text
    assert "Site down after DNS change" in text
    for hidden in ("Internal note", "Checked zone", "ana@example.net", "Ana Example"):
        assert hidden not in text

    _, refused, _ = await look_up(fake_discord, WH, {"id": 42}, permissions=0, user_id=56)
    text = all_text(refused)
    assert "Staff only" in text
    assert "Site down" not in text
    assert MARK not in text

    _, staff, private = await look_up(fake_discord, WH, {"id": 42}, permissions=MANAGE_GUILD)
    assert private
    assert MARK in mark(staff)
    assert "Internal note (staff only)" in all_text(staff)


# -- the mark in the render ---------------------------------------------------------------------

NOTICE = "🕒 Cached <t:1767225600:R>; RetroAchievements is not answering."


@PROPERTY
@given(view=views, per_page=st.one_of(st.none(), st.integers(min_value=0, max_value=12)))
def test_the_mark_starts_every_page_and_every_page_still_fits(
    view: TicketView, per_page: int | None
) -> None:
    """The mark is the first line of each page (where `<t:…:R>` renders), room kept for it:
    the pages hold the same entries and fit Discord's limits as without it."""
    pages = render_pages(view, per_page=per_page, notice=NOTICE)
    for page in pages:
        assert_message_fits(page)
        assert (page[0].description or "").split("\n", 1)[0] == NOTICE
    entries = sum(len(entry_embeds(page)) for page in pages)
    assert entries == len(view.entries)
