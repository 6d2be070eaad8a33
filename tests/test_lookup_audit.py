"""
The lookup audit: every answer shown in a server is recorded (who, which provider and ref,
where, when, how shown; never ticket content), read back by admins with `/ticketconfig lookups
[member] [provider]`, kept LOOKUP_AUDIT_DAYS, and removed with the guild's data. The commands
and buttons through the real bot; the store on both backends (SQLite and PostgreSQL).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from bot.app import TicketLensBot
from bot.settings import Settings
from bot.store import LookupRecord, Store
from cogs.retroachievements._client import RetroSettings
from cogs.whmcs._client import WhmcsSettings
from tests.e2e.conftest import CHANNEL_ID, FAKE_TOKEN, GUILD_ID
from tests.e2e.fake_discord import (
    CONTEXT_GUILD,
    MANAGE_GUILD,
    FakeDiscord,
    FakeInteraction,
    UserInstall,
)
from tests.fakes.retroachievements import ra_game, ra_ticket
from tests.harness import all_text, embeds_of, running_bot, settle
from tests.test_store import PostgresBackend, SqliteBackend, _count

RA, WH = "retroachievements", "whmcs"
RA_GOOD = {"username": "mod", "api_key": "good-key"}
ADMIN, ALICE, BOB = 701, 703, 704
OTHER_CHANNEL = 2050
#: A line of `/ticketconfig lookups`: time, member, provider, ref, channel, how shown.
LINE = re.compile(r"^<t:(\d+):f> <@(\d+)> · \*\*(.+?)\*\* `(.+?)` · (\S+) · (.+)$")
#: What the RetroAchievements sample tickets contain: never part of the audit.
CONTENT = ("Sample Cheevo", "Sample Quest", "Boss died", "SampleReporter", "Open")

GUILD, OTHER_GUILD = 1001, 2002
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# -- through the bot -------------------------------------------------------------------------


@pytest.fixture
async def bot(fake_discord, fake_ra, tmp_path) -> AsyncIterator[TicketLensBot]:
    """The real bot with RetroAchievements configured for the test guild (and a second
    channel there)."""
    fake_discord.guilds[GUILD_ID].channels[OTHER_CHANNEL] = "support"
    sections = {
        RetroSettings: RetroSettings(base_url=fake_ra.url, rate_per_s=100),
        WhmcsSettings: WhmcsSettings(rate_per_s=100),
    }
    async with running_bot(fake_discord, tmp_path, sections=sections) as running:
        await running.store.put_credential(GUILD_ID, None, RA, RA_GOOD, set_by=1)
        yield running


def button_id(message: dict[str, Any], label: str) -> str:
    found = [
        b["custom_id"]
        for row in message.get("components") or []
        for b in row.get("components") or []
        if b.get("label") == label
    ]
    assert len(found) == 1, label
    return found[0]


async def look_up(fake_discord: FakeDiscord, options: dict[str, Any], **member: Any):
    """`/ticket retroachievements` as a member without rights; the interaction and message."""
    member.setdefault("permissions", 0)
    inter = await fake_discord.send_interaction(f"ticket {RA}", options, **member)
    await fake_discord.wait_for_response(inter)
    return inter, fake_discord.messages[inter.original_message_id or 0]


async def press(
    fake_discord: FakeDiscord, message: dict[str, Any], label: str, **member: Any
) -> FakeInteraction:
    member.setdefault("permissions", 0)
    inter = await fake_discord.send_component(
        button_id(message, label), message_id=int(message["id"]), **member
    )
    await fake_discord.wait_for_response(inter)
    return inter


def member_option(user_id: int) -> dict[str, Any]:
    """The `resolved` data Discord sends with a user option."""
    return {"users": {str(user_id): FakeDiscord.user_payload(user_id, "alice")}}


async def lookups(
    fake_discord: FakeDiscord, options: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[Any, list[dict[str, Any]]]:
    """Run `/ticketconfig lookups` as an admin; (response, embeds)."""
    kwargs.setdefault("permissions", MANAGE_GUILD)
    kwargs.setdefault("user_id", ADMIN)
    inter = await fake_discord.send_interaction("ticketconfig lookups", options or {}, **kwargs)
    response = await fake_discord.wait_for_response(inter)
    return response, embeds_of(response.data)


def lines(embeds: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """The listed lookups: (member, provider, ref, channel, how shown), newest first."""
    found = []
    for line in embeds[0]["description"].split("\n"):
        match = LINE.match(line)
        assert match is not None, line
        found.append(match.groups()[1:])
    return found


async def test_every_answer_shown_is_listed_newest_first_and_nothing_else(
    bot, fake_discord, fake_ra
):
    """
    A private lookup, a public one, Refresh on the public answer, Share to channel of the
    private one and the message context menu (two tickets) are each listed for an admin, with
    who, the provider, the ref, the channel and how the answer was shown; a lookup that failed
    showed no ticket and is not listed. Never anything of the tickets themselves.
    """
    for ticket_id in (7, 8, 9, 10):
        fake_ra.tickets[ticket_id] = ra_ticket(ticket_id)
    _, private = await look_up(fake_discord, {"id": 7}, user_id=ALICE)
    _, public = await look_up(
        fake_discord, {"id": 8, "public": True}, user_id=ALICE, channel_id=OTHER_CHANNEL
    )
    await press(fake_discord, public, "Refresh", user_id=ALICE, channel_id=OTHER_CHANNEL)
    await press(fake_discord, private, "Share to channel", user_id=ALICE)
    await look_up(fake_discord, {"id": 404}, user_id=BOB)  # not found: nothing shown
    message = fake_discord.user_message(
        "https://retroachievements.org/ticket/9 and https://retroachievements.org/ticket/10",
        channel_id=CHANNEL_ID,
    )
    menu = await fake_discord.send_message_command(
        "Look up tickets", message, permissions=0, user_id=BOB
    )
    await fake_discord.wait_for_followups(menu, count=2)
    await settle()

    response, embeds = await lookups(fake_discord)
    assert response.ephemeral
    assert response.data["allowed_mentions"] == {"parse": []}
    assert embeds[0]["title"] == "Recent lookups"
    listed = lines(embeds)
    label, here, there = "RetroAchievements", f"<#{CHANNEL_ID}>", f"<#{OTHER_CHANNEL}>"
    # The context menu's two answers were recorded in the order they were sent.
    assert listed == [
        (str(BOB), label, "10", here, "privately"),
        (str(BOB), label, "9", here, "privately"),
        (str(ALICE), label, "7", here, "shared to the channel"),
        (str(ALICE), label, "8", there, "publicly"),
        (str(ALICE), label, "8", there, "publicly"),
        (str(ALICE), label, "7", here, "privately"),
    ]
    times = [int(m.group(1)) for m in map(LINE.match, embeds[0]["description"].split("\n")) if m]
    assert times == sorted(times, reverse=True)
    assert abs(times[0] - datetime.now(UTC).timestamp()) < 300
    text = all_text(embeds)
    for content in CONTENT:
        assert content not in text


async def test_a_page_turn_is_not_a_new_lookup_but_refresh_is(bot, fake_discord, fake_ra):
    """Next on a long list shows more of an answer already recorded: not listed again; Refresh
    fetches anew and is."""
    fake_ra.games[4321] = ra_game()
    for ticket_id in range(1, 61):
        fake_ra.tickets[ticket_id] = ra_ticket(ticket_id)
    inter = await fake_discord.send_interaction(
        f"tickets {RA} game", {"id": 4321}, permissions=0, user_id=ALICE
    )
    await fake_discord.wait_for_response(inter)
    listing = fake_discord.messages[inter.original_message_id or 0]
    await press(fake_discord, listing, "Next", user_id=ALICE)
    await press(fake_discord, listing, "Next", user_id=ALICE)
    await settle()
    _, embeds = await lookups(fake_discord)
    assert len(lines(embeds)) == 1

    await press(fake_discord, listing, "Refresh", user_id=ALICE)
    await settle()
    _, embeds = await lookups(fake_discord)
    refs = [line[2] for line in lines(embeds)]
    assert len(refs) == 2
    assert refs[0] == refs[1]


async def test_lookups_filter_by_member_and_provider(bot, fake_discord, fake_ra):
    """`member` keeps that member's lookups, `provider` that system's; none: a polite line."""
    fake_ra.tickets[7] = ra_ticket(7)
    await look_up(fake_discord, {"id": 7}, user_id=ALICE)
    await look_up(fake_discord, {"id": 7}, user_id=BOB)
    await settle()

    _, embeds = await lookups(fake_discord, {"member": str(ALICE)}, resolved=member_option(ALICE))
    assert [line[0] for line in lines(embeds)] == [str(ALICE)]

    _, embeds = await lookups(fake_discord, {"provider": RA})
    assert [line[0] for line in lines(embeds)] == [str(BOB), str(ALICE)]

    _, embeds = await lookups(fake_discord, {"provider": WH})
    assert embeds[0]["description"] == "No lookups match in the last 30 days."
    assert "<@" not in embeds[0]["description"]


async def test_nothing_recorded_yet_is_said_politely(bot, fake_discord):
    _, embeds = await lookups(fake_discord)
    assert embeds[0]["description"] == "No lookups recorded in the last 30 days."
    assert embeds[0]["footer"]["text"] == "Newest first. Each lookup is kept 30 days."


async def test_only_manage_server_may_read_the_lookups(bot, fake_discord, fake_ra):
    """A member without Manage Server is refused, even one with the staff role."""
    fake_ra.tickets[7] = ra_ticket(7)
    await look_up(fake_discord, {"id": 7}, user_id=ALICE)
    await settle()
    role = fake_discord.guilds[GUILD_ID].bot_role
    await bot.store.set_guild_setting(GUILD_ID, "staff_role", str(role))
    for roles in ([], [role]):
        response, embeds = await lookups(fake_discord, permissions=0, user_id=BOB, roles=roles)
        text = all_text(embeds)
        assert response.ephemeral
        assert "Manage Server" in text
        assert f"<@{ALICE}>" not in text


async def test_lookups_answer_in_german(bot, fake_discord, fake_ra):
    fake_ra.tickets[7] = ra_ticket(7)
    await look_up(fake_discord, {"id": 7}, user_id=ALICE)
    await settle()
    _, embeds = await lookups(fake_discord, locale="de")
    assert embeds[0]["title"] == "Letzte Abfragen"
    assert embeds[0]["description"].endswith("· privat")


async def test_the_guilds_removal_removes_its_lookups(bot, fake_discord, fake_ra):
    """The bot removed from the guild: its lookup audit goes with its other data."""
    fake_ra.tickets[7] = ra_ticket(7)
    await look_up(fake_discord, {"id": 7}, user_id=ALICE)
    await settle()
    assert await bot.store.list_lookup_audit(GUILD_ID)
    await bot.store.forget_guild(GUILD_ID)
    assert await bot.store.list_lookup_audit(GUILD_ID) == []


async def test_a_members_own_forget_keeps_the_servers_record(bot, fake_discord, fake_ra):
    """`/ticketaccount forget` deletes the member's history, not the server's audit of what
    they looked up there."""
    fake_ra.tickets[7] = ra_ticket(7)
    await look_up(fake_discord, {"id": 7}, user_id=ALICE)
    await settle()
    forget = await fake_discord.send_interaction(
        "ticketaccount forget", {}, permissions=0, user_id=ALICE
    )
    await fake_discord.wait_for_response(forget)
    _, embeds = await lookups(fake_discord)
    assert [line[0] for line in lines(embeds)] == [str(ALICE)]


async def test_nothing_is_recorded_outside_a_server_with_ticketlens(bot, fake_discord, fake_ra):
    """The member's own install, in the bot's DM and in a server without TicketLens: no
    server's admins could read an audit there (nor would its removal delete it)."""
    fake_ra.tickets[7] = ra_ticket(7)
    await bot.store.put_user_credential(ALICE, RA, {"username": "me", "api_key": "good-key"})
    elsewhere = 7_000_000
    for install in (UserInstall(), UserInstall(context=CONTEXT_GUILD, guild_id=elsewhere)):
        inter = await fake_discord.send_interaction(
            f"ticket {RA}", {"id": 7}, user_id=ALICE, install=install
        )
        response = await fake_discord.wait_for_response(inter)
        assert embeds_of(response.data)[0]["title"].startswith("Ticket #7")
    await settle()
    assert await bot.store.list_lookup_audit(elsewhere) == []
    assert elsewhere not in await bot.store.guild_ids()
    _, embeds = await lookups(fake_discord)
    assert embeds[0]["description"] == "No lookups recorded in the last 30 days."


