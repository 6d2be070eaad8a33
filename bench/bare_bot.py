"""
The peer floor: a bare discord.py bot with TicketLens's command shape and nothing else.

`/ticket retroachievements id:<n> [public]`, one shared aiohttp session, the provider's JSON
turned into a comparable embed and sent as the direct reply. No store, cache, policy, rate
limit, retry, redaction or text neutralisation. Configured by BARE_RA_URL, BARE_RA_KEY and
DISCORD_TOKEN; pointed at the fake Discord by the sitecustomize hook, like the real bot.
"""

from __future__ import annotations

import asyncio
import os
import signal

import aiohttp
import discord
from discord import app_commands


class BareBot(discord.Client):
    """App commands only, the Guilds intent, mentions never ping (as TicketLens)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        super().__init__(
            intents=discord.Intents(guilds=True),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.endpoint = base_url.rstrip("/") + "/API_GetTicketData.php"
        self.api_key = api_key
        self.session: aiohttp.ClientSession | None = None
        self.tree = app_commands.CommandTree(self)
        group = app_commands.Group(name="ticket", description="Look up a ticket.", guild_only=True)

        @group.command(name="retroachievements", description="Look up a RetroAchievements ticket.")
        @app_commands.rename(ticket_id="id")
        async def retroachievements(
            interaction: discord.Interaction,
            ticket_id: app_commands.Range[int, 1],
            public: bool = False,
        ) -> None:
            await interaction.response.send_message(
                embed=await self.fetch_embed(ticket_id), ephemeral=not public
            )

        self.tree.add_command(group)

    async def setup_hook(self) -> None:
        self.session = aiohttp.ClientSession()
        await self.tree.sync()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        await super().close()

    async def fetch_embed(self, ticket_id: int) -> discord.Embed:
        assert self.session is not None
        params = {"i": str(ticket_id), "y": self.api_key}
        async with self.session.get(self.endpoint, params=params) as response:
            ticket = await response.json(content_type=None)
        embed = discord.Embed(
            title=f"Ticket #{ticket['ID']}: {ticket.get('AchievementTitle')}"[:256],
            url=ticket.get("URL"),
            description=(ticket.get("ReportNotes") or "")[:4096],
            colour=0xE67E22,
        )
        achievement = f"{ticket.get('AchievementTitle')} · {ticket.get('Points')} points"
        embed.add_field(name="Achievement", value=achievement, inline=False)
        game = f"{ticket.get('GameTitle')} ({ticket.get('ConsoleName')})"
        embed.add_field(name="Game", value=game, inline=False)
        for name, key in (
            ("State", "ReportStateDescription"),
            ("Type", "ReportTypeDescription"),
            ("Reporter", "ReportedBy"),
            ("Achievement author", "AchievementAuthor"),
            ("Reported", "ReportedAt"),
        ):
            embed.add_field(name=name, value=str(ticket.get(key) or "Unknown"))
        embed.set_footer(text=f"RetroAchievements · ticket #{ticket['ID']}")
        return embed


async def main() -> None:
    bot = BareBot(os.environ["BARE_RA_URL"], os.environ["BARE_RA_KEY"])
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
    async with bot:
        await bot.start(os.environ["DISCORD_TOKEN"])


if __name__ == "__main__":
    asyncio.run(main())
