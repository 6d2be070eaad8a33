"""
A fake WHMCS API (`POST /includes/api.php`, action GetTicket) on 127.0.0.1.

It answers like a 7.x or an 8.x install (see docs/providers/whmcs.md):
- 8.x: numeric ids (the opening message keeps `replyid: "0"`), `id`, `owner_name`,
  `requestor_*` and `attachments`, JSON with PHP's hex escapes (`\\u0022`, `\\u0026`, ...)
  and escaped slashes; `repliessort` upper-cased (anything else is ASC), notes in the same order;
  `ticketid` wins over `ticketnum`.
- 7.x: every id a string, none of the 8.x fields, notes always oldest first and not
  tag-stripped; `ticketnum` wins over `ticketid`.
- Messages are stored HTML-escaped with CRLF line breaks; `notes` is `[]` without notes.
- Errors carry `{"result": "error", "message": ...}`: IP, access key, ban and credential
  failures with HTTP 403, the action's own ("Ticket ID Not Found") with 200. `nvp_errors`
  answers the early (403) ones as `result=error;message=...` text instead.
Knobs force any error, a raw answer or a redirect; every request's form is recorded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import listen

CALLER_IP = "203.0.113.7"
GOOD = {"identifier": "IdentGood0123456789", "secret": "SecretGood0123456789"}


@dataclass
class FakeMessage:
    """One message of a ticket's conversation (the first is the opening message)."""

    text: str
    admin: str = ""  # set: written by this admin
    name: str = "Ana Example"
    email: str = "ana@example.net"
    requestor_type: str = "Owner"
    date: str = "2024-05-02 09:14:03"
    attachments: list[str] = field(default_factory=list)


@dataclass
class FakeNote:
    """An internal note."""

    text: str
    admin: str = "Sam Operator"
    date: str = "2024-05-02 09:35:50"


@dataclass
class FakeTicket:
    """A ticket as stored; rendered in the 7.x or 8.x shape per request."""

    id: int
    tid: str
    subject: str = "Site down after DNS change"
    status: str = "Answered"
    priority: str = "High"
    deptname: str = "Technical Support"
    name: str = "Ana Example (Example Ltd)"
    email: str = "ana@example.net"
    requestor_name: str = "Ana Example"
    requestor_type: str = "Owner"
    cc: str = ""
    admin: str = ""
    flag: int = 3
    service: str = "S118"
    date: str = "2024-05-02 09:14:03"
    lastreply: str = "2024-05-02 09:40:12"
    messages: list[FakeMessage] = field(default_factory=list)
    notes: list[FakeNote] = field(default_factory=list)


def sample_ticket(ticket_id: int = 42, tid: str = "QKD-804113", **overrides: Any) -> FakeTicket:
    """The notes' example: an opening message with an attachment, an admin reply, one note."""
    ticket = FakeTicket(
        id=ticket_id,
        tid=tid,
        messages=[
            FakeMessage(
                "Hi,\n\nI've changed the **A record** and now the site is down.",
                attachments=["dns.png"],
            ),
            FakeMessage(
                "Propagation takes up to 24h & your TTL is 86400.",
                admin="Sam Operator",
                name="Sam Operator",
                email="",
                requestor_type="Operator",
                date="2024-05-02 09:40:12",
            ),
        ],
        notes=[FakeNote("Checked zone, looks fine.")],
    )
    for key, value in overrides.items():
        setattr(ticket, key, value)
    return ticket


def php_escape(text: str) -> str:
    """How WHMCS stores input: HTML-escaped, quotes too, CRLF line breaks."""
    escaped = (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#039;")
    )
    return escaped.replace("\r\n", "\n").replace("\n", "\r\n")


_STRING_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"')
_PIECE = re.compile(r"\\.|.", re.DOTALL)
_HEX = {'\\"': "\\u0022", "&": "\\u0026", "'": "\\u0027", "<": "\\u003C", ">": "\\u003E"}


