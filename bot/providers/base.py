"""
The provider contract and the neutral ticket view.

A provider knows HTTP and its API's shapes and nothing of Discord: it turns an answer into a
`TicketView` and maps failures to the errors in `bot.errors`. The renderer knows Discord's
limits and nothing of providers; the policy (`bot.policy`) is the one place deciding who sees
which part. Every part of a view is tagged with the narrowest audience allowed to see it.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from bot.errors import TicketLensError

#: A decrypted credential: field key -> value, exactly as the admin typed it.
Credential = Mapping[str, str]

RefT = TypeVar("RefT", bound=Hashable)


class Audience(enum.IntEnum):
    """Who may see a part of a ticket; a higher value sees everything a lower one sees."""

    PUBLIC = 0
    """Anyone in the channel (data the provider itself shows publicly)."""
    REQUESTER = 1
    """The member who asked, in an ephemeral answer."""
    STAFF = 2
    """Guild staff, in an ephemeral answer: internal notes, personal data."""


class TextFormat(enum.StrEnum):
    """How a piece of ticket text is written upstream, so the renderer can convert it."""

    PLAIN = "plain"
    HTML = "html"
    MARKDOWN = "markdown"


class CredentialScope(enum.StrEnum):
    """Whose credential a provider uses."""

    GUILD = "guild"
    """One credential per guild, set by a member with Manage Server."""
    MEMBER = "member"
    """Owner-scoped: each member links their own (a guild key may exist for staff too)."""


@dataclass(frozen=True, slots=True)
class CredentialField:
    """One input of a provider's credential modal."""

    key: str
    label: str
    secret: bool = False
    required: bool = True
    placeholder: str | None = None
    max_length: int = 200


@dataclass(frozen=True, slots=True)
class Visibility:
    """A provider's visibility rules, read by `bot.policy` and nowhere else."""

    public_allowed: bool
    """Whether `public:true` may post the ticket in the channel at all."""
    staff_only: bool = False
    """Whether only staff may look tickets up."""
    public_audience: Audience = Audience.PUBLIC
    """Parts tagged at or below this audience go into a public post."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ViewField(_Frozen):
    """A labelled value. `datetime` values are rendered as Discord timestamps."""

    name: str
    value: str | datetime
    inline: bool = True
    audience: Audience = Audience.PUBLIC
    format: TextFormat = TextFormat.PLAIN


class EntryKind(enum.StrEnum):
    """What a conversation entry is, so the renderer can tell them apart."""

    CUSTOMER = "customer"
    STAFF = "staff"
    SYSTEM = "system"
    INTERNAL_NOTE = "internal_note"


class ViewEntry(_Frozen):
    """One message of a ticket's conversation (a reply, a note, a system message)."""

    author: str
    body: str
    format: TextFormat = TextFormat.PLAIN
    kind: EntryKind = EntryKind.CUSTOMER
    at: datetime | None = None
    audience: Audience = Audience.PUBLIC


class TicketView(_Frozen):
    """A provider-neutral ticket, ready for the policy and the renderer."""

    provider: str
    provider_label: str
    ticket_id: str
    title: str
    url: str | None = None
    """The ticket's page on the provider's site ("view on the site")."""
    colour: int | None = None
    description: str = ""
    description_format: TextFormat = TextFormat.PLAIN
    description_audience: Audience = Audience.PUBLIC
    thumbnail_url: str | None = None
    fields: tuple[ViewField, ...] = ()
    entries: tuple[ViewEntry, ...] = ()
    entries_title: str = "Messages"
    timestamp: datetime | None = None
    footer: str | None = None


class Provider(abc.ABC, Generic[RefT]):
    """
    One ticket system.

    A subclass declares its identity and credential shape as class variables and implements
    `verify` and `fetch`. `fetch` goes to the network through the shared `bot.http.Fetcher`
    and raises only `bot.errors` types. The core caches and coalesces `fetch` calls keyed by
    (provider, credential fingerprint, ref), so `ref` must be hashable and fully identify the
    request (normalised: two spellings of one ticket should compare equal).
    """

    key: ClassVar[str]
    """Stable machine name: the command and choice value (`"retroachievements"`)."""
    label: ClassVar[str]
    """Human name (`"RetroAchievements"`)."""
    scope: ClassVar[CredentialScope] = CredentialScope.GUILD
    credential_fields: ClassVar[tuple[CredentialField, ...]]
    visibility: ClassVar[Visibility]

    @abc.abstractmethod
    async def verify(self, credential: Credential) -> None:
        """Check a credential before it is stored; raise `CredentialsRejected`/`NotPermitted`."""

    @abc.abstractmethod
    async def fetch(self, credential: Credential, ref: RefT) -> TicketView:
        """Fetch one ticket and turn it into a view, raising only `bot.errors` types."""

    def explain(self, error: TicketLensError) -> str | None:
        """Provider-specific advice for an error (e.g. "allow the bot's IP"); None: the default."""
        return None

    def secrets_of(self, credential: Credential) -> list[str]:
        """Values that must never appear in logs, errors or messages."""
        secret_keys = {f.key for f in self.credential_fields if f.secret}
        return [v for k, v in credential.items() if k in secret_keys and v]
