"""Shared fixtures: fake upstreams on 127.0.0.1, the shared HTTP layer around them, and a
throwaway PostgreSQL server (`tests/pg.py`) for the store tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.http import Http, make_session
from bot.redact import Redactor
from tests.e2e.conftest import fake_discord  # noqa: F401  (the loopback Discord, for command tests)
from tests.fakes.retroachievements import FakeRetroAchievements
from tests.pg import pg_server, pg_url  # noqa: F401  (a throwaway PostgreSQL, for store tests)


@pytest.fixture
async def fake_ra() -> AsyncIterator[FakeRetroAchievements]:
    """A running fake RetroAchievements API."""
    server = FakeRetroAchievements()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def redactor() -> Redactor:
    """A fresh redactor."""
    return Redactor()


@pytest.fixture
async def fetcher(redactor: Redactor) -> AsyncIterator[Http]:
    """The real HTTP layer over one real session, with short waits so tests stay fast."""
    async with make_session(2.0) as session:
        fetcher = Http(session, redactor=redactor, wait_initial_s=0.01, wait_max_s=0.05)
        yield fetcher
        await fetcher.close()  # the guarded session it may have opened for guild URLs
