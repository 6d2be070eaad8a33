"""
A fake RetroAchievements API on 127.0.0.1 that answers like the live one.

PascalCase keys, 401 `{"message": "Unauthenticated."}` for a bad key, 404
`{"error": "Ticket ID N not found"}` for a missing ticket, 200 with `RecentTickets` when `i`
is absent or not a positive integer (see docs/providers/retroachievements.md).

The other modes follow the server's order `i>0` -> `f=1` -> `u` -> `g>0` -> `a>0` -> recent
and are computed from `tickets` as RAWeb's `API_GetTicketData.php` does: games and
achievements must be registered (`games`, `achievements`) and developers too (`developers`),
else 404 with the server's wording. Knobs let a test make it slow, fail, rate-limit or send
garbage; it counts every request.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
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


SITE = "https://retroachievements.org"
OPEN, REQUEST, PENDING_REVIEW = 1, 3, 4
_STATE_BUCKETS = {0: "Closed", 1: "Open", 2: "Resolved"}


def ra_game(title: str = "Sample Quest", console: str = "SNES/Super Famicom") -> dict[str, Any]:
    """A registered game: what the `g` mode answers besides its tickets."""
    return {"GameTitle": title, "ConsoleName": console}


def ra_achievement(
    title: str = "Sample Cheevo",
    description: str = "Beat the first boss",
    kind: str | None = "progression",
) -> dict[str, Any]:
    """A registered achievement: what the `a` mode answers besides its count."""
    return {"Title": title, "Description": description, "Type": kind}


def _php_int(raw: str) -> int:
    """PHP's `(int)` cast of a query value: leading digits (with a sign), else 0."""
    found = re.match(r"\s*([+-]?\d+)", raw)
    return int(found[1]) if found else 0


def _state(ticket: dict[str, Any]) -> int:
    return _php_int(str(ticket.get("ReportState", 1)))


