"""
The provider contract and the neutral ticket view.

A provider knows HTTP and its API's shapes and nothing of Discord: it turns an answer into a
`TicketView` and maps failures to the errors in `bot.errors`. The renderer knows Discord's
limits and nothing of providers; `bot.access` is the one place deciding who sees which part.
Every part of a view is tagged with the narrowest audience allowed to see it.

What a provider declares here, the core acts on without the provider asking: a credential
field of kind `URL` gets the URL guard at save time and at every request, fields of kind
`SECRET` and the declared `secret_params`/`secret_headers` are masked in every log line.
"""

from __future__ import annotations

import abc
import enum
import hashlib
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from bot.errors import BadInput, TicketLensError

if TYPE_CHECKING:
    from bot.http import Http, ProviderHttp
    from bot.settings import ProviderSettings

RefT = TypeVar("RefT", bound=Hashable)


def fingerprint(*parts: str) -> str:
    """
    A stable, unkeyed hash of `parts` (128 bits of SHA-256, hex) for rate and cache keys.

    Keys built from it do not hold credentials in clear. The parts are length-prefixed so
    ("ab", "c") and ("a", "bc") differ.
    """
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()[:32]


class Credential(Mapping[str, str]):
    """
    A decrypted credential: field key -> value, exactly as it was typed. Immutable.

    Its `fingerprint` (the cache and rate-limit key that stands for it) is computed once, on
    first use: the store hands out the same object for every lookup until the row changes.
    """

    __slots__ = ("_fingerprint", "_values")

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self._fingerprint: str | None = None

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        # Never the values: a credential in a traceback or a debug line must not leak.
        return f"Credential(fields={sorted(self._values)})"

    @property
    def fingerprint(self) -> str:
        """A hash of every field, standing for this credential in cache and rate keys."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint(*(f"{k}={v}" for k, v in sorted(self._values.items())))
        return self._fingerprint


def fingerprint_of(credential: Mapping[str, str]) -> str:
    """`credential.fingerprint`, for a `Credential` or any plain mapping of its fields."""
    if isinstance(credential, Credential):
        return credential.fingerprint
    return Credential(credential).fingerprint


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


class FieldKind(enum.StrEnum):
    """What a credential field holds, which decides how the core treats it."""

    PLAIN = "plain"
    """Shown in logs like any other id (a user name)."""
    SECRET = "secret"  # noqa: S105 - the kind's name, not a password
    """Masked in every log line, error and message once it is known."""
    URL = "url"
    """An address the guild typed: https and public addresses only, checked when saved and at
    every request (`ALLOW_PRIVATE_URLS` lifts both rules)."""


@dataclass(frozen=True, slots=True)
class CredentialField:
    """One input of a provider's credential modal."""

    key: str
    label: str
    kind: FieldKind = FieldKind.PLAIN
    required: bool = True
    placeholder: str | None = None
    max_length: int = 200

    @property
    def secret(self) -> bool:
        """Whether the value is masked in logs."""
        return self.kind is FieldKind.SECRET


@dataclass(frozen=True, slots=True)
class Visibility:
    """A provider's visibility rules, read by `bot.policy` and nowhere else."""

    public_allowed: bool
    """Whether `public:true` may post the ticket in the channel at all."""
    staff_only: bool = False
    """Whether only staff may look tickets up."""
    public_audience: Audience = Audience.PUBLIC
    """Parts tagged at or below this audience go into a public post."""


# The view is ours, built by typed provider code (mypy --strict checks every construction), so
# plain frozen dataclasses: no validation pass for each of the ~10 parts of every lookup.
@dataclass(frozen=True, slots=True, kw_only=True)
class ViewField:
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
    ITEM = "item"
    """One item of a list (a ticket in a game's list): no speaker label."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewEntry:
    """One message of a ticket's conversation (a reply, a note, a system message)."""

    author: str
    body: str
    format: TextFormat = TextFormat.PLAIN
    kind: EntryKind = EntryKind.CUSTOMER
    at: datetime | None = None
    audience: Audience = Audience.PUBLIC


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketView:
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
    shared_account: bool = False
    """Seen with the guild's shared team account (owner-scoped providers): said in the footer."""
    public_refusal: str = ""
    """Why the provider keeps this one ticket out of public view (e.g. it is quarantined),
    however public its kind is; empty when it may be posted. `bot.access` acts on it."""


