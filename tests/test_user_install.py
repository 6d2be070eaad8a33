"""
RetroAchievements anywhere: TicketLens installed to a member's own account.

Driven the way Discord drives it: interactions in the DM with the bot (context 1), in a group
DM (context 2) and in a server without the bot (context 0 with only the member's install in
`authorizing_integration_owners`), through the real commands, the form and the fake
RetroAchievements; and the user-scope key in the store on both backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.access import installed_guild
from bot.app import TicketLensBot
from bot.store import CredentialUnreadable, Store
from cogs.retroachievements._client import RetroSettings
from cogs.whmcs._client import WhmcsSettings
from tests.e2e.conftest import GUILD_ID
from tests.e2e.fake_discord import (
    CONTEXT_GUILD,
    CONTEXT_PRIVATE_CHANNEL,
    DEFAULT_EVERYONE_PERMISSIONS,
    MANAGE_GUILD,
    SEND_MESSAGES,
    FakeDiscord,
    FakeInteraction,
    UserInstall,
)
from tests.fakes.retroachievements import FakeRetroAchievements, ra_ticket
from tests.harness import all_text, embeds_of, running_bot, settle
from tests.test_store import backend, key  # noqa: F401 - fixtures: both store backends

RA = "retroachievements"
GUILD_KEY = {"username": "server", "api_key": "good-key"}
MEMBER = 5555
MEMBER_KEY = "member-own-key"
BOT_DM = UserInstall()
GROUP_DM = UserInstall(context=CONTEXT_PRIVATE_CHANNEL)
ELSEWHERE = 7_000_000
ELSEWHERE_GUILD = UserInstall(context=CONTEXT_GUILD, guild_id=ELSEWHERE)
LINK_HINT = "/ticketaccount link provider:retroachievements"


@pytest.fixture
async def bot(fake_discord, fake_ra, tmp_path) -> AsyncIterator[TicketLensBot]:
    """The real bot with RetroAchievements at the fake, set up with the test guild's key; the
    fake also accepts the member's own key."""
    fake_ra.keys.add(MEMBER_KEY)
    sections = {
        RetroSettings: RetroSettings(base_url=fake_ra.url, rate_per_s=100),
        WhmcsSettings: WhmcsSettings(rate_per_s=100),
    }
    async with running_bot(fake_discord, tmp_path, sections=sections) as running:
        await running.store.put_credential(GUILD_ID, None, RA, GUILD_KEY, set_by=1)
        yield running


async def answer(fake_discord: FakeDiscord, inter: FakeInteraction) -> dict[str, Any]:
    """The message the interaction's answer is, once final (a deferral edited into place)."""
    await fake_discord.wait_for_response(inter)

    def done() -> dict[str, Any] | None:
        message = fake_discord.messages.get(inter.original_message_id or 0)
        return message if message is not None and not int(message["flags"]) & 128 else None

    return await fake_discord.wait_until(done, 5.0, "the answer")


def ephemeral(message: dict[str, Any]) -> bool:
    return bool(int(message["flags"]) & 64)


async def link_in_dm(fake_discord: FakeDiscord, api_key: str = MEMBER_KEY) -> dict[str, Any]:
    """`/ticketaccount link provider:retroachievements` in the DM with the bot, then the form
    filled in; the answer (a follow-up)."""
    inter = await fake_discord.send_interaction(
        "ticketaccount link", {"provider": RA}, user_id=MEMBER, install=BOT_DM
    )
    modal = await fake_discord.wait_for_response(inter)
    assert modal.type == 9
    custom_id = modal.data["custom_id"]
    submit = await fake_discord.send_modal_submit(
        custom_id, {"username": "me", "api_key": api_key}, user_id=MEMBER, install=BOT_DM
    )
    return (await fake_discord.wait_for_followups(submit))[0]


def keys_used(fake_ra: FakeRetroAchievements) -> list[str]:
    return [request.get("y", "") for request in fake_ra.requests]


async def test_ticket_and_tickets_are_offered_everywhere_and_ticketconfig_only_in_servers(
    bot, fake_discord
):
    """The synced commands say where Discord offers them: `/ticket`, `/tickets` and
    `/ticketaccount` to servers and to members' own installs, in servers, the bot's DM and
    private channels; `/ticketconfig` and the context menu only in servers that installed it."""
    for name in ("ticket", "tickets", "ticketaccount"):
        command = fake_discord.registered_command(name)
        assert command is not None
        assert sorted(command["integration_types"]) == [0, 1], name
        assert sorted(command["contexts"]) == [0, 1, 2], name
    config = fake_discord.registered_command("ticketconfig")
    assert config is not None
    assert config["integration_types"] == [0]
    assert config["contexts"] == [0]
    menu = fake_discord.registered_command("Look up tickets", kind=3)
    assert menu is not None
    assert menu["integration_types"] == [0]
    assert menu["contexts"] == [0]
    # The subcommands keep their public names under the groups.
    ticket = fake_discord.registered_command("ticket")
    assert ticket is not None
    assert RA in {o["name"] for o in ticket["options"]}
    tickets = fake_discord.registered_command("tickets")
    assert tickets is not None
    assert RA in {o["name"] for o in tickets["options"]}
    with pytest.raises(ValueError, match="not offered"):
        await fake_discord.send_interaction("ticketconfig show", install=BOT_DM)


