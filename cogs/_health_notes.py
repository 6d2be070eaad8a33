"""
What the credential check found, in words: the state rules both `/ticketconfig show` and the
background check (`cogs.health`) read, and the lines `show` adds beside each provider.

Apart from `cogs.health` because that builds on `cogs.config` (its check is
`check_credential`), while `show` in `cogs.config` reads these: kept here, neither imports the
other's module in a cycle. Not an extension (the leading underscore).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.i18n import Translate
from bot.providers.base import Provider
from bot.store import CredentialHealth, CredentialUnreadable
from bot.usage import UsageReport

if TYPE_CHECKING:
    from bot.app import TicketLensBot

#: Checks in a row that could not reach a provider before its credential counts as failing.
UNREACHABLE_AFTER = 3
#: Failures that are certain: the provider (or the bot) refused the credential as it is.
DEFINITE = frozenset({"rejected", "not_permitted", "invalid", "unreadable"})


def shown_failing(health: CredentialHealth | None) -> bool:
    """Whether the credential counts as failing (told, and shown): a definite failure, or a
    provider that did not answer UNREACHABLE_AFTER checks in a row."""
    if health is None or health.failing_since is None:
        return False
    return health.reason != "unreachable" or health.unreachable >= UNREACHABLE_AFTER


def reason_words(reason: str | None, label: str, tr: Translate) -> str:
    """A stored reason in `tr`'s words."""
    words = {
        "rejected": tr("key rejected"),
        "not_permitted": tr("no API access"),
        "invalid": tr("a stored value is refused"),
        "unreadable": tr("cannot be read with this bot's key"),
        "unreachable": tr("{label} is not answering", label=label),
    }
    return words.get(reason or "", reason or "")


def timestamp_of(at: datetime | None) -> int:
    return int(at.timestamp()) if at is not None else 0


# -- /ticketconfig show ---------------------------------------------------------------------------


def failing_note(checks: list[CredentialHealth], provider: Provider[Any], tr: Translate) -> str:
    """For the guild's own credential of `provider`: "; failing since <time>: <reason>", or
    "" while it works."""
    own = next((h for h in checks if h.provider == provider.key and h.user_id is None), None)
    if own is None or not shown_failing(own):
        return ""
    note = tr(
        "; ⚠️ failing since <t:{time}:f>: {reason}",
        time=timestamp_of(own.failing_since),
        reason=reason_words(own.reason, provider.label, tr),
    )
    if own.stopped:
        note += tr(" (not checked again until saved)")
    return note


def members_failing_note(
    checks: list[CredentialHealth], provider: Provider[Any], tr: Translate
) -> str:
    """For members' own credentials of `provider`: "; N of them failing", or ""."""
    count = sum(
        1
        for h in checks
        if h.provider == provider.key and h.user_id is not None and shown_failing(h)
    )
    return tr("; {count} of them failing", count=count) if count else ""


def usage_words(report: UsageReport, tr: Translate, now: float) -> str:
    """One credential's use: requests in the last hour, the last 429, the allowance left."""
    parts = [tr("{requests} request(s) in the last hour", requests=report.requests)]
    if report.last_429 is not None:
        parts.append(tr("last rate limit (429) <t:{time}:R>", time=int(report.last_429)))
    allowance = report.allowance
    if allowance is not None:
        seen = int(allowance.seen_at)
        if allowance.remaining is not None and allowance.limit is not None:
            left = tr(
                "{remaining} of {limit} left <t:{time}:R>",
                remaining=allowance.remaining,
                limit=allowance.limit,
                time=seen,
            )
        elif allowance.remaining is not None:
            left = tr("{remaining} left <t:{time}:R>", remaining=allowance.remaining, time=seen)
        else:
            left = tr("limit {limit} <t:{time}:R>", limit=allowance.limit, time=seen)
        parts.append(left)
        reset_at = allowance.reset_at
        if allowance.remaining == 0 and reset_at is not None and reset_at > now:
            parts.append(tr("more <t:{time}:R>", time=int(reset_at)))
    return "; ".join(parts)


async def usage_lines(
    bot: TicketLensBot, guild_id: int, provider: Provider[Any], tr: Translate
) -> list[str]:
    """The line under a provider in `/ticketconfig show` on how much the server's own
    credential was used (this process's count); none without a credential or any use."""
    try:
        credential = await bot.store.get_credential(guild_id, None, provider.key)
    except CredentialUnreadable:
        return []
    if credential is None:
        return []
    report = bot.usage.report(provider.key, credential.fingerprint)
    if report is None or (
        report.requests == 0 and report.last_429 is None and report.allowance is None
    ):
        return []
    return ["└ " + usage_words(report, tr, time.time())]
