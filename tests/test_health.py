"""
Credential health: the background check of stored credentials (cogs/health.py), driven by a
clock the test moves by hand, against the real bot, the loopback Discord and fake providers;
and its store rows on both backends.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from bot.app import TicketLensBot
from bot.crypto import Sealer
from bot.pgstore import PostgresStore
from bot.store import CredentialHealth, SqliteStore, Store
from cogs.health import CredentialHealthCog
from cogs.retroachievements._client import RetroSettings
from cogs.teambattles._client import TeamBattlesSettings
from cogs.whmcs._client import WhmcsSettings
from tests.e2e.conftest import GUILD_ID
from tests.e2e.fake_discord import MANAGE_GUILD, FakeDiscord
from tests.fakes.clock import FakeClock
from tests.fakes.teambattles import FakeTeamBattles, TbKey, tb_key
from tests.fakes.whmcs import GOOD as WHMCS_GOOD
from tests.fakes.whmcs import FakeWhmcs
from tests.harness import embeds_of, running_bot
from tests.pg import PgServer

RA, TB, WH = "retroachievements", "teambattles", "whmcs"
RA_KEY = "good-key"
RA_GOOD = {"username": "mod", "api_key": RA_KEY}
ADMIN, ALICE, BOB, CAROL = 701, 703, 704, 705
LOG = 2001
#: A guild this process does not hold (another process's shard): never checked here.
ELSEWHERE = 424_242
DAY = 24 * 3600


@pytest.fixture
async def fake_whmcs() -> AsyncIterator[FakeWhmcs]:
    """A fake WHMCS 8.x install."""
    server = FakeWhmcs(version="8")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fake_tb() -> AsyncIterator[FakeTeamBattles]:
    """A fake TeamBattles API knowing Alice's, Bob's and Carol's keys."""
    server = FakeTeamBattles(
        keys={tb_key(n): TbKey(name) for n, name in ((1, "alice"), (2, "bob"), (3, "carol"))}
    )
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake_discord, fake_ra, fake_whmcs, fake_tb, tmp_path) -> AsyncIterator[TicketLensBot]:
    """The real bot (private URLs allowed, for the fake WHMCS) with a log channel set."""
    fake_discord.guilds[GUILD_ID].channels[LOG] = "ticketlens-log"
    sections = {
        RetroSettings: RetroSettings(base_url=fake_ra.url, rate_per_s=100),
        TeamBattlesSettings: TeamBattlesSettings(base_url=fake_tb.url),
        WhmcsSettings: WhmcsSettings(rate_per_s=100),
    }
    async with running_bot(
        fake_discord, tmp_path, sections=sections, settings={"ALLOW_PRIVATE_URLS": True}
    ) as running:
        await running.store.set_guild_setting(GUILD_ID, "log_channel", str(LOG))
        yield running


async def on_clock(bot: TicketLensBot) -> FakeClock:
    """Restart the bot's background check on a clock the test moves."""
    # Today, not the fake clock's default: credentials are saved at the real time.
    clock = FakeClock(time=time.time())
    cog: Any = bot.get_cog("CredentialHealth")
    # discord.py imported the extension anew: its class is not this module's, but the same.
    assert type(cog).__qualname__ == CredentialHealthCog.__qualname__
    await cog.restart(clock)
    await clock.asleep()
    return clock


def posts(fake_discord: FakeDiscord) -> list[tuple[str, str]]:
    """(title, description) of every post in the log channel, oldest first."""
    return [
        (p["embeds"][0]["title"], p["embeds"][0]["description"])
        for p in fake_discord.channel_messages(LOG)
    ]


async def show(fake_discord: FakeDiscord) -> list[str]:
    """The lines of `/ticketconfig show`, as an admin."""
    inter = await fake_discord.send_interaction(
        "ticketconfig show", {}, user_id=ADMIN, permissions=MANAGE_GUILD
    )
    response = await fake_discord.wait_for_response(inter)
    assert response.ephemeral
    return str(embeds_of(response.data)[0]["description"]).splitlines()


def line_of(lines: list[str], label: str) -> str:
    return next(line for line in lines if line.startswith(f"**{label}**"))


# -- through the bot ---------------------------------------------------------------------------


