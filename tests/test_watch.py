"""
`/ticketwatch` through the real app commands: cards posted and kept current by the poller
(on a fake clock: no test waits for an interval), one notice line per change, the budget, 429s,
the cap, who may, what may not be watched, and watches ending with their card or guild.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot import watch as watch_engine
from bot.app import TicketLensBot
from bot.settings import Settings, describe_validation_error
from cogs.retroachievements._client import RetroSettings
from tests.e2e.conftest import CHANNEL_ID, GUILD_ID
from tests.e2e.fake_discord import (
    CREATE_PUBLIC_THREADS,
    DEFAULT_EVERYONE_PERMISSIONS,
    EMBED_LINKS,
    MANAGE_GUILD,
    FakeDiscord,
    FakeInteraction,
)
from tests.fakes.clock import FakeClock
from tests.fakes.retroachievements import FakeRetroAchievements, ra_game, ra_ticket
from tests.harness import all_text, embeds_of, running_bot

RA = "retroachievements"
GOOD = {"username": "mod", "api_key": "good-key"}
INTERVAL_S = 300
STAFF = {"permissions": MANAGE_GUILD}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The clock every watch poller of the bots started in the test runs on."""
    fake = FakeClock()
    monkeypatch.setattr(watch_engine, "make_clock", lambda: fake)
    return fake


@pytest.fixture
def threads(fake_discord: FakeDiscord) -> None:
    """The bot may start threads in the test guild (before it connects)."""
    fake_discord.guilds[GUILD_ID].bot_permissions |= CREATE_PUBLIC_THREADS


@asynccontextmanager
async def watching_bot(
    fake_discord: FakeDiscord,
    fake_ra: FakeRetroAchievements,
    data: Path,
    clock: FakeClock,
    *,
    budget: int = 30,
    **settings: Any,
) -> AsyncIterator[TicketLensBot]:
    """The real bot, RetroAchievements at the fake and configured, its stored watches loaded."""
    fake_ra.clock = clock.now
    sections = {
        RetroSettings: RetroSettings(
            base_url=fake_ra.url, rate_per_s=1000, watch_budget_per_min=budget
        )
    }
    async with running_bot(fake_discord, data, sections=sections, settings=settings) as bot:
        await bot.store.put_credential(GUILD_ID, None, RA, GOOD, set_by=1)
        # discord.py imports an extension's module afresh: not the class imported here.
        cog: Any = bot.get_cog("WatchCog")
        assert cog is not None
        await asyncio.wait_for(cog.loaded.wait(), 5.0)
        await clock.settle()
        yield bot


@pytest.fixture
async def bot(fake_discord, fake_ra, tmp_path, clock) -> AsyncIterator[TicketLensBot]:
    async with watching_bot(fake_discord, fake_ra, tmp_path, clock) as running:
        yield running


async def answer(fake_discord: FakeDiscord, inter: FakeInteraction) -> dict[str, Any]:
    """The message answering `inter` once final (a deferred one edited into place)."""
    await fake_discord.wait_for_response(inter)

    def done() -> dict[str, Any] | None:
        message = fake_discord.messages.get(inter.original_message_id or 0)
        return message if message is not None and not int(message["flags"]) & 128 else None

    return await fake_discord.wait_until(done, 5.0, "the answer")


async def run(
    fake_discord: FakeDiscord, command: str, options: dict[str, Any], **member: Any
) -> tuple[dict[str, Any], str]:
    """Run `/ticketwatch <command>`; its answer and the answer's text."""
    inter = await fake_discord.send_interaction(f"ticketwatch {command}", options, **member)
    message = await answer(fake_discord, inter)
    assert int(message["flags"]) & 64, "watch answers are ephemeral"
    return message, all_text(embeds_of(message))


async def add(fake_discord: FakeDiscord, ticket_id: int | str, **member: Any) -> str:
    """`/ticketwatch add` a RetroAchievements ticket as staff; the answer's text."""
    options = {"provider": RA, "id": str(ticket_id)}
    _, text = await run(fake_discord, "add", options, **(member or STAFF))
    return text


