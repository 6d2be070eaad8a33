"""
One lookup, end to end: access -> credential -> cached fetch -> audience -> render -> respond.

Provider commands parse and validate their options, then hand over here; the buttons under an
answer (`bot.controls`) come back here when pressed (`press`), and so does the message
context menu, through `prepare`. This is also where a
provider's errors get their provider (`for_provider`), once for the whole lookup. If the
answer is not ready within `DEFER_AFTER_S`, we defer and edit later, so Discord's 3 s deadline
is never missed; when it is ready in time we answer directly (a deferral costs a second
request).

Every lookup is counted here (`measure`): its provider, its outcome and its time from the
command (or press) to the answer sent, or to the error raised for the one error handler. Every
answer shown in a server with TicketLens is recorded for its admins (`audit`). When the
provider is rate limiting or down, the last answer fetched for the same ticket and credential
(`bot.cache`) is shown instead of the error, marked as such (`stale_notice`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Coroutine, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import discord

from bot.access import (
    Decision,
    ResolvedCredential,
    check_publishable,
    decide,
    for_audience,
    installed_guild,
    public_allowed_here,
)
from bot.controls import controls, fits
from bot.errors import (
    CredentialsRejected,
    PolicyRefusal,
    RateLimited,
    TicketLensError,
    UpstreamUnavailable,
)
from bot.i18n import Translate
from bot.metrics import outcome_of
from bot.paging import PageTurner
from bot.providers.base import Provider, TicketView
from bot.render import FOOTER_LIMIT, render_error, render_pages
from bot.respond import PUBLIC_PLACEHOLDER, send_embeds, send_new, send_private, update_message
from bot.wording import Wording

if TYPE_CHECKING:
    from bot.app import TicketLensBot

R = TypeVar("R", bound=Hashable)
T = TypeVar("T")

log = logging.getLogger(__name__)

#: Defer when the answer is not ready by then; Discord allows 3 s for the first response.
DEFER_AFTER_S = 2.0
#: Longest ref kept in a member's history (the store's bound).
HISTORY_REF_LIMIT: Final = 100
#: How an answer was shown, as the lookup audit records it.
Shown = Literal["ephemeral", "public", "shared"]

NOT_YOUR_BUTTON: Final = Wording(
    "Not your lookup",
    "Only the member who ran this lookup, or staff, can use its buttons. Run the command "
    "yourself to see the ticket.",
)
BUTTON_GONE: Final = Wording(
    "No longer available",
    "This button belongs to a system that is no longer connected to TicketLens.",
)


@dataclass(frozen=True, slots=True)
class Answer:
    """A looked-up ticket rendered for one reader: its pages and the view they came from."""

    pages: list[list[discord.Embed]]
    view: TicketView
    ephemeral: bool
    tr: Translate
    """The reader's language, for the buttons sent with it."""
    shareable: bool = False
    """A private answer its reader may post to the channel (the same rules as `public:true`,
    and the ticket's own `public_refusal`)."""
    stale: bool = False
    """A kept answer shown because the provider is rate limiting or down (`bot.cache`)."""


async def prepare(
    bot: TicketLensBot,
    interaction: discord.Interaction,
    provider: Provider[R],
    ref: R,
    *,
    public: bool,
    fresh: bool = False,
) -> Answer:
    """
    Access -> credential -> cached fetch -> audience -> render, for the member behind
    `interaction`. Raises the typed errors, stamped with `provider`. `fresh` bypasses the cache
    (Refresh); concurrent lookups of the same ticket still share one request.
    """
    try:
        access = bot.access
        viewer = await access.viewer(interaction)
        decision = decide(provider.visibility, viewer, public_requested=public)
        if not decision.allowed:
            raise PolicyRefusal(decision.refusal or "")
        # Outside a server with TicketLens (None): the member's own user-scope key, if any.
        resolved = await access.credential(
            installed_guild(interaction), viewer.user_id, provider, is_staff=viewer.is_staff
        )
        tr = bot.i18n.for_interaction(interaction)
        answer = await _answer(bot, provider, resolved, ref, decision, fresh=fresh, tr=tr)
        if decision.ephemeral and not answer.view.public_refusal:
            postable = decide(
                provider.visibility, viewer, public_requested=True
            ).allowed and public_allowed_here(interaction)
            if postable:
                answer = dataclasses.replace(answer, shareable=True)
        return answer
    except TicketLensError as exc:
        raise exc.for_provider(provider) from None


