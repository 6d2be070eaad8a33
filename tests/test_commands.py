"""
The real app commands, driven the way Discord drives them.

The real TicketLensBot runs in this process against the loopback Discord (tests/e2e) and a
fake RetroAchievements; each test sends INTERACTION_CREATE events and asserts on what the bot
sent back, as a moderator would see it.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.app import TicketLensBot
from cogs.retroachievements._client import RetroSettings
from tests.e2e.conftest import GUILD_ID
from tests.e2e.fake_discord import MANAGE_GUILD, FakeDiscord
from tests.fakes.retroachievements import FakeRetroAchievements, ra_ticket
from tests.harness import all_text, embeds_of, running_bot

RA = "retroachievements"
GOOD = {"username": "mod", "api_key": "good-key"}
MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>")


@asynccontextmanager
async def ra_bot(
    fake_discord: FakeDiscord, fake_ra: FakeRetroAchievements, data: Path
) -> AsyncIterator[TicketLensBot]:
    """The real bot with RetroAchievements pointed at the fake."""
    section = RetroSettings(base_url=fake_ra.url, rate_per_s=100)
    async with running_bot(fake_discord, data, sections={RetroSettings: section}) as bot:
        yield bot


@pytest.fixture
async def bot(fake_discord, fake_ra, tmp_path) -> AsyncIterator[TicketLensBot]:
    """A running bot with an empty store."""
    async with ra_bot(fake_discord, fake_ra, tmp_path) as running:
        yield running


async def configure(bot: TicketLensBot, credential: dict[str, str] = GOOD) -> None:
    """Store RetroAchievements credentials for the test guild (as /ticketconfig would)."""
    await bot.store.put_credential(GUILD_ID, None, RA, credential, set_by=1)


async def test_config_set_opens_form_and_stores_checked_credentials(bot, fake_discord, fake_ra):
    """/ticketconfig set opens the form; a good key is checked, stored and not echoed."""
    inter = await fake_discord.send_interaction(
        "ticketconfig set", {"provider": RA}, permissions=MANAGE_GUILD
    )
    modal = await fake_discord.wait_for_response(inter)
    assert modal.type == 9
    labels = re.findall(r"'label': '([^']+)'", str(modal.data))
    assert labels == ["Username", "Web API key"]

    submit = await fake_discord.send_modal_submit(
        f"ticketlens:config:{RA}", GOOD, permissions=MANAGE_GUILD
    )
    reply = (await fake_discord.wait_for_followups(submit))[0]
    assert "Saved" in all_text(embeds_of(reply))
    assert "good-key" not in str(reply)
    assert await bot.store.get_credential(GUILD_ID, None, RA) == GOOD


async def test_rejected_credentials_are_not_stored(bot, fake_discord, fake_ra):
    """A key the provider rejects is not stored, and the admin is told why."""
    inter = await fake_discord.send_interaction(
        "ticketconfig set", {"provider": RA}, permissions=MANAGE_GUILD
    )
    await fake_discord.wait_for_response(inter)
    submit = await fake_discord.send_modal_submit(
        f"ticketlens:config:{RA}",
        {"username": "mod", "api_key": "bad-key"},
        permissions=MANAGE_GUILD,
    )
    reply = (await fake_discord.wait_for_followups(submit))[0]
    text = all_text(embeds_of(reply))
    assert "nothing was stored" in text
    assert "bad-key" not in str(reply)
    assert await bot.store.get_credential(GUILD_ID, None, RA) is None


async def test_member_without_manage_server_cannot_configure(bot, fake_discord):
    """Without Manage Server, /ticketconfig refuses and names the permission."""
    for command, options in (
        ("ticketconfig set", {"provider": RA}),
        ("ticketconfig remove", {"provider": RA}),
        ("ticketconfig show", {}),
    ):
        inter = await fake_discord.send_interaction(command, options, permissions=0, user_id=77)
        response = await fake_discord.wait_for_response(inter)
        assert response.type == 4
        assert response.ephemeral
        assert "Manage Server" in all_text(embeds_of(response.data))


async def test_config_show_and_remove(bot, fake_discord):
    """show lists who set a provider (never the key); remove deletes it."""
    await configure(bot)
    inter = await fake_discord.send_interaction("ticketconfig show", permissions=MANAGE_GUILD)
    shown = all_text(embeds_of((await fake_discord.wait_for_response(inter)).data))
    assert "RetroAchievements" in shown
    assert "set by <@1>" in shown
    assert "good-key" not in shown
    inter = await fake_discord.send_interaction(
        "ticketconfig remove", {"provider": RA}, permissions=MANAGE_GUILD
    )
    assert "deleted" in all_text(embeds_of((await fake_discord.wait_for_response(inter)).data))
    assert await bot.store.get_credential(GUILD_ID, None, RA) is None


async def test_unconfigured_guild_is_told_how_to_configure(bot, fake_discord, fake_ra):
    """No credentials: an ephemeral answer naming /ticketconfig set and Manage Server."""
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 5}, permissions=0)
    response = await fake_discord.wait_for_response(inter)
    text = all_text(embeds_of(response.data))
    assert response.ephemeral
    assert "/ticketconfig set" in text
    assert "Manage Server" in text
    assert fake_ra.requests == []


async def test_lookup_answers_directly_and_ephemerally(bot, fake_discord, fake_ra):
    """A fast lookup is one ephemeral reply with the ticket embed and no mentions allowed."""
    await configure(bot)
    fake_ra.tickets[123] = ra_ticket(123)
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 123}, permissions=0)
    response = await fake_discord.wait_for_response(inter)
    assert response.type == 4
    assert response.ephemeral
    embeds = embeds_of(response.data)
    assert embeds[0]["title"].startswith("Ticket #123")
    assert "Sample Quest" in all_text(embeds)
    assert response.data["allowed_mentions"] == {"parse": []}


async def test_public_lookup_posts_in_the_channel(bot, fake_discord, fake_ra):
    """public:true posts the (public) RetroAchievements ticket for everyone."""
    await configure(bot)
    fake_ra.tickets[5] = ra_ticket(5)
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 5, "public": True}, permissions=0
    )
    response = await fake_discord.wait_for_response(inter)
    assert response.type == 4
    assert not response.ephemeral


async def test_zero_id_is_refused_before_any_request(bot, fake_discord, fake_ra):
    """id 0 (sent by a client that ignores min_value) is refused without calling upstream."""
    await configure(bot)
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 0}, permissions=0)
    response = await fake_discord.wait_for_response(inter)
    assert response.ephemeral
    assert "1 or more" in all_text(embeds_of(response.data))
    assert fake_ra.requests == []


async def test_not_found_says_not_found(bot, fake_discord, fake_ra):
    """A missing ticket is an ephemeral "not found" answer."""
    await configure(bot)
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 404}, permissions=0)
    response = await fake_discord.wait_for_response(inter)
    assert response.ephemeral
    assert "not found" in all_text(embeds_of(response.data))


async def test_slow_upstream_is_deferred_then_edited(bot, fake_discord, fake_ra):
    """An answer slower than 2 s is deferred inside Discord's 3 s and then edited in."""
    await configure(bot)
    fake_ra.tickets[9] = ra_ticket(9)
    fake_ra.delay_s = 2.6
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 9}, permissions=0)
    response = await fake_discord.wait_for_response(inter)
    assert response.type == 5
    assert response.delay < 3.0
    assert response.ephemeral
    edit = await fake_discord.wait_for_request(
        "PATCH", rf"/webhooks/\d+/{inter.token}/messages/@original", timeout=10
    )
    assert edit.json["embeds"][0]["title"].startswith("Ticket #9")