def cards(fake_discord: FakeDiscord) -> list[dict[str, Any]]:
    return fake_discord.channel_messages(CHANNEL_ID)


def open_ticket(fake_ra: FakeRetroAchievements, ticket_id: int = 55) -> None:
    fake_ra.tickets[ticket_id] = ra_ticket(ticket_id)


def resolve(fake_ra: FakeRetroAchievements, ticket_id: int = 55) -> None:
    fake_ra.tickets[ticket_id].update(
        ReportState=2,
        ReportStateDescription="Resolved",
        ResolvedAt="2026-05-02 10:00:00",
        ResolvedBy="SampleDev",
    )


def edits(fake_discord: FakeDiscord) -> int:
    return len(fake_discord.find("PATCH", rf"/channels/{CHANNEL_ID}/messages/\d+$"))


async def test_a_changed_ticket_edits_its_card_with_one_notice_in_a_thread(
    fake_discord, fake_ra, tmp_path, clock, threads
):
    """The end-to-end story: the card is edited within one interval, one notice line."""
    open_ticket(fake_ra)
    async with watching_bot(fake_discord, fake_ra, tmp_path, clock):
        text = await add(fake_discord, 55)
        assert "Watching" in text
        (card,) = cards(fake_discord)
        shown = all_text(card["embeds"])
        assert "Ticket #55" in shown
        assert "Open" in shown
        assert card["author"]["bot"]

        resolve(fake_ra)
        await clock.advance(INTERVAL_S)
        card = fake_discord.messages[int(card["id"])]
        assert "Resolved" in all_text(card["embeds"])
        assert card["edited_timestamp"] is not None
        thread_id = int(card["id"])
        assert thread_id in fake_discord.threads
        notices = fake_discord.channel_messages(thread_id)
        assert [n["content"] for n in notices] == ["Open → Resolved"]
        assert not any(m["content"] for m in cards(fake_discord))  # nothing else in the channel

        # Nothing changed: no edit, no notice.
        before = edits(fake_discord)
        await clock.advance(INTERVAL_S)
        assert edits(fake_discord) == before
        assert len(fake_discord.channel_messages(thread_id)) == 1

        # The next change goes to the same thread.
        fake_ra.tickets[55].update(ReportState=0, ReportStateDescription="Closed")
        await clock.advance(INTERVAL_S)
        assert len(fake_discord.threads) == 1
        assert [n["content"] for n in fake_discord.channel_messages(thread_id)] == [
            "Open → Resolved",
            "Resolved → Closed",
        ]


async def test_without_thread_permission_the_notice_replies_to_the_card(
    bot, fake_discord, fake_ra, clock
):
    open_ticket(fake_ra)
    await add(fake_discord, 55)
    (card,) = cards(fake_discord)
    resolve(fake_ra)
    await clock.advance(INTERVAL_S)
    assert not fake_discord.threads
    notice = cards(fake_discord)[-1]
    assert notice["content"] == "Open → Resolved"
    assert notice["message_reference"]["message_id"] == card["id"]
    request = fake_discord.find("POST", rf"/channels/{CHANNEL_ID}/messages$")[-1]
    mentions = request.json["allowed_mentions"]
    assert mentions["parse"] == []
    assert not mentions.get("replied_user")


async def test_a_failing_provider_marks_the_card_last_updated_and_recovers(
    bot, fake_discord, fake_ra, clock
):
    open_ticket(fake_ra)
    await add(fake_discord, 55)
    (card,) = cards(fake_discord)
    fake_ra.fail_next = 100
    await clock.advance(INTERVAL_S)
    card = fake_discord.messages[int(card["id"])]
    fields = {f["name"]: f["value"] for f in card["embeds"][0]["fields"]}
    assert fields["Last updated"].startswith("<t:")
    assert "Ticket #55" in all_text(card["embeds"])  # the card stays
    marked = edits(fake_discord)
    await clock.advance(INTERVAL_S)
    assert edits(fake_discord) == marked  # marked once, not at every failed poll
    fake_ra.fail_next = 0
    await clock.advance(INTERVAL_S)
    card = fake_discord.messages[int(card["id"])]
    assert "Last updated" not in all_text(card["embeds"])


