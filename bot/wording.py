"""
The words users read when something did not work, in one place.

Each typed error maps to a title and a text that says what to do next. Texts name commands
and permissions, never a credential, URL or raw upstream body. A provider may add its own advice
(`Provider.explain`), shown after the generic text. (Sending them is `bot.respond`'s job.)

Every title and text here is an English `str.format` template and the message id of its
translations (`bot.i18n`): `describe` and `Wording.say` word an answer in the language of the
`Translate` they are given. Provider labels, keys and upstream details are values, never
translated.
"""

from __future__ import annotations

from typing import NamedTuple

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
from bot.i18n import Translate, worded


class Wording(NamedTuple):
    """A title and a text, both message ids with the same placeholders in every language."""

    title: str
    text: str

    def say(self, tr: Translate, /, **values: object) -> tuple[str, str]:
        """Title and text in `tr`'s language, formatted with `values`."""
        return tr(self.title, **values), tr(self.text, **values)


UNEXPECTED = Wording(
    "Something went wrong",
    "TicketLens hit an unexpected problem answering this. It has been logged; please try again.",
)
NEEDS_MANAGE_SERVER = Wording(
    "Permission needed",
    "Only members with the **Manage Server** permission can change TicketLens settings.",
)
UNREADABLE_CREDENTIAL = Wording(
    "Stored credentials can't be read",
    "The credentials stored for this lookup cannot be decrypted with this bot's key (they may "
    "come from another installation). Enter them again: `/ticketconfig set` for the server's, "
    "`/ticketaccount link` for your own.",
)
GUILD_ONLY = Wording(
    "Servers only", "TicketLens commands work inside a server, not in direct messages."
)
BAD_VALUE = Wording("Check the value", "One of the values you typed is not valid here.")
#: A command or button press that arrived while the bot shuts down (it was not run).
RESTARTING = Wording("Restarting", "TicketLens is restarting; try again in a moment.")
STAFF_ONLY = Wording(
    "Staff only",
    "Tickets from {label} can only be looked up by staff (members with **Manage Server** or "
    "the staff role set with `/ticketconfig staffrole`).",
)
PUBLIC_NOT_ALLOWED = Wording(
    "Can't post this publicly",
    "Tickets from {label} are private, so TicketLens only shows them to you. "
    "Run the command again without `public`.",
)
TICKET_NOT_PUBLIC = Wording(
    "Can't post this publicly",
    "{label} keeps this ticket out of public view: {reason}. Run the command again without "
    "`public` to see it yourself.",
)
#: Its text is the provider's own words (`BadInput.detail`), not ours.
BAD_INPUT_TITLE = "Can't look that up"
NOT_LINKED = Wording(
    "Link your {label} account",
    "{label} tickets are read with your own API key, so only tickets of your account are "
    "shown. Link it with `/ticketaccount link provider:{key}`.",
)
NOT_CONFIGURED = Wording(
    "{label} isn't set up here",
    "This server has no {label} credentials yet. A member with the **Manage Server** "
    "permission can add them with `/ticketconfig set provider:{key}`.",
)
TICKET_NOT_FOUND = Wording(
    "Ticket not found",
    "{label} says ticket `{ticket_ref}` was not found. Check the id and try again.",
)
# What a list was asked for and does not exist (`TicketNotFound.noun`); other nouns read as
# the generic one, untranslated noun and all.
GAME_NOT_FOUND = Wording(
    "Game not found",
    "{label} says game `{ticket_ref}` was not found. Check the game's id and try again.",
)
ACHIEVEMENT_NOT_FOUND = Wording(
    "Achievement not found",
    "{label} says achievement `{ticket_ref}` was not found. Check its id and try again.",
)
DEVELOPER_NOT_FOUND = Wording(
    "User not found",
    "{label} has no user `{ticket_ref}`. Check the name (or ULID) and try again.",
)
THING_NOT_FOUND = Wording(
    "Not found",
    "{label} says {noun} `{ticket_ref}` was not found. Check it and try again.",
)
NOT_FOUND_BY_NOUN = {
    "ticket": TICKET_NOT_FOUND,
    "game": GAME_NOT_FOUND,
    "achievement": ACHIEVEMENT_NOT_FOUND,
    "developer": DEVELOPER_NOT_FOUND,
}
LINKED_KEY_REJECTED = Wording(
    "{label} rejected your key",
    "{label} did not accept the key you linked{reason}. Link a new one with "
    "`/ticketaccount link provider:{key}`.",
)
CREDENTIALS_REJECTED = Wording(
    "{label} rejected the credentials",
    "{label} did not accept the credentials stored for this server{reason}. A member with "
    "**Manage Server** can replace them with `/ticketconfig set provider:{key}`.",
)
NOT_PERMITTED = Wording("{label} refused this", "{label} did not allow this request{reason}.")
RATE_LIMITED_FOR = Wording(
    "{label} asks us to slow down", "Too many lookups for now. Try again in about {seconds} s."
)
RATE_LIMITED = Wording(
    "{label} asks us to slow down", "Too many lookups for now. Try again in a minute."
)
UNAVAILABLE = Wording(
    "{label} is not answering",
    "{label} is slow or down right now{reason}. Try again in a minute.",
)
BAD_ANSWER = Wording(
    "{label} sent something unexpected",
    "TicketLens could not read {label}'s answer{reason}. Try again later; if it keeps "
    "happening, the bot's maintainers will want to know.",
)
#: Stands in for the label of an error no provider was stamped on (should not happen).
SOME_PROVIDER = "The provider"


