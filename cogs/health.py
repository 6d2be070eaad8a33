"""
Credential health: every stored credential is checked again in the background, and what went
wrong is told once.

Each credential of this process's guilds (the guild's own and members' own; with SHARD_IDS a
process holds only some guilds, and checks only those) is checked every CREDENTIAL_CHECK_HOURS
with the save-time check (`cogs.config.check_credential`, stored), one at a time and spaced
out (`MIN_GAP_S` to `MAX_GAP_S` apart) so that a few hundred credentials never go out at once;
each request also waits for its credential's turn in the HTTP layer's rate limiter. What a
check found is stored per credential (`Store.put_credential_health`), so a restart does not
check everything again; saving the credential again (a new `set_at`) or deleting it clears it.

A definite failure (the provider rejected the key, refused it API access, or a stored value is
refused; or the credential no longer opens) is failing at once. A provider that did not answer
is only failing after `UNREACHABLE_AFTER` checks in a row: a provider's bad hour is not the
server's problem. A newly failing credential is posted once to the guild's log channel (when
one is set), its recovery once too; mentions are names (allowed mentions are none, see
`post_to_log`), and the words are the guild's language. `/ticketconfig show` says "failing
since <time>: <reason>" beside it and, per provider, how much the server's credential was used
in the last hour (`cogs._health_notes`, from `bot.usage`).

A provider that punishes failed logins (`Provider.stop_checks_after_rejection`: WHMCS bans
the bot's IP after three in 30 minutes) is not checked again after one definite failure, until
the credential is saved anew.

Time comes from a `Clock` (tests inject one they move by hand, so nothing sleeps).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from discord.ext import commands

from bot.clock import Clock, SystemClock, utc_now
from bot.errors import CredentialsRejected, NotPermitted
from bot.i18n import Translate
from bot.providers.base import Provider
from bot.store import CredentialHealth, CredentialUnreadable
from cogs._health_notes import (
    DEFINITE,
    reason_words,
    shown_failing,
    timestamp_of,
)
from cogs.config import CheckResult, CheckStatus, check_credential, log_notice, post_to_log

if TYPE_CHECKING:
    from bot.app import TicketLensBot

log = logging.getLogger(__name__)

#: Seconds between two checks: the interval shared out over every credential, within these.
MIN_GAP_S = 1.0
MAX_GAP_S = 60.0
#: Longest sleep between two looks at what is due (credentials saved meanwhile are found then).
RESCAN_S = 3600.0

# -- what a check means ------------------------------------------------------------------------


def reason_of(result: CheckResult) -> str | None:
    """A check's outcome as a stored reason; None when it worked."""
    if result.status is CheckStatus.OK:
        return None
    if result.status is CheckStatus.UNREACHABLE:
        return "unreachable"
    if isinstance(result.error, CredentialsRejected):
        return "rejected"
    if isinstance(result.error, NotPermitted):
        return "not_permitted"
    return "invalid"


def next_state(
    health: CredentialHealth, reason: str | None, now: datetime, *, stop: bool
) -> CredentialHealth:
    """
    What to store after a check found `reason` (None: it works). `stop`: a definite failure
    stops the checks of this credential (`Provider.stop_checks_after_rejection`). `reported`
    is kept while the same kind of failure goes on, and reset when it changes.
    """
    if reason is None:
        return replace(
            health,
            checked_at=now,
            failing_since=None,
            reason=None,
            unreachable=0,
            reported=False,
            stopped=False,
        )
    if reason == "unreachable":
        if health.reason in DEFINITE:
            return replace(health, checked_at=now)  # still refused, as far as anyone knows
        since = health.failing_since if health.reason == "unreachable" else None
        return replace(
            health,
            checked_at=now,
            failing_since=since or now,
            reason=reason,
            unreachable=health.unreachable + 1,
        )
    if health.reason in DEFINITE:
        return replace(health, checked_at=now, reason=reason, unreachable=0, stopped=stop)
    return replace(
        health,
        checked_at=now,
        failing_since=now,
        reason=reason,
        unreachable=0,
        reported=False,
        stopped=stop,
    )


# -- the log channel ----------------------------------------------------------------------------


def failing_post(
    health: CredentialHealth, provider: Provider[Any], tr: Translate
) -> tuple[str, str]:
    """The log channel's title and text for a newly failing credential (the guild's words)."""
    reason = reason_words(health.reason, provider.label, tr)
    label, key, since = provider.label, provider.key, timestamp_of(health.failing_since)
    if health.user_id is None:
        text = tr(
            "This server's **{label}** credentials are failing since <t:{time}:f>: {reason}. "
            "Check them with `/ticketconfig test provider:{key}`, and replace them with "
            "`/ticketconfig set provider:{key}`.",
            label=label,
            time=since,
            reason=reason,
            key=key,
        )
    else:
        text = tr(
            "<@{user}>'s own **{label}** key is failing since <t:{time}:f>: {reason}. They can "
            "link a working one with `/ticketaccount link provider:{key}`.",
            user=health.user_id,
            label=label,
            time=since,
            reason=reason,
            key=key,
        )
    if health.stopped:
        text += " " + tr(
            "TicketLens will not check it again until it is saved anew: repeated failed "
            "logins would get the bot's IP address banned."
        )
    return tr("{label} credentials failing", label=label), text


def recovered_post(
    health: CredentialHealth, provider: Provider[Any], tr: Translate
) -> tuple[str, str]:
    """The log channel's title and text for a credential that works again."""
    label, checked = provider.label, timestamp_of(health.checked_at)
    if health.user_id is None:
        text = tr(
            "This server's **{label}** credentials work again (checked <t:{time}:f>).",
            label=label,
            time=checked,
        )
    else:
        text = tr(
            "<@{user}>'s own **{label}** key works again (checked <t:{time}:f>).",
            user=health.user_id,
            label=label,
            time=checked,
        )
    return tr("{label} credentials working again", label=label), text