async def test_a_rate_limit_pauses_the_poller_for_retry_after_at_least(
    bot, fake_discord, fake_ra, clock
):
    open_ticket(fake_ra)
    await add(fake_discord, 55)
    polls_from = len(fake_ra.request_times)
    fake_ra.rate_limit_next = 1
    fake_ra.retry_after = "600"
    await clock.advance(INTERVAL_S)
    limited = fake_ra.request_times[polls_from:]
    assert len(limited) == 1
    await clock.advance(500)
    assert len(fake_ra.request_times) == polls_from + 1
    await clock.advance(200)
    after = fake_ra.request_times[polls_from:]
    assert len(after) == 2
    assert after[1] - after[0] >= 600


async def test_the_budget_is_never_exceeded_many_watches_are_polled_in_turns(
    fake_discord, fake_ra, tmp_path, clock
):
    """Budget 2/min at a 5-minute interval: 10 polls per interval for 25 watches. Never more
    than 2 requests in any minute, and every watch is polled within four intervals (the first
    poll comes one interval after the watches were added)."""
    for ticket_id in range(100, 125):
        open_ticket(fake_ra, ticket_id)
    async with watching_bot(fake_discord, fake_ra, tmp_path, clock, budget=2) as running:
        for ticket_id in range(100, 125):
            await add(fake_discord, ticket_id)
        assert len(await running.store.list_watches(GUILD_ID)) == 25
        start = len(fake_ra.requests)
        started_at = clock.now()
        await clock.advance(4 * INTERVAL_S)
        polled = fake_ra.requests[start:]
        times = fake_ra.request_times[start:]
    assert {int(r["i"]) for r in polled} == set(range(100, 125))
    assert all(t >= started_at for t in times)
    for t in times:
        assert sum(1 for u in times if t <= u < t + 60) <= 2


async def test_only_staff_may_watch(bot, fake_discord, fake_ra, clock):
    open_ticket(fake_ra)
    text = await add(fake_discord, 55, permissions=0)
    assert "Staff only" in text
    assert cards(fake_discord) == []
    _, listed = await run(fake_discord, "list", {}, permissions=0)
    assert "Staff only" in listed
    assert len(await bot.store.list_watches(GUILD_ID)) == 0


async def test_the_staff_role_may_watch(bot, fake_discord, fake_ra, clock):
    # A role the loopback guild really has (it knows only @everyone and this one).
    role = fake_discord.guilds[GUILD_ID].bot_role
    await bot.access.set_staff_role(GUILD_ID, role)
    open_ticket(fake_ra)
    text = await add(fake_discord, 55, permissions=0, user_id=77, roles=[role])
    assert "Watching" in text


async def test_owner_scoped_teambattles_is_refused_and_not_offered(bot, fake_discord, clock):
    (command,) = [c for c in fake_discord.commands[None] if c["name"] == "ticketwatch"]
    add_command = next(o for o in command["options"] if o["name"] == "add")
    provider = next(o for o in add_command["options"] if o["name"] == "provider")
    offered = {c["value"] for c in provider["choices"]}
    assert RA in offered
    assert "teambattles" not in offered
    _, text = await run(fake_discord, "add", {"provider": "teambattles", "id": "abc"}, **STAFF)
    assert "Can't watch this system" in text
    assert cards(fake_discord) == []


async def test_a_pending_review_ticket_is_refused_with_the_reason(
    bot, fake_discord, fake_ra, clock
):
    fake_ra.tickets[55] = ra_ticket(55, ReportState=4, ReportStateDescription="Pending Review")
    text = await add(fake_discord, 55)
    assert "Can't watch this ticket" in text
    assert "Pending Review" in text
    assert cards(fake_discord) == []
    assert len(await bot.store.list_watches(GUILD_ID)) == 0


