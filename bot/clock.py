"""
Where background tasks get their time: the pollers of watches (`bot.watch`) and the credential
check (`cogs.health`). Tests give them a clock they move by hand (`tests/fakes/clock.py`), so
nothing in a test sleeps for minutes.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock", "utc_now"]


class Clock(Protocol):
    """Seconds since the epoch, and waiting."""

    def now(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """`time.time()`."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep`."""
        await asyncio.sleep(max(0.0, seconds))


def utc_now(clock: Clock) -> datetime:
    """The clock's time as an aware UTC datetime."""
    return datetime.fromtimestamp(clock.now(), UTC)
