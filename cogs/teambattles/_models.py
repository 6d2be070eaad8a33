"""
teambattles.gg's `GET /tickets/{ticketId}` answer.

The OpenAPI schema marks every field required and the enums closed, but the date format of
`createdAt` & co. is undocumented ("string | null"), so the kit's `Time` reads ISO 8601 and epoch
milliseconds alike, and a value it cannot read is shown as unknown rather than failing the whole
ticket. Messages carry no author: only `isSystem` and `isOwnMessage` (see
docs/providers/teambattles.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from bot.providers.values import Flag, OptInt, Text, Time


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
