"""
teambattles.gg's `GET /tickets/{ticketId}` answer.

The OpenAPI schema marks every field required and the enums closed, but the date format of
`createdAt` & co. is undocumented ("string | null"), so the kit's `Time` reads ISO 8601 and epoch
milliseconds alike, and a value it cannot read is shown as unknown rather than failing the whole
ticket. Messages carry no author: only `isSystem` and `isOwnMessage` (see
docs/providers/teambattles.md).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from bot.errors import BadInput
from bot.i18n import Msg
from bot.providers.values import Flag, OptInt, Text, Time

#: The ticket id is a TeamBattles (Convex) document id; its grammar is undocumented, so any
#: letters, digits, `_` and `-` are accepted. `/`, `.`, `?` and `#` never are.
_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,100}")
#: `#123` or a short number: the ticket's number, which the API cannot look up.
_NUMBER_RE: Final = re.compile(r"#\s*\d+|\d{1,9}")

ID_HELP: Final = Msg(
    "A TeamBattles ticket id is the code in the ticket's address (letters and digits), "
    "not its number."
)
NUMBER_HELP: Final = Msg(
    "That looks like a ticket number. TeamBattles looks tickets up by their id: the code in "
    "the ticket's address (letters and digits), not `#123`."
)


def parse_ref(text: str) -> str:
    """The ticket id as typed, or BadInput (before any request)."""
    raw = text.strip()
    if _NUMBER_RE.fullmatch(raw):
        raise BadInput(NUMBER_HELP)
    if not _ID_RE.fullmatch(raw):
        raise BadInput(ID_HELP)
    return raw


def _messages(value: Any) -> Any:
    # One malformed entry (a string, a null) must not cost the member the whole thread.
    return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class TbMessage(_Loose):
    """One message of the thread (internal staff notes are never returned)."""

    id: Text = ""
    content: Text = ""
    is_system: Flag = Field(False, alias="isSystem")
    is_own_message: Flag = Field(False, alias="isOwnMessage")
    created_at: Time = Field(None, alias="createdAt")


class TbTicket(_Loose):
    """One of the key owner's tickets. `id` is required: an answer without it is not a ticket."""

    id: str
    ticket_number: OptInt = Field(None, alias="ticketNumber")
    subject: Text = ""
    description: Text = ""
    category: Text = ""
    status: Text = ""
    priority: Text = ""
    created_at: Time = Field(None, alias="createdAt")
    updated_at: Time = Field(None, alias="updatedAt")
    resolved_at: Time = Field(None, alias="resolvedAt")
    closed_at: Time = Field(None, alias="closedAt")
    messages: Annotated[list[TbMessage], BeforeValidator(_messages)] = Field(default_factory=list)
