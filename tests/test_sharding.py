"""
Sharding: SHARD_COUNT and SHARD_IDS, which process syncs the commands, and forgetting the guilds
the bot was removed from while it was offline (`bot.cleanup`), directly and through the real
bot against the loopback Discord.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot import __main__ as entry
from bot.app import APPLICATION_META, TicketLensBot
from bot.cleanup import forget_departed_guilds, shard_of
from bot.crypto import Sealer, load_or_create_key
from bot.settings import Settings, describe_validation_error, parse_shard_ids
from bot.store import SqliteStore
from tests.e2e.conftest import APPLICATION_ID, BOT_USER_ID, FAKE_TOKEN, GUILD_ID, OWNER_ID
from tests.e2e.fake_discord import FakeDiscord, FakeGuild
from tests.harness import running_bot

RA = "retroachievements"
ADMIN = 31
#: Guild ids on shard 0 and shard 1 of two (`(id >> 22) % 2`).
SHARD0_GONE = (2 << 22) + 7
SHARD1_HELD = (1 << 22) + 5
SHARD1_GONE = (3 << 22) + 9


def _settings(**env: Any) -> Settings:
    return Settings(DISCORD_TOKEN="x.y.z", **env)


# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("0-3", (0, 1, 2, 3)),
        ("0,2", (0, 2)),
        ("0-1,4", (0, 1, 4)),
        (" 5 , 0-1 ", (0, 1, 5)),
        ("2,2,1-2", (1, 2)),  # duplicates and overlaps once, sorted
        ("3-3", (3,)),
    ],
)
def test_shard_ids_take_ranges_lists_and_both(text, ids):
    """SHARD_IDS: ranges (ends included), lists, both; sorted and without duplicates."""
    assert parse_shard_ids(text) == ids
    settings = _settings(SHARD_COUNT=8, SHARD_IDS=text)
    assert settings.shard_ids == ids
    assert settings.shard_count == 8


@pytest.mark.parametrize("text", ["a", "0-", "-1", "1,,2", "0..3", "1-0", "٣", "0;1"])
def test_malformed_shard_ids_are_named(text):
    """Anything else is a setting error naming SHARD_IDS, never a traceback."""
    with pytest.raises(ValidationError) as caught:
        _settings(SHARD_COUNT=8, SHARD_IDS=text)
    assert describe_validation_error(caught.value).startswith("SHARD_IDS: ")


@pytest.mark.parametrize("text", ["0-4", "4", "1,7"])
def test_a_shard_id_out_of_range_is_refused(text):
    """Every id must be below SHARD_COUNT."""
    with pytest.raises(ValidationError) as caught:
        _settings(SHARD_COUNT=4, SHARD_IDS=text)
    line = describe_validation_error(caught.value)
    assert line.startswith("SHARD_IDS: ")
    assert "0 to SHARD_COUNT - 1 (3)" in line


def test_shard_ids_without_shard_count_is_refused():
    """A process cannot tell its guilds' shards without the total."""
    with pytest.raises(ValidationError) as caught:
        _settings(SHARD_IDS="0")
    assert "SHARD_COUNT" in describe_validation_error(caught.value)


@pytest.mark.parametrize("count", ["0", "-1", "two"])
def test_a_bad_shard_count_is_named(count):
    with pytest.raises(ValidationError) as caught:
        _settings(SHARD_COUNT=count)
    assert describe_validation_error(caught.value).startswith("SHARD_COUNT: ")


def test_unset_and_blank_mean_one_process_with_discords_count(monkeypatch):
    """Unset (or `.env.example`'s blank values): Discord's recommended count, every shard here;
    SHARD_COUNT alone: every shard of that count here. Read from the environment as text."""
    assert (_settings().shard_count, _settings().shard_ids) == (None, None)
    blank = _settings(SHARD_COUNT="", SHARD_IDS="")
    assert (blank.shard_count, blank.shard_ids) == (None, None)
    alone = _settings(SHARD_COUNT="3")
    assert (alone.shard_count, alone.shard_ids) == (3, None)
    monkeypatch.setenv("SHARD_COUNT", "4")
    monkeypatch.setenv("SHARD_IDS", "0-1,3")
    from_env = _settings()
    assert (from_env.shard_count, from_env.shard_ids) == (4, (0, 1, 3))


