"""The watch table on both store backends: add, list, save, delete, and with the guild."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.crypto import Sealer, load_or_create_key
from bot.pgstore import PostgresStore
from bot.store import SqliteStore, Store
from bot.storecommon import Watch
from tests.pg import PgServer

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request, tmp_path):
    """An empty store of each kind (PostgreSQL: a schema of the throwaway server)."""
    sealer = Sealer(load_or_create_key(None, tmp_path / "secret.key"))
    opened: Store
    if request.param == "sqlite":
        opened = await SqliteStore.open(tmp_path / "state" / "ticketlens.db", sealer)
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        opened = await PostgresStore.open(await server.create_schema(), sealer)
    yield opened
    await opened.close()


def watch(guild: int = 10, ref: str = "55", **changes: object) -> Watch:
    values: dict[str, object] = {
        "guild_id": guild,
        "channel_id": 20,
        "message_id": 30,
        "provider": "retroachievements",
        "kind": "ticket",
        "ref": ref,
        "state": '{"state": "Open"}',
        "added_by": 40,
        "added_at": T0,
        "last_ok_at": T0,
    }
    values.update(changes)
    return Watch(**values)  # type: ignore[arg-type]


async def test_added_watches_are_listed_with_what_was_stored(store):
    first = await store.add_watch(watch())
    second = await store.add_watch(watch(ref="g:4321", kind="feed", message_id=0))
    other = await store.add_watch(watch(guild=11))
    assert first
    assert second
    assert other
    assert len({first, second, other}) == 3
    listed = await store.list_watches(10)
    assert [(w.id, w.ref, w.kind) for w in listed] == [
        (first, "55", "ticket"),
        (second, "g:4321", "feed"),
    ]
    assert listed[0].added_at == T0
    assert listed[0].failing_since is None
    assert listed[0].thread_id == 0
    assert len(await store.list_watches()) == 3
    assert len(await store.list_watches(10)) == 2


async def test_the_same_ticket_is_watched_once_per_guild(store):
    assert await store.add_watch(watch()) is not None
    assert await store.add_watch(watch(channel_id=21, message_id=31)) is None
    assert await store.add_watch(watch(guild=11)) is not None
    assert len(await store.list_watches(10)) == 1


async def test_a_poll_is_saved_and_read_back(store):
    stored = watch()
    stored.id = await store.add_watch(stored) or 0
    stored.state = '{"state": "Resolved"}'
    stored.thread_id = 30
    stored.last_ok_at = T0 + timedelta(minutes=5)
    stored.failing_since = T0 + timedelta(minutes=10)
    assert await store.save_watch(stored)
    (again,) = await store.list_watches(10)
    assert again.state == '{"state": "Resolved"}'
    assert again.thread_id == 30
    assert again.last_ok_at == T0 + timedelta(minutes=5)
    assert again.failing_since == T0 + timedelta(minutes=10)
    assert await store.delete_watch(stored.id)
    assert not await store.save_watch(stored)  # gone: the poller drops it
    assert not await store.delete_watch(stored.id)


async def test_a_deleted_card_or_channel_takes_its_watches(store):
    card = await store.add_watch(watch())
    feed = await store.add_watch(watch(ref="g:1", kind="feed", message_id=0))
    elsewhere = await store.add_watch(watch(ref="56", channel_id=21, message_id=32))
    assert await store.delete_watches_at(20, 999) == []
    assert await store.delete_watches_at(20, 30) == [card]
    assert await store.delete_watches_at(20) == [feed]
    assert [w.id for w in await store.list_watches()] == [elsewhere]


async def test_forgetting_a_guild_deletes_its_watches(store):
    await store.add_watch(watch())
    kept = await store.add_watch(watch(guild=11))
    await store.forget_guild(10)
    assert [w.id for w in await store.list_watches()] == [kept]


async def test_rows_the_table_must_not_hold_are_refused(store):
    with pytest.raises(ValueError, match="kind"):
        await store.add_watch(watch(kind="other"))
    with pytest.raises(ValueError, match="ref"):
        await store.add_watch(watch(ref="x" * 101))
    with pytest.raises(ValueError, match="guild_id"):
        await store.add_watch(watch(guild=0))
    assert await store.list_watches() == []


async def test_a_guild_with_only_watches_left_is_still_one_with_data_stored(store):
    """Its credential removed, a guild's watches still count as its data: a bot removed while
    offline finds that guild at start-up (`bot.cleanup`) and forgetting it deletes them."""
    await store.add_watch(watch(guild=12))
    assert await store.guild_ids() == {12}
    await store.forget_guild(12)
    assert await store.guild_ids() == set()
    assert await store.list_watches(12) == []
