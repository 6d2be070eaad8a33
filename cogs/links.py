"""
The message context menu "Look up tickets": the ticket references in a message, looked up.

Moderators see links and ids in messages, not options to type. Every connected provider reads
the message (`Provider.find_refs`: ticket links, its own id format; a self-hosted provider only
links to the guild's own install), and the first `SHOWN` references found are looked up
together, each under the same rules as its slash command, each answered in its own private
message with its own buttons. Always private: a context menu has no `public` option, and the
message it was used on may be in a channel the ticket must not reach.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Final

import discord
from discord import app_commands

from bot.controls import controls
from bot.errors import TicketLensError
from bot.i18n import Translate
from bot.lookup import Answer, audit, measure, persistent_ref, prepare, remember
from bot.metrics import outcome_of
from bot.providers.base import Credential, Provider
from bot.render import render_notice
from bot.store import CredentialUnreadable

if TYPE_CHECKING:
    from bot.app import TicketLensBot

log = logging.getLogger(__name__)

MENU_NAME: Final = "Look up tickets"
#: How many references one use looks up (the rest are counted, not fetched).
SHOWN: Final = 5
#: Longest message text read: Discord's own message limit is 4000 (Nitro); embeds add more.
TEXT_LIMIT: Final = 20_000

Found = tuple[Provider[Any], Any]


def message_text(message: discord.Message) -> str:
    """What a member can read in `message`: its content, then its embeds' text and links."""
    parts = [message.content or ""]
    for embed in message.embeds:
        parts += [embed.title or "", embed.url or "", embed.description or ""]
        parts += [f"{field.name}\n{field.value}" for field in embed.fields]
        if embed.footer.text:
            parts.append(embed.footer.text)
    return "\n".join(part for part in parts if part)[:TEXT_LIMIT]


async def _credential_for(
    bot: TicketLensBot, interaction: discord.Interaction, provider: Provider[Any], staff: bool
) -> Credential | None:
    """The credential a lookup would use (a self-hosted provider finds its host in it)."""
    try:
        resolved = await bot.access.credential(
            interaction.guild_id, interaction.user.id, provider, is_staff=staff
        )
    except (TicketLensError, CredentialUnreadable):
        # Not set up, not linked, unreadable: the lookup itself will say so, per ticket.
        return None
    return resolved.values


async def find_references(
    bot: TicketLensBot, interaction: discord.Interaction, text: str
) -> list[Found]:
    """Every reference in `text`, provider by provider (by label), each once."""
    staff = await bot.access.is_staff(interaction)
    found: list[Found] = []
    for provider in sorted(bot.providers.values(), key=lambda p: p.label.lower()):
        credential = await _credential_for(bot, interaction, provider, staff)
        try:
            refs = provider.find_refs(text, credential)
        except Exception:
            # One provider's reader failing must not cost the others' results.
            log.exception("%s could not read a message for ticket references", provider.key)
            continue
        found += [(provider, ref) for ref in refs]
    return found


def _header(found: int, shown: int, tr: Translate) -> str:
    if found == 1:
        return tr("Found 1 ticket reference in this message.")
    if found > shown:
        return tr(
            "Found {found} ticket references in this message: showing {shown}, and {more} more "
            "not looked up.",
            found=found,
            shown=shown,
            more=found - shown,
        )
    return tr(
        "Found {found} ticket references in this message: showing {shown}.",
        found=found,
        shown=shown,
    )


async def look_up_tickets(
    bot: TicketLensBot, interaction: discord.Interaction, message: discord.Message
) -> None:
    """Find references in `message`, look the first `SHOWN` up, answer each privately."""
    started = time.monotonic()
    await interaction.response.defer(ephemeral=True, thinking=True)
    tr = bot.i18n.for_interaction(interaction)
    found = await find_references(bot, interaction, message_text(message))
    if not found:
        labels = ", ".join(sorted(p.label for p in bot.providers.values()))
        await interaction.edit_original_response(
            embed=render_notice(
                tr("No tickets found"),
                tr(
                    "This message has no ticket link or id TicketLens recognises ({labels}). "
                    "Use `/ticket` with the ticket's id instead.",
                    labels=labels,
                ),
            )
        )
        return
    shown = found[:SHOWN]
    results = await asyncio.gather(
        *(prepare(bot, interaction, provider, ref, public=False) for provider, ref in shown),
        return_exceptions=True,
    )
    await interaction.edit_original_response(content=_header(len(found), len(shown), tr))
    for (provider, ref), result in zip(shown, results, strict=True):
        if isinstance(result, Answer):
            buttons = controls(
                provider=provider.key,
                provider_label=provider.label,
                ref_text=persistent_ref(provider, ref, len(result.pages)),
                page=0,
                pages=len(result.pages),
                url=result.view.url,
                tr=tr,
                shareable=result.shareable,
            )
            if buttons is None:
                await interaction.followup.send(embeds=result.pages[0], ephemeral=True)
            else:
                await interaction.followup.send(
                    embeds=result.pages[0], ephemeral=True, view=buttons
                )
            # Each reference is a lookup of its own, timed to its own answer and audited.
            measure(bot, provider.key, started, "stale" if result.stale else "ok")
            await remember(bot, interaction, provider, ref)
            await audit(bot, interaction, provider, ref, "ephemeral")
        elif isinstance(result, Exception):
            # The same words as the slash command's error, in this ticket's place.
            await bot.report_error(interaction, result)
            measure(bot, provider.key, started, outcome_of(result))
        else:
            raise result


def build_menu(bot: TicketLensBot) -> app_commands.ContextMenu:
    """The message context menu, closed over the bot."""

    async def callback(interaction: discord.Interaction, message: discord.Message) -> None:
        await look_up_tickets(bot, interaction, message)

    menu = app_commands.ContextMenu(name=MENU_NAME, callback=callback)
    # Credentials and staff roles are per server.
    menu.guild_only = True
    return menu


async def setup(bot: TicketLensBot) -> None:
    """Add the context menu (after every provider registered)."""
    bot.tree.add_command(build_menu(bot))
