"""
teambattles.gg's `GET /tickets/{ticketId}` answer.

The OpenAPI schema marks every field required and the enums closed, but the date format of
`createdAt` & co. is undocumented ("string | null"), so ISO 8601 and epoch milliseconds are both
read, and a value we cannot read is shown as unknown rather than failing the whole ticket.
Messages carry no author: only `isSystem` and `isOwnMessage` (see
shared/providers/teambattles-notes.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _time(value: Any) -> datetime | None:
    """ISO 8601, or epoch milliseconds/seconds (as a number or numeric string); else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _messages(value: Any) -> Any:
    return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []


Time = Annotated[datetime | None, BeforeValidator(_time)]
Text = Annotated[str, BeforeValidator(_text)]
Flag = Annotated[bool, BeforeValidator(_flag)]


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
    ticket_number: Annotated[int | None, BeforeValidator(_number)] = Field(
        None, alias="ticketNumber"
    )
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