# -- the check --------------------------------------------------------------------------------


class HealthChecker:
    """Checks what is due, spaced out, and tells the log channels; see the module docstring."""

    def __init__(self, bot: TicketLensBot, clock: Clock) -> None:
        self.bot = bot
        self.clock = clock

    @property
    def interval(self) -> timedelta:
        """How often each credential is checked (CREDENTIAL_CHECK_HOURS)."""
        return timedelta(hours=self.bot.settings.credential_check_hours)

    def due_at(self, health: CredentialHealth) -> datetime:
        """When a credential is next checked: an interval after its last check, or after it
        was saved (which checked it)."""
        return (health.checked_at or health.set_at) + self.interval

    def _ours(self, health: CredentialHealth) -> bool:
        # Only this process's guilds (get_guild knows unavailable ones too), only providers it
        # runs, and not one the checks stopped for.
        return (
            not health.stopped
            and health.provider in self.bot.providers
            and self.bot.get_guild(health.guild_id) is not None
        )

    async def run(self) -> None:
        """Check what is due, then sleep until more is; forever (cancelled on unload)."""
        await self.bot.wait_until_ready()
        while True:
            try:
                wait = await self.run_once()
            except Exception:
                log.warning("credential checks failed; trying again later", exc_info=True)
                wait = RESCAN_S
            await self.clock.sleep(wait)

    async def run_once(self) -> float:
        """Check every credential due now, spaced out; seconds until the next one is due."""
        rows = [h for h in await self.bot.store.list_credential_health() if self._ours(h)]
        now = utc_now(self.clock)
        due = sorted((h for h in rows if self.due_at(h) <= now), key=self.due_at)
        later = [self.due_at(h) for h in rows if self.due_at(h) > now]
        # The interval shared out over every credential: once their checks have spread out,
        # each waits its turn; after a long downtime the backlog goes out this far apart.
        gap = min(MAX_GAP_S, max(MIN_GAP_S, self.interval.total_seconds() / max(len(rows), 1)))
        for index, health in enumerate(due):
            if index:
                await self.clock.sleep(gap)
            if self.bot.get_guild(health.guild_id) is None:
                continue  # removed meanwhile
            try:
                await self.check(health)
            except Exception:
                log.warning(
                    "credential check of %s for guild %s failed",
                    health.provider,
                    health.guild_id,
                    exc_info=True,
                )
        if not later:
            return RESCAN_S
        until = (min(later) - utc_now(self.clock)).total_seconds()
        # After a check, the next one (due a moment later) still keeps the gap.
        return min(RESCAN_S, max(gap if due else MIN_GAP_S, until))

    async def check(self, health: CredentialHealth) -> None:
        """Check one credential now, store what was found and tell what changed."""
        provider = self.bot.providers.get(health.provider)
        if provider is None:
            return
        try:
            credential = await self.bot.store.get_credential(
                health.guild_id, health.user_id, health.provider
            )
        except CredentialUnreadable:
            reason: str | None = "unreadable"
        else:
            if credential is None:
                return  # deleted meanwhile
            self.bot.access.remember_secrets(provider, credential)
            reason = reason_of(await check_credential(self.bot, provider, credential, stored=True))
        stop = provider.stop_checks_after_rejection and reason in DEFINITE - {"unreadable"}
        await self.record(
            health, provider, next_state(health, reason, utc_now(self.clock), stop=stop)
        )

    async def record(
        self, before: CredentialHealth, provider: Provider[Any], after: CredentialHealth
    ) -> None:
        """Store a check's outcome; post a new failure or a recovery once."""
        recovered = after.failing_since is None and before.reported
        tell = recovered or (shown_failing(after) and not after.reported)
        if shown_failing(after):
            after = replace(after, reported=True)
        whose = "guild" if after.user_id is None else f"member {after.user_id}"
        if not await self.bot.store.put_credential_health(after):
            return  # saved again or deleted while it was checked: this was about the old one
        if (after.reason, after.failing_since) != (before.reason, before.failing_since):
            log.info(
                "%s credential of %s in guild %s: %s",
                provider.key,
                whose,
                after.guild_id,
                after.reason or "works",
            )
        if not tell:
            return
        guild = self.bot.get_guild(after.guild_id)
        tr = self.bot.i18n.bind(guild.preferred_locale if guild is not None else None)
        title, text = (recovered_post if recovered else failing_post)(after, provider, tr)
        posted = await post_to_log(self.bot, after.guild_id, log_notice(title, text))
        if posted is False and not recovered:
            # Not told after all: the next check tries again.
            await self.bot.store.put_credential_health(replace(after, reported=False))


class CredentialHealthCog(commands.Cog, name="CredentialHealth"):
    """The background check's life: started with the extension, cancelled with it."""

    def __init__(self, bot: TicketLensBot) -> None:
        self.bot = bot
        self.checker = HealthChecker(bot, SystemClock())
        self._task: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        """Start checking (once the bot is ready: only then are its guilds known)."""
        await self.restart()

    async def cog_unload(self) -> None:
        """Stop checking."""
        await self._stop()

    async def restart(self, clock: Clock | None = None) -> None:
        """(Re)start the check, on `clock` when given (tests give one they move by hand)."""
        await self._stop()
        if clock is not None:
            self.checker.clock = clock
        self._task = asyncio.create_task(self.checker.run(), name="ticketlens-credential-health")

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def setup(bot: TicketLensBot) -> None:
    """Start the background check of stored credentials."""
    await bot.add_cog(CredentialHealthCog(bot))