async def test_a_rejected_key_is_told_once_shown_and_its_recovery_told_once(
    bot, fake_discord, fake_ra
):
    """RetroAchievements revokes the stored key: one post when a daily check finds it, "failing
    since" in /ticketconfig show, no second post while it stays rejected, one post when it
    works again. A guild this process does not hold is never checked."""
    await bot.store.put_credential(GUILD_ID, None, RA, RA_GOOD, set_by=ADMIN)
    await bot.store.put_credential(
        ELSEWHERE, None, RA, {"username": "x", "api_key": "elsewhere-key"}, set_by=ADMIN
    )
    clock = await on_clock(bot)
    fake_ra.keys = set()

    await clock.advance(DAY - 60)
    assert fake_ra.requests == []  # checked when saved: not due before a day has passed
    await clock.advance(3600)
    assert len(fake_ra.requests) == 1
    (failing,) = posts(fake_discord)
    assert failing[0] == "RetroAchievements credentials failing"
    assert "This server's **RetroAchievements** credentials are failing since <t:" in failing[1]
    assert "key rejected" in failing[1]
    assert "`/ticketconfig set provider:retroachievements`" in failing[1]
    sent = [r for r in fake_discord.requests if r.route == f"/channels/{LOG}/messages"]
    assert all(r.json["allowed_mentions"] == {"parse": []} for r in sent)
    line = line_of(await show(fake_discord), "RetroAchievements")
    match = re.fullmatch(
        rf"\*\*RetroAchievements\*\*: set by <@{ADMIN}> <t:\d+:R>; ⚠️ failing since "
        r"<t:(\d+):f>: key rejected",
        line,
    )
    assert match, line
    assert abs(int(match[1]) - clock.now()) < 2 * 3600

    await clock.advance(DAY)
    assert len(fake_ra.requests) == 2
    assert len(posts(fake_discord)) == 1  # still failing: told once

    fake_ra.keys = {RA_KEY}
    await clock.advance(DAY)
    assert len(fake_ra.requests) == 3
    assert [title for title, _ in posts(fake_discord)] == [
        "RetroAchievements credentials failing",
        "RetroAchievements credentials working again",
    ]
    assert "failing" not in line_of(await show(fake_discord), "RetroAchievements")
    await clock.advance(2 * DAY)
    assert len(posts(fake_discord)) == 2
    assert all(r.get("y") != "elsewhere-key" for r in fake_ra.requests)


async def test_saving_again_clears_what_the_checks_found(bot, fake_discord, fake_ra):
    """A failing credential saved anew is no longer shown failing, and is due a day later."""
    bad = {"username": "mod", "api_key": "bad-key-0000"}
    await bot.store.put_credential(GUILD_ID, None, RA, bad, set_by=ADMIN)
    clock = await on_clock(bot)
    await clock.advance(DAY + 60)
    assert "failing since" in line_of(await show(fake_discord), "RetroAchievements")

    await bot.store.put_credential(GUILD_ID, None, RA, RA_GOOD, set_by=ADMIN)
    assert "failing" not in line_of(await show(fake_discord), "RetroAchievements")
    (health,) = await bot.store.list_credential_health(GUILD_ID)
    assert (health.checked_at, health.failing_since, health.reported) == (None, None, False)


async def test_an_unanswering_provider_is_told_only_after_three_checks(bot, fake_discord, fake_ra):
    """503 at every check: nothing posted nor shown for two days, then once, as not answering;
    its recovery is told too."""
    await bot.store.put_credential(GUILD_ID, None, RA, RA_GOOD, set_by=ADMIN)
    clock = await on_clock(bot)
    fake_ra.fail_next, fake_ra.fail_status = 1_000_000, 503
    await clock.advance(DAY + 60)
    await clock.advance(DAY)
    assert posts(fake_discord) == []
    assert "failing" not in line_of(await show(fake_discord), "RetroAchievements")
    await clock.advance(DAY)
    (post,) = posts(fake_discord)
    assert "RetroAchievements is not answering" in post[1]
    assert "RetroAchievements is not answering" in line_of(
        await show(fake_discord), "RetroAchievements"
    )
    fake_ra.fail_next = 0
    await clock.advance(DAY)
    assert posts(fake_discord)[-1][0] == "RetroAchievements credentials working again"


