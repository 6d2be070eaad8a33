"""
Pages of one answer, turned with buttons that only the invoker may press.

The pages are rendered once and kept here, so turning a page never calls the provider again.
After `TIMEOUT_S` the buttons are disabled (the interaction token that edits the message lives
15 minutes, so 10 leaves room).
"""

from __future__ import annotations

import logging

import discord

from bot.i18n import Translate, english
from bot.render import render_error

log = logging.getLogger(__name__)

TIMEOUT_S = 600.0


class PageTurner(discord.ui.View):
    """Previous/next buttons over pre-rendered pages."""

    def __init__(
        self,
        pages: list[list[discord.Embed]],
        *,
        invoker_id: int,
        timeout: float = TIMEOUT_S,
        tr: Translate = english,
    ) -> None:
        super().__init__(timeout=timeout)
        self.pages = pages
        self.invoker_id = invoker_id
        self.tr = tr
        self.previous.label = tr("Previous")
        self.next.label = tr("Next")
        self.index = 0
        self.origin: discord.Interaction | None = None
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1
        self.counter.label = f"{self.index + 1}/{len(self.pages)}"

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Only the member who ran the command turns its pages."""
        if interaction.user.id == self.invoker_id:
            return True
        tr = self.tr
        await interaction.response.send_message(
            embed=render_error(
                tr("Not your lookup"), tr("Only the member who ran the command can turn its pages.")
            ),
            ephemeral=True,
        )
        return False

    async def _show(self, interaction: discord.Interaction, index: int) -> None:
        self.index = max(0, min(index, len(self.pages) - 1))
        self._sync_buttons()
        await interaction.response.edit_message(embeds=self.pages[self.index], view=self)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(
        self, interaction: discord.Interaction, _: discord.ui.Button[PageTurner]
    ) -> None:
        """Show the page before."""
        await self._show(interaction, self.index - 1)

    @discord.ui.button(label="1/1", style=discord.ButtonStyle.secondary, disabled=True)
    async def counter(
        self, interaction: discord.Interaction, _: discord.ui.Button[PageTurner]
    ) -> None:
        """A label only (disabled)."""
        await interaction.response.defer()

    @discord.ui.button(label="Next", style=discord.ButtonStyle.primary)
    async def next(
        self, interaction: discord.Interaction, _: discord.ui.Button[PageTurner]
    ) -> None:
        """Show the page after."""
        await self._show(interaction, self.index + 1)

    async def on_timeout(self) -> None:
        """Disable the buttons so nobody presses a dead control."""
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        if self.origin is None:
            return
        try:
            await self.origin.edit_original_response(view=self)
        except discord.HTTPException:
            log.debug("could not disable page buttons for interaction %s", self.origin.id)