def describe(error: TicketLensError, tr: Translate, /) -> tuple[str, str]:
    """Title and text for a typed error, in the words of the provider it is about, in `tr`'s
    language."""
    provider = error.provider
    label = provider.label if provider is not None else tr(SOME_PROVIDER)
    key = provider.key if provider is not None else ""
    # Upstream details stay as they came (redacted English); a detail in our own words (a
    # provider's `Msg`) is translated with the frame around it.
    detail = worded(error.detail, tr)
    reason = f" ({detail})" if detail else ""
    if isinstance(error, BadInput):
        return tr(BAD_INPUT_TITLE), detail
    if isinstance(error, PolicyRefusal):
        if error.detail == "ticket_not_public":
            return TICKET_NOT_PUBLIC.say(tr, label=label, reason=worded(error.reason, tr))
        refusal = STAFF_ONLY if error.detail == "staff_only" else PUBLIC_NOT_ALLOWED
        return refusal.say(tr, label=label)
    if isinstance(error, NotLinked):
        return NOT_LINKED.say(tr, label=label, key=key)
    if isinstance(error, NotConfigured):
        return NOT_CONFIGURED.say(tr, label=label, key=key)
    if isinstance(error, TicketNotFound):
        wording = NOT_FOUND_BY_NOUN.get(error.noun, THING_NOT_FOUND)
        return wording.say(tr, label=label, ticket_ref=error.ticket_ref, noun=error.noun)
    if isinstance(error, LinkedKeyRejected):
        return LINKED_KEY_REJECTED.say(tr, label=label, key=key, reason=reason)
    if isinstance(error, CredentialsRejected):
        return CREDENTIALS_REJECTED.say(tr, label=label, key=key, reason=reason)
    if isinstance(error, NotPermitted):
        return NOT_PERMITTED.say(tr, label=label, reason=reason)
    if isinstance(error, RateLimited):
        if error.retry_after:
            return RATE_LIMITED_FOR.say(tr, label=label, seconds=max(1, round(error.retry_after)))
        return RATE_LIMITED.say(tr, label=label)
    if isinstance(error, UpstreamUnavailable):
        return UNAVAILABLE.say(tr, label=label, reason=reason)
    if isinstance(error, BadAnswer):
        return BAD_ANSWER.say(tr, label=label, reason=reason)
    return UNEXPECTED.say(tr)


def messages() -> list[str]:
    """Every message id in this module: what each catalog must translate."""
    found: list[str] = [BAD_INPUT_TITLE, SOME_PROVIDER]
    for value in globals().values():
        if isinstance(value, Wording):
            found += [value.title, value.text]
    return list(dict.fromkeys(found))
