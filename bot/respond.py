"""
Answering interactions: one path for success, one for failure, both ephemeral-aware.

discord.py types stay in this module, the cogs and the renderer. The rule every caller relies
on: an error is always ephemeral, even after a public deferral (then the public placeholder is
deleted so the channel is not left with "TicketLens is thinking…").
"""

from __future__ import annotations

import logging

import discord

from bot.i18n import Translate, Translator, english

log = logging.getLogger(__name__)

#: Set in `interaction.extras` when a public "thinking" placeholder was posted.
PUBLIC_PLACEHOLDER = "ticketlens_public_placeholder"


async def send_private(interaction: discord.Interaction, embed: discord.Embed) -> None:
    """Send `embed` only to the invoker, whatever state the interaction is in."""
    if not interaction.response.is_done():
        await interaction.response.send_message(embed=embed, ephemeral=True)
        return
    if not interaction.extras.pop(PUBLIC_PLACEHOLDER, False):
        await interaction.followup.send(embed=embed, ephemeral=True)
        return
    # After a public deferral Discord makes the first follow-up resolve the public "thinking"
    # message, ignoring the ephemeral flag. So resolve it ourselves first, then send the error
    # privately, then remove the placeholder from the channel.
    try:
        await interaction.edit_original_response(
            content=_tr(interaction)("This lookup did not work.")
        )
    except discord.HTTPException:
        log.debug("public placeholder already gone for interaction %s", interaction.id)
    await interaction.followup.send(embed=embed, ephemeral=True)
    try:
        await interaction.delete_original_response()
    except discord.HTTPException:
        # Already deleted (by a moderator, say); the error itself was delivered.
        log.debug("public placeholder already gone for interaction %s", interaction.id)


async def send_embeds(
    interaction: discord.Interaction,
    embeds: list[discord.Embed],
    *,
    ephemeral: bool,
    view: discord.ui.View | None = None,
) -> None:
    """Send the final answer: directly if we are in time, else by editing the deferral."""
    if interaction.response.is_done():
        if view is None:
            await interaction.edit_original_response(embeds=embeds)
        else:
            await interaction.edit_original_response(embeds=embeds, view=view)
        interaction.extras.pop(PUBLIC_PLACEHOLDER, None)
    elif view is None:
        await interaction.response.send_message(embeds=embeds, ephemeral=ephemeral)
    else:
        await interaction.response.send_message(embeds=embeds, ephemeral=ephemeral, view=view)


async def send_new(
    interaction: discord.Interaction,
    embeds: list[discord.Embed],
    *,
    view: discord.ui.View | None,
) -> None:
    """A new public message in the channel answering a button press (deferred or not), not an
    edit of the message the button is on."""
    if interaction.response.is_done():
        if view is None:
            await interaction.followup.send(embeds=embeds, ephemeral=False)
        else:
            await interaction.followup.send(embeds=embeds, ephemeral=False, view=view)
    elif view is None:
        await interaction.response.send_message(embeds=embeds, ephemeral=False)
    else:
        await interaction.response.send_message(embeds=embeds, ephemeral=False, view=view)


async def update_message(
    interaction: discord.Interaction,
    embeds: list[discord.Embed],
    *,
    view: discord.ui.View | None,
) -> None:
    """Replace the message a button sits on (a component interaction), deferred or not."""
    if interaction.response.is_done():
        await interaction.edit_original_response(embeds=embeds, view=view)
    else:
        await interaction.response.edit_message(embeds=embeds, view=view)


def _tr(interaction: discord.Interaction) -> Translate:
    """The member's language, from the bot's translator (English for a client without one)."""
    i18n = getattr(interaction.client, "i18n", None)
    return i18n.for_interaction(interaction) if isinstance(i18n, Translator) else english


def release(interaction: discord.Interaction) -> None:
    """
    Let an answered interaction be freed at once, by reference counting.

    discord.py's `Interaction` and its `InteractionResponse` point at each other, so every
    interaction outlives its command until the cyclic collector runs, and under load it is
    often promoted to an older generation first (measured under `make bench`: most of the
    collector's work, and memory that grew with the load). Call this only when nothing will
    answer the interaction again; its `response` is then unusable.
    """
    response = getattr(interaction, "_cs_response", None)
    if isinstance(response, discord.InteractionResponse):
        response._parent = None  # type: ignore[assignment]
