"""A clock tests move by hand, for pollers that would otherwise sleep for minutes."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Sleeper:
    deadline: float
    task: asyncio.Task[object] | None
    woken: asyncio.Future[None]


@dataclass
class FakeClock:
    """
    `now()` and `sleep()` (the `bot.clock.Clock` protocol) on a time that only `advance` moves.

    `advance(seconds)` wakes every sleeper whose time has come, in deadline order, each at its
    own moment, and returns once each woken task is asleep again (or done), so a test sees the
    whole poll that the wake-up started: its requests, its edits, its notices.
    """

    time: float = 1_800_000_000.0
    settle_timeout_s: float = 10.0
    _sleepers: list[_Sleeper] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def now(self) -> float:
        """The fake time, seconds since the epoch."""
        return self.time

    async def sleep(self, seconds: float) -> None:
        """Wait until `advance` has moved the time `seconds` on (at least one loop turn)."""
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sleeper = _Sleeper(self.time + max(0.0, seconds), asyncio.current_task(), woken)
        self._sleepers.append(sleeper)
        self._notify()
        try:
            if seconds <= 0:
                sleeper.woken.set_result(None)
            await woken
        finally:
            if sleeper in self._sleepers:
                self._sleepers.remove(sleeper)
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def sleeping(self) -> int:
        """How many tasks wait on this clock."""
        return sum(1 for s in self._sleepers if not s.woken.done())

    async def advance(self, seconds: float) -> None:
        """Move the time on by `seconds`, waking and settling every sleeper due meanwhile."""
        target = self.time + seconds
        while True:
            due = [s for s in self._sleepers if not s.woken.done() and s.deadline <= target]
            if not due:
                break
            first = min(s.deadline for s in due)
            self.time = max(self.time, first)
            woken = [s for s in due if s.deadline <= first]
            for sleeper in woken:
                sleeper.woken.set_result(None)
            await self._settle([s.task for s in woken if s.task is not None])
        self.time = target

    async def asleep(self, count: int = 1) -> None:
        """Until at least `count` tasks wait on this clock (a task just started reaches its
        first sleep)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_timeout_s
        while self.sleeping < count:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError("no task went to sleep on the fake clock")
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=min(left, 0.05))

    async def settle(self) -> None:
        """Let every task that is not waiting on this clock get back to it (or finish)."""
        await self._settle([])

    async def _settle(self, tasks: list[asyncio.Task[object]]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_timeout_s
        while True:
            await asyncio.sleep(0)
            waiting = {s.task for s in self._sleepers if not s.woken.done()}
            if all(t.done() or t in waiting for t in tasks):
                # Give the woken tasks' follow-ups (a save after a post) a few more turns.
                for _ in range(5):
                    await asyncio.sleep(0)
                if all(t.done() or t in waiting for t in tasks):
                    return
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError("a task woken by the fake clock did not go back to sleep")
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=min(left, 0.05))