async def run_lookup(
    bot: TicketLensBot,
    interaction: discord.Interaction,
    provider: Provider[R],
    ref: R,
    *,
    public: bool,
) -> None:
    """Look `ref` up with `provider` for the member behind `interaction` and answer, with the
    answer's buttons; a successful lookup goes into the member's history."""
    started = time.monotonic()
    try:
        # The lookup runs in this task; a timer defers the interaction if it is not done in
        # time. (A task per lookup and asyncio.wait cost more than the rest of our own work on
        # it.) A public request defers publicly; if it is then refused or fails, the answer is
        # still private and the public placeholder is removed (`bot.respond.send_private`).
        # Where the member's own app may not post for everyone (a server that restricts
        # external apps), a public request is answered to them alone, with a note.
        shown_public = public and public_allowed_here(interaction)
        deferral = _Deferral(interaction, ephemeral=not shown_public)
        remaining = DEFER_AFTER_S - (time.monotonic() - started)
        answer = await deferral.around(
            prepare(bot, interaction, provider, ref, public=shown_public), after=remaining
        )
        if public and not shown_public:
            answer = _noted_private(answer)
        try:
            sent = await _send_answer(interaction, provider, ref, answer)
        except discord.HTTPException:
            # Discord may still refuse the member's own app a public answer here: then answer
            # them alone rather than leave "This interaction failed".
            if answer.ephemeral or installed_guild(interaction) is not None:
                raise
            if interaction.response.is_done():
                raise
            log.info("public answer refused outside a server with TicketLens; answering privately")
            sent = await _send_answer(interaction, provider, ref, _noted_private(answer))
    except Exception as exc:
        measure(bot, provider.key, started, outcome_of(exc))
        raise
    measure(bot, provider.key, started, "stale" if sent.stale else "ok")
    await remember(bot, interaction, provider, ref)
    await audit(bot, interaction, provider, ref, "ephemeral" if sent.ephemeral else "public")


def _noted_private(answer: Answer) -> Answer:
    """`answer` shown to its reader alone, saying why in its footer (no Share button: it
    could not be posted here either)."""
    tr = answer.tr
    note = tr("Only you can see this: TicketLens may not post for everyone here.")
    pages = [[embed.copy() for embed in page] for page in answer.pages]
    last = pages[0][-1]
    footer = f"{last.footer.text} · {note}" if last.footer.text else note
    last.set_footer(text=footer[:FOOTER_LIMIT])
    return dataclasses.replace(answer, pages=pages, ephemeral=True, shareable=False)


def measure(bot: TicketLensBot, provider_key: str, started: float, outcome: str) -> None:
    """Count one lookup of `provider_key` begun at `started` (`time.monotonic()`) that ended
    with `outcome` ("ok", or `bot.metrics.outcome_of` its error)."""
    bot.metrics.observe_lookup(provider_key, outcome, time.monotonic() - started)


async def _send_answer(
    interaction: discord.Interaction, provider: Provider[R], ref: R, answer: Answer
) -> Answer:
    """Send page 1 of `answer` with its buttons (paging in memory when the ref is too long
    for persistent buttons); `answer`, as sent."""
    ref_text = persistent_ref(provider, ref, len(answer.pages))
    buttons = controls(
        provider=provider.key,
        provider_label=provider.label,
        ref_text=ref_text,
        page=0,
        pages=len(answer.pages),
        url=answer.view.url,
        tr=answer.tr,
        shareable=answer.shareable,
    )
    if ref_text is None and len(answer.pages) > 1:
        turner = PageTurner(answer.pages, invoker_id=interaction.user.id, tr=answer.tr)
        turner.origin = interaction
        buttons = turner
    await send_embeds(interaction, answer.pages[0], ephemeral=answer.ephemeral, view=buttons)
    return answer


def persistent_ref(provider: Provider[R], ref: R, pages: int) -> str | None:
    """`ref` as button text, or None when it would not fit a custom id (no Refresh then)."""
    text = provider.ref_text(ref)
    if fits(provider.key, text, pages):
        return text
    log.debug("%s ref too long for persistent buttons (%d chars)", provider.key, len(text))
    return None


async def remember(
    bot: TicketLensBot, interaction: discord.Interaction, provider: Provider[R], ref: R
) -> None:
    """Keep a successful lookup in the member's history (autocomplete); never fails the
    answer already sent."""
    # Only in a server with TicketLens: elsewhere there is no server whose data it would be,
    # nor one whose removal would delete it.
    guild_id = installed_guild(interaction)
    if guild_id is None or not provider.remembers(ref):
        return
    text = provider.ref_text(ref)
    if len(text) > HISTORY_REF_LIMIT:
        return
    try:
        await bot.store.record_lookup(guild_id, interaction.user.id, provider.key, text)
    except Exception:
        log.warning(
            "could not record a %s lookup in guild %s", provider.key, guild_id, exc_info=True
        )