def test_the_retention_setting_is_at_least_a_day():
    assert Settings(DISCORD_TOKEN=FAKE_TOKEN).lookup_audit_days == 30
    assert Settings(DISCORD_TOKEN=FAKE_TOKEN, LOOKUP_AUDIT_DAYS=7).lookup_audit_days == 7
    with pytest.raises(ValidationError, match="LOOKUP_AUDIT_DAYS"):
        Settings(DISCORD_TOKEN=FAKE_TOKEN, LOOKUP_AUDIT_DAYS=0)


# -- the store, on both backends --------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request, tmp_path):
    """A new, empty database of each kind (PostgreSQL: skipped without a server, except in CI)."""
    if request.param == "sqlite":
        return SqliteBackend(tmp_path / "state" / "ticketlens.db")
    server = request.getfixturevalue("pg_server")
    return PostgresBackend(await server.create_schema())


@pytest.fixture
def key() -> bytes:
    return b"k" * 32


async def record(store: Store, guild: int, user: int, ref: str, **kwargs: Any) -> None:
    kwargs.setdefault("channel_id", 55)
    kwargs.setdefault("shown", "ephemeral")
    provider = kwargs.pop("provider", RA)
    await store.record_lookup_audit(guild, user, provider, ref, **kwargs)


async def test_audit_round_trip_newest_first_with_filters(backend, key):
    store = await backend.open(key)
    try:
        await record(store, GUILD, ALICE, "7", at=T0)
        await record(store, GUILD, BOB, "QKD-1", provider=WH, shown="public", at=T0 + timedelta(1))
        await record(
            store, GUILD, ALICE, "8", channel_id=None, shown="shared", at=T0 + timedelta(2)
        )
        await record(store, OTHER_GUILD, ALICE, "9", at=T0 + timedelta(3))
        now = T0 + timedelta(days=3)
        listed = await store.list_lookup_audit(GUILD, now=now)
        assert listed == [
            LookupRecord(T0 + timedelta(2), ALICE, RA, "8", None, "shared"),
            LookupRecord(T0 + timedelta(1), BOB, WH, "QKD-1", 55, "public"),
            LookupRecord(T0, ALICE, RA, "7", 55, "ephemeral"),
        ]
        mine = await store.list_lookup_audit(GUILD, user_id=ALICE, now=now)
        assert [r.ref for r in mine] == ["8", "7"]
        whmcs = await store.list_lookup_audit(GUILD, provider=WH, now=now)
        assert [r.ref for r in whmcs] == ["QKD-1"]
        both = await store.list_lookup_audit(GUILD, user_id=BOB, provider=RA, now=now)
        assert both == []
        assert len(await store.list_lookup_audit(GUILD, limit=1, now=now)) == 1
        # The same ticket twice is two lookups.
        await record(store, GUILD, ALICE, "7", at=T0 + timedelta(2, 1))
        assert len(await store.list_lookup_audit(GUILD, user_id=ALICE, now=now)) == 3
    finally:
        await store.close()


