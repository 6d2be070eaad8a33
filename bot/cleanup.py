"""
Forgetting the guilds the bot was removed from while it was offline.

Removal is normally seen live: GUILD_DELETE without `unavailable` (`TicketLensBot.on_guild_remove`)
deletes the guild's data at once. A removal while no process held the guild's shard sends no
event ever, so once per process start, after the start is complete, `forget_departed_guilds`
compares what is stored with what this process now holds. Its rules, and why each exists:

* Only after a complete start (discord.py's `on_ready`: every shard of this process sent READY
  and its guild list was received or timed out). READY lists every guild of a shard, available
  or not, so only then is "not held" a fact rather than "not heard about yet".
* A guild that is held but unavailable (an outage: READY lists it, no GUILD_CREATE came, or a
  GUILD_DELETE with `unavailable`) counts as held: an outage must never delete data.
* Only guilds of this process's own shards (`(guild_id >> 22) % shard_count`): with several
  processes each holds only its shards' guilds, and every other guild looks absent from here.
* Once per process, not on every reconnect: a resumed session changes nothing, and a full
  re-identify is covered by the live events from then on (the caller keeps the flag).
* Whether a guild is held is asked again just before each deletion, so a guild the bot joins
  again meanwhile keeps its data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from bot.store import Store

log = logging.getLogger(__name__)


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord sends a guild's events to (its documented sharding formula)."""
    return (guild_id >> 22) % shard_count


async def forget_departed_guilds(
    store: Store,
    *,
    shard_count: int,
    shard_ids: Collection[int],
    holds: Callable[[int], bool],
) -> int:
    """
    Delete the data of every stored guild of `shard_ids` (out of `shard_count`) that this
    process does not hold (`holds(guild_id)`: true for every guild it holds, unavailable ones
    included). Call it only once the process's start is complete (see the module's
    docstring). Logs one line with the count, and returns it.
    """
    mine = set(shard_ids)
    # The store first, then what is held: a guild that has stored data was held when it was
    # written, and stays held until a GUILD_DELETE (which forgets it anyway).
    stored = await store.guild_ids()
    departed = sorted(
        guild_id
        for guild_id in stored
        if shard_of(guild_id, shard_count) in mine and not holds(guild_id)
    )
    forgotten = 0
    for guild_id in departed:
        if holds(guild_id):  # joined again while an earlier one was being deleted
            continue
        await store.forget_guild(guild_id)
        forgotten += 1
    log.info("forgot %d guild(s) removed while offline", forgotten)
    return forgotten