async def test_a_rejected_whmcs_login_is_not_tried_again_until_saved(bot, fake_discord, fake_whmcs):
    """WHMCS bans the bot's IP after three failed logins: one rejected check, then no request
    with that credential for days, and show says so; saving it again checks it again."""
    wrong = {"url": fake_whmcs.url, **WHMCS_GOOD, "secret": "SecretWrong0123456789"}
    await bot.store.put_credential(GUILD_ID, None, WH, wrong, set_by=ADMIN)
    clock = await on_clock(bot)
    await clock.advance(DAY + 60)
    assert len(fake_whmcs.requests) == 1
    (post,) = posts(fake_discord)
    assert "key rejected" in post[1]
    assert "will not check it again until it is saved anew" in post[1]
    await clock.advance(5 * DAY)
    assert len(fake_whmcs.requests) == 1
    line = line_of(await show(fake_discord), "WHMCS")
    assert line.endswith("key rejected (not checked again until saved)")
    assert "SecretWrong0123456789" not in post[1] + line

    await bot.store.put_credential(
        GUILD_ID, None, WH, {"url": fake_whmcs.url, **WHMCS_GOOD}, set_by=ADMIN
    )
    assert "failing" not in line_of(await show(fake_discord), "WHMCS")
    # Saved (real time) days before the test's clock: due at its next look.
    await clock.advance(3600)
    assert len(fake_whmcs.requests) == 2
    assert fake_whmcs.requests[-1]["secret"] == WHMCS_GOOD["secret"]
    assert len(posts(fake_discord)) == 1  # fixed by saving: nothing more to tell


async def test_members_keys_are_checked_spaced_out_and_named_without_a_ping(
    bot, fake_discord, fake_tb
):
    """Three members' own keys due together are checked a minute apart, not at once; the one
    TeamBattles rejects is posted naming its member, and show counts it."""
    for user, n in ((ALICE, 1), (BOB, 2), (CAROL, 3)):
        await bot.store.put_credential(GUILD_ID, user, TB, {"api_key": tb_key(n)}, set_by=user)
    del fake_tb.keys[tb_key(2)]
    clock = await on_clock(bot)
    await clock.advance(DAY)
    assert len(fake_tb.requests) == 1
    await clock.advance(30)
    assert len(fake_tb.requests) == 1
    await clock.advance(30)
    assert len(fake_tb.requests) == 2
    await clock.advance(60)
    assert len(fake_tb.requests) == 3

    (post,) = posts(fake_discord)
    assert post[1].startswith(f"<@{BOB}>'s own **TeamBattles** key is failing since <t:")
    assert "`/ticketaccount link provider:teambattles`" in post[1]
    assert line_of(await show(fake_discord), "TeamBattles").endswith(
        "3 member(s) linked their own; 1 of them failing"
    )
    await bot.store.forget_member(GUILD_ID, BOB)
    assert "failing" not in line_of(await show(fake_discord), "TeamBattles")


async def test_a_failure_the_log_channel_did_not_get_is_posted_at_the_next_check(
    bot, fake_discord, fake_ra
):
    """The log channel refuses the post: the next check tries again, once it works, once."""
    await bot.store.put_credential(GUILD_ID, None, RA, RA_GOOD, set_by=ADMIN)
    fake_ra.keys = set()
    clock = await on_clock(bot)
    fake_discord.forbidden_channels.add(LOG)
    await clock.advance(DAY + 60)
    assert posts(fake_discord) == []
    fake_discord.forbidden_channels.discard(LOG)
    await clock.advance(DAY)
    await clock.advance(DAY)
    assert [title for title, _ in posts(fake_discord)] == ["RetroAchievements credentials failing"]


@pytest.fixture
def german_guild(fake_discord) -> None:
    """The guild's language is German (requested before `bot`: the bot reads it on connect)."""
    fake_discord.guilds[GUILD_ID].preferred_locale = "de"