async def audit(
    bot: TicketLensBot,
    interaction: discord.Interaction,
    provider: Provider[R],
    ref: R,
    shown: Shown,
) -> None:
    """
    Record a lookup shown in a server with TicketLens for its admins (`/ticketconfig
    lookups`): who, which ticket, where and how shown, never its content. Nothing elsewhere
    (DMs, a server where only the member installed the app): no server's staff could read it.
    Buffered by the store (no database trip here); never fails the answer already sent.
    """
    guild_id = installed_guild(interaction)
    if guild_id is None:
        return
    try:
        await bot.store.record_lookup_audit(
            guild_id,
            interaction.user.id,
            provider.key,
            provider.ref_text(ref),
            channel_id=interaction.channel_id,
            shown=shown,
            keep_days=bot.settings.lookup_audit_days,
        )
    except Exception:
        log.warning(
            "could not audit a %s lookup in guild %s", provider.key, guild_id, exc_info=True
        )


async def press(
    bot: TicketLensBot,
    interaction: discord.Interaction,
    provider_key: str,
    ref_text: str,
    page: int,
    action: Literal["r", "p", "s"],
) -> None:
    """
    A button under an answer was pressed: Refresh (`r`: fetched again, not from the cache),
    a page (`p`), both shown in place, or Share to channel (`s`). Only the member who ran the
    lookup, or staff, may press; anyone else is told so and nothing is fetched. Every rule runs
    again for the member pressing, so a forged custom id shows only what they may see.
    """
    started = time.monotonic()
    tr = bot.i18n.for_interaction(interaction)
    provider = bot.providers.get(provider_key)
    if provider is None:
        # Not counted: the key comes from a custom id, and only registered ones are labels.
        await send_private(interaction, render_error(*BUTTON_GONE.say(tr)))
        return
    try:
        message = interaction.message
        metadata = message.interaction_metadata if message is not None else None
        invoker = metadata.user.id if metadata is not None else None
        if invoker != interaction.user.id and not await bot.access.is_staff(interaction):
            await send_private(interaction, render_error(*NOT_YOUR_BUTTON.say(tr)))
            measure(bot, provider.key, started, "refused")
            return
        ref = provider.parse_ref(ref_text)
        shown: Shown
        if action == "s":
            answer = await _share(bot, interaction, provider, ref, tr)
            shown = "shared"
        else:
            public = message is not None and not message.flags.ephemeral
            answer = await _show(bot, interaction, provider, ref, page, public, action == "r", tr)
            # Shown as the message it edits.
            shown = "public" if public else "ephemeral"
    except Exception as exc:
        measure(bot, provider.key, started, outcome_of(exc))
        raise
    measure(bot, provider.key, started, "stale" if answer.stale else "ok")
    # A page turn shows more of an answer already recorded, to whoever could see it anyway:
    # recording it would fill `/ticketconfig lookups` with turns. Refresh and Share are new
    # answers (fetched again; posted for the channel) and are recorded.
    if action != "p":
        await audit(bot, interaction, provider, ref, shown)


async def _pressed_answer(
    bot: TicketLensBot,
    interaction: discord.Interaction,
    provider: Provider[R],
    ref: R,
    *,
    public: bool,
    fresh: bool = False,
) -> Answer:
    """The lookup behind a press, deferred as an update of its message if slow."""
    deferral = _Deferral(interaction, ephemeral=True, update=True)
    return await deferral.around(
        prepare(bot, interaction, provider, ref, public=public, fresh=fresh), after=DEFER_AFTER_S
    )


async def _show(
    bot: TicketLensBot,
    interaction: discord.Interaction,
    provider: Provider[R],
    ref: R,
    page: int,
    public: bool,
    fresh: bool,
    tr: Translate,
) -> Answer:
    """Refresh or a page: page `page` of the ticket, in place, with its buttons."""
    answer = await _pressed_answer(bot, interaction, provider, ref, public=public, fresh=fresh)
    shown = max(0, min(page, len(answer.pages) - 1))
    buttons = controls(
        provider=provider.key,
        provider_label=provider.label,
        ref_text=persistent_ref(provider, ref, len(answer.pages)) or provider.ref_text(ref),
        page=shown,
        pages=len(answer.pages),
        url=answer.view.url,
        tr=tr,
        shareable=answer.shareable,
    )
    await update_message(interaction, answer.pages[shown], view=buttons)
    return answer


