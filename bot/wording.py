"""
The words users read when something did not work, in one place.

Each typed error maps to a title and a text that says what to do next. Texts name commands
and permissions, never a credential, URL or raw upstream body. A provider may add its own advice
(`Provider.explain`), shown after the generic text. (Sending them is `bot.respond`'s job.)
"""

from __future__ import annotations

from bot.errors import (
    BadAnswer,
    BadInput,
    CredentialsRejected,
    LinkedKeyRejected,
    NotConfigured,
    NotLinked,
    NotPermitted,
    PolicyRefusal,
    RateLimited,
    TicketLensError,
    TicketNotFound,
    UpstreamUnavailable,
)

UNEXPECTED = (
    "Something went wrong",
    "TicketLens hit an unexpected problem answering this. It has been logged; please try again.",
)
NEEDS_MANAGE_SERVER = (
    "Permission needed",
    "Only members with the **Manage Server** permission can change TicketLens settings.",
)
UNREADABLE_CREDENTIAL = (
    "Stored credentials can't be read",
    "The credentials stored for this lookup cannot be decrypted with this bot's key (they may "
    "come from another installation). Enter them again: `/ticketconfig set` for the server's, "
    "`/ticketaccount link` for your own.",
)
GUILD_ONLY = ("Servers only", "TicketLens commands work inside a server, not in direct messages.")
STAFF_ONLY = (
    "Staff only",
    "Tickets from {label} can only be looked up by staff (members with **Manage Server** or "
    "the staff role set with `/ticketconfig staffrole`).",
)
PUBLIC_NOT_ALLOWED = (
    "Can't post this publicly",
    "Tickets from {label} are private, so TicketLens only shows them to you. "
    "Run the command again without `public`.",
)

TICKET_NOT_PUBLIC = (
    "Can't post this publicly",
    "{label} keeps this ticket out of public view: {reason}. Run the command again without "
    "`public` to see it yourself.",
)


def describe(error: TicketLensError) -> tuple[str, str]:
    """Title and text for a typed error, in the words of the provider it is about."""
    provider = error.provider
    label = provider.label if provider is not None else "The provider"
    key = provider.key if provider is not None else ""
    configure = f"`/ticketconfig set provider:{key}`"
    if isinstance(error, BadInput):
        return "Can't look that up", error.detail
    if isinstance(error, PolicyRefusal):
        if error.detail == "ticket_not_public":
            title, text = TICKET_NOT_PUBLIC
            return title, text.format(label=label, reason=error.reason)
        title, text = STAFF_ONLY if error.detail == "staff_only" else PUBLIC_NOT_ALLOWED
        return title, text.format(label=label)
    if isinstance(error, NotLinked):
        return (
            f"Link your {label} account",
            f"{label} tickets are read with your own API key, so only tickets of your account "
            f"are shown. Link it with `/ticketaccount link provider:{key}`.",
        )
    if isinstance(error, NotConfigured):
        return (
            f"{label} isn't set up here",
            f"This server has no {label} credentials yet. A member with the "
            f"**Manage Server** permission can add them with {configure}.",
        )
    if isinstance(error, TicketNotFound):
        return (
            "Ticket not found",
            f"{label} says ticket `{error.ticket_ref}` was not found. Check the id and try again.",
        )
    if isinstance(error, LinkedKeyRejected):
        return (
            f"{label} rejected your key",
            f"{label} did not accept the key you linked{_reason(error)}. Link a new one with "
            f"`/ticketaccount link provider:{key}`.",
        )
    if isinstance(error, CredentialsRejected):
        return (
            f"{label} rejected the credentials",
            f"{label} did not accept the credentials stored for this server"
            f"{_reason(error)}. A member with **Manage Server** can replace them with "
            f"{configure}.",
        )
    if isinstance(error, NotPermitted):
        return (
            f"{label} refused this",
            f"{label} did not allow this request{_reason(error)}.",
        )
    if isinstance(error, RateLimited):
        wait = (
            f" Try again in about {max(1, round(error.retry_after))} s."
            if error.retry_after
            else " Try again in a minute."
        )
        return f"{label} asks us to slow down", f"Too many lookups for now.{wait}"
    if isinstance(error, UpstreamUnavailable):
        return (
            f"{label} is not answering",
            f"{label} is slow or down right now{_reason(error)}. Try again in a minute.",
        )
    if isinstance(error, BadAnswer):
        return (
            f"{label} sent something unexpected",
            f"TicketLens could not read {label}'s answer{_reason(error)}. Try again later; "
            "if it keeps happening, the bot's maintainers will want to know.",
        )
    return UNEXPECTED


def _reason(error: TicketLensError) -> str:
    return f" ({error.detail})" if error.detail else ""