async def test_posts_are_in_the_guilds_language(german_guild, bot, fake_discord, fake_ra):
    """A German server gets its notices in German."""
    await bot.store.put_credential(GUILD_ID, None, RA, RA_GOOD, set_by=ADMIN)
    fake_ra.keys = set()
    clock = await on_clock(bot)
    await clock.advance(DAY + 60)
    ((title, text),) = posts(fake_discord)
    assert title == "Zugangsdaten für RetroAchievements fehlerhaft"
    assert "Schlüssel abgelehnt" in text
    assert "`/ticketconfig einrichten anbieter:retroachievements`" in text


# -- the store, on both backends ---------------------------------------------------------------

GUILD, OTHER_GUILD, MEMBER = 1001, 2002, 42
SECRET = {"api_key": "k3y-health-STAYS-SEALED"}


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request, tmp_path) -> AsyncIterator[tuple[Store, Any]]:
    """An open store of each kind, and a function counting a table's rows from outside it."""
    key = os.urandom(32)
    if request.param == "sqlite":
        path = tmp_path / "state" / "ticketlens.db"
        store: Store = await SqliteStore.open(path, Sealer(key))

        async def count(table: str) -> int:
            with contextlib.closing(sqlite3.connect(path)) as raw:
                return int(raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608

    else:
        server: PgServer = request.getfixturevalue("pg_server")
        url = await server.create_schema()
        store = await PostgresStore.open(url, Sealer(key))

        async def count(table: str) -> int:
            conn = await asyncpg.connect(url)
            try:
                return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
            finally:
                await conn.close()

    yield store, count
    await store.close()


def failing(health: CredentialHealth, at: datetime) -> CredentialHealth:
    return replace(
        health, checked_at=at, failing_since=at, reason="rejected", reported=True, stopped=True
    )


async def test_a_health_row_belongs_to_one_save_of_its_credential(backend):
    """Stored and read back; saving the credential again clears it and refuses a write meant
    for the old one; deleting the credential deletes it."""
    store, count = backend
    await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=1)
    (fresh,) = await store.list_credential_health(GUILD)
    assert (fresh.guild_id, fresh.user_id, fresh.provider) == (GUILD, None, "zendesk")
    assert fresh.checked_at is None
    assert not fresh.reported
    assert not fresh.stopped
    at = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert await store.put_credential_health(failing(fresh, at))
    (stored,) = await store.list_credential_health()
    assert stored == failing(fresh, at)

    await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=2)
    (again,) = await store.list_credential_health(GUILD)
    assert again.checked_at is None
    assert not await store.put_credential_health(failing(fresh, at))  # about the old save
    assert (await store.list_credential_health(GUILD))[0].checked_at is None
    assert await store.put_credential_health(failing(again, at))

    assert await store.delete_credential(GUILD, None, "zendesk")
    assert await store.list_credential_health(GUILD) == []
    assert await count("credential_health") == 0
    assert not await store.put_credential_health(failing(again, at))  # deleted: not written
    assert await count("credential_health") == 0


async def test_health_rows_go_with_the_members_and_the_guilds_data(backend):
    """forget_member deletes the member's rows only; forget_guild every row of the guild, and
    no other guild's."""
    store, count = backend
    at = datetime(2026, 5, 1, tzinfo=UTC)
    for guild, user in ((GUILD, None), (GUILD, MEMBER), (OTHER_GUILD, None)):
        await store.put_credential(guild, user, "zendesk", SECRET, set_by=1)
    for health in await store.list_credential_health():
        assert await store.put_credential_health(failing(health, at))
    assert await count("credential_health") == 3

    await store.forget_member(GUILD, MEMBER)
    assert await count("credential_health") == 2
    await store.forget_guild(GUILD)
    assert await count("credential_health") == 1
    (left,) = await store.list_credential_health()
    assert (left.guild_id, left.failing_since) == (OTHER_GUILD, at)
    assert await store.guild_ids() == {OTHER_GUILD}


async def test_a_health_row_with_a_foreign_reason_is_refused(backend):
    """Only the check's own reason codes are stored (never an upstream message)."""
    store, _ = backend
    await store.put_credential(GUILD, None, "zendesk", SECRET, set_by=1)
    (fresh,) = await store.list_credential_health(GUILD)
    at = datetime(2026, 5, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="reason"):
        await store.put_credential_health(replace(failing(fresh, at), reason="Invalid IP 1.2.3.4"))
