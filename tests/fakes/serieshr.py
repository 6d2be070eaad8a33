"""
A fake series.hr API on 127.0.0.1 that answers like the documented one.

`GET /tickets/get/{ticketId}` with the key in the `apikey` header; the envelope
`{success, data:{Ticket}}` / `{success:false, error:{code, message}}` with the documented
messages (plan, module, not found); 401 "API key is required" without a key. What a wrong key
gets is undocumented, so `bad_key_status` picks 401 or 403; a key in mode `OTHER_403` gets a
403 with `other_403_message` (`{key}` replaced by the key), a cause we do not recognise. It
enforces the documented 25 requests per second per key (answering 429 beyond it and counting
those) and records the raw path, query and arrival time of every request.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import listen

OK = "ok"
NO_PLAN = "no_plan"
MODULE_OFF = "module_off"
OTHER_403 = "other_403"

PLAN_MESSAGE = "Tickets module requires a Premium or Enterprise subscription"
MODULE_MESSAGE = "Tickets module is not enabled for this workspace"


def sr_ticket(ticket_id: str = "TICKET-1234567890-ABCD", **overrides: Any) -> dict[str, Any]:
    """A realistic raw ticket: the docs' example with a three-message conversation."""
    ticket: dict[str, Any] = {
        "_id": "65a1b2c3d4e5f60718293a4b",
        "TicketId": ticket_id,
        "Subject": "Help with ranking",
        "Category": "support",
        "Department": "support-dept",
        "Status": "in-progress",
        "Priority": "high",
        "Author": {
            "UserId": 123456789,
            "Username": "player123",
            "DisplayName": "Player Name",
            "AvatarUrl": "https://tr.rbxcdn.com/avatar.png",
        },
        # Deliberately not in time order: a JSON object has none.
        "Content": {
            "msj_1705315000000_zzz999": {
                "Content": "Sure, which rank do you have now?",
                "Author": 987654321,
                "Type": "staff_message",
                "Timestamp": "2025-01-15T11:40:00.000Z",
            },
            "msj_1705314600000_abc123": {
                "Content": "I need help with my rank",
                "Author": 123456789,
                "Type": "author_message",
                "Timestamp": "2025-01-15T10:30:00.000Z",
            },
            "msj_1705314900000_sys001": {
                "Content": "Ticket claimed by Staff Member",
                "Author": 0,
                "Type": "system",
                "Timestamp": "2025-01-15T11:35:00.000Z",
            },
        },
        "ClaimedBy": 987654321,
        "ClaimedByUser": {
            "UserId": 987654321,
            "DisplayName": "Staff Member",
            "Username": "staff123",
        },
        "GameReport": False,
        "CreatedAt": "2025-01-15T10:30:00.000Z",
        "UpdatedAt": "2025-01-15T11:45:00.000Z",
    }
    ticket.update(overrides)
    return ticket


@dataclass(frozen=True)
class SrRequest:
    """One request as it reached the server."""

    raw_path: str
    query: str
    apikey: str | None
    at: float


@dataclass
class FakeSeriesHr:
    """State and knobs of the fake API; `url` is the base to use as SERIESHR_BASE_URL."""

    keys: dict[str, str] = field(default_factory=lambda: {"good-key": OK})
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    bad_key_status: int = 401
    other_403_message: str = "Workspace suspended for abuse (caller {key})"
    limit_per_s: int = 25
    delay_s: float = 0.0
    requests: list[SrRequest] = field(default_factory=list)
    throttled: int = 0
    url: str = ""
    _runner: web.AppRunner | None = None

    def add(self, ticket: dict[str, Any]) -> None:
        """Make `ticket` findable by its TicketId and its object id."""
        self.tickets[ticket["TicketId"]] = ticket
        self.tickets[ticket["_id"]] = ticket

    @property
    def arrivals(self) -> list[float]:
        """Arrival times (monotonic seconds) of every request."""
        return [r.at for r in self.requests]

    async def start(self) -> None:
        """Listen on an ephemeral port of 127.0.0.1."""
        self._runner, origin = await listen("/{tail:.*}", self._handle)
        self.url = origin

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    def _over_limit(self, key: str | None, now: float) -> bool:
        recent = [r for r in self.requests[:-1] if r.apikey == key and now - r.at < 1.0]
        return len(recent) >= self.limit_per_s

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        key = request.headers.get("apikey") or request.headers.get("x-api-key")
        self.requests.append(SrRequest(request.raw_path, request.query_string, key, now))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self._over_limit(key, now):
            self.throttled += 1
            return _error(429, "Too many requests")
        prefix = "/tickets/get/"
        if request.method != "GET" or not request.path.startswith(prefix):
            return _error(404, "Endpoint not found")
        if not key:
            return _error(401, "API key is required")
        mode = self.keys.get(key)
        if mode is None:
            return _error(self.bad_key_status, "API key is inactive or invalid")
        if mode == NO_PLAN:
            return _error(403, PLAN_MESSAGE)
        if mode == MODULE_OFF:
            return _error(403, MODULE_MESSAGE)
        if mode == OTHER_403:
            return _error(403, self.other_403_message.format(key=key))
        ticket = self.tickets.get(request.path[len(prefix) :])
        if ticket is None:
            return _error(404, "Ticket not found")
        return web.json_response({"success": True, "data": {"Ticket": ticket}})


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"success": False, "error": {"code": status, "message": message}}, status=status
    )
