"""`/ticketaccount` (and `/ticketconfig` for TeamBattles), driven the way Discord drives them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from bot.app import TicketLensBot
from cogs.teambattles._client import TeamBattlesSettings
from tests.e2e.conftest import GUILD_ID
from tests.e2e.fake_discord import MANAGE_GUILD
from tests.fakes.teambattles import FakeTeamBattles, TbKey, tb_key, tb_ticket
from tests.harness import all_text, embeds_of, running_bot

TB = "teambattles"
TID = "jd7a1b2c3d4e5f6g7h8j9k0m1n2p3q4r"
ALICE, BOB = 601, 602
ALICE_KEY, TEAM_KEY = tb_key(1), tb_key(3)


@pytest.fixture
async def fake_tb() -> AsyncIterator[FakeTeamBattles]:
    """A running fake TeamBattles API where Alice owns TID."""
    server = FakeTeamBattles(keys={ALICE_KEY: TbKey("alice"), TEAM_KEY: TbKey("team")})
    server.add("alice", tb_ticket(TID))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake_discord, fake_tb, tmp_path) -> AsyncIterator[TicketLensBot]:
    """A running bot with TeamBattles pointed at the fake."""
    section = TeamBattlesSettings(base_url=fake_tb.url)
    async with running_bot(
        fake_discord, tmp_path, sections={TeamBattlesSettings: section}
    ) as running:
        yield running


async def submit_link(fake_discord, user_id: int, key: str) -> str:
    """/ticketaccount link provider:teambattles as `user_id`, then submit `key`; the reply."""
    inter = await fake_discord.send_interaction(
        "ticketaccount link", {"provider": TB}, permissions=0, user_id=user_id
    )
    modal = await fake_discord.wait_for_response(inter)
    assert modal.type == 9
    submit = await fake_discord.send_modal_submit(
        f"ticketlens:account:{TB}", {"api_key": key}, permissions=0, user_id=user_id
    )
    reply = (await fake_discord.wait_for_followups(submit))[0]
    assert reply["flags"] & 64
    assert key not in str(reply)
    return all_text(embeds_of(reply))


async def run(fake_discord, command: str, user_id: int, **options) -> tuple[bool, str]:
    """Run a /ticketaccount subcommand as a plain member; (ephemeral, visible text)."""
    inter = await fake_discord.send_interaction(command, options, permissions=0, user_id=user_id)
    response = await fake_discord.wait_for_response(inter)
    return response.ephemeral, all_text(embeds_of(response.data))


async def test_the_command_is_for_everyone_and_offers_owner_scoped_providers(bot, fake_discord):
    """/ticketaccount needs no permission and offers TeamBattles (not guild-key providers,
    except RetroAchievements, whose members link their own key for the app installed to their
    account); `forget` (the member's lookup history) is there too, with no options."""
    command = fake_discord.registered_command("ticketaccount")
    assert command is not None
    assert command.get("default_member_permissions") is None
    subs = {o["name"]: o for o in command["options"]}
    assert set(subs) == {"link", "unlink", "show", "forget"}
    assert not subs["forget"].get("options")
    for name in ("link", "unlink"):
        (option,) = subs[name]["options"]
        assert option["name"] == "provider"
        assert [c["value"] for c in option["choices"]] == ["retroachievements", TB]


async def test_link_checks_and_stores_the_key_for_that_member_only(bot, fake_discord, fake_tb):
    """Any member links their key through the "API key" form; it is stored for them alone."""
    inter = await fake_discord.send_interaction(
        "ticketaccount link", {"provider": TB}, permissions=0, user_id=ALICE
    )
    modal = await fake_discord.wait_for_response(inter)
    assert re.findall(r"'label': '([^']+)'", str(modal.data)) == ["API key"]
    assert "TeamBattles" in modal.data["title"]
    text = await submit_link(fake_discord, ALICE, ALICE_KEY)
    assert "Linked" in text
    assert "Only you can use it" in text
    assert await bot.store.get_credential(GUILD_ID, ALICE, TB) == {"api_key": ALICE_KEY}
    assert await bot.store.get_credential(GUILD_ID, None, TB) is None
    assert await bot.store.get_credential(GUILD_ID, BOB, TB) is None


async def test_a_key_without_tb_prefix_is_refused_and_not_stored(bot, fake_discord, fake_tb):
    """A key that does not start with tb_ is refused at save, before any request."""
    text = await submit_link(fake_discord, ALICE, "sk_live_0123456789")
    assert "Not linked" in text
    assert "nothing was stored" in text
    assert "tb_" in text
    assert await bot.store.get_credential(GUILD_ID, ALICE, TB) is None
    assert fake_tb.requests == []


async def test_a_key_without_the_tickets_scope_is_refused_and_explained(bot, fake_discord, fake_tb):
    """A key lacking tickets.read:read is not stored; the member is told which permission."""
    fake_tb.keys[ALICE_KEY] = TbKey("alice", scopes=frozenset())
    text = await submit_link(fake_discord, ALICE, ALICE_KEY)
    assert "nothing was stored" in text
    assert "tickets.read:read" in text
    assert await bot.store.get_credential(GUILD_ID, ALICE, TB) is None


async def test_an_invalid_key_is_refused(bot, fake_discord, fake_tb):
    """A tb_ key TeamBattles does not know (401) is not stored."""
    text = await submit_link(fake_discord, ALICE, tb_key(77))
    assert "nothing was stored" in text
    assert "not valid" in text
    assert await bot.store.get_credential(GUILD_ID, ALICE, TB) is None


async def test_unlink_deletes_the_key_at_once(bot, fake_discord, fake_tb):
    """unlink removes the row; the next lookup asks to link again; a second unlink says so."""
    await submit_link(fake_discord, ALICE, ALICE_KEY)
    await bot.store.put_credential(GUILD_ID, BOB, TB, {"api_key": TEAM_KEY}, set_by=BOB)
    ephemeral, text = await run(fake_discord, "ticketaccount unlink", ALICE, provider=TB)
    assert ephemeral
    assert "Unlinked" in text
    assert await bot.store.get_credential(GUILD_ID, ALICE, TB) is None
    assert await bot.store.get_credential(GUILD_ID, BOB, TB) == {"api_key": TEAM_KEY}
    inter = await fake_discord.send_interaction(
        f"ticket {TB}", {"id": TID}, permissions=0, user_id=ALICE
    )
    response = await fake_discord.wait_for_response(inter)
    assert "Link your TeamBattles account" in all_text(embeds_of(response.data))
    _, again = await run(fake_discord, "ticketaccount unlink", ALICE, provider=TB)
    assert "Nothing to unlink" in again


async def test_show_tells_what_is_linked_without_the_key(bot, fake_discord, fake_tb):
    """show says whether your key is linked (never the key) and whether a team key exists."""
    _, before = await run(fake_discord, "ticketaccount show", ALICE)
    assert "not linked" in before
    await submit_link(fake_discord, ALICE, ALICE_KEY)
    await bot.store.put_credential(GUILD_ID, None, TB, {"api_key": TEAM_KEY}, set_by=1)
    ephemeral, after = await run(fake_discord, "ticketaccount show", ALICE)
    assert ephemeral
    assert "TeamBattles" in after
    assert "linked <t:" in after
    assert "shared team key, for staff only" in after
    assert ALICE_KEY not in after
    assert TEAM_KEY not in after
    _, bobs = await run(fake_discord, "ticketaccount show", BOB)
    assert "not linked" in bobs


async def test_config_set_stores_the_shared_team_key(bot, fake_discord, fake_tb):
    """/ticketconfig set provider:teambattles checks the "API key" and stores the guild's."""
    inter = await fake_discord.send_interaction(
        "ticketconfig set", {"provider": TB}, permissions=MANAGE_GUILD
    )
    modal = await fake_discord.wait_for_response(inter)
    assert re.findall(r"'label': '([^']+)'", str(modal.data)) == ["API key"]
    submit = await fake_discord.send_modal_submit(
        f"ticketlens:config:{TB}", {"api_key": "not-a-tb-key"}, permissions=MANAGE_GUILD
    )
    refused = all_text(embeds_of((await fake_discord.wait_for_followups(submit))[0]))
    assert "nothing was stored" in refused
    assert "tb_" in refused
    again = await fake_discord.send_interaction(
        "ticketconfig set", {"provider": TB}, permissions=MANAGE_GUILD
    )
    await fake_discord.wait_for_response(again)
    submit = await fake_discord.send_modal_submit(
        f"ticketlens:config:{TB}", {"api_key": TEAM_KEY}, permissions=MANAGE_GUILD
    )
    saved = all_text(embeds_of((await fake_discord.wait_for_followups(submit))[0]))
    assert "Saved" in saved
    assert await bot.store.get_credential(GUILD_ID, None, TB) == {"api_key": TEAM_KEY}


async def test_a_revoked_linked_key_tells_the_member_to_link_again(bot, fake_discord, fake_tb):
    """A member's own key rejected at lookup points them to /ticketaccount, not to admins."""
    await bot.store.put_credential(
        GUILD_ID, ALICE, TB, {"api_key": "tb_revoked_key_0000"}, set_by=ALICE
    )
    inter = await fake_discord.send_interaction(
        f"ticket {TB}", {"id": TID}, permissions=0, user_id=ALICE
    )
    response = await fake_discord.wait_for_response(inter)
    text = all_text(embeds_of(response.data))
    assert response.ephemeral
    assert "/ticketaccount link provider:teambattles" in text
    assert "Manage Server" not in text
    assert "tb_revoked_key_0000" not in text


async def test_an_owner_scoped_ticket_offers_no_share(bot, fake_discord, fake_tb):
    """A member's own TeamBattles ticket is theirs alone: no "Share to channel" button."""
    await submit_link(fake_discord, ALICE, ALICE_KEY)
    inter = await fake_discord.send_interaction(
        f"ticket {TB}", {"id": TID}, permissions=0, user_id=ALICE
    )
    response = await fake_discord.wait_for_response(inter)
    assert response.ephemeral
    labels = [
        b.get("label") for row in response.data.get("components") or [] for b in row["components"]
    ]
    assert "Refresh" in labels
    assert "Share to channel" not in labels