def test_shard_ids_without_shard_count_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    """Through `bot.__main__`: one line on stderr, exit 2, before anything is created."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("DISCORD_", "SECRET_", "SHARD_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DISCORD_TOKEN", "x.y.z")
    monkeypatch.setenv("SHARD_IDS", "0-1")
    assert entry.main() == entry.EXIT_CONFIG
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "SHARD_IDS" in err[0]
    assert "SHARD_COUNT" in err[0]
    assert not (tmp_path / "data").exists()


# -- which process syncs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "syncs"),
    [
        ({}, True),
        ({"SHARD_COUNT": "4"}, True),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "0-1"}, True),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "2-3"}, False),
    ],
)
async def test_only_the_process_holding_shard_0_syncs(env, syncs, tmp_path, fetcher, redactor):
    settings = _settings(DATA_DIR=str(tmp_path), **env)
    store = await SqliteStore.open(tmp_path / "t.db", Sealer(os.urandom(32)))
    try:
        bot = TicketLensBot(settings=settings, store=store, upstream=fetcher, redactor=redactor)
        assert bot.syncs_commands is syncs
        assert bot.shard_count == settings.shard_count
        assert bot.shard_ids == (list(settings.shard_ids) if settings.shard_ids else None)
    finally:
        await store.close()


async def test_a_process_without_shard_0_leaves_the_sync_to_it(fake_discord, tmp_path, caplog):
    """Shard 1 of 2 here: the commands are not synced (nor their hash stored)."""
    caplog.set_level(logging.INFO, logger="bot")
    async with running_bot(
        fake_discord, tmp_path, settings={"SHARD_COUNT": 2, "SHARD_IDS": "1"}
    ) as bot:
        assert not bot.synced_this_start
        assert fake_discord.find("PUT", r"/applications/\d+/commands") == []
        assert await bot.store.get_meta("command_hash:global") is None
    assert "synced by the process holding shard 0" in caplog.text


# -- the cleanup on its own ---------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path):
    opened = await SqliteStore.open(tmp_path / "state" / "t.db", Sealer(os.urandom(32)))
    yield opened
    await opened.close()


async def _keep_something(store, guild_id: int) -> None:
    await store.put_credential(guild_id, None, RA, {"api_key": "k"}, set_by=ADMIN)


async def test_cleanup_forgets_only_unheld_guilds_of_its_own_shards(store, caplog):
    """Of two shards this process runs shard 0: a stored shard-0 guild it does not hold is
    forgotten; one it holds (available or not: `holds` says so for both) is kept, and so is
    every guild of shard 1, which another process holds."""
    caplog.set_level(logging.INFO, logger="bot")
    assert shard_of(GUILD_ID, 2) == 0
    assert shard_of(SHARD0_GONE, 2) == 0
    assert shard_of(SHARD1_GONE, 2) == 1
    for guild in (GUILD_ID, SHARD0_GONE, SHARD1_GONE):
        await _keep_something(store, guild)
    held = {GUILD_ID}

    forgotten = await forget_departed_guilds(
        store, shard_count=2, shard_ids=[0], holds=held.__contains__
    )

    assert forgotten == 1
    assert await store.guild_ids() == {GUILD_ID, SHARD1_GONE}
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.cleanup"]
    assert lines == ["forgot 1 guild(s) removed while offline"]


async def test_cleanup_forgets_every_kind_of_row(store):
    """A guild with only history, or only a setting, or only audit, is stored data too."""
    await store.record_lookup(11, 5, RA, "1")  # still in memory: counts as well
    await store.set_guild_setting(12, "staff_role", "7")
    await store.add_audit(13, ADMIN, "set", "RetroAchievements")
    assert (
        await forget_departed_guilds(store, shard_count=1, shard_ids=[0], holds=set().__contains__)
        == 3
    )
    assert await store.guild_ids() == set()


async def test_cleanup_keeps_a_guild_joined_again_meanwhile(store):
    """Held again by the time its turn comes (the bot re-joined during the cleanup): kept."""
    for guild in (11, 12):
        await _keep_something(store, guild)
    held: set[int] = set()
    real_forget = store.forget_guild

    async def forget_and_rejoin(guild_id: int) -> int:
        held.add(12)  # while 11 is being deleted, the bot is added to 12 again
        return await real_forget(guild_id)

    store.forget_guild = forget_and_rejoin
    assert (
        await forget_departed_guilds(store, shard_count=1, shard_ids=[0], holds=held.__contains__)
        == 1
    )
    assert await store.guild_ids() == {12}


async def test_cleanup_with_nothing_to_forget_says_so(store, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    await _keep_something(store, GUILD_ID)
    assert (
        await forget_departed_guilds(store, shard_count=1, shard_ids=[0], holds=lambda _: True) == 0
    )
    assert "forgot 0 guild(s) removed while offline" in caplog.text


# -- the cleanup in the real bot ----------------------------------------------------------------


class OutageDiscord(FakeDiscord):
    """The loopback Discord with some guilds in an outage: listed in READY (unavailable), their
    GUILD_CREATE says `unavailable` too, as Discord's does during one."""

    def __init__(self, *, outage: set[int], **options: Any) -> None:
        super().__init__(**options)
        self.outage = outage

    def guild_create_payload(self, guild: FakeGuild) -> dict[str, Any]:
        if guild.id in self.outage:
            return {"id": str(guild.id), "unavailable": True}
        return super().guild_create_payload(guild)