#: Field names (English, as the views write them) the default `Provider.watch_state` reads.
_STATE_FIELDS = frozenset({"State", "Status"})
_ASSIGNEE_FIELDS = frozenset({"Assignee", "Assigned to", "Claimed by", "Flagged to"})
_REPLY_FIELDS = frozenset({"Replies"})
_REPLY_KINDS = frozenset({EntryKind.CUSTOMER, EntryKind.STAFF})


@dataclass(frozen=True, slots=True)
class WatchState:
    """What a watch (`bot.watch`) compares between two polls of a ticket: a change in any of
    them edits the card and posts one notice line."""

    state: str
    assignee: str
    replies: int


def _field_text(view: TicketView, names: frozenset[str]) -> str:
    for field in view.fields:
        if field.name in names and isinstance(field.value, str):
            return field.value
    return ""


class Provider(abc.ABC, Generic[RefT]):
    """
    One ticket system.

    A subclass declares its identity, credential shape and visibility as class variables and
    implements `verify` and `fetch`. It reaches the network only through `self.http`, a client
    bound once to its rate and trust level (`bot.http.ProviderHttp`), and raises only
    `bot.errors` types (the core stamps the provider on them). The core caches and coalesces
    `fetch` calls keyed by (provider, credential fingerprint, ref), so `ref` must be hashable
    and fully identify the request (normalised: two spellings of one ticket compare equal).
    """

    key: ClassVar[str]
    """Stable machine name: the command and choice value (`"retroachievements"`)."""
    label: ClassVar[str]
    """Human name (`"RetroAchievements"`)."""
    scope: ClassVar[CredentialScope] = CredentialScope.GUILD
    user_installable: ClassVar[bool] = False
    """Whether its commands also work where TicketLens is installed to a member's own account
    (DMs, group DMs, servers without the bot), with that member's own user-scope credential
    (`/ticketaccount link` there). Only for providers whose tickets are not a server's private
    data; the others refuse outside a server where the bot is installed."""
    credential_fields: ClassVar[tuple[CredentialField, ...]]
    visibility: ClassVar[Visibility]
    secret_params: ClassVar[frozenset[str]] = frozenset()
    """Query or form parameter names that carry a credential (masked in every log line)."""
    secret_headers: ClassVar[frozenset[str]] = frozenset()
    """Header names that carry a credential (masked in every log line)."""
    stop_checks_after_rejection: ClassVar[bool] = False
    """Whether the background credential check (cogs/health.py) stops trying a stored
    credential once the provider refused it, until it is saved again: for providers that punish
    repeated failed logins (WHMCS bans the bot's IP after three in 30 minutes)."""

    def __init__(self, http: Http, settings: ProviderSettings) -> None:
        self.http: ProviderHttp = http.bind(
            rate_per_s=settings.rate_per_s,
            untrusted_urls=bool(self.url_fields()),
            provider=self.key,
        )
        #: Requests per minute its watches may make with one credential (`bot.watch`).
        self.watch_budget_per_min: int = settings.watch_budget_per_min

    @classmethod
    def url_fields(cls) -> tuple[str, ...]:
        """Keys of the credential fields that hold a guild-supplied URL."""
        return tuple(f.key for f in cls.credential_fields if f.kind is FieldKind.URL)

    @abc.abstractmethod
    async def verify(self, credential: Credential) -> None:
        """Check a credential before it is stored; raise `CredentialsRejected`/`NotPermitted`."""

    async def recheck(self, credential: Credential) -> None:
        """
        Check a credential that is already stored (`/ticketconfig test`, the background check
        of cogs/health.py), like `verify`; a provider that must not try a recently rejected
        credential again says so instead.
        """
        await self.verify(credential)

    @abc.abstractmethod
    async def fetch(self, credential: Credential, ref: RefT) -> TicketView:
        """Fetch one ticket and turn it into a view, raising only `bot.errors` types."""

    # -- references: how a ticket is named outside a command's options -------------------

    def ref_text(self, ref: RefT) -> str:
        """
        `ref` as text that `parse_ref` reads back to an equal ref: kept in button custom ids
        (with the provider key and a page, at most 100 characters in all) and in a member's
        lookup history. Never holds a secret. The default is `str(ref)`.
        """
        return str(ref)

    def parse_ref(self, text: str) -> RefT:
        """
        The ref that `ref_text` wrote, or `BadInput` for anything else (a button's custom id
        can be forged, so this validates as strictly as the command's options do).
        """
        raise BadInput(f"{self.label} tickets cannot be named by text.")

    def find_refs(self, text: str, credential: Mapping[str, str] | None) -> list[RefT]:
        """
        Ticket references in a message's text (links to the ticket's page, ids in the
        provider's own format), in order of appearance, each once. `credential` is the one
        the lookup would use, when there is one (a self-hosted provider knows its host from
        it); None otherwise. The default finds nothing.
        """
        return []

    def id_option(self, ref: RefT) -> int | str | None:
        """The value of the command's `id` option that looks `ref` up (autocomplete offers
        it), or None when `id` cannot name it. The default: an int or str ref itself."""
        return ref if isinstance(ref, int | str) else None

    def remembers(self, ref: RefT) -> bool:
        """Whether a successful lookup of `ref` goes into the member's history (offered by
        the `id` option's autocomplete). False for refs that are not one ticket."""
        return True

    def explain(self, error: TicketLensError) -> str | None:
        """Provider-specific advice for an error (e.g. "allow the bot's IP"); None: the default."""
        return None

    def quote(self, text: str, credential: Mapping[str, str], *, limit: int = 300) -> str:
        """An upstream message fit to show in an error: one line, bounded, with this
        credential's secrets and every other secret the bot knows masked."""
        return self.http.quote(text, self.secrets_of(credential), limit=limit)

    @classmethod
    def secrets_of(cls, credential: Mapping[str, str]) -> list[str]:
        """Values that must never appear in logs, errors or messages."""
        secret_keys = {f.key for f in cls.credential_fields if f.secret}
        return [v for k, v in credential.items() if k in secret_keys and v]

    # -- watches (`/ticketwatch`, `bot.watch`) ------------------------------------------------

    def watch_state(self, view: TicketView) -> WatchState:
        """
        What a watch compares between polls of `view` (its public part, as the card shows
        it). The default reads the "State"/"Status" field, an assignee field ("Assigned to",
        "Claimed by", "Flagged to") and a "Replies" field, else counts the customer and staff
        entries; a provider whose views say these otherwise overrides it.
        """
        replies_text = _field_text(view, _REPLY_FIELDS)
        if replies_text.isdigit():
            replies = int(replies_text)
        else:
            replies = sum(1 for entry in view.entries if entry.kind in _REPLY_KINDS)
        return WatchState(
            state=_field_text(view, _STATE_FIELDS),
            assignee=_field_text(view, _ASSIGNEE_FIELDS),
            replies=replies,
        )

    def watch_ref(self, text: str) -> RefT:
        """The ticket a member names by typing `text` in `/ticketwatch add id:` (what the
        lookup command's `id` option takes); BadInput otherwise. The default: `parse_ref`."""
        return self.parse_ref(text.strip())

    def feed_ref(self, text: str) -> RefT | None:
        """The ref of a feed (a list whose new tickets a watch posts) named by `text`, as
        `ref_text` wrote it; None when `text` names no feed. The default: none."""
        return None

    async def fetch_feed(self, credential: Credential, ref: RefT) -> list[tuple[str, TicketView]]:
        """
        The tickets a feed lists now, newest first, each as (its `ref_text`, its view). Only
        for refs `feed_ref` accepts; raises the same errors as `fetch`.
        """
        raise BadInput(f"{self.label} has no ticket feeds.")
