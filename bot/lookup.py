"""
One lookup, end to end: policy -> credential -> fetch (cached) -> redact -> render -> respond.

Provider cogs parse and validate their options, then hand over here. If the answer is not
ready within `DEFER_AFTER_S`, we defer and edit later, so Discord's 3 s deadline is never
missed; when it is ready in time we answer directly (a deferral costs a second request).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING, TypeVar

import discord

from bot.errors import CredentialsRejected, LinkedKeyRejected, PolicyRefusal
from bot.http import fingerprint
from bot.paging import PageTurner
from bot.policy import Viewer, decide, redact
from bot.providers.base import CredentialScope, Provider
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
    started = time.monotonic()
    viewer = Viewer(user_id=interaction.user.id, is_staff=await bot.is_staff(interaction))
    decision = decide(provider.visibility, viewer, public_requested=public)
    if not decision.allowed:
        raise PolicyRefusal(provider.key, decision.refusal or "")
    resolved = await bot.credential_for(interaction, provider, is_staff=viewer.is_staff)
    credential = resolved.values
    cache_key = (
        provider.key,
        fingerprint(*(f"{k}={v}" for k, v in sorted(credential.items()))),
        ref,
    )

    async def fetch_and_render() -> list[list[discord.Embed]]:
        try:
            view = await bot.fetcher.cached(cache_key, lambda: provider.fetch(credential, ref))
        except CredentialsRejected as exc:
            if provider.scope is CredentialScope.MEMBER and not resolved.shared:
                # The fix is the member's own (`/ticketaccount link`), not an admin's.
                raise LinkedKeyRejected(provider.key, exc.detail) from None
            raise
        if resolved.shared:
            footer = view.footer or f"{view.provider_label} · {view.ticket_id}"
            view = view.model_copy(
                update={"footer": f"{footer} · seen with this server's shared team account"}
            )
        return render_pages(redact(view, decision.audience))

    task = asyncio.ensure_future(fetch_and_render())
    remaining = DEFER_AFTER_S - (time.monotonic() - started)
    # asyncio.wait, not wait_for(shield(...)): the task must outlive the timeout either way.
    done, _ = await asyncio.wait({task}, timeout=max(0.0, remaining))
    if not done:
        try:
            await interaction.response.defer(ephemeral=decision.ephemeral, thinking=True)
        except BaseException:
            # Nobody could be answered now (the interaction expired): stop the lookup too.
            task.cancel()
            raise
        if not decision.ephemeral:
            interaction.extras[PUBLIC_PLACEHOLDER] = True
    pages = await task
    if len(pages) == 1:
        await send_embeds(interaction, pages[0], ephemeral=decision.ephemeral)
        return
    turner = PageTurner(pages, invoker_id=interaction.user.id)
    turner.origin = interaction
    await send_embeds(interaction, pages[0], ephemeral=decision.ephemeral, view=turner)