async def test_a_long_ref_is_kept_cut_with_a_mark(backend, key):
    store = await backend.open(key)
    try:
        await record(store, GUILD, ALICE, "x" * 150, at=T0)
        [kept] = await store.list_lookup_audit(GUILD, now=T0)
        assert kept.ref == "x" * 99 + "…"
    finally:
        await store.close()


async def test_recorded_lookups_are_written_on_close(backend, key):
    """Batched in memory, the lookups still waiting are written when the store closes."""
    store = await backend.open(key)
    await record(store, GUILD, ALICE, "7", at=T0)
    await store.close()
    store = await backend.open(key)
    try:
        assert [r.ref for r in await store.list_lookup_audit(GUILD, now=T0)] == ["7"]
    finally:
        await store.close()


async def test_rows_past_the_retention_are_pruned_and_never_listed(backend, key):
    """Each batch written drops what is older than `keep_days` before its newest row; a
    listing never shows rows past it either."""
    store = await backend.open(key)
    try:
        await record(store, GUILD, ALICE, "old", at=T0, keep_days=7)
        await record(store, OTHER_GUILD, ALICE, "other", at=T0, keep_days=7)
        assert [r.ref for r in await store.list_lookup_audit(GUILD, now=T0)] == ["old"]
        assert await store.list_lookup_audit(GUILD, keep_days=7, now=T0 + timedelta(8)) == []
        assert await _count(backend, "lookup_audit") == 2

        await record(store, GUILD, BOB, "new", at=T0 + timedelta(days=8), keep_days=7)
        listed = await store.list_lookup_audit(GUILD, keep_days=7, now=T0 + timedelta(8))
        assert [r.ref for r in listed] == ["new"]
        # Every guild's old rows went, not only the writer's.
        assert await _count(backend, "lookup_audit") == 1
    finally:
        await store.close()