async def test_link_in_a_dm_stores_the_members_own_key_for_them(bot, fake_discord, fake_ra):
    """The form in the DM is RetroAchievements' (username and Web API key); the key is checked,
    stored for the member (not for any server) and never shown back."""
    reply = await link_in_dm(fake_discord)
    assert ephemeral(reply)
    text = all_text(embeds_of(reply))
    assert "Linked" in text
    assert MEMBER_KEY not in str(reply)
    assert keys_used(fake_ra) == [MEMBER_KEY]  # checked with RetroAchievements first
    stored = await bot.store.get_user_credential(MEMBER, RA)
    assert stored == {"username": "me", "api_key": MEMBER_KEY}
    assert await bot.store.get_credential(GUILD_ID, MEMBER, RA) is None
    listed = await bot.store.list_user_credentials(MEMBER)
    assert [(c.provider, c.user_id) for c in listed] == [(RA, MEMBER)]


async def test_a_rejected_key_is_not_stored(bot, fake_discord):
    """A key RetroAchievements refuses is not stored, and the member is told."""
    reply = await link_in_dm(fake_discord, api_key="not-a-real-key")
    assert "Not linked" in all_text(embeds_of(reply))
    assert await bot.store.get_user_credential(MEMBER, RA) is None


async def test_a_dm_lookup_uses_the_members_key_and_is_private(bot, fake_discord, fake_ra):
    """`/ticket retroachievements` in the DM answers only the member, read with their key."""
    await link_in_dm(fake_discord)
    fake_ra.tickets[123] = ra_ticket(123)
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 123}, user_id=MEMBER, install=BOT_DM
    )
    message = await answer(fake_discord, inter)
    assert ephemeral(message)
    assert "Ticket #123" in all_text(message["embeds"])
    assert keys_used(fake_ra)[-1] == MEMBER_KEY
    assert "good-key" not in keys_used(fake_ra)


async def test_public_true_in_a_dm_posts_it(bot, fake_discord, fake_ra):
    """In the member's DM with the bot, `public:true` posts the answer for the chat."""
    await link_in_dm(fake_discord)
    fake_ra.tickets[124] = ra_ticket(124)
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 124, "public": True}, user_id=MEMBER, install=BOT_DM
    )
    message = await answer(fake_discord, inter)
    assert not ephemeral(message)
    assert "Ticket #124" in all_text(message["embeds"])


async def test_an_aggregate_works_in_a_group_dm(bot, fake_discord, fake_ra):
    """`/tickets retroachievements recent` in a group DM, with the member's key, privately."""
    await link_in_dm(fake_discord)
    fake_ra.tickets[130] = ra_ticket(130)
    inter = await fake_discord.send_interaction(
        f"tickets {RA} recent", {}, user_id=MEMBER, install=GROUP_DM
    )
    message = await answer(fake_discord, inter)
    assert ephemeral(message)
    assert "https://retroachievements.org/ticket/130" in all_text(message["embeds"])
    assert keys_used(fake_ra)[-1] == MEMBER_KEY


async def test_without_a_linked_key_the_member_is_told_how_to_link_it(bot, fake_discord, fake_ra):
    """No user-scope key: a private answer saying how to link one, and no request (the
    server's key is never used outside its server)."""
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 5}, user_id=MEMBER, install=BOT_DM
    )
    response = await fake_discord.wait_for_response(inter)
    assert response.ephemeral
    text = all_text(embeds_of(response.data))
    assert "Link your RetroAchievements account" in text
    assert LINK_HINT in text
    assert fake_ra.requests == []


async def test_whmcs_outside_a_server_with_ticketlens_is_refused_politely(bot, fake_discord):
    """`/ticket whmcs` in a DM or a server without the bot: refused, privately, saying where it
    works; nothing else runs."""
    for install in (BOT_DM, ELSEWHERE_GUILD):
        inter = await fake_discord.send_interaction(
            "ticket whmcs", {"id": 5}, user_id=MEMBER, install=install, permissions=MANAGE_GUILD
        )
        response = await fake_discord.wait_for_response(inter)
        assert response.ephemeral
        text = all_text(embeds_of(response.data))
        assert "work only in a server where TicketLens is installed" in text
        assert "WHMCS" in text


