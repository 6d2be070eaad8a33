"""
The typed errors every provider maps its answers to.

Each error carries only what our own code put in it (a reference the user typed, a redacted
upstream message), never a credential or a request URL, so it is safe to log and its fields are
safe to show. The wording users see lives in `bot.wording`, not here.

Providers and the HTTP layer raise these without saying which provider they are about: the
lookup and the save-time check know, and stamp it on once (`for_provider`), so the error handler
gets the provider object itself rather than a key to look up again.
"""

from __future__ import annotations

from typing import Protocol, Self


class ProviderRef(Protocol):
    """What an error needs of its provider: names for the wording, and its own advice."""

    @property
    def key(self) -> str:
        """The provider's machine name (`"whmcs"`), as in command names."""
        ...

    @property
    def label(self) -> str:
        """The provider's human name (`"WHMCS"`)."""
        ...

    def explain(self, error: TicketLensError) -> str | None:
        """Provider-specific advice for `error`, or None."""
        ...


class TicketLensError(Exception):
    """Base of every expected failure: the error handler answers these politely."""

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        self.provider: ProviderRef | None = None
        super().__init__(detail)

    def for_provider(self, provider: ProviderRef) -> Self:
        """Stamp the provider this error is about (at the lookup or save-time boundary)."""
        if self.provider is None:
            self.provider = provider
        return self

    def __str__(self) -> str:
        key = self.provider.key if self.provider is not None else None
        return f"{type(self).__name__}({key}): {self.detail}" if self.detail else str(key)


class BadInput(TicketLensError):
    """What the user typed cannot be a valid request; nothing was sent upstream."""


class NotConfigured(TicketLensError):
    """The guild (or member) has no credential stored for this provider."""


class NotLinked(NotConfigured):
    """An owner-scoped provider: the member has not linked their own credential."""


class TicketNotFound(TicketLensError):
    """The provider says the ticket does not exist (or is not visible to this credential)."""

    def __init__(self, ticket_ref: str, detail: str = "", *, noun: str = "ticket") -> None:
        self.ticket_ref = ticket_ref
        #: What was looked for, in the answer's words: "ticket", or "game" for a list's game.
        self.noun = noun
        super().__init__(detail or f"{noun} {ticket_ref} not found")


class CredentialsRejected(TicketLensError):
    """The provider refused the stored credential (bad key, revoked key)."""


class LinkedKeyRejected(CredentialsRejected):
    """A member's own linked credential was refused (not the guild's)."""


class NotPermitted(TicketLensError):
    """The credential is valid but may not do this (plan, scope, IP allow-list, staff only)."""


class RateLimited(TicketLensError):
    """The provider (or our own limiter) asks us to slow down."""

    def __init__(self, retry_after: float | None = None, detail: str = "") -> None:
        self.retry_after = retry_after
        super().__init__(detail)


class UpstreamUnavailable(TicketLensError):
    """Timeouts, connection failures and 5xx answers that outlasted our retries."""


class BadAnswer(TicketLensError):
    """The provider answered something we cannot read (not JSON, required fields missing)."""


class PolicyRefusal(TicketLensError):
    """Our own visibility policy refused the request (`detail` is the rule's code)."""

    def __init__(self, detail: str = "", reason: str = "") -> None:
        self.reason = reason
        """The provider's own words for why, where the rule has one."""
        super().__init__(detail)