async def test_error_after_public_deferral_stays_private(bot, fake_discord, fake_ra):
    """public:true + a slow "not found": the error is ephemeral and the placeholder removed."""
    await configure(bot)
    fake_ra.delay_s = 2.6
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 77, "public": True}, permissions=0
    )
    response = await fake_discord.wait_for_response(inter)
    assert response.type == 5
    assert not response.ephemeral
    await fake_discord.wait_for_request(
        "DELETE", rf"/webhooks/\d+/{inter.token}/messages/@original", timeout=10
    )
    private = [
        r.json
        for r in fake_discord.find("POST", rf"/webhooks/\d+/{inter.token}$")
        if r.json and r.json.get("flags", 0) & 64
    ]
    assert private
    assert "not found" in all_text(embeds_of(private[0]))


async def test_hostile_ticket_text_never_pings(bot, fake_discord, fake_ra):
    """@everyone, <@id> and masked links in ticket text neither ping nor survive live."""
    await configure(bot)
    fake_ra.tickets[66] = ra_ticket(
        66,
        ReportNotes="@everyone <@123> <@&5> [x](https://evil.example) " + "A" * 20_000,
        AchievementTitle="@here free nitro",
    )
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 66}, permissions=0)
    response = await fake_discord.wait_for_response(inter)
    embeds = embeds_of(response.data)
    text = all_text(embeds)
    assert not MENTION.search(text)
    assert "[x](https://evil.example)" not in text
    assert len(embeds[0]["description"]) <= 4096
    assert sum(len(all_text([e]).replace("\n", "")) for e in embeds) <= 6000
    assert response.data["allowed_mentions"] == {"parse": []}


async def test_burst_of_one_lookup_makes_one_upstream_call(bot, fake_discord, fake_ra):
    """Ten members asking for the same ticket at once cost one upstream request."""
    await configure(bot)
    fake_ra.tickets[3] = ra_ticket(3)
    fake_ra.delay_s = 0.3
    inters = [
        await fake_discord.send_interaction(
            f"ticket {RA}", {"id": 3}, permissions=0, user_id=100 + i
        )
        for i in range(10)
    ]
    for inter in inters:
        assert (await fake_discord.wait_for_response(inter)).type == 4
    assert fake_ra.ticket_requests == 1