async def test_the_cap_per_guild_is_a_clear_error(fake_discord, fake_ra, tmp_path, clock):
    for ticket_id in (55, 56, 57):
        open_ticket(fake_ra, ticket_id)
    async with watching_bot(
        fake_discord, fake_ra, tmp_path, clock, WATCH_LIMIT_PER_GUILD=2
    ) as running:
        await add(fake_discord, 55)
        await add(fake_discord, 56)
        text = await add(fake_discord, 57)
        assert "Too many watches" in text
        assert "(2)" in text
        assert len(cards(fake_discord)) == 2
        assert len(await running.store.list_watches(GUILD_ID)) == 2


async def test_a_ticket_is_watched_once(bot, fake_discord, fake_ra, clock):
    open_ticket(fake_ra)
    await add(fake_discord, 55)
    text = await add(fake_discord, 55)
    assert "Already watched" in text
    assert len(cards(fake_discord)) == 1


async def test_list_and_remove(bot, fake_discord, fake_ra, clock):
    open_ticket(fake_ra, 55)
    open_ticket(fake_ra, 56)
    await add(fake_discord, 55)
    await add(fake_discord, 56)
    _, text = await run(fake_discord, "list", {}, **STAFF)
    assert "Watches (2 of 50)" in text
    assert "`55`" in text
    assert "`56`" in text
    card = cards(fake_discord)[0]
    assert f"/channels/{GUILD_ID}/{CHANNEL_ID}/{card['id']}" in text
    assert f"<#{CHANNEL_ID}>" in text

    inter = await fake_discord.send_autocomplete("ticketwatch remove", {"id": "5"}, "id", **STAFF)
    offered = (await fake_discord.wait_for_response(inter)).data["choices"]
    assert {c["value"] for c in offered} == {"55", "56"}

    _, text = await run(fake_discord, "remove", {"id": "55"}, **STAFF)
    assert "no longer watched" in text
    assert [w.ref for w in await bot.store.list_watches(GUILD_ID)] == ["56"]
    _, text = await run(fake_discord, "remove", {"id": "55"}, **STAFF)
    assert "No such watch" in text

    before = len(fake_ra.requests)
    await clock.advance(INTERVAL_S)
    assert [r.get("i") for r in fake_ra.requests[before:]] == ["56"]


async def test_a_deleted_card_ends_its_watch(bot, fake_discord, fake_ra, clock):
    open_ticket(fake_ra)
    await add(fake_discord, 55)
    (card,) = cards(fake_discord)
    del fake_discord.messages[int(card["id"])]  # a moderator deleted it
    resolve(fake_ra)
    await clock.advance(INTERVAL_S)
    assert len(await bot.store.list_watches(GUILD_ID)) == 0
    before = len(fake_ra.requests)
    await clock.advance(INTERVAL_S)
    assert len(fake_ra.requests) == before


async def test_removal_from_the_guild_ends_its_watches(bot, fake_discord, fake_ra, clock):
    open_ticket(fake_ra)
    await add(fake_discord, 55)
    await fake_discord.guild_delete(GUILD_ID)

    async def gone() -> bool:
        return not await bot.store.list_watches()

    for _ in range(100):
        if await gone():
            break
        await clock.settle()
    assert await gone()
    before = len(fake_ra.requests)
    await clock.advance(INTERVAL_S)
    assert len(fake_ra.requests) == before


async def test_watches_survive_a_restart(fake_discord, fake_ra, tmp_path, clock):
    open_ticket(fake_ra)
    async with watching_bot(fake_discord, fake_ra, tmp_path, clock):
        await add(fake_discord, 55)
    (card,) = cards(fake_discord)
    resolve(fake_ra)
    async with watching_bot(fake_discord, fake_ra, tmp_path, clock):
        await clock.advance(INTERVAL_S)
        card = fake_discord.messages[int(card["id"])]
        assert "Resolved" in all_text(card["embeds"])
        assert cards(fake_discord)[-1]["content"] == "Open → Resolved"


