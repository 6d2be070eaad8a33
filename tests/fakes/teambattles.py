"""
A fake teambattles.gg API on 127.0.0.1 that answers like the documented one.

`GET /api/v1/tickets/{ticketId}` with `Authorization: Bearer tb_…`. Tickets are owner-scoped:
a key reads only its owner's tickets, and someone else's ticket answers exactly like an unknown
id (404). Errors are `{"error": "<code>", "details": …}`; whether the ticket codes are sent as
`TICKET_NOT_FOUND` or `error_ticket_not_found` is unverified, so `upper_codes` picks one.
It records every request's raw path and Authorization header; `raw` answers a path id with any
JSON body (200) for a valid key, to try answers that are not tickets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import listen

READ = "tickets.read:read"


def tb_key(n: int) -> str:
    """A realistic key: `tb_` and 64 hex digits."""
    return f"tb_{n:064x}"


def tb_ticket(
    ticket_id: str = "jd7a1b2c3d4e5f6g7h8j9k0m1n2p3q4r", **overrides: Any
) -> dict[str, Any]:
    """A realistic ticket with a system message, one of the owner's and one of staff."""
    ticket: dict[str, Any] = {
        "id": ticket_id,
        "ticketNumber": 1042,
        "subject": "Match result not recorded",
        "description": "Our 5v5 match yesterday shows no result.",
        "category": "match_dispute",
        "status": "awaiting_response",
        "priority": "high",
        "createdAt": "2026-07-01T18:00:00.000Z",
        "updatedAt": "2026-07-02T09:30:00.000Z",
        "resolvedAt": None,
        "closedAt": None,
        "messages": [
            {
                "id": "m1",
                "content": "Ticket created",
                "isSystem": True,
                "isOwnMessage": False,
                "createdAt": "2026-07-01T18:00:00.000Z",
            },
            {
                "id": "m2",
                "content": "Here is the lobby screenshot link.",
                "isSystem": False,
                "isOwnMessage": True,
                "createdAt": "2026-07-01T18:05:00.000Z",
            },
            {
                "id": "m3",
                "content": "Thanks, could you add the match id?",
                "isSystem": False,
                "isOwnMessage": False,
                "createdAt": "2026-07-02T09:30:00.000Z",
            },
        ],
        "timestamp": "2026-07-02T10:00:00.000Z",
    }
    ticket.update(overrides)
    return ticket


@dataclass
class TbKey:
    """A key: whose it is, its scopes, whether it expired."""

    owner: str
    scopes: frozenset[str] = frozenset({READ})
    expired: bool = False


@dataclass(frozen=True)
class TbRequest:
    """One request as it reached the server."""

    raw_path: str
    authorization: str | None


@dataclass
class FakeTeamBattles:
    """State and knobs of the fake API; `url` is the base to use as TEAMBATTLES_BASE_URL."""

    keys: dict[str, TbKey] = field(default_factory=dict)
    tickets: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    upper_codes: bool = True
    raw: dict[str, Any] = field(default_factory=dict)
    requests: list[TbRequest] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    def add(self, owner: str, ticket: dict[str, Any]) -> None:
        """Give `owner` the ticket."""
        self.tickets[ticket["id"]] = (owner, ticket)

    async def start(self) -> None:
        """Listen on an ephemeral port of 127.0.0.1."""
        self._runner, origin = await listen("/{tail:.*}", self._handle)
        self.url = f"{origin}/api/v1"

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    def _ticket_code(self, name: str) -> str:
        return name.upper() if self.upper_codes else f"error_{name.lower()}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        authorization = request.headers.get("Authorization")
        self.requests.append(TbRequest(request.raw_path, authorization))
        prefix = "/api/v1/tickets/"
        if request.method != "GET" or not request.path.startswith(prefix):
            return _error(404, "error_not_found")
        if not authorization or not authorization.startswith("Bearer "):
            return _error(401, "error_api_key_required")
        key = self.keys.get(authorization.removeprefix("Bearer "))
        if key is None:
            return _error(401, "error_api_key_invalid")
        if key.expired:
            return _error(401, "error_api_key_expired")
        if READ not in key.scopes:
            return _error(403, "error_api_key_permission_denied")  # details usually absent
        ticket_id = request.path[len(prefix) :]
        if ticket_id in self.raw:
            return web.json_response(self.raw[ticket_id], headers=_rate_headers())
        found = self.tickets.get(ticket_id)
        if found is None or found[0] != key.owner:
            return _error(404, self._ticket_code("TICKET_NOT_FOUND"), "Ticket not found")
        return web.json_response(found[1], headers=_rate_headers())


def _rate_headers() -> dict[str, str]:
    return {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59", "X-RateLimit-Reset": "1"}


def _error(status: int, code: str, details: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": code}
    if details is not None:
        body["details"] = details
    return web.json_response(body, status=status, headers=_rate_headers())