async def test_unlink_in_a_dm_deletes_the_key(bot, fake_discord, fake_ra):
    """`/ticketaccount unlink` there deletes the member's own key at once; `show` says so."""
    await link_in_dm(fake_discord)
    inter = await fake_discord.send_interaction(
        "ticketaccount show", {}, user_id=MEMBER, install=BOT_DM
    )
    shown = await fake_discord.wait_for_response(inter)
    assert "linked <t:" in all_text(embeds_of(shown.data))
    assert MEMBER_KEY not in str(shown.data)

    inter = await fake_discord.send_interaction(
        "ticketaccount unlink", {"provider": RA}, user_id=MEMBER, install=BOT_DM
    )
    response = await fake_discord.wait_for_response(inter)
    assert response.ephemeral
    assert "Unlinked" in all_text(embeds_of(response.data))
    assert await bot.store.get_user_credential(MEMBER, RA) is None

    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 5}, user_id=MEMBER, install=BOT_DM
    )
    response = await fake_discord.wait_for_response(inter)
    assert LINK_HINT in all_text(embeds_of(response.data))


async def test_in_a_server_with_ticketlens_the_servers_key_is_still_used(
    bot, fake_discord, fake_ra
):
    """A member with their own key, in the server that installed TicketLens: the lookup is
    read with the server's key, as before; the member's own key is not touched there."""
    await link_in_dm(fake_discord)
    fake_ra.tickets[200] = ra_ticket(200)
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 200}, user_id=MEMBER, permissions=0
    )
    message = await answer(fake_discord, inter)
    assert "Ticket #200" in all_text(message["embeds"])
    assert keys_used(fake_ra)[-1] == "good-key"
    # Its lookup history is kept there, as before (recorded once the answer is sent).
    await settle()
    assert await bot.store.recent_lookups(GUILD_ID, MEMBER, RA) == ["200"]


async def test_a_server_without_the_bot_uses_the_members_key_and_no_staff_rights(
    bot, fake_discord, fake_ra
):
    """Where only the member installed the app, Manage Server there makes nobody staff and no
    server key applies: the member's own key is used, and nothing is kept for that server."""
    await link_in_dm(fake_discord)
    fake_ra.tickets[300] = ra_ticket(300)
    inter = await fake_discord.send_interaction(
        f"ticket {RA}",
        {"id": 300},
        user_id=MEMBER,
        install=ELSEWHERE_GUILD,
        permissions=MANAGE_GUILD,
    )
    message = await answer(fake_discord, inter)
    assert ephemeral(message)
    assert keys_used(fake_ra)[-1] == MEMBER_KEY
    assert ELSEWHERE not in await bot.store.guild_ids()


async def test_public_where_the_app_may_not_post_is_answered_privately_with_a_note(
    bot, fake_discord, fake_ra
):
    """A server that does not let the member's app post: `public:true` is answered to the
    member alone, saying why, instead of failing."""
    await link_in_dm(fake_discord)
    fake_ra.tickets[301] = ra_ticket(301)
    restricted = UserInstall(
        context=CONTEXT_GUILD,
        guild_id=ELSEWHERE,
        app_permissions=DEFAULT_EVERYONE_PERMISSIONS & ~SEND_MESSAGES,
    )
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 301, "public": True}, user_id=MEMBER, install=restricted
    )
    message = await answer(fake_discord, inter)
    assert ephemeral(message)
    text = all_text(message["embeds"])
    assert "Ticket #301" in text
    assert "TicketLens may not post for everyone here" in text
    labels = [c.get("label") for row in message["components"] for c in row["components"]]
    assert "Share to channel" not in labels


async def test_help_in_a_dm_says_what_works_there(bot, fake_discord):
    """`/ticket help` in the DM lists RetroAchievements with the member's key, and the others
    as server-only."""
    inter = await fake_discord.send_interaction("ticket help", {}, user_id=MEMBER, install=BOT_DM)
    response = await fake_discord.wait_for_response(inter)
    text = all_text(embeds_of(response.data))
    assert LINK_HINT in text
    assert "WHMCS" in text
    assert "only in a server where TicketLens is installed" in text


async def test_linking_a_server_only_provider_in_a_dm_is_refused(bot, fake_discord):
    """TeamBattles keys are linked per server: in a DM the form is not offered."""
    inter = await fake_discord.send_interaction(
        "ticketaccount link", {"provider": "teambattles"}, user_id=MEMBER, install=BOT_DM
    )
    response = await fake_discord.wait_for_response(inter)
    assert response.type == 4
    assert response.ephemeral
    assert "work only in a server where TicketLens is installed" in all_text(
        embeds_of(response.data)
    )


