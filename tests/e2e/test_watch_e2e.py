"""
`/ticketwatch` end to end: the real bot process (`python -m bot`, as in `test_bot_e2e`) against
the loopback Discord and the fake RetroAchievements, on the real clock.

A staff member watches an open ticket, the ticket is resolved at the provider, and the card in
the channel must show it within one interval, edited in place, with exactly one notice line in a
thread started from the card; the poll after that must change nothing.

This test takes about two minutes of real time, and that is expected: WATCH_INTERVAL_MINUTES
cannot be set below 1, a new watch is first polled within one interval of being added, and
proving that no second notice follows means waiting for the next poll, one interval later. The
in-process tests (tests/test_watch.py) cover the rest on a controllable clock.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

from bot.storecommon import parse_time
from tests.fakes.retroachievements import FakeRetroAchievements, ra_ticket
from tests.test_watch import answer, resolve

from .conftest import OWNER_ID
from .fake_discord import CREATE_PUBLIC_THREADS, MANAGE_GUILD, FakeDiscord
from .test_bot_e2e import (
    API_KEY,
    CHANNELS,
    MAIN_GUILD,
    RA,
    SECRET_KEY,
    configure,
    embeds_of,
    start_bot,
    text_of,
    until,
    wait_ready,
)

CHANNEL = CHANNELS[MAIN_GUILD]
TICKET = 7301
#: Generous against the one-minute interval (the setting's minimum) and a busy machine.
DEADLINE_S = 90.0


def state_of(card: dict[str, Any]) -> str:
    """The "State" field of a card, as a reader of the channel sees it."""
    fields = {f["name"]: f["value"] for f in embeds_of(card)[0].get("fields") or []}
    return str(fields.get("State"))


def polls(ra: FakeRetroAchievements, since: int) -> list[float]:
    """When the fake provider was asked for the watched ticket (request index `since` on)."""
    return [
        t
        for r, t in zip(ra.requests[since:], ra.request_times[since:], strict=True)
        if r.get("i") == str(TICKET)
    ]


def last_poll_saved(folder: Path) -> float:
    """The watch's `last_ok_at` (written after each successful poll, after any notice it
    posted), read from the bot's own database; 0 before the watch exists."""
    uri = f"file:{folder / 'data' / 'ticketlens.db'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
        row = db.execute("SELECT last_ok_at FROM watches WHERE ref = ?", (str(TICKET),)).fetchone()
    return parse_time(row[0]).timestamp() if row else 0.0


def card_edits(fake: FakeDiscord, card_id: int) -> int:
    return len(fake.find("PATCH", rf"/channels/{CHANNEL}/messages/{card_id}$"))


async def test_a_resolved_ticket_edits_its_card_within_one_interval_with_one_notice(
    fake_discord: FakeDiscord, fake_ra: FakeRetroAchievements, tmp_path: Path
) -> None:
    """Watched as staff, resolved at the provider: the same card message shows "Resolved"
    within one interval, "Open → Resolved" is posted once in the card's thread, and the next
    poll neither edits the card nor posts again. Takes about two minutes (see the module)."""
    # Before the bot connects: it may start threads in the channel.
    fake_discord.guilds[MAIN_GUILD].bot_permissions |= CREATE_PUBLIC_THREADS
    fake_ra.keys.add(API_KEY)
    fake_ra.clock = time.time  # the bot's watch clock: both read this machine's time
    fake_ra.tickets[TICKET] = ra_ticket(TICKET)
    bot = start_bot(
        fake_discord, fake_ra.url, tmp_path, SECRET_KEY=SECRET_KEY, WATCH_INTERVAL_MINUTES="1"
    )
    try:
        await wait_ready(fake_discord, bot)
        assert "Saved" in text_of(await configure(fake_discord, MAIN_GUILD))

        inter = await fake_discord.send_interaction(
            "ticketwatch add",
            {"provider": RA, "id": str(TICKET)},
            guild_id=MAIN_GUILD,
            channel_id=CHANNEL,
            permissions=MANAGE_GUILD,
            user_id=OWNER_ID,
        )
        reply = await answer(fake_discord, inter)
        assert reply["flags"] & 64, "the answer to staff is private"
        assert "Watching" in text_of(reply)
        (card,) = fake_discord.channel_messages(CHANNEL)
        card_id = int(card["id"])
        assert embeds_of(card)[0]["title"].startswith(f"Ticket #{TICKET}")
        assert "Open" in state_of(card)
        assert not card["flags"] & 64, "the card is public"
        watched_from = len(fake_ra.requests)

        resolve(fake_ra, TICKET)

        def edited() -> dict[str, Any] | None:
            shown = fake_discord.messages.get(card_id)
            return shown if shown is not None and "Resolved" in state_of(shown) else None

        card = await fake_discord.wait_until(edited, DEADLINE_S, "card showing Resolved")
        assert card["edited_timestamp"] is not None
        assert card_edits(fake_discord, card_id) == 1
        assert [int(m["id"]) for m in fake_discord.channel_messages(CHANNEL)] == [card_id], (
            "edited in place: no second card, no notice in the channel itself"
        )
        notices = await fake_discord.wait_until(
            lambda: fake_discord.channel_messages(card_id) or None, 10.0, "notice in the thread"
        )
        assert [n["content"] for n in notices] == ["Open → Resolved"]
        thread = fake_discord.threads[card_id]
        assert thread["parent_id"] == str(CHANNEL), "a thread started from the card"

        # The next poll sees no change: it must neither edit the card nor post again.
        (first_poll, *_) = polls(fake_ra, watched_from)
        await until(lambda: len(polls(fake_ra, watched_from)) >= 2, "second poll", DEADLINE_S)
        second_poll = polls(fake_ra, watched_from)[1]
        assert second_poll > first_poll
        await until(lambda: last_poll_saved(tmp_path) >= second_poll, "second poll handled")
        assert [n["content"] for n in fake_discord.channel_messages(card_id)] == ["Open → Resolved"]
        assert card_edits(fake_discord, card_id) == 1
        assert len(fake_discord.channel_messages(CHANNEL)) == 1
        assert len(fake_discord.threads) == 1

        for post in fake_discord.find("POST", r"/channels/\d+/messages$"):
            assert post.json["allowed_mentions"]["parse"] == [], post.path
    finally:
        code = await bot.stop()
    assert code == 0, f"exit {code} after SIGTERM\n{bot.stderr[-3000:]}"
    assert "Traceback" not in bot.stderr, bot.stderr[-3000:]
