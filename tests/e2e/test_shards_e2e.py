"""
Two real bot processes splitting the shards over one PostgreSQL database (`python -m bot`).

Process A runs shard 0 of 2 and process B shard 1, against one loopback Discord and one
PostgreSQL. Each guild is configured through the form in the process that holds it; a lookup in
each guild is answered by exactly that process; only A syncs commands. Then both restart with the
shards swapped, and each reads at once the credentials the other one stored.
"""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.retroachievements import FakeRetroAchievements, ra_ticket
from tests.pg import PgServer

from .conftest import APPLICATION_ID, BOT_USER_ID, FAKE_TOKEN, OWNER_ID
from .fake_discord import MANAGE_GUILD, FakeDiscord, FakeGuild, shard_of
from .test_bot_e2e import (
    RA,
    START_TIMEOUT_S,
    BotProcess,
    assert_mentions_off,
    final_message,
    start_bot,
    text_of,
)

#: Guild ids on shard 0 and shard 1 of 2 (Discord: `(guild_id >> 22) % shard_count`).
GUILD_A, GUILD_B = 3100, (1 << 22) + 3101
CHANNELS = {GUILD_A: 3200, GUILD_B: 3201}
API_KEY = "RAKEY-shards-" + secrets.token_hex(10)
SECRET_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


async def configure(fake: FakeDiscord, guild_id: int) -> str:
    """An admin fills `/ticketconfig set provider:retroachievements` in `guild_id`."""
    where: dict[str, Any] = {
        "guild_id": guild_id,
        "channel_id": CHANNELS[guild_id],
        "permissions": MANAGE_GUILD,
        "user_id": OWNER_ID,
    }
    opened = await fake.send_interaction("ticketconfig set", {"provider": RA}, **where)
    await fake.wait_for_response(opened, timeout=10)
    submit = await fake.send_modal_submit(
        f"ticketlens:config:{RA}", {"username": "mod", "api_key": API_KEY}, **where
    )
    return text_of((await fake.wait_for_followups(submit, timeout=15))[0])


async def look_up(fake: FakeDiscord, guild_id: int, ticket_id: int) -> tuple[int | None, str]:
    """A member looks a ticket up in `guild_id`: the shard that got it, and the answer's
    title (or its whole text when it is not a ticket)."""
    inter = await fake.send_interaction(
        f"ticket {RA}",
        {"id": ticket_id},
        guild_id=guild_id,
        channel_id=CHANNELS[guild_id],
        permissions=0,
        user_id=900,
    )
    message = await final_message(fake, inter)
    embeds = message.get("embeds") or []
    answer = str(embeds[0].get("title")) if embeds else text_of(message)
    accepted = [cb for cb in inter.callbacks if cb.status < 300]
    assert len(accepted) == 1, "answered by exactly one process"
    return inter.shard_id, answer


async def start_pair(
    fake: FakeDiscord, ra: FakeRetroAchievements, folder: Path, url: str, order: tuple[str, str]
) -> dict[int, BotProcess]:
    """Two processes, `order[0]` running shard 0 and `order[1]` shard 1; both ready."""
    processes = {
        shard: start_bot(
            fake,
            ra.url,
            folder / name,
            DATABASE_URL=url,
            SECRET_KEY=SECRET_KEY,
            SHARD_COUNT="2",
            SHARD_IDS=str(shard),
        )
        for shard, name in enumerate(order)
    }
    try:
        await fake.wait_for_shards_ready([0, 1], START_TIMEOUT_S, shard_count=2)
    except TimeoutError:
        logs = "\n".join(p.stderr[-2000:] for p in processes.values())
        for process in processes.values():
            process.proc.kill()
        pytest.fail(f"the shards never became ready\n{logs}")
    return processes


async def stop_all(processes: dict[int, BotProcess]) -> None:
    for process in processes.values():
        code = await process.stop()
        assert code == 0, f"exit {code}\n{process.stderr[-3000:]}"