async def test_the_guild_install_is_told_apart_from_the_members(bot, fake_discord):
    """`installed_guild`: the server's own install only when Discord names it."""
    seen: list[int | None] = []

    async def record(interaction: Any) -> None:
        seen.append(installed_guild(interaction))

    bot.add_listener(record, "on_interaction")
    for kwargs in ({}, {"install": BOT_DM}, {"install": ELSEWHERE_GUILD}):
        inter = await fake_discord.send_interaction("ticket help", {}, user_id=MEMBER, **kwargs)
        await fake_discord.wait_for_response(inter)
    assert seen == [GUILD_ID, None, None]


# -- the store, on both backends --------------------------------------------------------------


async def test_user_scope_credential_round_trip(backend, key):  # noqa: F811
    """A member's user-scope key is theirs alone, apart from every guild's rows, replaced on
    a new link and deleted by unlink."""
    store: Store = await backend.open(key)
    try:
        await store.put_user_credential(MEMBER, RA, {"username": "me", "api_key": "k1"})
        await store.put_credential(GUILD_ID, MEMBER, RA, {"api_key": "guild-row"}, set_by=MEMBER)
        assert await store.get_user_credential(MEMBER, RA) == {"username": "me", "api_key": "k1"}
        assert await store.get_user_credential(MEMBER + 1, RA) is None
        assert await store.get_credential(GUILD_ID, MEMBER, RA) == {"api_key": "guild-row"}

        await store.put_user_credential(MEMBER, RA, {"username": "me", "api_key": "k2"})
        assert await store.get_user_credential(MEMBER, RA) == {"username": "me", "api_key": "k2"}
        assert [c.provider for c in await store.list_user_credentials(MEMBER)] == [RA]

        # Not guild data: a guild's removal leaves it, and it is no guild's.
        await store.forget_guild(GUILD_ID)
        assert await store.get_user_credential(MEMBER, RA) is not None
        assert await store.guild_ids() == set()

        assert await store.delete_user_credential(MEMBER, RA) is True
        assert await store.delete_user_credential(MEMBER, RA) is False
        assert await store.get_user_credential(MEMBER, RA) is None
        assert await store.list_user_credentials(MEMBER) == []
    finally:
        await store.close()

    reopened: Store = await backend.open(key)
    try:
        await reopened.put_user_credential(MEMBER, RA, {"api_key": "k3"})
    finally:
        await reopened.close()
    again: Store = await backend.open(key)
    try:
        assert await again.get_user_credential(MEMBER, RA) == {"api_key": "k3"}
    finally:
        await again.close()


async def test_a_user_scope_blob_opens_only_for_its_member(backend, key):  # noqa: F811
    """The sealed blob is bound to (guild 0, member, provider): copied to another member or
    into a guild's row, it does not open; it is never stored in clear."""
    store: Store = await backend.open(key)
    try:
        await store.put_user_credential(MEMBER, RA, {"api_key": "SEALED-user-key"})
        await backend.execute(
            # MEMBER's row, copied to member 5556.
            "INSERT INTO user_credentials (user_id, provider, secret, set_at)"
            " SELECT 5556, provider, secret, set_at FROM user_credentials"
        )
        with pytest.raises(CredentialUnreadable):
            await store.get_user_credential(MEMBER + 1, RA)
        await store.put_credential(GUILD_ID, MEMBER, RA, {"api_key": "x"}, set_by=MEMBER)
        await backend.execute(
            "UPDATE credentials SET secret ="
            " (SELECT secret FROM user_credentials WHERE user_id = 5555)"
        )
        with pytest.raises(CredentialUnreadable):
            await store.get_credential(GUILD_ID, MEMBER, RA)
        rows = await backend.rows("SELECT * FROM user_credentials")
        assert all(b"SEALED-user-key" not in str(row).encode() for row in rows)
        assert await store.get_user_credential(MEMBER, RA) == {"api_key": "SEALED-user-key"}
    finally:
        await store.close()


async def test_a_public_answer_discord_refuses_is_given_privately_instead(
    bot, fake_discord, fake_ra
):
    """Where the member's app seemed allowed to post but Discord refuses the public answer
    (403), the member still gets it, privately and with the note, not "This interaction
    failed"."""
    await link_in_dm(fake_discord)
    fake_ra.tickets[302] = ra_ticket(302)
    fake_discord.add_override(
        "POST",
        r"/interactions/\d+/[^/]+/callback",
        status=403,
        body={"message": "Missing Permissions", "code": 50013},
    )
    inter = await fake_discord.send_interaction(
        f"ticket {RA}", {"id": 302, "public": True}, user_id=MEMBER, install=ELSEWHERE_GUILD
    )
    message = await answer(fake_discord, inter)
    assert ephemeral(message)
    text = all_text(message["embeds"])
    assert "Ticket #302" in text
    assert "TicketLens may not post for everyone here" in text
