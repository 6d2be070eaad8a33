"""
One lookup of each further provider through the real bot process (`python -m bot`).

WHMCS, series.hr and teambattles.gg are configured the way admins and members do it (the forms
of `/ticketconfig set` and `/ticketaccount link`), then looked up; the answers, the logs and
the database are checked as in test_bot_e2e.py.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from tests.fakes.serieshr import OK, FakeSeriesHr, sr_ticket
from tests.fakes.teambattles import FakeTeamBattles, TbKey, tb_key, tb_ticket
from tests.fakes.whmcs import FakeWhmcs, sample_ticket

from .conftest import APPLICATION_ID, BOT_USER_ID, FAKE_TOKEN, OWNER_ID
from .fake_discord import MANAGE_GUILD, FakeDiscord, FakeGuild
from .test_bot_e2e import (
    BotProcess,
    assert_mentions_off,
    final_message,
    start_bot,
    text_of,
    wait_ready,
)

GUILD, CHANNEL = 3000, 3001
MEMBER = 880
WHMCS_ID = "Ident-e2e-" + secrets.token_hex(6)
WHMCS_SECRET = "WhSecret-e2e-" + secrets.token_hex(10)
SR_KEY = "SrKey-e2e-" + secrets.token_hex(10)
TB_KEY = tb_key(0xE2E)
TB_TICKET = "jd7e2e0c3d4e5f6g7h8j9k0m1n2p3q4r"
SECRETS = (WHMCS_SECRET, SR_KEY, TB_KEY)

on_world_loop = pytest.mark.asyncio(loop_scope="module")


@dataclass
class World:
    """One bot process and the three fake providers it talks to."""

    discord: FakeDiscord
    whmcs: FakeWhmcs
    serieshr: FakeSeriesHr
    teambattles: FakeTeamBattles
    bot: BotProcess


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """A bot with WHMCS (on loopback, so ALLOW_PRIVATE_URLS), series.hr and TeamBattles."""
    fake = FakeDiscord(
        token=FAKE_TOKEN,
        application_id=APPLICATION_ID,
        bot_user_id=BOT_USER_ID,
        owner_id=OWNER_ID,
        guilds=[FakeGuild(id=GUILD, name="Providers", owner_id=OWNER_ID, channels={CHANNEL: "x"})],
        callback_deadline=3.0,
    )
    whmcs = FakeWhmcs(identifier=WHMCS_ID, secret=WHMCS_SECRET)
    whmcs.add(sample_ticket(42))
    serieshr = FakeSeriesHr(keys={SR_KEY: OK})
    serieshr.tickets["TICKET-1234567890-ABCD"] = sr_ticket()
    teambattles = FakeTeamBattles(keys={TB_KEY: TbKey("member")})
    teambattles.add("member", tb_ticket(TB_TICKET))
    for server in (fake, whmcs, serieshr, teambattles):
        await server.start()
    bot = start_bot(
        fake,
        "http://127.0.0.1:9/API/",  # RetroAchievements is not used here
        tmp_path_factory.mktemp("providers"),
        ALLOW_PRIVATE_URLS="true",
        SERIESHR_BASE_URL=serieshr.url,
        TEAMBATTLES_BASE_URL=teambattles.url,
    )
    try:
        await wait_ready(fake, bot)
        yield World(fake, whmcs, serieshr, teambattles, bot)
    finally:
        code = await bot.stop()
        for server in (teambattles, serieshr, whmcs, fake):
            await server.stop()
    assert code == 0, f"exit {code} after SIGTERM\n{bot.stderr[-3000:]}"


async def fill_form(
    fake: FakeDiscord,
    command: str,
    options: dict[str, Any],
    modal_id: str,
    values: dict[str, str],
    *,
    permissions: int,
    user_id: int,
) -> str:
    """Run a command that opens a form, submit `values`; the ephemeral reply's text."""
    inter = await fake.send_interaction(
        command,
        options,
        guild_id=GUILD,
        channel_id=CHANNEL,
        permissions=permissions,
        user_id=user_id,
    )
    modal = await fake.wait_for_response(inter)
    assert modal.type == 9, modal
    submit = await fake.send_modal_submit(
        modal_id,
        values,
        guild_id=GUILD,
        channel_id=CHANNEL,
        permissions=permissions,
        user_id=user_id,
    )
    reply = (await fake.wait_for_followups(submit, timeout=10))[0]
    assert reply["flags"] & 64
    return text_of(reply)