OUTAGE_GUILD = 1500


@pytest.fixture
async def outage_discord():
    fake = OutageDiscord(
        outage={OUTAGE_GUILD},
        token=FAKE_TOKEN,
        application_id=APPLICATION_ID,
        bot_user_id=BOT_USER_ID,
        owner_id=OWNER_ID,
        guilds=[
            FakeGuild(
                id=GUILD_ID, name="Test Guild", owner_id=OWNER_ID, channels={2000: "general"}
            ),
            FakeGuild(id=OUTAGE_GUILD, name="Down", owner_id=OWNER_ID, channels={2001: "general"}),
        ],
    )
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    assert not fake.errors, "the fake itself failed:\n" + "\n".join(fake.errors)


async def _stored(data: Path, *guilds: int) -> None:
    """Something stored for each guild, in the database the harness's bot opens in `data`."""
    key = load_or_create_key(None, data / "secret.key")
    store = await SqliteStore.open(data / "ticketlens.db", Sealer(key))
    try:
        for guild in guilds:
            await _keep_something(store, guild)
    finally:
        await store.close()


async def test_a_guild_removed_while_offline_is_forgotten_after_start(
    outage_discord, tmp_path, caplog
):
    """One process, one shard: a stored guild the bot is no longer in is forgotten once the
    start is complete; the guild it is in, and the one in an outage, keep their data."""
    caplog.set_level(logging.INFO, logger="bot")
    gone = 1700
    await _stored(tmp_path, GUILD_ID, OUTAGE_GUILD, gone)
    async with running_bot(outage_discord, tmp_path) as bot:
        await asyncio.wait_for(bot.departed_checked.wait(), 5)
        outage = bot.get_guild(OUTAGE_GUILD)
        assert outage is not None
        assert outage.unavailable
        assert await bot.store.guild_ids() == {GUILD_ID, OUTAGE_GUILD}
        assert await bot.store.get_credential(gone, None, RA) is None
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.cleanup"]
    assert lines == ["forgot 1 guild(s) removed while offline"]


