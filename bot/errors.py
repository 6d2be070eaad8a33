"""
The typed errors every provider maps its answers to.

Each error carries only what our own code put in it (provider key, a reference the user typed,
a redacted upstream message), never a credential or a request URL, so it is safe to log and its
fields are safe to show. The wording users see lives in `bot.answers`, not here.
"""

from __future__ import annotations


class TicketLensError(Exception):
    """Base of every expected failure: the error handler answers these politely."""

    def __init__(self, provider: str | None, detail: str = "") -> None:
        self.provider = provider
        self.detail = detail
        super().__init__(f"{type(self).__name__}({provider}): {detail}" if detail else provider)


class BadInput(TicketLensError):
    """What the user typed cannot be a valid request; nothing was sent upstream."""


class NotConfigured(TicketLensError):
    """The guild (or member) has no credential stored for this provider."""


class NotLinked(NotConfigured):
    """An owner-scoped provider: the member has not linked their own credential."""


class TicketNotFound(TicketLensError):
    """The provider says the ticket does not exist (or is not visible to this credential)."""

    def __init__(self, provider: str, ticket_ref: str, detail: str = "") -> None:
        self.ticket_ref = ticket_ref
        super().__init__(provider, detail or f"ticket {ticket_ref} not found")


class CredentialsRejected(TicketLensError):
    """The provider refused the stored credential (bad key, revoked key)."""


class LinkedKeyRejected(CredentialsRejected):
    """A member's own linked credential was refused (not the guild's)."""


class NotPermitted(TicketLensError):
    """The credential is valid but may not do this (plan, scope, IP allow-list, staff only)."""


class RateLimited(TicketLensError):
    """The provider (or our own limiter) asks us to slow down."""

    def __init__(self, provider: str, retry_after: float | None = None, detail: str = "") -> None:
        self.retry_after = retry_after
        super().__init__(provider, detail)


class UpstreamUnavailable(TicketLensError):
    """Timeouts, connection failures and 5xx answers that outlasted our retries."""


class BadAnswer(TicketLensError):
    """The provider answered something we cannot read (not JSON, required fields missing)."""


class PolicyRefusal(TicketLensError):
    """Our own visibility policy refused the request (`detail` is the rule's code)."""