async def test_a_game_feed_posts_only_new_public_tickets(bot, fake_discord, fake_ra, clock):
    fake_ra.games[4321] = ra_game()
    open_ticket(fake_ra, 100)
    _, text = await run(fake_discord, "retroachievements-game", {"id": 4321}, **STAFF)
    assert "Watching" in text
    # One notice says what the channel will get; what the game has now is not posted.
    (notice,) = cards(fake_discord)
    assert "New RetroAchievements tickets of game 4321 will be posted here" in all_text(
        notice["embeds"]
    )
    (feed,) = await bot.store.list_watches(GUILD_ID)
    assert json.loads(feed.state) == {"seen": ["100"]}

    fake_ra.tickets[101] = ra_ticket(101, ReportedAt="2026-05-03 10:00:00")
    fake_ra.tickets[102] = ra_ticket(
        102, ReportedAt="2026-05-04 10:00:00", ReportState=4, ReportStateDescription="Pending"
    )
    await clock.advance(INTERVAL_S)
    posted = cards(fake_discord)[1:]
    assert len(posted) == 1
    assert "Ticket #101" in all_text(posted[0]["embeds"])

    # The quarantined one is posted once it is released, and nothing twice.
    fake_ra.tickets[102].update(ReportState=1, ReportStateDescription="Open")
    await clock.advance(INTERVAL_S)
    posted = cards(fake_discord)[1:]
    assert len(posted) == 2
    assert "Ticket #102" in all_text(posted[1]["embeds"])
    await clock.advance(INTERVAL_S)
    assert len(cards(fake_discord)[1:]) == 2


async def test_watch_answers_are_in_german_for_german_members(bot, fake_discord, fake_ra, clock):
    open_ticket(fake_ra)
    _, text = await run(
        fake_discord, "add", {"provider": RA, "id": "55"}, permissions=0, locale="de"
    )
    assert "Staff only" not in text
    assert "Nur" in text


async def test_a_deleted_channel_takes_its_watches(bot, fake_discord, fake_ra, clock):
    open_ticket(fake_ra)
    await add(fake_discord, 55)
    guild = fake_discord.guilds[GUILD_ID]
    await fake_discord.dispatch("CHANNEL_DELETE", fake_discord.channel_payload(guild, CHANNEL_ID))
    for _ in range(100):
        if not await bot.store.list_watches():
            break
        await clock.settle()
    assert await bot.store.list_watches() == []


async def test_cards_and_notices_speak_the_guilds_language(
    fake_discord, fake_ra, tmp_path, clock, threads
):
    fake_discord.guilds[GUILD_ID].preferred_locale = "de"
    open_ticket(fake_ra)
    async with watching_bot(fake_discord, fake_ra, tmp_path, clock):
        await add(fake_discord, 55)
        (card,) = cards(fake_discord)
        resolve(fake_ra)
        await clock.advance(INTERVAL_S)
        notices = fake_discord.channel_messages(int(card["id"]))
        assert [n["content"] for n in notices] == ["Offen → Gelöst"]
        assert fake_discord.threads[int(card["id"])]["name"].startswith("Neuigkeiten: ")


async def test_a_system_not_set_up_here_says_how_to_set_it_up(bot, fake_discord, clock):
    _, text = await run(fake_discord, "add", {"provider": "whmcs", "id": "42"}, **STAFF)
    assert "/ticketconfig set provider:whmcs" in text
    assert cards(fake_discord) == []


async def test_a_missing_ticket_is_a_polite_error(bot, fake_discord, fake_ra, clock):
    _, text = await run(fake_discord, "add", {"provider": RA, "id": "404"}, **STAFF)
    assert "404" in text
    assert cards(fake_discord) == []
    assert len(await bot.store.list_watches(GUILD_ID)) == 0


def test_settings_refuse_an_interval_below_a_minute_and_a_budget_below_one():
    with pytest.raises(ValidationError) as caught:
        Settings(DISCORD_TOKEN="x", WATCH_INTERVAL_MINUTES="0.5")
    assert "WATCH_INTERVAL_MINUTES: Value error, must be at least 1" in describe_validation_error(
        caught.value
    )
    assert Settings(DISCORD_TOKEN="x").watch_interval_minutes == 5
    assert Settings(DISCORD_TOKEN="x").watch_limit_per_guild == 50
    with pytest.raises(ValidationError):
        RetroSettings(watch_budget_per_min=0)
    assert RetroSettings().watch_budget_per_min == 30


