"""
series.hr's `GET /tickets/get/{ticketId}` answer.

The envelope is `{success, data:{Ticket}}` or `{success:false, error:{code, message}}`. The docs
show one example ticket; much is undocumented (see `docs/providers/serieshr.md`), so every
field but the ids is optional and loosely typed (`bot.providers.values`): user ids are integers
on the ticket pages but strings elsewhere, `ClaimedBy` on an unclaimed ticket may be null, 0 or
missing, system messages have an undocumented `Type` and `Author`, and a timestamp we cannot
read is shown as unknown rather than failing the whole ticket.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

from bot.errors import BadInput
from bot.i18n import Msg
from bot.providers.values import OptFlag, OptText, Time

#: `TICKET-`, digits, `-`, letters/digits (the docs' `TICKET-1234567890-ABCD`); the prefix is
#: accepted in any case and sent upper-case, the rest exactly as typed (case-sensitivity of
#: lookups is undocumented).
_TICKET_ID_RE: Final = re.compile(r"(?i:TICKET)-([0-9]{1,20})-([A-Za-z0-9]{1,40})")
#: A MongoDB object id: 24 hex digits (sent lower-case, as MongoDB spells them).
_OBJECT_ID_RE: Final = re.compile(r"[0-9A-Fa-f]{24}")

ID_HELP: Final = Msg(
    "A series.hr ticket id looks like `TICKET-1234567890-ABCD`, or is the ticket's 24-character "
    "object id (digits 0-9 and letters a-f)."
)


def parse_ref(text: str) -> str:
    """The normalised ticket id, or BadInput (before any request) for anything else."""
    raw = text.strip()
    match = _TICKET_ID_RE.fullmatch(raw)
    if match is not None:
        return f"TICKET-{match.group(1)}-{match.group(2)}"
    if _OBJECT_ID_RE.fullmatch(raw):
        return raw.lower()
    raise BadInput(ID_HELP)


#: A `TICKET-…` id in running text (object ids are too ambiguous to find there: any 24 hex
#: digits, such as a commit hash, would match). Bounded on both sides by non-id characters.
_TICKET_ID_IN_TEXT_RE: Final = re.compile(
    r"(?<![A-Za-z0-9-])(?i:TICKET)-[0-9]{1,20}-[A-Za-z0-9]{1,40}(?![A-Za-z0-9-])"
)


def find_refs(text: str) -> list[str]:
    """The `TICKET-…` ids in a message, normalised, in order, each once."""
    found: dict[str, None] = {}
    for match in _TICKET_ID_IN_TEXT_RE.finditer(text):
        found.setdefault(parse_ref(match.group(0)))
    return list(found)


def _user_id(value: Any) -> str | None:
    """A Roblox user id as text (integers on tickets, strings elsewhere); 0/empty is none."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        text = str(int(value)) if isinstance(value, float) else str(value).strip()
        return None if text in ("", "0") else text
    return None


def _user_obj(value: Any) -> Any:
    """A user object; a bare id (or anything else) becomes one with only the id."""
    if value is None or isinstance(value, dict):
        return value
    return {"UserId": value}


def _dict_or_none(value: Any) -> Any:
    return value if isinstance(value, dict) else None


UserId = Annotated[str | None, BeforeValidator(_user_id)]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SrUser(_Loose):
    """`Author` / `ClaimedByUser`: Roblox identities (names may be missing)."""

    user_id: UserId = Field(None, validation_alias=AliasChoices("UserId", "userId"))
    username: OptText = Field(None, validation_alias=AliasChoices("Username", "username"))
    display_name: OptText = Field(None, validation_alias=AliasChoices("DisplayName", "displayName"))


class SrMessage(_Loose):
    """One entry of the `Content` map."""

    content: OptText = Field(None, validation_alias=AliasChoices("Content", "content"))
    author: UserId = Field(None, validation_alias=AliasChoices("Author", "author"))
    type: OptText = Field(None, validation_alias=AliasChoices("Type", "type"))
    timestamp: Time = Field(None, validation_alias=AliasChoices("Timestamp", "timestamp"))


def _messages(value: Any) -> Any:
    """`Content` is a map keyed by message id; a list (or nothing) is accepted too."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [{"key": str(key), **item} for key, item in value.items() if isinstance(item, dict)]
    if isinstance(value, list):
        return [
            {"key": f"{index:08d}", **item}
            for index, item in enumerate(value)
            if isinstance(item, dict)
        ]
    return []


class SrKeyedMessage(SrMessage):
    """A message with the key it had in `Content` (the tie-breaker for equal timestamps)."""

    key: str


class SrTicket(_Loose):
    """One ticket. `TicketId` or `_id` is required: an answer without either is not a ticket."""

    mongo_id: OptText = Field(None, validation_alias=AliasChoices("_id", "id"))
    ticket_id: OptText = Field(None, validation_alias=AliasChoices("TicketId", "ticketId"))
    subject: OptText = Field(None, validation_alias=AliasChoices("Subject", "subject"))
    category: OptText = Field(None, validation_alias=AliasChoices("Category", "category"))
    department: OptText = Field(None, validation_alias=AliasChoices("Department", "department"))
    status: OptText = Field(None, validation_alias=AliasChoices("Status", "status"))
    priority: OptText = Field(None, validation_alias=AliasChoices("Priority", "priority"))
    author: Annotated[SrUser | None, BeforeValidator(_user_obj)] = Field(
        None, validation_alias=AliasChoices("Author", "author")
    )
    messages: Annotated[list[SrKeyedMessage], BeforeValidator(_messages)] = Field(
        default_factory=list, validation_alias=AliasChoices("Content", "content")
    )
    claimed_by: UserId = Field(None, validation_alias=AliasChoices("ClaimedBy", "claimedBy"))
    claimed_by_user: Annotated[SrUser | None, BeforeValidator(_user_obj)] = Field(
        None, validation_alias=AliasChoices("ClaimedByUser", "claimedByUser")
    )
    claimed_by_name: OptText = Field(
        None, validation_alias=AliasChoices("ClaimedByName", "claimedByName")
    )
    game_report: OptFlag = Field(None, validation_alias=AliasChoices("GameReport", "gameReport"))
    game_data: Annotated[dict[str, Any] | None, BeforeValidator(_dict_or_none)] = Field(
        None, validation_alias=AliasChoices("GameData", "gameData")
    )
    created_at: Time = Field(None, validation_alias=AliasChoices("CreatedAt", "createdAt"))
    updated_at: Time = Field(None, validation_alias=AliasChoices("UpdatedAt", "updatedAt"))

    @property
    def shown_id(self) -> str | None:
        """The id people use: the `TicketId`, else the object id."""
        return self.ticket_id or self.mongo_id