async def test_forget_guild_removes_its_audit_and_forget_member_keeps_it(backend, key):
    store = await backend.open(key)
    try:
        await record(store, GUILD, ALICE, "7", at=T0)
        await record(store, OTHER_GUILD, ALICE, "8", at=T0)
        # A guild with only audit rows is a guild with data (bot.cleanup removes it).
        assert {GUILD, OTHER_GUILD} <= await store.guild_ids()
        await store.forget_member(GUILD, ALICE)
        assert [r.ref for r in await store.list_lookup_audit(GUILD, now=T0)] == ["7"]
        await record(store, GUILD, BOB, "waiting", at=T0)  # still in memory
        await store.forget_guild(GUILD)
        assert await store.list_lookup_audit(GUILD, now=T0) == []
        assert await _count(backend, "lookup_audit", f"guild_id = {GUILD}") == 0
        assert GUILD not in await store.guild_ids()
        assert [r.ref for r in await store.list_lookup_audit(OTHER_GUILD, now=T0)] == ["8"]
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"shown": "loudly"}, ValueError),
        ({"keep_days": 0}, ValueError),
        ({"channel_id": 0}, ValueError),
        ({"ref": ""}, ValueError),
        ({"user": 0}, ValueError),
    ],
)
async def test_bad_audit_values_are_refused(backend, key, changes, error):
    store = await backend.open(key)
    try:
        values: dict[str, Any] = {"user": ALICE, "ref": "7", **changes}
        user, ref = values.pop("user"), values.pop("ref")
        with pytest.raises(error):
            await record(store, GUILD, user, ref, **values)
        assert await store.list_lookup_audit(GUILD, now=T0) == []
    finally:
        await store.close()