@dataclass
class FakeRetroAchievements:
    """State and knobs of the fake API; `url` is the base to use as RETROACHIEVEMENTS_BASE_URL."""

    keys: set[str] = field(default_factory=lambda: {"good-key"})
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    games: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Registered games by id (see `ra_game`); their tickets are those with their GameID."""
    achievements: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Registered achievements by id (see `ra_achievement`)."""
    developers: dict[str, str] = field(default_factory=dict)
    """Registered users: display name -> ULID. Their tickets: AchievementAuthor == name."""
    delay_s: float = 0.0
    fail_next: int = 0
    fail_status: int = 500
    rate_limit_next: int = 0
    retry_after: str = "1"
    malformed: bool = False
    ignore_id: bool = False
    requests: list[dict[str, str]] = field(default_factory=list)
    clock: Callable[[], float] | None = None
    """Where `request_times` come from (a test's fake clock); None: not recorded."""
    request_times: list[float] = field(default_factory=list)
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
        if self.clock is not None:
            self.request_times.append(self.clock())
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
        if ticket_id > 0:
            ticket = self.tickets.get(ticket_id)
            if ticket is None:
                return _json({"error": f"Ticket ID {ticket_id} not found"}, status=404)
            return _json(ticket)
        # `min((int) c, 100)`, default 10; `o` default 0.
        count = min(_php_int(query.get("c", "10")), 100)
        offset = _php_int(query.get("o", "0"))
        if _php_int(query.get("f", "")) == 1:
            return self._most_reported(count)
        if query.get("u"):
            return self._developer(query["u"])
        if (game_id := _php_int(query.get("g", ""))) > 0:
            details = _php_int(query.get("d", "")) == 1
            return self._game(game_id, offset, count, details=details)
        if (achievement_id := _php_int(query.get("a", ""))) > 0:
            return self._achievement(achievement_id)
        return self._recent(offset, count)

    def _newest_first(
        self, tickets: list[dict[str, Any]], offset: int, count: int
    ) -> list[dict[str, Any]]:
        ordered = sorted(
            tickets, key=lambda t: (str(t.get("ReportedAt") or ""), t["ID"]), reverse=True
        )
        # List objects are the single ticket's keys minus `URL`; a negative count is no limit.
        page = ordered[offset:] if count < 0 else ordered[offset : offset + count]
        return [{k: v for k, v in t.items() if k != "URL"} for t in page]

    def _open(self) -> list[dict[str, Any]]:
        # Scope `open()`: Open plus Request; quarantined tickets are in neither.
        return [t for t in self.tickets.values() if _state(t) in (OPEN, REQUEST)]

    def _recent(self, offset: int, count: int) -> web.Response:
        tickets = self._open()
        return _json(
            {
                "OpenTickets": len(tickets),
                "URL": f"{SITE}/tickets",
                "RecentTickets": self._newest_first(tickets, offset, count),
            }
        )

    def _most_reported(self, count: int) -> web.Response:
        # `c<1` becomes 20; `o` is ignored upstream.
        count = 20 if count < 1 else count
        by_game: dict[int, list[dict[str, Any]]] = {}
        for ticket in self._open():
            by_game.setdefault(int(ticket["GameID"]), []).append(ticket)
        ranked = sorted(by_game.items(), key=lambda item: (-len(item[1]), item[0]))[:count]
        games = [
            {
                "GameID": game_id,
                "GameTitle": tickets[0].get("GameTitle"),
                "GameIcon": tickets[0].get("GameIcon"),
                "Console": tickets[0].get("ConsoleName"),
                "OpenTickets": len(tickets),
            }
            for game_id, tickets in ranked
        ]
        return _json({"MostReportedGames": games, "URL": f"{SITE}/manage/most-reported-games"})

    def _developer(self, identifier: str) -> web.Response:
        # A 26-character identifier is a ULID; else the name (the DB collation ignores case).
        if len(identifier) == 26:
            found = [n for n, ulid in self.developers.items() if ulid == identifier]
        else:
            found = [n for n in self.developers if n.lower() == identifier.lower()]
        if not found:
            return _json({"error": f"User {identifier} not found"}, status=404)
        name = found[0]
        counts = dict.fromkeys(_STATE_BUCKETS.values(), 0)
        for ticket in self.tickets.values():
            bucket = _STATE_BUCKETS.get(_state(ticket))
            if ticket.get("AchievementAuthor") == name and bucket is not None:
                counts[bucket] += 1
        return _json(
            {
                "User": name,
                "ULID": self.developers[name],
                **counts,
                "Total": sum(counts.values()),
                "URL": f"{SITE}/user/{name}/tickets",
            }
        )

    def _game(self, game_id: int, offset: int, count: int, *, details: bool) -> web.Response:
        game = self.games.get(game_id)
        if game is None:
            return _json({"error": f"Game ID {game_id} not found"}, status=404)
        # No state filter in RAWeb's game mode: every state counts and is listed.
        tickets = [t for t in self.tickets.values() if int(t["GameID"]) == game_id]
        answer: dict[str, Any] = {
            "GameID": game_id,
            "GameTitle": game["GameTitle"],
            "ConsoleName": game["ConsoleName"],
            "OpenTickets": len(tickets),
            "URL": f"{SITE}/game/{game_id}/tickets",
        }
        if details:
            answer["Tickets"] = self._newest_first(tickets, offset, count)
        return _json(answer)

    def _achievement(self, achievement_id: int) -> web.Response:
        achievement = self.achievements.get(achievement_id)
        if achievement is None:
            return _json({"error": f"Achievement ID {achievement_id} not found"}, status=404)
        open_count = sum(
            1 for t in self._open() if int(t.get("AchievementID", 0)) == achievement_id
        )
        return _json(
            {
                "AchievementID": achievement_id,
                "AchievementTitle": achievement["Title"],
                "AchievementDescription": achievement["Description"],
                "AchievementType": achievement["Type"],
                "URL": f"{SITE}/achievement/{achievement_id}/tickets",
                "OpenTickets": open_count,
            }
        )


def _json(payload: Any, status: int = 200) -> web.Response:
    # Laravel escapes slashes; any JSON parser copes, and so must we.
    body = json.dumps(payload).replace("/", "\\/")
    return web.Response(text=body, status=status, content_type="application/json")
