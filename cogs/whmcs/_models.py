"""
GetTicket's answer, as WHMCS 7.x and 8.x installs send it.

See docs/providers/whmcs.md. What this accepts, on purpose:
- ids as JSON strings (the docs, 7.x) or numbers (8.x), with the opening message's
  `replyid` staying `"0"`; every string field possibly `null` on old records;
- `replies` as `{"reply": [...]}` and `notes` as `{"note": [...]}` or `[]` (no notes), a single
  object where a list is expected, or nothing at all;
- `attachments` as a list of `{"filename", "index"}`, the docs' `[[]]` for none, or absent
  (7.x before 7.10, and 7.x notes), then counted from the `|`-separated `attachment` string;
- 8.x's `requestor_*` and `owner_name`, absent on 7.x.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from bot.providers.values import Flag, OptInt, Text


def _attachments(value: Any) -> Any:
    # None stays None: the field was absent, count from `attachment` instead.
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _listed(key: str) -> Any:
    def unwrap(value: Any) -> Any:
        if isinstance(value, dict):
            value = value.get(key, [])
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            return []
        return [item for item in value if isinstance(item, dict)]

    return unwrap


class WhmcsAttachment(BaseModel):
    """One entry of `attachments` (7.10+): the stored name without its random prefix."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    filename: Text = ""
    index: OptInt = None


Attachments = Annotated[list[WhmcsAttachment] | None, BeforeValidator(_attachments)]


def attachment_names(stored: str, listed: list[WhmcsAttachment] | None) -> list[str]:
    """File names from `attachments` (7.10+), else from the `|`-separated `attachment`."""
    if listed is not None:
        return [a.filename or "file" for a in listed]
    names = [part.strip() for part in stored.split("|") if part.strip()]
    # Stored names carry a random prefix of 6 characters and "_".
    return [n[7:] if len(n) > 7 and n[6] == "_" else n for n in names]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    date: Text = ""
    message: Text = ""
    attachment: Text = ""
    attachments: Attachments = None
    attachments_removed: Flag = False
    admin: Text = ""

    @property
    def attachment_names(self) -> list[str]:
        """File names of the message's attachments, from whichever field this install sends."""
        return attachment_names(self.attachment, self.attachments)


class WhmcsReply(_Message):
    """One message of the conversation; `replyid` "0" is the ticket's opening message."""

    replyid: Text = ""
    userid: OptInt = None
    contactid: OptInt = None
    name: Text = ""
    email: Text = ""
    requestor_name: Text = ""
    requestor_email: Text = ""
    requestor_type: Text = ""
    rating: OptInt = None

    @property
    def is_opening(self) -> bool:
        """The opening message WHMCS adds to the replies."""
        return self.replyid.strip() == "0"

    @property
    def by_staff(self) -> bool:
        """Written by an admin: `admin` is set (both versions), or 8.x's requestor type says so."""
        return bool(self.admin.strip()) or self.requestor_type.strip().lower() == "operator"


class WhmcsNote(_Message):
    """An internal note (staff only)."""

    noteid: Text = ""


class WhmcsTicket(BaseModel):
    """A GetTicket success answer. `ticketid` (or 8.x's `id`) is what makes it a ticket."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    result: Text = ""
    id: OptInt = None
    ticketid: OptInt = None
    tid: Text = ""
    deptid: OptInt = None
    deptname: Text = ""
    userid: OptInt = None
    contactid: OptInt = None
    name: Text = ""
    owner_name: Text = ""
    email: Text = ""
    requestor_name: Text = ""
    requestor_email: Text = ""
    requestor_type: Text = ""
    cc: Text = ""
    date: Text = ""
    subject: Text = ""
    status: Text = ""
    priority: Text = ""
    admin: Text = ""
    attachment: Text = ""
    attachments: Attachments = None
    attachments_removed: Flag = False
    lastreply: Text = ""
    flag: OptInt = None
    service: Text = ""
    replies: Annotated[list[WhmcsReply], BeforeValidator(_listed("reply"))] = Field(
        default_factory=list
    )
    notes: Annotated[list[WhmcsNote], BeforeValidator(_listed("note"))] = Field(
        default_factory=list
    )

    @property
    def number(self) -> int | None:
        """The internal ticket id."""
        return self.ticketid if self.ticketid is not None else self.id


_ID: Final = TypeAdapter(OptInt)
_TID: Final = TypeAdapter(Text)


def is_ticket(payload: dict[str, Any]) -> bool:
    """
    Whether a success answer is a ticket: it has an internal id (`ticketid`, 8.x's `id`) or a
    ticket number (`tid`), read as loosely as `WhmcsTicket` reads them.
    """
    return (
        _ID.validate_python(payload.get("ticketid")) is not None
        or _ID.validate_python(payload.get("id")) is not None
        or bool(_TID.validate_python(payload.get("tid")))
    )