# -- the reviewer's findings ------------------------------------------------------------------

#: A second text channel of the test guild (a `channel:` option), known before the bot connects.
OTHER_CHANNEL = 2001
HOUR_S = 3600


def with_other_channel(fake_discord: FakeDiscord, *, member_can_embed: bool = True) -> None:
    """Add OTHER_CHANNEL to the test guild; `member_can_embed` False: members (not the bot,
    whose own role keeps every default permission) may not embed links anywhere."""
    guild = fake_discord.guilds[GUILD_ID]
    guild.channels[OTHER_CHANNEL] = "cards"
    if not member_can_embed:
        guild.everyone_permissions = DEFAULT_EVERYONE_PERMISSIONS & ~EMBED_LINKS


def channel_option(channel_id: int) -> dict[str, Any]:
    """The `resolved` data Discord sends with a channel option."""
    return {
        "channels": {
            str(channel_id): {
                "id": str(channel_id),
                "type": 0,
                "name": f"channel-{channel_id}",
                "permissions": str(DEFAULT_EVERYONE_PERMISSIONS),
                "guild_id": str(GUILD_ID),
                "parent_id": None,
                "flags": 0,
            }
        }
    }


async def run_in(
    fake_discord: FakeDiscord, command: str, options: dict[str, Any], channel_id: int
) -> str:
    """`/ticketwatch <command>` as staff with `channel:` set; the answer's text."""
    inter = await fake_discord.send_interaction(
        f"ticketwatch {command}",
        {**options, "channel": str(channel_id)},
        resolved=channel_option(channel_id),
        **STAFF,
    )
    return all_text(embeds_of(await answer(fake_discord, inter)))


async def test_a_reloaded_extension_keeps_polling_the_stored_watches(
    bot, fake_discord, fake_ra, clock
):
    """`reload_extension("cogs.watch")` in a running bot: no on_ready follows, yet the stored
    watch is polled again and its card shows the change within one interval."""
    open_ticket(fake_ra)
    await add(fake_discord, 55)
    (card,) = cards(fake_discord)
    await bot.reload_extension("cogs.watch")
    cog: Any = bot.get_cog("WatchCog")
    await asyncio.wait_for(cog.loaded.wait(), 5.0)
    await clock.settle()
    resolve(fake_ra)
    await clock.advance(INTERVAL_S)
    card = fake_discord.messages[int(card["id"])]
    assert "Resolved" in all_text(card["embeds"])


async def test_the_deleted_card_of_a_ticket_that_never_changes_ends_its_watch_within_an_hour(
    bot, fake_discord, fake_ra, clock
):
    open_ticket(fake_ra)
    await add(fake_discord, 55)
    (card,) = cards(fake_discord)
    looks_at_card = rf"/channels/{CHANNEL_ID}/messages/{card['id']}$"
    # While it is there: looked at no more than once an hour, and the watch stays.
    await clock.advance(2 * HOUR_S)
    assert 1 <= len(fake_discord.find("GET", looks_at_card)) <= 2
    assert len(await bot.store.list_watches(GUILD_ID)) == 1

    del fake_discord.messages[int(card["id"])]  # a moderator deleted it; no event comes
    await clock.advance(HOUR_S + INTERVAL_S)
    assert await bot.store.list_watches(GUILD_ID) == []
    _, listed = await run(fake_discord, "list", {}, **STAFF)
    assert "Nothing is watched here" in listed
    before = len(fake_ra.requests)
    await clock.advance(2 * INTERVAL_S)
    assert len(fake_ra.requests) == before  # no longer polled


async def test_a_card_that_cannot_be_looked_at_keeps_its_watch(bot, fake_discord, fake_ra, clock):
    """403 (the bot lost access) or any other error but 404 is no proof the card is gone."""
    open_ticket(fake_ra)
    await add(fake_discord, 55)
    (card,) = cards(fake_discord)
    looks_at_card = rf"/channels/{CHANNEL_ID}/messages/{card['id']}$"
    fake_discord.add_override("GET", looks_at_card, status=403, body={"code": 50001}, times=1)
    fake_discord.add_override("GET", looks_at_card, status=400, body={"code": 0}, times=None)
    await clock.advance(3 * HOUR_S)
    assert len(fake_discord.find("GET", looks_at_card)) >= 2
    assert len(await bot.store.list_watches(GUILD_ID)) == 1


