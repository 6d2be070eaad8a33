"""
A fake RetroAchievements API on 127.0.0.1 that answers like the live one.

PascalCase keys, 401 `{"message": "Unauthenticated."}` for a bad key, 404
`{"error": "Ticket ID N not found"}` for a missing ticket, 200 with `RecentTickets` when `i`
is absent or not a positive integer (see docs/providers/retroachievements.md).
Knobs let a test make it slow, fail, rate-limit or send garbage; it counts every request.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import listen


def ra_ticket(ticket_id: int, **overrides: Any) -> dict[str, Any]:
    """A realistic raw (PascalCase) ticket answer."""
    ticket: dict[str, Any] = {
        "ID": ticket_id,
        "AchievementID": 98765,
        "AchievementTitle": "Sample Cheevo",
        "AchievementDesc": "Beat the first boss",
        "AchievementType": "progression",
        "Points": 10,
        "BadgeName": "012345",
        "AchievementAuthor": "SampleDev",
        "AchievementAuthorULID": "01HX0000000000000000000AAA",
        "GameID": 4321,
        "ConsoleName": "SNES/Super Famicom",
        "GameTitle": "Sample Quest",
        "GameIcon": "/Images/000123.png",
        "ReportedAt": "2026-05-01 17:04:09",
        "ReportType": 2,
        "ReportState": 1,
        "Hardcore": 1,
        "ReportNotes": "Boss died, no unlock.<br/>Rich Presence at time of trigger:<br/>Stage 1",
        "ReportedBy": "SampleReporter",
        "ReportedByULID": "01HX0000000000000000000BBB",
        "ResolvedAt": None,
        "ResolvedBy": None,
        "ResolvedByULID": None,
        "ReportStateDescription": "Open",
        "ReportTypeDescription": "Did not trigger",
        "URL": f"https://retroachievements.org/ticket/{ticket_id}",
    }
    ticket.update(overrides)
    return ticket


@dataclass
class FakeRetroAchievements:
    """State and knobs of the fake API; `url` is the base to use as RETROACHIEVEMENTS_BASE_URL."""

    keys: set[str] = field(default_factory=lambda: {"good-key"})
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    delay_s: float = 0.0
    fail_next: int = 0
    fail_status: int = 500
    rate_limit_next: int = 0
    retry_after: str = "1"
    malformed: bool = False
    ignore_id: bool = False
    requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    @property
    def ticket_requests(self) -> int:
        """How many single-ticket lookups reached the server."""
        return sum(1 for r in self.requests if "i" in r)

    async def start(self) -> None:
        """Listen on an ephemeral port of 127.0.0.1."""
        self._runner, origin = await listen("/API/API_GetTicketData.php", self._handle)
        self.url = f"{origin}/API/"

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append(query)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return web.Response(
                status=429, text="Too Many Requests", headers={"Retry-After": self.retry_after}
            )
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=self.fail_status, text="<html>Bad gateway</html>")
        if query.get("y") not in self.keys:
            return _json(
                {
                    "message": "Unauthenticated.",
                    "errors": [
                        {"status": "401", "code": "unauthorized", "title": "Unauthenticated."}
                    ],
                },
                status=401,
            )
        if self.malformed:
            return web.Response(text='{"ID": 1, "Achiev', content_type="application/json")
        raw = query.get("i", "")
        ticket_id = int(raw) if raw.isdigit() and not self.ignore_id else 0
        if ticket_id <= 0:
            recent = list(self.tickets.values())[: int(query.get("c", "10") or 10)]
            return _json({"RecentTickets": recent, "OpenTickets": len(self.tickets), "URL": "x"})
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            return _json({"error": f"Ticket ID {ticket_id} not found"}, status=404)
        return _json(ticket)


def _json(payload: Any, status: int = 200) -> web.Response:
    # Laravel escapes slashes; any JSON parser copes, and so must we.
    body = json.dumps(payload).replace("/", "\\/")
    return web.Response(text=body, status=status, content_type="application/json")