async def _share(
    bot: TicketLensBot,
    interaction: discord.Interaction,
    provider: Provider[R],
    ref: R,
    tr: Translate,
) -> Answer:
    """
    Share to channel: the ticket's public render (the same rules and audience as
    `public:true`, so a forged custom id posts nothing the member could not post) as a new
    message in the channel, with who shared it in the footer (a name: mentions never ping).
    """
    answer = await _pressed_answer(bot, interaction, provider, ref, public=True)
    embeds = answer.pages[0]
    last = embeds[-1]
    note = tr("Shared by {name}", name=interaction.user.display_name)
    footer = f"{last.footer.text} · {note}" if last.footer.text else note
    last.set_footer(text=footer[:FOOTER_LIMIT])
    buttons = controls(
        provider=provider.key,
        provider_label=provider.label,
        ref_text=persistent_ref(provider, ref, len(answer.pages)),
        page=0,
        pages=len(answer.pages),
        url=answer.view.url,
        tr=tr,
    )
    await send_new(interaction, embeds, view=buttons)
    return answer


class _Deferral:
    """Defers an interaction on a timer; if that fails, stops the lookup it was for."""

    def __init__(
        self, interaction: discord.Interaction, *, ephemeral: bool, update: bool = False
    ) -> None:
        self._interaction = interaction
        self._ephemeral = ephemeral
        #: A button press: acknowledge it as an update of its message (no new message).
        self._update = update
        self._lookup = asyncio.current_task()
        self._task: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None
        self.fetching = True

    async def around(self, work: Coroutine[Any, Any, T], *, after: float) -> T:
        """
        `work`'s result, run in this task; the interaction is deferred if `work` is not done
        `after` seconds from now. If that deferral fails (nobody can be answered any more),
        `work` is stopped and the deferral's error raised instead.
        """
        timer = asyncio.get_running_loop().call_later(max(0.0, after), self.start)
        try:
            result = await work
        except asyncio.CancelledError:
            # The deferral failed and stopped the work: say why.
            if self.failure is None:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            raise self.failure from None
        finally:
            timer.cancel()
            self.fetching = False
        await self.finished()
        return result

    def start(self) -> None:
        """Send the deferral now (the timer's callback)."""
        self._task = asyncio.ensure_future(self._defer())

    async def _defer(self) -> None:
        try:
            if self._update:
                await self._interaction.response.defer()
            else:
                await self._interaction.response.defer(ephemeral=self._ephemeral, thinking=True)
        except Exception as exc:
            # Nobody could be answered now (the interaction expired): stop the lookup too.
            self.failure = exc
            if self.fetching and self._lookup is not None:
                self._lookup.cancel()
            return
        if not self._ephemeral and not self._update:
            self._interaction.extras[PUBLIC_PLACEHOLDER] = True

    async def finished(self) -> None:
        """Wait for a deferral in flight; raise its failure if it had one."""
        if self._task is not None:
            await self._task
        if self.failure is not None:
            raise self.failure


async def _answer(
    bot: TicketLensBot,
    provider: Provider[R],
    resolved: ResolvedCredential,
    ref: R,
    decision: Decision,
    *,
    fresh: bool,
    tr: Translate,
) -> Answer:
    credential = resolved.values

    async def fetch() -> TicketView:
        return await provider.fetch(credential, ref)

    key = (provider.key, resolved.fingerprint, ref)
    notice = None
    try:
        view = await bot.tickets.get(key, fetch, fresh=fresh)
    except CredentialsRejected as exc:
        raise resolved.rejected(exc) from None
    except (RateLimited, UpstreamUnavailable):
        # Only "not answering now": a ticket not found or a key rejected is news to show.
        kept = bot.tickets.last_good(key)
        if kept is None:
            raise
        view, fetched_at = kept
        notice = stale_notice(tr, provider.label, fetched_at)
        # Counted (outcome "stale"), not logged: an outage would log every lookup.
        log.debug("%s is not answering: showing a kept answer", provider.key)
    # The kept view is the whole ticket as this credential saw it: the same rules and audience
    # as a fresh one, for this reader.
    check_publishable(view, decision)
    shown = for_audience(view, decision.audience, shared_account=resolved.shared)
    pages = render_pages(shown, tr=tr, notice=notice)
    return Answer(pages, shown, decision.ephemeral, tr, stale=notice is not None)


def stale_notice(tr: Translate, label: str, fetched_at: float) -> str:
    """The first line of a kept answer: when it was fetched (rendered by Discord in the
    reader's time zone and language) and that the provider is not answering."""
    return tr(
        "🕒 Cached {when}; {provider} is not answering.",
        when=f"<t:{int(fetched_at)}:R>",
        provider=label,
    )
