"""
Provider packages as discord.py extensions: reloaded one at a time, and a fifth one added
without touching `bot/`.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.redact import MASK
from cogs.retroachievements._client import RetroSettings
from tests.e2e.conftest import GUILD_ID
from tests.fakes.retroachievements import ra_ticket
from tests.fifth_provider import FifthSettings
from tests.harness import all_text, embeds_of, running_bot

GOOD = {"username": "mod", "api_key": "good-key"}


async def test_one_provider_reloads_without_a_restart(fake_discord, fake_ra, tmp_path):
    """`reload_extension("cogs.retroachievements")` swaps the provider; its settings, its
    /ticket subcommand and the stored credentials keep working."""
    section = RetroSettings(base_url=fake_ra.url, rate_per_s=100)
    async with running_bot(fake_discord, tmp_path, sections={RetroSettings: section}) as bot:
        await bot.store.put_credential(GUILD_ID, None, "retroachievements", GOOD, set_by=1)
        before = bot.providers["retroachievements"]
        await bot.reload_extension("cogs.retroachievements")
        after = bot.providers["retroachievements"]
        assert after is not before
        assert [c.name for c in bot.ticket_group.commands].count("retroachievements") == 1
        assert "RetroAchievements" in bot.cogs

        fake_ra.tickets[77] = ra_ticket(77)
        inter = await fake_discord.send_interaction(
            "ticket retroachievements", {"id": 77}, permissions=0
        )
        response = await fake_discord.wait_for_response(inter)
        assert embeds_of(response.data)[0]["title"].startswith("Ticket #77")
        assert fake_ra.requests[-1]["i"] == "77"


async def test_a_fifth_provider_is_one_package(fake_discord, tmp_path):
    """A provider package outside `cogs/` loads as an extension, answers /ticket lookups
    through the core (access, cache, render), and its own secret parameter is masked in logs
    because its contract names it."""
    seen = []

    async def ticket(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        if request.match_info["id"] != "T-1":
            return web.json_response({"error": "no"}, status=404)
        return web.json_response(
            {"id": "T-1", "subject": "Printer on fire", "state": "open", "opened": "0000-00-00"}
        )

    app = web.Application()
    app.router.add_get("/tickets/{id}", ticket)
    upstream = TestServer(app)
    await upstream.start_server()
    section = FifthSettings(base_url=str(upstream.make_url("")))
    try:
        async with running_bot(fake_discord, tmp_path, sections={FifthSettings: section}) as bot:
            await bot.load_extension("tests.fifth_provider")
            assert "fifth" in bot.providers
            await bot.store.put_credential(
                GUILD_ID, None, "fifth", {"token": "fifth-secret-token"}, set_by=1
            )
            inter = await fake_discord.send_interaction("ticket fifth", {"id": "T-1"})
            response = await fake_discord.wait_for_response(inter)
            text = all_text(embeds_of(response.data))
            assert "Printer on fire" in text
            assert "Open" in text
            assert seen == [{"sig": "fifth-secret-token"}]

            inter = await fake_discord.send_interaction("ticket fifth", {"id": "nope"})
            response = await fake_discord.wait_for_response(inter)
            assert "Fifth says ticket `nope` was not found" in all_text(embeds_of(response.data))

            # The redactor in front of every log handler learnt `sig` from the contract.
            assert bot.redactor.redact("GET /tickets/T-1?sig=abcdef123").endswith(f"sig={MASK}")
    finally:
        await upstream.close()