async def ask(
    fake: FakeDiscord, command: str, options: dict[str, Any], *, permissions: int, user_id: int
) -> tuple[bool, str]:
    """Run a lookup; (ephemeral, the final answer's text)."""
    inter = await fake.send_interaction(
        command,
        options,
        guild_id=GUILD,
        channel_id=CHANNEL,
        permissions=permissions,
        user_id=user_id,
    )
    message = await final_message(fake, inter)
    response = inter.response
    assert response is not None
    return response.ephemeral, text_of(message)


@on_world_loop
async def test_whmcs_configured_and_looked_up(world: World) -> None:
    """An admin saves WHMCS through the form; staff see notes, the public summary does not."""
    saved = await fill_form(
        world.discord,
        "ticketconfig set",
        {"provider": "whmcs"},
        "ticketlens:config:whmcs",
        {"url": world.whmcs.url, "identifier": WHMCS_ID, "secret": WHMCS_SECRET},
        permissions=MANAGE_GUILD,
        user_id=OWNER_ID,
    )
    assert "Saved" in saved
    ephemeral, text = await ask(
        world.discord, "ticket whmcs", {"id": 42}, permissions=MANAGE_GUILD, user_id=OWNER_ID
    )
    assert ephemeral
    assert "Site down after DNS change" in text
    assert "Internal note" in text
    public, summary = await ask(
        world.discord,
        "ticket whmcs",
        {"id": 42, "public": True},
        permissions=MANAGE_GUILD,
        user_id=OWNER_ID,
    )
    assert not public
    assert "Site down after DNS change" in summary
    assert "Checked zone" not in summary
    assert "ana@example.net" not in summary


@on_world_loop
async def test_serieshr_configured_and_looked_up(world: World) -> None:
    """An admin saves the series.hr key; staff look a ticket up; members are refused."""
    saved = await fill_form(
        world.discord,
        "ticketconfig set",
        {"provider": "serieshr"},
        "ticketlens:config:serieshr",
        {"api_key": SR_KEY},
        permissions=MANAGE_GUILD,
        user_id=OWNER_ID,
    )
    assert "Saved" in saved
    ephemeral, text = await ask(
        world.discord,
        "ticket serieshr",
        {"id": "TICKET-1234567890-ABCD"},
        permissions=MANAGE_GUILD,
        user_id=OWNER_ID,
    )
    assert ephemeral
    assert "Help with ranking" in text
    _, refused = await ask(
        world.discord,
        "ticket serieshr",
        {"id": "TICKET-1234567890-ABCD"},
        permissions=0,
        user_id=MEMBER,
    )
    assert "staff" in refused.lower()


@on_world_loop
async def test_teambattles_linked_and_looked_up(world: World) -> None:
    """A member links their own key and sees their own ticket, only to themselves."""
    linked = await fill_form(
        world.discord,
        "ticketaccount link",
        {"provider": "teambattles"},
        "ticketlens:account:teambattles",
        {"api_key": TB_KEY},
        permissions=0,
        user_id=MEMBER,
    )
    assert "TeamBattles" in linked
    ephemeral, text = await ask(
        world.discord, "ticket teambattles", {"id": TB_TICKET}, permissions=0, user_id=MEMBER
    )
    assert ephemeral
    assert "Match result not recorded" in text
    _, other = await ask(
        world.discord, "ticket teambattles", {"id": TB_TICKET}, permissions=0, user_id=MEMBER + 1
    )
    assert "/ticketaccount link" in other


@on_world_loop
async def test_no_provider_secret_leaves_its_place(world: World) -> None:
    """No provider secret in what went to Discord, in the DEBUG logs, or in clear on disk."""
    assert_mentions_off(world.discord)
    for request in world.discord.requests:
        for secret in SECRETS:
            assert secret.encode() not in request.body
    logs = world.bot.stdout + world.bot.stderr
    assert "DEBUG" in logs
    for secret in SECRETS:
        assert secret not in logs
    for db_file in (world.bot.folder / "data").glob("ticketlens.db*"):
        content = db_file.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in content