def php_json(payload: Any, *, hex_escapes: bool) -> str:
    """JSON as PHP writes it: slashes escaped, and with JSON_HEX_* the quote/amp/tag escapes."""

    def token(match: re.Match[str]) -> str:
        inner = match.group(0)[1:-1]
        out = []
        for piece in _PIECE.findall(inner):
            if piece == "/":
                out.append("\\/")
            elif hex_escapes and piece in _HEX:
                out.append(_HEX[piece])
            else:
                out.append(piece)
        return '"' + "".join(out) + '"'

    return _STRING_TOKEN.sub(token, json.dumps(payload))


@dataclass
class FakeWhmcs:
    """State and knobs of the fake install; `url` is what an admin would type."""

    version: str = "8"
    identifier: str = GOOD["identifier"]
    secret: str = GOOD["secret"]
    access_key: str | None = None
    ip_allowed: bool = True
    banned: bool = False
    nvp_errors: bool = False
    error: tuple[int, str] | None = None  # (HTTP status, message) answered to everything
    raw: tuple[int, str, str] | None = None  # (status, content type, body)
    prefix: str = ""  # before every JSON answer: a UTF-8 BOM or PHP notices of a broken install
    redirect_to: str | None = None
    tickets: dict[int, FakeTicket] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    def add(self, ticket: FakeTicket) -> FakeTicket:
        """Store a ticket."""
        self.tickets[ticket.id] = ticket
        return ticket

    async def start(self) -> None:
        """Listen on an ephemeral port of 127.0.0.1."""
        self._runner, origin = await listen("/includes/api.php", self._handle)
        self.url = origin

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    # -- answers ---------------------------------------------------------------------------

    def _json(self, payload: Any, status: int = 200) -> web.Response:
        body = self.prefix + php_json(payload, hex_escapes=self.version == "8")
        return web.Response(text=body, status=status, content_type="application/json")

    def _fail(self, status: int, message: str, *, early: bool = False) -> web.Response:
        if early and self.nvp_errors:
            return web.Response(
                text=f"result=error;message={message}", status=status, content_type="text/plain"
            )
        return self._json({"result": "error", "message": message}, status)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(form)
        if self.raw is not None:
            status, content_type, body = self.raw
            return web.Response(text=body, status=status, content_type=content_type)
        if self.redirect_to is not None:
            raise web.HTTPFound(self.redirect_to)
        if self.error is not None:
            status, message = self.error
            return self._fail(status, message, early=status == 403)
        sent_key = form.get("accesskey")
        key_ok = self.access_key is not None and sent_key == self.access_key
        if self.access_key is not None and sent_key and not key_ok:
            return self._fail(403, "Invalid Access Key", early=True)
        if not self.ip_allowed and not key_ok:
            return self._fail(403, f"Invalid IP {CALLER_IP}", early=True)
        if self.banned:
            return self._fail(403, "IP Banned", early=True)
        action = re.sub(r"[^a-z0-9]", "", form.get("action", "").lower())
        if not action:
            return self._fail(400, "Empty action request", early=True)
        identifier = form.get("identifier") or form.get("username") or ""
        secret = form.get("secret") or form.get("password") or ""
        if identifier != self.identifier:
            return self._fail(403, "Invalid or missing credentials", early=True)
        if secret != self.secret:
            return self._fail(403, "Authentication Failed", early=True)
        if action != "getticket":
            return self._fail(403, f'Invalid API Action: "{action}" is not a valid API action')
        if form.get("responsetype") != "json":
            return web.Response(
                text='<?xml version="1.0" encoding="utf-8"?><whmcsapi version="8.13.1">'
                "<action>getticket</action><result>error</result>"
                "<message>XML answers are not faked</message></whmcsapi>",
                content_type="text/xml",
            )
        ticket = self._find(form)
        if ticket is None:
            return self._json({"result": "error", "message": "Ticket ID Not Found"})
        return self._json(self._render(ticket, form.get("repliessort", "")))

    def _find(self, form: dict[str, str]) -> FakeTicket | None:
        by_id = form.get("ticketid", "").strip()
        by_number = form.get("ticketnum", "").strip()
        first, second = (by_id, by_number) if self.version == "8" else (by_number, by_id)
        wanted = first or second
        if not wanted:
            return None
        use_id = wanted == by_id and (self.version == "8" or not by_number)
        for ticket in self.tickets.values():
            if (str(ticket.id) if use_id else ticket.tid) == wanted:
                return ticket
        return None

    # -- shapes ----------------------------------------------------------------------------

    def _id(self, value: int) -> int | str:
        return value if self.version == "8" else str(value)

    def _attachment_fields(self, names: list[str]) -> dict[str, Any]:
        stored = "|".join(f"{100000 + i}_{name}" for i, name in enumerate(names))
        fields: dict[str, Any] = {"attachment": stored}
        if self.version == "8":
            fields["attachments"] = [{"filename": n, "index": i} for i, n in enumerate(names)]
            fields["attachments_removed"] = False
        return fields

    def _reply(self, ticket: FakeTicket, index: int, message: FakeMessage) -> dict[str, Any]:
        v8 = self.version == "8"
        reply: dict[str, Any] = {
            "replyid": "0" if index == 0 else self._id(300 + index),
            "userid": self._id(0 if message.admin else 7),
            "contactid": self._id(0),
        }
        if v8:
            reply.update(
                {
                    "name": message.name,
                    "email": message.email,
                    "requestor_name": message.name,
                    "requestor_email": message.email,
                    "requestor_type": message.requestor_type,
                }
            )
        else:
            # 7.x: name and email from the client record; none for an admin's reply.
            reply.update(
                {
                    "name": "" if message.admin else message.name,
                    "email": "" if message.admin else message.email,
                }
            )
        reply.update(
            {
                "date": message.date,
                "message": php_escape(message.text),
                **self._attachment_fields(message.attachments),
                "admin": message.admin,
            }
        )
        if index:
            reply["rating"] = self._id(0)
        return reply

    def _note(self, index: int, note: FakeNote) -> dict[str, Any]:
        v8 = self.version == "8"
        body: dict[str, Any] = {
            "noteid": self._id(19 + index),
            "date": note.date,
            # 7.x notes skip strip_tags: tags typed by an admin survive there.
            "message": php_escape(note.text) if v8 else note.text,
            "attachment": "",
        }
        if v8:
            body.update({"attachments": [], "attachments_removed": False})
        body["admin"] = note.admin
        return body

    def _render(self, ticket: FakeTicket, sort: str) -> dict[str, Any]:
        v8 = self.version == "8"
        order = sort.upper() if v8 else sort
        descending = order == "DESC"
        replies = [self._reply(ticket, i, m) for i, m in enumerate(ticket.messages)]
        notes = [self._note(i, n) for i, n in enumerate(ticket.notes)]
        if descending:
            replies.reverse()
            if v8:
                notes.reverse()
        opening = ticket.messages[0] if ticket.messages else FakeMessage("")
        top: dict[str, Any] = {"result": "success"}
        if v8:
            top["id"] = ticket.id
        top.update(
            {
                "ticketid": self._id(ticket.id),
                "tid": ticket.tid,
                "c": "Zr81LpQx",
                "deptid": self._id(2),
                "deptname": ticket.deptname,
                "userid": self._id(7),
                "contactid": self._id(0),
                "name": ticket.name,
            }
        )
        if v8:
            top.update(
                {
                    "owner_name": ticket.name,
                    "email": ticket.email,
                    "requestor_name": ticket.requestor_name,
                    "requestor_email": ticket.email,
                    "requestor_type": ticket.requestor_type,
                }
            )
        else:
            top["email"] = ticket.email
        top.update(
            {
                "cc": ticket.cc,
                "date": ticket.date,
                "subject": ticket.subject,
                "status": ticket.status,
                "priority": ticket.priority,
                "admin": ticket.admin,
            }
        )
        if v8:
            top.update(self._attachment_fields(opening.attachments))
        top.update(
            {
                "lastreply": ticket.lastreply,
                "flag": self._id(ticket.flag),
                "service": ticket.service,
                "replies": {"reply": replies},
                "notes": {"note": notes} if notes else [],
            }
        )
        return top
