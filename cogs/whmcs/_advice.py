"""
What to do about WHMCS's failure modes: the advice under an error (`Whmcs.explain`).

Each text answers one upstream message or one of our own refusals; the facts behind them
(IP allow list, access key, ban after failed logins, API roles) are in docs/providers/whmcs.md.
Every text is a `Msg`, so it reaches each reader in their language; a command it names is
part of the text (its German names differ), the provider key a value.
"""

from __future__ import annotations

from bot.errors import (
    BadAnswer,
    BadInput,
    CredentialsRejected,
    NotPermitted,
    TicketLensError,
    TicketNotFound,
)
from bot.i18n import Msg


def capitalised(detail: str) -> str:
    """`detail` starting with a capital letter; our own words (`Msg`s, which start with
    one) stay translatable."""
    if detail[:1].isupper() or not detail:
        return detail
    return f"{detail[:1].upper()}{detail[1:]}"


def explain(error: TicketLensError, *, key: str) -> str | None:
    """What to do about WHMCS's own failure modes; `key` is the provider's command name."""
    detail = error.detail.lower()
    if isinstance(error, TicketNotFound):
        if error.ticket_ref.startswith("id:"):
            return Msg(
                "TicketLens looked it up by **id**, the internal ticket ID (as in the admin "
                "area's ticket URL). For the ticket number customers see, such as "
                "`ABC-123456`, use `number:` instead."
            )
        return Msg(
            "TicketLens looked it up by **number**, the ticket number customers see. For "
            "the internal ticket ID, use `id:` instead."
        )
    if isinstance(error, NotPermitted):
        if detail.startswith("invalid ip"):
            return Msg(
                "WHMCS only answers API calls from allowed IP addresses. A WHMCS admin can "
                "allow the bot's IP address (the one named above) under **Setup → General "
                "Settings → Security → API IP Access Restriction** (one address per line, "
                "no ranges), or set `$api_access_key` in WHMCS's configuration.php and "
                "enter it as **Access key (optional)** with `/ticketconfig set provider:{key}`.",
                key=key,
            )
        if detail.startswith("ip banned"):
            return Msg(
                "WHMCS bans an IP address for a while (15 minutes by default) after 3 failed "
                "logins within 30 minutes. Check the stored credentials, then wait or ask a "
                "WHMCS admin to lift the ban on the bot's IP address."
            )
        if detail.startswith("invalid permissions"):
            return Msg(
                "Give the API credential's role the **GetTicket** permission (Tickets "
                "group) in WHMCS's API roles."
            )
        if detail.startswith("access denied"):
            return Msg(
                "The WHMCS admin behind the API credential needs the **API Access** permission."
            )
        if detail.startswith("http 40"):
            return Msg(
                "Ask whoever runs the WHMCS site to let the bot's requests to "
                "`/includes/api.php` through."
            )
        return None
    if isinstance(error, CredentialsRejected):
        if detail.startswith("invalid access key"):
            return Msg(
                "The access key must match `$api_access_key` in WHMCS's configuration.php; "
                "leave it empty if that is not set. Replace it with "
                "`/ticketconfig set provider:{key}`.",
                key=key,
            )
        return Msg(
            "Use an API credential (identifier and secret from WHMCS's **Manage API "
            "Credentials** page), not an admin username and password."
        )
    if isinstance(error, BadAnswer | BadInput) and "redirect" in detail:
        # BadAnswer's own text does not show the detail; BadInput's does.
        if isinstance(error, BadAnswer):
            return Msg(
                "{detail}. The credentials only ever go to the address that was entered, so a "
                "member with **Manage Server** needs to enter the address WHMCS answers on "
                "directly (check https:// and www.) with `/ticketconfig set provider:{key}`.",
                detail=capitalised(error.detail),
                key=key,
            )
        return Msg(
            "The credentials only ever go to the address that was entered, so a "
            "member with **Manage Server** needs to enter the address WHMCS answers on "
            "directly (check https:// and www.) with `/ticketconfig set provider:{key}`.",
            key=key,
        )
    if isinstance(error, BadAnswer | BadInput) and detail.startswith(
        "whmcs answered, but with php warnings"
    ):
        return Msg(
            "PHP notices printed into WHMCS's answers hide the data. A WHMCS admin can turn "
            "off **Display Errors** (General Settings, Other tab) and PHP's `display_errors`, "
            "or fix the hook or module the warning names; the same credentials then work."
        )
    if isinstance(error, BadInput) and detail.startswith("the url was refused"):
        return Msg(
            "A member with **Manage Server** can enter another URL with "
            "`/ticketconfig set provider:{key}`.",
            key=key,
        )
    if isinstance(error, BadInput) and detail.startswith("no whmcs api answered"):
        return Msg(
            "Enter the address of the WHMCS install itself (what comes before `/admin` or "
            "`/clientarea.php`), such as `https://billing.example.com`."
        )
    return None