async def test_a_credential_only_watches_use_is_masked_in_logs_after_a_restart(
    fake_discord, fake_ra, tmp_path, clock
):
    open_ticket(fake_ra)
    async with watching_bot(fake_discord, fake_ra, tmp_path, clock):
        await add(fake_discord, 55)
    async with watching_bot(fake_discord, fake_ra, tmp_path, clock) as restarted:
        polled_from = len(fake_ra.requests)
        await clock.advance(INTERVAL_S)
        assert len(fake_ra.requests) > polled_from  # the watch polled, no lookup ran
        line = f"a log line with {GOOD['api_key']} in it"
        assert GOOD["api_key"] not in restarted.redactor.redact(line)


@pytest.mark.parametrize("command", ["add", "retroachievements-game"])
async def test_a_member_may_not_send_a_watch_where_they_cannot_post_themselves(
    fake_discord, fake_ra, tmp_path, clock, command
):
    with_other_channel(fake_discord, member_can_embed=False)
    open_ticket(fake_ra)
    fake_ra.games[4321] = ra_game()
    options: dict[str, Any] = {"provider": RA, "id": "55"} if command == "add" else {"id": 4321}
    async with watching_bot(fake_discord, fake_ra, tmp_path, clock) as running:
        text = await run_in(fake_discord, command, options, OTHER_CHANNEL)
        assert "You can't post there" in text
        assert "#cards" in text
        assert fake_discord.channel_messages(OTHER_CHANNEL) == []
        assert await running.store.list_watches(GUILD_ID) == []
        # Here, where they ran the command, is their own business.
        _, here = await run(fake_discord, command, options, **STAFF)
        assert "Watching" in here


async def test_a_card_goes_to_another_channel_the_member_may_post_in(
    fake_discord, fake_ra, tmp_path, clock
):
    with_other_channel(fake_discord)
    open_ticket(fake_ra)
    async with watching_bot(fake_discord, fake_ra, tmp_path, clock) as running:
        text = await run_in(fake_discord, "add", {"provider": RA, "id": "55"}, OTHER_CHANNEL)
        assert "Watching" in text
        (card,) = fake_discord.channel_messages(OTHER_CHANNEL)
        assert "Ticket #55" in all_text(card["embeds"])
        (watch,) = await running.store.list_watches(GUILD_ID)
        assert (watch.channel_id, watch.message_id) == (OTHER_CHANNEL, int(card["id"]))


async def test_a_game_feed_where_the_bot_cannot_post_is_refused_not_stored(
    fake_discord, fake_ra, tmp_path, clock
):
    with_other_channel(fake_discord)
    fake_discord.forbidden_channels.add(OTHER_CHANNEL)
    fake_ra.games[4321] = ra_game()
    async with watching_bot(fake_discord, fake_ra, tmp_path, clock) as running:
        text = await run_in(fake_discord, "retroachievements-game", {"id": 4321}, OTHER_CHANNEL)
        assert "Can't post there" in text
        assert fake_discord.channel_messages(OTHER_CHANNEL) == []
        assert await running.store.list_watches(GUILD_ID) == []


@pytest.mark.parametrize("ref", ["recent", "g:4321", "top", "u:SampleDev"])
async def test_a_list_is_not_a_ticket_to_watch(bot, fake_discord, fake_ra, clock, ref):
    fake_ra.games[4321] = ra_game()
    open_ticket(fake_ra)
    before = len(fake_ra.requests)
    _, text = await run(fake_discord, "add", {"provider": RA, "id": ref}, **STAFF)
    assert "ticket id is a whole number" in text
    assert cards(fake_discord) == []
    assert await bot.store.list_watches(GUILD_ID) == []
    assert len(fake_ra.requests) == before