@pytest.mark.asyncio(loop_scope="function")
async def test_two_processes_split_the_shards_over_one_postgresql(
    pg_server: PgServer, tmp_path: Path
):
    assert (shard_of(GUILD_A, 2), shard_of(GUILD_B, 2)) == (0, 1)
    fake = FakeDiscord(
        token=FAKE_TOKEN,
        application_id=APPLICATION_ID,
        bot_user_id=BOT_USER_ID,
        owner_id=OWNER_ID,
        guilds=[
            FakeGuild(id=gid, name=f"Guild {gid}", owner_id=OWNER_ID, channels={cid: "general"})
            for gid, cid in CHANNELS.items()
        ],
        callback_deadline=3.0,
    )
    ra = FakeRetroAchievements(keys={API_KEY})
    ra.tickets[71] = ra_ticket(71)
    ra.tickets[72] = ra_ticket(72)
    url = pg_server.url(await pg_server.create_database())
    await fake.start()
    await ra.start()
    try:
        first = await start_pair(fake, ra, tmp_path, url, ("a", "b"))
        try:
            for guild in (GUILD_A, GUILD_B):
                assert "Saved" in await configure(fake, guild)
            assert await look_up(fake, GUILD_A, 71) == (0, text_of_ticket(71))
            assert await look_up(fake, GUILD_B, 72) == (1, text_of_ticket(72))
            await removal_seen_without_a_restart(fake, ra, tmp_path, url, first[0])
        finally:
            await stop_all(first)
        assert re.search(r"synced \d+ application commands", first[0].stderr)
        assert not re.search(r"synced \d+ application commands", first[1].stderr)
        assert "synced by the process holding shard 0" in first[1].stderr
        assert len(fake.find("PUT", r"/applications/\d+/commands")) == 1

        # Swapped: B now holds shard 0 (GUILD_A, configured through A) and the reverse.
        swapped = await start_pair(fake, ra, tmp_path, url, ("b", "a"))
        try:
            shard, answer = await look_up(fake, GUILD_A, 71)
            assert (shard, answer) == (0, text_of_ticket(71))
            shard, answer = await look_up(fake, GUILD_B, 72)
            assert (shard, answer) == (1, text_of_ticket(72))
        finally:
            await stop_all(swapped)
        assert_mentions_off(fake)
        for process in (*first.values(), *swapped.values()):
            assert API_KEY not in process.stdout + process.stderr
    finally:
        await ra.stop()
        await fake.stop()
    assert not fake.errors, "the fake itself failed:\n" + "\n".join(fake.errors)


async def removal_seen_without_a_restart(
    fake: FakeDiscord, ra: FakeRetroAchievements, folder: Path, url: str, running: BotProcess
) -> None:
    """
    A third process C identifies for shard 0 too, as in a rolling restart (Discord sends a
    shard's events to its newest session), and an admin removes GUILD_A's credentials through
    it. Once C has gone, the next lookup in GUILD_A reaches process A again, which has run all
    along: it sees the removal at once (and A's ticket cache cannot hide it).
    """
    before = fake.connection_for(GUILD_A)
    third = start_bot(
        fake,
        ra.url,
        folder / "c",
        DATABASE_URL=url,
        SECRET_KEY=SECRET_KEY,
        SHARD_COUNT="2",
        SHARD_IDS="0",
    )
    try:
        await fake.wait_until(
            lambda: True if fake.connection_for(GUILD_A) not in (None, before) else None,
            START_TIMEOUT_S,
            "the third process holding shard 0",
        )
        removed = await fake.send_interaction(
            "ticketconfig remove",
            {"provider": RA},
            guild_id=GUILD_A,
            channel_id=CHANNELS[GUILD_A],
            permissions=MANAGE_GUILD,
            user_id=OWNER_ID,
        )
        assert "deleted" in text_of(await final_message(fake, removed))
    finally:
        assert await third.stop() == 0, third.stderr[-3000:]
    await fake.wait_until(
        lambda: True if fake.connection_for(GUILD_A) is before else None,
        START_TIMEOUT_S,
        "shard 0 back to process A",
    )
    assert running.proc.poll() is None, "process A ran all along"
    shard, answer = await look_up(fake, GUILD_A, 71)
    assert shard == 0
    assert "isn't set up here" in answer
    assert "Saved" in await configure(fake, GUILD_A)


def text_of_ticket(ticket_id: int) -> str:
    """What must lead the answer's text: the ticket's title line."""
    return f"Ticket #{ticket_id}: Sample Cheevo"