async def test_guild_removal_forgets_credentials_but_outage_does_not(bot, fake_discord):
    """GUILD_DELETE for an outage keeps credentials; removal from the guild deletes them."""
    await configure(bot)
    await fake_discord.guild_delete(GUILD_ID, unavailable=True)
    await asyncio.sleep(0.2)
    assert await bot.store.get_credential(GUILD_ID, None, RA) == GOOD
    await fake_discord.guild_delete(GUILD_ID)
    for _ in range(50):
        if await bot.store.get_credential(GUILD_ID, None, RA) is None:
            break
        await asyncio.sleep(0.05)
    assert await bot.store.get_credential(GUILD_ID, None, RA) is None


async def test_restart_keeps_credentials_and_does_not_resync(fake_discord, fake_ra, tmp_path):
    """A restart with the same commands makes no second sync; credentials survive it."""
    async with ra_bot(fake_discord, fake_ra, tmp_path) as first:
        await configure(first)
        assert first.synced_this_start
    async with ra_bot(fake_discord, fake_ra, tmp_path) as second:
        assert not second.synced_this_start
        assert await second.store.get_credential(GUILD_ID, None, RA) == GOOD
    assert len(fake_discord.find("PUT", r"/applications/\d+/commands")) == 1


async def test_unreadable_stored_credential_asks_to_enter_it_again(bot, fake_discord, tmp_path):
    """A row sealed for another guild does not open: a polite answer, not a crash."""
    await bot.store.put_credential(999, None, RA, GOOD, set_by=1)
    with sqlite3.connect(tmp_path / "ticketlens.db") as db:
        db.execute(
            "INSERT INTO credentials (guild_id, user_id, provider, secret, set_by, set_at)"
            " SELECT ?, user_id, provider, secret, set_by, set_at FROM credentials"
            " WHERE guild_id = 999",
            (GUILD_ID,),
        )
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 5}, permissions=0)
    response = await fake_discord.wait_for_response(inter)
    text = all_text(embeds_of(response.data))
    assert response.ephemeral
    assert "can't be read" in text
    assert "/ticketconfig set" in text


async def test_a_failed_deferral_stops_the_lookup(bot, fake_discord, fake_ra, monkeypatch, caplog):
    """When even the deferral is refused (the interaction expired), the lookup stops at once
    instead of waiting for a slow provider, and the bot goes on serving."""
    import time

    from bot import lookup

    def undelivered() -> bool:
        return any("could not deliver an error" in r.getMessage() for r in caplog.records)

    monkeypatch.setattr(lookup, "DEFER_AFTER_S", 0.3)
    fake_discord.callback_deadline = 0.1
    await configure(bot)
    fake_ra.tickets[31] = ra_ticket(31)
    fake_ra.tickets[32] = ra_ticket(32)
    fake_ra.delay_s = 3.0
    started = time.monotonic()
    await fake_discord.send_interaction(f"ticket {RA}", {"id": 31}, permissions=0)
    while not undelivered():
        assert time.monotonic() - started < 2.0, "the lookup waited for the provider"
        await asyncio.sleep(0.05)

    fake_discord.callback_deadline = None
    fake_ra.delay_s = 0.0
    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 32}, permissions=0)
    response = await fake_discord.wait_for_response(inter)
    assert embeds_of(response.data)[0]["title"].startswith("Ticket #32")
    # The stopped lookup's upstream call is shared (cached) and ends on its own; let it.
    await asyncio.sleep(max(0.0, 3.3 - (time.monotonic() - started)))


async def test_answered_interactions_are_freed_without_the_cyclic_collector(
    bot, fake_discord, fake_ra
):
    """An answered lookup leaves no reference cycle behind: under load, such cycles were most
    of the garbage collector's work and grew the bot's memory. (A failed one keeps its
    traceback's cycle until the collector runs; failures are the rare case.)"""
    import gc

    import discord

    await configure(bot)
    fake_ra.tickets[41] = ra_ticket(41)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 41}, permissions=0)
        await fake_discord.wait_for_response(inter)
        await asyncio.sleep(0.1)
        gc.collect()
        leaked = [o for o in gc.garbage if isinstance(o, discord.Interaction)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert leaked == []


async def test_pending_review_is_never_posted_publicly(bot, fake_discord, fake_ra):
    """A Pending Review (quarantined) ticket: public:true is refused with the reason, only to
    the invoker, and nothing reaches the channel; without public it is shown to the invoker."""
    await configure(bot)
    fake_ra.tickets[44] = ra_ticket(44, ReportState=4, ReportStateDescription="Pending Review")
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 44, "public": True}, permissions=0
    )
    response = await fake_discord.wait_for_response(inter)
    text = all_text(embeds_of(response.data))
    assert response.ephemeral
    assert "Can't post this publicly" in text
    assert "Pending Review" in text
    assert "without `public`" in text
    assert "Sample Cheevo" not in text

    inter = await fake_discord.send_interaction(f"ticket {RA}", {"id": 44}, permissions=0)
    response = await fake_discord.wait_for_response(inter)
    assert response.ephemeral
    assert embeds_of(response.data)[0]["title"].startswith("Ticket #44")

    fake_ra.tickets[45] = ra_ticket(45, ReportState=1)
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 45, "public": True}, permissions=0
    )
    response = await fake_discord.wait_for_response(inter)
    assert not response.ephemeral
    assert embeds_of(response.data)[0]["title"].startswith("Ticket #45")
