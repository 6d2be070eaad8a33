"""
WHMCS: a `GetTicket` answer -> TicketView (API facts: docs/providers/whmcs.md).

WHMCS sends dates as its server's local time without a zone, so they are shown as sent (the
footer says so) rather than read as moments.

Our own words (field names, fallbacks, the footer's frame) are `Msg`s, translated per reader;
what WHMCS sends (subject, messages, names, and status names, which admins define) is data and
shown as sent. Priorities are WHMCS's fixed three, so those words are ours to translate.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from bot.i18n import Msg
from bot.providers.base import (
    Audience,
    EntryKind,
    TextFormat,
    TicketView,
    ViewEntry,
    ViewField,
)
from bot.providers.palette import PRIORITIES, Colour
from bot.providers.values import is_zero_date
from cogs.whmcs._models import WhmcsNote, WhmcsReply, WhmcsTicket, attachment_names

if TYPE_CHECKING:
    from cogs.whmcs._client import WhmcsRef

_STATUS_COLOURS: Final[Mapping[str, Colour]] = {
    "open": Colour.GREEN,
    "answered": Colour.BLUE,
    "customer-reply": Colour.ORANGE,
    "closed": Colour.GREY,
    "on hold": Colour.PURPLE,
    "in progress": Colour.YELLOW,
}

# A message that still holds real tags (7.x notes skip strip_tags); everything else is the
# HTML-escaped Markdown (or BBCode-ish plain text) WHMCS stores.
_HTML_TAG_RE = re.compile(
    r"<(?:/?(?:p|br|div|span|a|b|i|u|s|strong|em|ul|ol|li|blockquote|pre|code|h[1-6]|img|"
    r"table|tr|td|th|hr|font)\b[^>]*)>",
    re.IGNORECASE,
)
_MARKDOWN_CHARS_RE = re.compile(r"([\\*_~|`\[\]])")

UNKNOWN: Final = Msg("Unknown")


def _date(value: str) -> str:
    value = value.strip()
    return "" if is_zero_date(value) else value


def _format_of(text: str) -> TextFormat:
    return TextFormat.HTML if _HTML_TAG_RE.search(text) else TextFormat.MARKDOWN


def _with_kind(name: str, kind: str) -> str:
    """`name (kind)`: the requestor type after a name, which may be our own fallback word."""
    if not kind:
        return name
    if isinstance(name, Msg):
        return Msg("{name} ({kind})", name=name, kind=kind)
    return f"{name} ({kind})"


def _with_attachments(body: str, fmt: TextFormat, names: list[str], removed: bool) -> str:
    if not names:
        return body
    # The file names are escaped for the body's format; our words around them need no escape
    # (in no language: they hold no markup characters).
    if fmt is TextFormat.HTML:
        escaped = [html.escape(name) for name in names[:10]]
    else:
        escaped = [_MARKDOWN_CHARS_RE.sub(r"\\\1", name) for name in names[:10]]
    files: str = ", ".join(escaped)
    if len(names) > 10:
        files = Msg("{files} and {count} more", files=files, count=len(names) - 10)
    if removed:
        line: str = Msg("📎 {files} (files removed)", files=files)
    elif isinstance(files, Msg):
        line = Msg("📎 {files}", files=files)
    else:
        line = f"📎 {files}"
    ours = isinstance(body, Msg) or isinstance(line, Msg)
    if fmt is TextFormat.HTML:
        if ours:
            return Msg("{body}<br><br>{attachments}", body=body, attachments=line)
        return f"{body}<br><br>{line}"
    if ours:
        return Msg("{body}\n\n{attachments}", body=body, attachments=line)
    return f"{body}\n\n{line}"


def _entry(
    author: str, date: str, text: str, names: list[str], removed: bool, **kind: Any
) -> ViewEntry:
    fmt = _format_of(text)
    body = text.strip() or Msg("(no text)")
    if not date:
        label = author
    elif isinstance(author, Msg):
        label = Msg("{author} · {date}", author=author, date=date)
    else:
        label = f"{author} · {date}"
    return ViewEntry(
        author=label, body=_with_attachments(body, fmt, names, removed), format=fmt, **kind
    )


def _reply_entry(reply: WhmcsReply) -> ViewEntry:
    if reply.by_staff:
        name = (
            reply.admin.strip()
            or reply.requestor_name.strip()
            or reply.name.strip()
            or Msg("Staff")
        )
        kind = EntryKind.STAFF
    else:
        name = reply.requestor_name.strip() or reply.name.strip() or Msg("Customer")
        name = _with_kind(name, reply.requestor_type.strip())
        kind = EntryKind.CUSTOMER
    return _entry(
        name,
        _date(reply.date),
        reply.message,
        reply.attachment_names,
        reply.attachments_removed,
        kind=kind,
        audience=Audience.REQUESTER,
    )


def _note_entry(note: WhmcsNote) -> ViewEntry:
    return _entry(
        note.admin.strip() or Msg("Staff"),
        _date(note.date),
        note.message,
        note.attachment_names,
        note.attachments_removed,
        kind=EntryKind.INTERNAL_NOTE,
        audience=Audience.STAFF,
    )


def _by_id(items: list[Any], id_of: Any) -> tuple[list[Any], bool]:
    """Oldest first by numeric id (the order WHMCS stores them in), and whether that worked."""
    try:
        return sorted(items, key=lambda item: int(id_of(item))), True
    except ValueError:
        return list(items), False


def timeline(ticket: WhmcsTicket, *, newest_first: bool) -> list[ViewEntry]:
    """
    Replies and notes in one conversation, oldest first or newest first.

    Replies are ordered by id (the opening message, id 0, first), whatever order the install
    sent (7.x ignores the sort for notes); notes are placed among them by date.
    """
    replies, sorted_ok = _by_id(ticket.replies, lambda r: r.replyid)
    if newest_first and not sorted_ok:
        replies.reverse()  # sent newest first and the ids are unusable: oldest first again
    notes, _ = _by_id(ticket.notes, lambda n: n.noteid)
    merged: list[ViewEntry] = []
    n = 0
    for reply in replies:
        reply_date = _date(reply.date)
        while n < len(notes) and reply_date and "" < _date(notes[n].date) < reply_date:
            merged.append(_note_entry(notes[n]))
            n += 1
        merged.append(_reply_entry(reply))
    merged.extend(_note_entry(note) for note in notes[n:])
    if newest_first:
        merged.reverse()
    return merged


def _requester(ticket: WhmcsTicket) -> str:
    name = (
        ticket.requestor_name.strip() or ticket.owner_name.strip() or ticket.name.strip() or UNKNOWN
    )
    return _with_kind(name, ticket.requestor_type.strip())


def _service(value: str) -> str:
    value = value.strip()
    if len(value) > 1 and value[1:].isdigit():
        if value[0] in "Ss":
            return Msg("Service #{number}", number=value[1:])
        if value[0] in "Dd":
            return Msg("Domain #{number}", number=value[1:])
    return value


def _priority(value: str) -> str:
    # WHMCS's priorities are fixed (docs: Low, Medium, High): the kit's words for them.
    value = value.strip()
    return PRIORITIES.get(value.lower()) or value or "—"


def to_view(
    ticket: WhmcsTicket, ref: WhmcsRef, *, provider: str, provider_label: str
) -> TicketView:
    """
    The neutral view. Public (a `public:true` post): subject, status, priority, department,
    dates and reply count. The requester, the conversation and attachments are for the asker
    (who is staff: WHMCS is staff only); email, CC, flag and notes are staff-tagged.
    """
    number = str(ticket.number) if ticket.number is not None else ""
    tid = ticket.tid.strip() or number or ref.value
    status = ticket.status.strip() or UNKNOWN
    replies = [r for r in ticket.replies if not r.is_opening]
    names = [name for r in ticket.replies for name in r.attachment_names]
    if not ticket.replies:
        names = attachment_names(ticket.attachment, ticket.attachments)
    removed = any(r.attachments_removed for r in ticket.replies) or ticket.attachments_removed
    if not names:
        attachments: str = Msg("None")
    elif removed:
        attachments = Msg("{count} (files removed)", count=len(names))
    else:
        attachments = str(len(names))

    fields: list[ViewField] = [
        ViewField(name=Msg("Status"), value=status),
        ViewField(name=Msg("Priority"), value=_priority(ticket.priority)),
        ViewField(name=Msg("Department"), value=ticket.deptname.strip() or "—"),
        ViewField(name=Msg("Requester"), value=_requester(ticket), audience=Audience.REQUESTER),
    ]
    email = ticket.requestor_email.strip() or ticket.email.strip()
    if email:
        fields.append(ViewField(name=Msg("Email"), value=email, audience=Audience.STAFF))
    if ticket.cc.strip():
        fields.append(ViewField(name=Msg("CC"), value=ticket.cc.strip(), audience=Audience.STAFF))
    fields += [
        ViewField(name=Msg("Created"), value=_date(ticket.date) or "—"),
        ViewField(name=Msg("Last reply"), value=_date(ticket.lastreply) or "—"),
        ViewField(name=Msg("Replies"), value=str(len(replies))),
        ViewField(
            name=Msg("Flagged to"),
            value=Msg("Admin #{number}", number=ticket.flag) if ticket.flag else Msg("Nobody"),
            audience=Audience.STAFF,
        ),
    ]
    if ticket.admin.strip():
        fields.append(
            ViewField(
                name=Msg("Opened by staff"), value=ticket.admin.strip(), audience=Audience.STAFF
            )
        )
    fields.append(
        ViewField(name=Msg("Attachments"), value=attachments, audience=Audience.REQUESTER)
    )
    service = _service(ticket.service)
    if service:
        fields.append(ViewField(name=Msg("Related to"), value=service, audience=Audience.STAFF))

    subject = ticket.subject.strip()
    if subject:
        title = Msg("Ticket #{number}: {subject}", number=tid, subject=subject)
    else:
        title = Msg("Ticket #{number}", number=tid)
    # The product's name and the status (WHMCS's own words) are values, never translated.
    if number and number != tid:
        footer = Msg(
            "{label} · ticket #{number} (id {id}) · {status} · times are {label} server time",
            label=provider_label,
            number=tid,
            id=number,
            status=status,
        )
    else:
        footer = Msg(
            "{label} · ticket #{number} · {status} · times are {label} server time",
            label=provider_label,
            number=tid,
            status=status,
        )
    return TicketView(
        provider=provider,
        provider_label=provider_label,
        ticket_id=tid,
        title=title,
        colour=int(_STATUS_COLOURS.get(status.lower(), Colour.SLATE)),
        fields=tuple(fields),
        entries=tuple(timeline(ticket, newest_first=ref.newest_first)),
        entries_title=Msg("Conversation"),
        footer=footer,
    )
