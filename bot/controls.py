"""
The buttons under a ticket answer: Refresh, Previous/Next, and a link to the ticket's page.

They are `discord.ui.DynamicItem`s: everything a press needs (provider, ticket reference,
page) is in the button's custom id, matched by one template registered once
(`register`), so they keep working after a restart and for as long as the message exists. A
custom id is only a request: pressing re-runs the access and visibility rules for the member
pressing (`bot.lookup.press`), so a forged or copied id shows nothing that member may not see.
Custom ids never hold a secret (a ref is a ticket's id or number, `Provider.ref_text`).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Final, Literal

import discord

from bot.i18n import Translate, english
from bot.render import LINK_URL_LIMIT, safe_url

if TYPE_CHECKING:
    from bot.app import TicketLensBot

log = logging.getLogger(__name__)

#: Discord's limit on a component's custom id.
CUSTOM_ID_LIMIT: Final = 100
#: Discord's limit on a button label.
LABEL_LIMIT: Final = 80
#: Versioned, so a later layout can still read the buttons already posted.
PREFIX: Final = "tl1"
#: `r` refresh (fetch again), `p` show a page, `c` the page counter (disabled; never pressed),
#: `s` share the ticket to the channel.
Action = Literal["r", "p", "c", "s"]
TEMPLATE: Final = (
    PREFIX + r":(?P<action>[rpcs]):(?P<provider>[a-z0-9_]{1,32}):(?P<page>[0-9]{1,4}):(?P<ref>.+)"
)
_TEMPLATE_RE: Final = re.compile(TEMPLATE, re.DOTALL)


def custom_id(action: Action, provider: str, page: int, ref_text: str) -> str:
    """The custom id of one button (it may be over the limit: `fits` tells)."""
    return f"{PREFIX}:{action}:{provider}:{page}:{ref_text}"


def fits(provider: str, ref_text: str, pages: int) -> bool:
    """Whether every button of this answer has a custom id Discord accepts."""
    longest = custom_id("r", provider, max(pages, 1), ref_text)
    return len(longest) <= CUSTOM_ID_LIMIT and _TEMPLATE_RE.fullmatch(longest) is not None


class TicketButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """One of the answer's buttons; the custom id says what a press asks for."""

    def __init__(
        self,
        action: Action,
        provider: str,
        page: int,
        ref_text: str,
        *,
        label: str,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        disabled: bool = False,
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label[:LABEL_LIMIT],
                style=style,
                disabled=disabled,
                custom_id=custom_id(action, provider, page, ref_text),
            )
        )
        self.action: Action = action
        self.provider = provider
        self.page = page
        self.ref_text = ref_text

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> TicketButton:
        """Rebuild the button a press came from (after a restart too)."""
        button = item if isinstance(item, discord.ui.Button) else None
        actions: dict[str, Action] = {"r": "r", "p": "p", "c": "c", "s": "s"}
        action = actions[match["action"]]
        return cls(
            action,
            match["provider"],
            int(match["page"]),
            match["ref"],
            label=(button.label if button is not None else None) or "",
            style=button.style if button is not None else discord.ButtonStyle.secondary,
            disabled=button.disabled if button is not None else False,
        )

    async def callback(self, interaction: discord.Interaction) -> None:
        """Hand the press to the lookup, which checks who is pressing first."""
        from bot.lookup import press  # the lookup imports this module

        bot: TicketLensBot = interaction.client  # type: ignore[assignment]
        if self.action == "c":
            # A disabled label; Discord never sends a press for it, a forged one changes nothing.
            await interaction.response.defer()
            return
        try:
            # Refused once the bot is shutting down; else kept until done, so it is answered.
            bot.admit(interaction)
            await press(bot, interaction, self.provider, self.ref_text, self.page, self.action)
        except Exception as exc:
            # The same polite, private answer as a failed command; the message stays as it was.
            await bot.report_error(interaction, exc)


def controls(
    *,
    provider: str,
    provider_label: str,
    ref_text: str | None,
    page: int,
    pages: int,
    url: str | None,
    tr: Translate = english,
    shareable: bool = False,
) -> discord.ui.View | None:
    """
    The buttons for page `page` (0-based) of `pages`: Previous, the counter and Next when there
    is more than one page, Refresh, and a link to the ticket's page when it is a safe URL;
    "Share to channel" on a private answer the reader may post (`shareable`: the access rules
    decided). `ref_text` None (a reference too long for a custom id) leaves only the link.
    """
    view = discord.ui.View(timeout=None)
    if ref_text is not None:
        if pages > 1:
            view.add_item(
                TicketButton(
                    "p",
                    provider,
                    max(page - 1, 0),
                    ref_text,
                    label=tr("Previous"),
                    disabled=page <= 0,
                )
            )
            view.add_item(
                TicketButton(
                    "c", provider, page, ref_text, label=f"{page + 1}/{pages}", disabled=True
                )
            )
            view.add_item(
                TicketButton(
                    "p",
                    provider,
                    page + 1,
                    ref_text,
                    label=tr("Next"),
                    style=discord.ButtonStyle.primary,
                    disabled=page >= pages - 1,
                )
            )
        view.add_item(TicketButton("r", provider, page, ref_text, label=tr("Refresh")))
        if shareable:
            view.add_item(
                TicketButton(
                    "s",
                    provider,
                    0,
                    ref_text,
                    label=tr("Share to channel"),
                    style=discord.ButtonStyle.success,
                )
            )
    link = safe_url(url)
    # Discord's limit on a link button's URL is 512, as is ours for the site link.
    if link is not None and len(link) <= LINK_URL_LIMIT:
        label = tr("Open on {provider}", provider=provider_label)[:LABEL_LIMIT]
        view.add_item(discord.ui.Button(label=label, url=link))
    if not view.children:
        return None
    # Stopped before it is sent: discord.py then keeps no per-message state for it (presses
    # reach `TicketButton` through the template alone), and does not give an ephemeral answer's
    # view its 15-minute timeout, whose clean-up would unregister the template for every message.
    view.stop()
    return view


def register(bot: TicketLensBot) -> None:
    """Route presses of every TicketLens button ever posted to `TicketButton` (once)."""
    bot.add_dynamic_items(TicketButton)
