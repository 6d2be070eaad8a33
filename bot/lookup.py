"""
One lookup, end to end: access -> credential -> cached fetch -> audience -> render -> respond.

Provider commands parse and validate their options, then hand over here. This is also where a
provider's errors get their provider (`for_provider`), once for the whole lookup. If the
answer is not ready within `DEFER_AFTER_S`, we defer and edit later, so Discord's 3 s deadline
is never missed; when it is ready in time we answer directly (a deferral costs a second
request).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING, TypeVar

import discord

from bot.access import Decision, ResolvedCredential, check_publishable, decide, for_audience
from bot.errors import CredentialsRejected, PolicyRefusal, TicketLensError
from bot.paging import PageTurner
from bot.providers.base import Provider, TicketView
from bot.render import render_pages
from bot.respond import PUBLIC_PLACEHOLDER, send_embeds

if TYPE_CHECKING:
    from bot.app import TicketLensBot

R = TypeVar("R", bound=Hashable)

#: Defer when the answer is not ready by then; Discord allows 3 s for the first response.
DEFER_AFTER_S = 2.0


async def run_lookup(
    bot: TicketLensBot,
    interaction: discord.Interaction,
    provider: Provider[R],
    ref: R,
    *,
    public: bool,
) -> None:
    """Look `ref` up with `provider` for the member behind `interaction` and answer."""
    try:
        started = time.monotonic()
        access = bot.access
        viewer = await access.viewer(interaction)
        decision = decide(provider.visibility, viewer, public_requested=public)
        if not decision.allowed:
            raise PolicyRefusal(decision.refusal or "")
        resolved = await access.credential(
            interaction.guild_id, viewer.user_id, provider, is_staff=viewer.is_staff
        )
        # The lookup runs in this task; a timer defers the interaction if it is not done in time.
        # (A task per lookup and asyncio.wait cost more than the rest of our own work on it.)
        deferral = _Deferral(interaction, ephemeral=decision.ephemeral)
        remaining = DEFER_AFTER_S - (time.monotonic() - started)
        timer = asyncio.get_running_loop().call_later(max(0.0, remaining), deferral.start)
        try:
            pages = await _pages(bot, provider, resolved, ref, decision)
        except asyncio.CancelledError:
            # The deferral failed (nobody can be answered now) and stopped the lookup: say why.
            if deferral.failure is None:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            raise deferral.failure from None
        finally:
            timer.cancel()
            deferral.fetching = False
        await deferral.finished()
        if len(pages) == 1:
            await send_embeds(interaction, pages[0], ephemeral=decision.ephemeral)
            return
        turner = PageTurner(pages, invoker_id=interaction.user.id)
        turner.origin = interaction
        await send_embeds(interaction, pages[0], ephemeral=decision.ephemeral, view=turner)
    except TicketLensError as exc:
        raise exc.for_provider(provider) from None


class _Deferral:
    """Defers an interaction on a timer; if that fails, stops the lookup it was for."""

    def __init__(self, interaction: discord.Interaction, *, ephemeral: bool) -> None:
        self._interaction = interaction
        self._ephemeral = ephemeral
        self._lookup = asyncio.current_task()
        self._task: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None
        self.fetching = True

    def start(self) -> None:
        """Send the deferral now (the timer's callback)."""
        self._task = asyncio.ensure_future(self._defer())

    async def _defer(self) -> None:
        try:
            await self._interaction.response.defer(ephemeral=self._ephemeral, thinking=True)
        except Exception as exc:
            # Nobody could be answered now (the interaction expired): stop the lookup too.
            self.failure = exc
            if self.fetching and self._lookup is not None:
                self._lookup.cancel()
            return
        if not self._ephemeral:
            self._interaction.extras[PUBLIC_PLACEHOLDER] = True

    async def finished(self) -> None:
        """Wait for a deferral in flight; raise its failure if it had one."""
        if self._task is not None:
            await self._task
        if self.failure is not None:
            raise self.failure


async def _pages(
    bot: TicketLensBot,
    provider: Provider[R],
    resolved: ResolvedCredential,
    ref: R,
    decision: Decision,
) -> list[list[discord.Embed]]:
    credential = resolved.values

    async def fetch() -> TicketView:
        return await provider.fetch(credential, ref)

    try:
        view = await bot.tickets.get((provider.key, resolved.fingerprint, ref), fetch)
    except CredentialsRejected as exc:
        raise resolved.rejected(exc) from None
    check_publishable(view, decision)
    return render_pages(for_audience(view, decision.audience, shared_account=resolved.shared))