async def test_a_database_of_another_application_loses_nothing(outage_discord, tmp_path, caplog):
    """The same DATABASE_URL given to another bot by mistake: none of the first bot's guilds
    looks "removed" to it, so nothing is deleted, and the log says why."""
    caplog.set_level(logging.INFO, logger="bot")
    gone = 1701
    await _stored(tmp_path, GUILD_ID, gone)
    key = load_or_create_key(None, tmp_path / "secret.key")
    store = await SqliteStore.open(tmp_path / "ticketlens.db", Sealer(key))
    try:
        await store.set_meta(APPLICATION_META, "999")
    finally:
        await store.close()
    async with running_bot(outage_discord, tmp_path) as bot:
        await asyncio.wait_for(bot.departed_checked.wait(), 5)
        assert gone in await bot.store.guild_ids()
    assert any("used by application 999" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.name == "bot.cleanup"]


async def test_the_first_start_records_its_application(fake_discord, tmp_path):
    """So a later start of another application on this database is recognised."""
    async with running_bot(fake_discord, tmp_path) as bot:
        await asyncio.wait_for(bot.departed_checked.wait(), 5)
        assert await bot.store.get_meta(APPLICATION_META) == str(bot.application_id)


async def test_the_cleanup_runs_once_per_process_not_on_each_ready(fake_discord, tmp_path, caplog):
    """A full reconnect (a new session, READY again) does not run it again."""
    caplog.set_level(logging.INFO, logger="bot")
    async with running_bot(fake_discord, tmp_path) as bot:
        await asyncio.wait_for(bot.departed_checked.wait(), 5)
        await bot.store.put_credential(1800, None, RA, {"api_key": "k"}, set_by=ADMIN)
        ready = asyncio.Event()

        async def on_ready() -> None:
            ready.set()

        bot.add_listener(on_ready)
        await fake_discord.invalidate_session(resumable=False)
        await asyncio.wait_for(ready.wait(), 10)
        await asyncio.sleep(0.1)  # the bot's own on_ready ran alongside
        assert 1800 in await bot.store.guild_ids()
    assert sum("connected as" in r.getMessage() for r in caplog.records) == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.cleanup"]
    assert len(lines) == 1


# -- two shards, this process one of them (the loopback Discord serves each its guilds) ---------


@pytest.fixture
async def two_shard_discord():
    """Guild 1000 on shard 0 of two, SHARD1_HELD on shard 1."""
    fake = FakeDiscord(
        token=FAKE_TOKEN,
        application_id=APPLICATION_ID,
        bot_user_id=BOT_USER_ID,
        owner_id=OWNER_ID,
        guilds=[
            FakeGuild(id=GUILD_ID, name="Zero", owner_id=OWNER_ID, channels={2000: "general"}),
            FakeGuild(id=SHARD1_HELD, name="One", owner_id=OWNER_ID, channels={2001: "general"}),
        ],
    )
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    assert not fake.errors, "the fake itself failed:\n" + "\n".join(fake.errors)


async def test_a_process_of_shard_0_gets_and_forgets_only_its_shards_guilds(
    two_shard_discord, tmp_path
):
    """SHARD_COUNT=2, SHARD_IDS=0: the bot holds only shard 0's guild, forgets only the shard-0
    guild it was removed from, and keeps shard 1's guilds (held or not: another process's)."""
    assert shard_of(SHARD1_HELD, 2) == 1
    await _stored(tmp_path, GUILD_ID, SHARD0_GONE, SHARD1_HELD, SHARD1_GONE)
    settings = {"SHARD_COUNT": 2, "SHARD_IDS": "0"}
    async with running_bot(two_shard_discord, tmp_path, settings=settings) as bot:
        await asyncio.wait_for(bot.departed_checked.wait(), 5)
        assert [shard for shard, _ in bot.shard_latencies()] == [0]
        assert [guild.id for guild in bot.guilds] == [GUILD_ID]
        assert await bot.store.guild_ids() == {GUILD_ID, SHARD1_HELD, SHARD1_GONE}
    identified = [c.identify["shard"] for c in two_shard_discord.gateway_connections if c.identify]
    assert identified == [[0, 2]]
