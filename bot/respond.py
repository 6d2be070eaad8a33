"""
Answering interactions: one path for success, one for failure, both ephemeral-aware.

discord.py types stay in this module, the cogs and the renderer. The rule every caller relies
on: an error is always ephemeral, even after a public deferral (then the public placeholder is
deleted so the channel is not left with "TicketLens is thinking…").
"""

from __future__ import annotations

import logging

import discord

log = logging.getLogger(__name__)

#: Set in `interaction.extras` when a public "thinking" placeholder was posted.
PUBLIC_PLACEHOLDER = "ticketlens_public_placeholder"


async def send_private(interaction: discord.Interaction, embed: discord.Embed) -> None:
    """Send `embed` only to the invoker, whatever state the interaction is in."""
    if not interaction.response.is_done():
        await interaction.response.send_message(embed=embed, ephemeral=True)
        return
    await interaction.followup.send(embed=embed, ephemeral=True)
    if interaction.extras.pop(PUBLIC_PLACEHOLDER, False):
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            # The placeholder may already be gone (deleted by a moderator); the error was sent.
            log.debug("public placeholder already gone for interaction %s", interaction.id)


async def send_embeds(
    interaction: discord.Interaction, embeds: list[discord.Embed], *, ephemeral: bool
) -> None:
    """Send the final answer: directly if we are in time, else by editing the deferral."""
    if interaction.response.is_done():
        await interaction.edit_original_response(embeds=embeds)
        interaction.extras.pop(PUBLIC_PLACEHOLDER, None)
    else:
        await interaction.response.send_message(embeds=embeds, ephemeral=ephemeral)
