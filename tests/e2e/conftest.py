"""Fixtures for end-to-end tests against the loopback Discord in `fake_discord.py`."""

from collections.abc import AsyncIterator

import pytest

from .fake_discord import FakeDiscord, FakeGuild

FAKE_TOKEN = "test-token.fake.value"
GUILD_ID = 1000
CHANNEL_ID = 2000
OWNER_ID = 1
APPLICATION_ID = 4242
BOT_USER_ID = 4243


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord: guild 1000 "Test Guild" (owner 1) with text channel 2000."""
    fake = FakeDiscord(
        token=FAKE_TOKEN,
        application_id=APPLICATION_ID,
        bot_user_id=BOT_USER_ID,
        owner_id=OWNER_ID,
        guilds=[
            FakeGuild(
                id=GUILD_ID, name="Test Guild", owner_id=OWNER_ID, channels={CHANNEL_ID: "general"}
            )
        ],
    )
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    assert not fake.errors, "the fake itself failed:\n" + "\n".join(fake.errors)
