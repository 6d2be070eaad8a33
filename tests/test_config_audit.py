"""
`/ticketconfig audit`, `logchannel` and `test`, and `/ticketaccount forget`, driven the way
Discord drives them: the real bot against the loopback Discord and fake providers; and their
answers, forms and log posts in the member's (or the guild's) language.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from bot.app import TicketLensBot
from bot.i18n import Msg, worded
from bot.providers.base import CredentialField
from cogs.account import build_group as account_group
from cogs.config import CredentialModal, missing_post_permissions
from cogs.retroachievements._client import RetroSettings
from cogs.teambattles._client import TeamBattlesSettings
from cogs.whmcs._client import WhmcsSettings
from tests.e2e.conftest import CHANNEL_ID, GUILD_ID, OWNER_ID
from tests.e2e.fake_discord import (
    DEFAULT_BOT_PERMISSIONS,
    EMBED_LINKS,
    MANAGE_GUILD,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
)
from tests.fakes.teambattles import FakeTeamBattles, TbKey, tb_key
from tests.fakes.whmcs import GOOD as WHMCS_GOOD
from tests.fakes.whmcs import FakeWhmcs
from tests.harness import all_text, embeds_of, running_bot

RA, TB, WH = "retroachievements", "teambattles", "whmcs"
RA_KEY = "good-key"
RA_GOOD = {"username": "mod", "api_key": RA_KEY}
TB_KEY = tb_key(5)
ADMIN, OTHER_ADMIN, ALICE, BOB = 701, 702, 703, 704
LOG, GONE = 2001, 2002
#: A second guild where the bot may not embed links (so not post its notices) anywhere.
QUIET_GUILD, QUIET_CHANNEL = 3000, 3001
STAFF_ROLE_ID = GUILD_ID + 1  # the bot's managed role: in the guild's role cache
#: Every value typed or stored that must never show up in anything the bot sends or logs.
SECRETS = (RA_KEY, "bad-key-0000", TB_KEY, WHMCS_GOOD["secret"], WHMCS_GOOD["identifier"])
AUDIT_LINE = re.compile(r"^<t:(\d+):f> <@(\d+)> (.+)$")


@pytest.fixture
async def fake_tb() -> AsyncIterator[FakeTeamBattles]:
    """A fake TeamBattles API that knows Alice's key."""
    server = FakeTeamBattles(keys={TB_KEY: TbKey("alice")})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fake_whmcs() -> AsyncIterator[FakeWhmcs]:
    """A fake WHMCS 8.x install."""
    server = FakeWhmcs(version="8")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake_discord, fake_ra, fake_tb, tmp_path) -> AsyncIterator[TicketLensBot]:
    """The real bot (private URLs allowed, for the fake WHMCS) in a guild with a log channel,
    a channel that will be deleted, and a second guild where it may not post."""
    guild = fake_discord.guilds[GUILD_ID]
    guild.channels.update({LOG: "ticketlens-log", GONE: "old-log"})
    fake_discord.guilds[QUIET_GUILD] = FakeGuild(
        id=QUIET_GUILD,
        name="Quiet Guild",
        owner_id=OWNER_ID,
        channels={QUIET_CHANNEL: "read-only"},
        everyone_permissions=DEFAULT_BOT_PERMISSIONS & ~EMBED_LINKS,
        bot_permissions=DEFAULT_BOT_PERMISSIONS & ~EMBED_LINKS,
    )
    sections = {
        RetroSettings: RetroSettings(base_url=fake_ra.url, rate_per_s=100),
        TeamBattlesSettings: TeamBattlesSettings(base_url=fake_tb.url),
        WhmcsSettings: WhmcsSettings(rate_per_s=100),
    }
    async with running_bot(
        fake_discord, tmp_path, sections=sections, settings={"ALLOW_PRIVATE_URLS": True}
    ) as running:
        yield running


# -- helpers -----------------------------------------------------------------------------------


def channel_option(channel_id: int, guild_id: int = GUILD_ID) -> dict[str, Any]:
    """The `resolved` data Discord sends with a channel option."""
    return {
        "channels": {
            str(channel_id): {
                "id": str(channel_id),
                "type": 0,
                "name": f"channel-{channel_id}",
                "permissions": str(MANAGE_GUILD),
                "guild_id": str(guild_id),
                "parent_id": None,
                "flags": 0,
            }
        }
    }


def role_option(role_id: int) -> dict[str, Any]:
    """The `resolved` data Discord sends with a role option."""
    role = {
        "id": str(role_id),
        "name": "Support",
        "color": 0,
        "hoist": False,
        "position": 1,
        "permissions": "0",
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }
    return {"roles": {str(role_id): role}}


async def answer(fake_discord: FakeDiscord, inter: FakeInteraction) -> tuple[bool, list[dict]]:
    """(ephemeral, embeds) of the bot's answer, whether direct or after a deferral."""
    response = await fake_discord.wait_for_response(inter)
    if response.type == 5:
        assert response.ephemeral
        reply = (await fake_discord.wait_for_followups(inter))[0]
        return bool(reply["flags"] & 64), embeds_of(reply)
    return response.ephemeral, embeds_of(response.data)


async def run(
    fake_discord: FakeDiscord,
    command: str,
    options: dict[str, Any] | None = None,
    *,
    user_id: int = ADMIN,
    permissions: int = MANAGE_GUILD,
    **extra: Any,
) -> str:
    """Run a command (as an admin unless told); the visible text of its ephemeral answer."""
    inter = await fake_discord.send_interaction(
        command, options or {}, user_id=user_id, permissions=permissions, **extra
    )
    ephemeral, embeds = await answer(fake_discord, inter)
    assert ephemeral
    return all_text(embeds)


async def submit_form(
    fake_discord: FakeDiscord, provider: str, values: dict[str, str], user_id: int = ADMIN
) -> str:
    """`/ticketconfig set provider:<provider>`, then submit `values`; the answer's text."""
    inter = await fake_discord.send_interaction(
        "ticketconfig set", {"provider": provider}, permissions=MANAGE_GUILD, user_id=user_id
    )
    assert (await fake_discord.wait_for_response(inter)).type == 9
    submit = await fake_discord.send_modal_submit(
        f"ticketlens:config:{provider}", values, permissions=MANAGE_GUILD, user_id=user_id
    )
    reply = (await fake_discord.wait_for_followups(submit))[0]
    assert reply["flags"] & 64
    return all_text(embeds_of(reply))


async def audit_lines(fake_discord: FakeDiscord, user_id: int = ADMIN) -> list[str]:
    """The lines of `/ticketconfig audit` (its one ephemeral embed)."""
    inter = await fake_discord.send_interaction(
        "ticketconfig audit", permissions=MANAGE_GUILD, user_id=user_id
    )
    ephemeral, embeds = await answer(fake_discord, inter)
    assert ephemeral
    assert len(embeds) == 1
    return str(embeds[0]["description"]).splitlines()


def assert_no_secret_sent(fake_discord: FakeDiscord, caplog: pytest.LogCaptureFixture) -> None:
    """No secret in any request the bot made to Discord, nor in any line TicketLens logged.
    (discord.py's own DEBUG lines show gateway payloads, form values included: the bot keeps
    those loggers quiet in production, see bot/redact.py.)"""
    sent = b"\n".join(r.body for r in fake_discord.requests)
    logged = "\n".join(
        r.getMessage() for r in caplog.records if r.name.split(".")[0] in {"bot", "cogs"}
    )
    for secret in SECRETS:
        assert secret.encode() not in sent, secret
        assert secret not in logged, secret


# -- audit -------------------------------------------------------------------------------------


async def test_audit_records_every_change_with_who_and_when(bot, fake_discord, caplog):
    """set, remove, staffrole and logchannel each add a line (who, Discord time, what), newest
    first; nothing-to-remove adds none; no secret reaches Discord or the logs."""
    caplog.set_level(logging.DEBUG)
    assert await audit_lines(fake_discord) == ["No changes recorded yet."]

    assert "Saved" in await submit_form(fake_discord, RA, RA_GOOD)
    await run(
        fake_discord,
        "ticketconfig staffrole",
        {"role": str(STAFF_ROLE_ID)},
        user_id=OTHER_ADMIN,
        resolved=role_option(STAFF_ROLE_ID),
    )
    await run(fake_discord, "ticketconfig staffrole", user_id=OTHER_ADMIN)
    await run(
        fake_discord, "ticketconfig logchannel", {"channel": str(LOG)}, resolved=channel_option(LOG)
    )
    await run(fake_discord, "ticketconfig logchannel")
    assert "deleted" in await run(fake_discord, "ticketconfig remove", {"provider": RA})
    assert "Nothing to remove" in await run(fake_discord, "ticketconfig remove", {"provider": RA})
    await run(fake_discord, "ticketconfig show")
    await run(fake_discord, "ticketconfig test", {"provider": RA})

    lines = await audit_lines(fake_discord, user_id=OTHER_ADMIN)
    parsed = [AUDIT_LINE.fullmatch(line) for line in lines]
    assert all(parsed), lines
    assert [(int(m[2]), m[3]) for m in parsed if m] == [
        (ADMIN, "remove RetroAchievements"),
        (ADMIN, "logchannel cleared"),
        (ADMIN, f"logchannel <#{LOG}>"),
        (OTHER_ADMIN, "staffrole cleared"),
        (OTHER_ADMIN, f"staffrole <@&{STAFF_ROLE_ID}>"),
        (ADMIN, "set RetroAchievements"),
    ]
    times = [int(m[1]) for m in parsed if m]
    assert times == sorted(times, reverse=True)
    assert_no_secret_sent(fake_discord, caplog)


async def test_a_credential_stored_unchecked_is_audited_as_such(bot, fake_discord, fake_ra):
    """Stored with the could-not-check warning: the audit says "set (unchecked)"."""
    fake_ra.fail_next, fake_ra.fail_status = 1_000, 503
    text = await submit_form(fake_discord, RA, RA_GOOD)
    assert "could not be reached" in text
    assert await bot.store.get_credential(GUILD_ID, None, RA) == RA_GOOD
    (line,) = await audit_lines(fake_discord)
    assert line.endswith(f"<@{ADMIN}> set (unchecked) RetroAchievements")


async def test_a_rejected_credential_is_not_audited(bot, fake_discord):
    """Nothing stored, nothing changed: no audit entry."""
    text = await submit_form(fake_discord, RA, {"username": "mod", "api_key": "bad-key-0000"})
    assert "nothing was stored" in text
    assert await audit_lines(fake_discord) == ["No changes recorded yet."]


async def test_members_without_manage_server_are_refused(bot, fake_discord):
    """audit, logchannel and test need Manage Server, like the rest of /ticketconfig."""
    await bot.store.add_audit(GUILD_ID, ADMIN, "set", "RetroAchievements")
    for command, options, resolved in (
        ("ticketconfig audit", {}, None),
        ("ticketconfig logchannel", {"channel": str(LOG)}, channel_option(LOG)),
        ("ticketconfig logchannel", {}, None),
        ("ticketconfig test", {"provider": RA}, None),
    ):
        text = await run(
            fake_discord, command, options, user_id=ALICE, permissions=0, resolved=resolved
        )
        assert "Manage Server" in text
        assert "RetroAchievements" not in text
    assert await bot.store.get_guild_setting(GUILD_ID, "log_channel") is None
    assert len(await bot.store.list_audit(GUILD_ID)) == 1


# -- the log channel ---------------------------------------------------------------------------


async def test_the_log_channel_gets_credential_changes_and_never_a_secret(
    bot, fake_discord, caplog
):
    """set and remove are posted (who, what, which provider); staff role changes, tests and a
    member's own key are not; no typed value is ever posted."""
    caplog.set_level(logging.DEBUG)
    text = await run(
        fake_discord, "ticketconfig logchannel", {"channel": str(LOG)}, resolved=channel_option(LOG)
    )
    assert f"<#{LOG}>" in text
    assert "could not check" not in text  # the bot's permissions there were known
    assert await bot.store.get_guild_setting(GUILD_ID, "log_channel") == str(LOG)

    await submit_form(fake_discord, RA, RA_GOOD)
    removed = await run(fake_discord, "ticketconfig remove", {"provider": RA})
    assert "deleted" in removed
    assert "could not be reached" not in removed
    await run(fake_discord, "ticketconfig remove", {"provider": RA})  # nothing to remove
    await run(fake_discord, "ticketconfig staffrole")
    await run(fake_discord, "ticketconfig test", {"provider": RA})
    inter = await fake_discord.send_interaction(
        "ticketaccount link", {"provider": TB}, permissions=0, user_id=ALICE
    )
    await fake_discord.wait_for_response(inter)
    submit = await fake_discord.send_modal_submit(
        f"ticketlens:account:{TB}", {"api_key": TB_KEY}, permissions=0, user_id=ALICE
    )
    assert "Linked" in all_text(embeds_of((await fake_discord.wait_for_followups(submit))[0]))
    await run(fake_discord, "ticketaccount unlink", {"provider": TB}, user_id=ALICE, permissions=0)

    posts = fake_discord.channel_messages(LOG)
    assert [p["embeds"][0]["title"] for p in posts] == ["Credentials set", "Credentials removed"]
    for post in posts:
        description = post["embeds"][0]["description"]
        assert f"<@{ADMIN}>" in description
        assert "**RetroAchievements**" in description
    posted = [r for r in fake_discord.requests if r.route == f"/channels/{LOG}/messages"]
    assert all(r.json["allowed_mentions"] == {"parse": []} for r in posted)
    assert fake_discord.channel_messages(CHANNEL_ID) == []
    actions = [e.action for e in await bot.store.list_audit(GUILD_ID)]
    assert actions == ["staffrole", "remove", "set", "logchannel"]  # nothing for ALICE's key
    assert_no_secret_sent(fake_discord, caplog)


@pytest.mark.parametrize("failure", ["forbidden", "deleted"])
async def test_an_unreachable_log_channel_never_fails_the_change(
    bot, fake_discord, caplog, failure
):
    """403 (no access) or 404 (deleted channel) on the post: the credential is still stored
    or removed, the admin is told the log channel could not be reached, a warning is logged."""
    caplog.set_level(logging.DEBUG)
    channel = LOG if failure == "forbidden" else GONE
    await run(
        fake_discord,
        "ticketconfig logchannel",
        {"channel": str(channel)},
        resolved=channel_option(channel),
    )
    if failure == "forbidden":
        fake_discord.forbidden_channels.add(LOG)
    else:
        del fake_discord.guilds[GUILD_ID].channels[GONE]

    saved = await submit_form(fake_discord, RA, RA_GOOD)
    assert "Saved" in saved
    assert "log channel could not be reached" in saved
    assert await bot.store.get_credential(GUILD_ID, None, RA) == RA_GOOD
    removed = await run(fake_discord, "ticketconfig remove", {"provider": RA})
    assert "deleted" in removed
    assert "log channel could not be reached" in removed
    assert await bot.store.get_credential(GUILD_ID, None, RA) is None

    assert fake_discord.channel_messages(channel) == []
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "log channel" in r.getMessage()
    ]
    assert len(warnings) == 2
    assert all(str(channel) in w for w in warnings)
    assert [e.action for e in await bot.store.list_audit(GUILD_ID)][:2] == ["remove", "set"]
    assert_no_secret_sent(fake_discord, caplog)


async def test_a_channel_the_bot_cannot_post_in_is_refused(bot, fake_discord):
    """Where the bot's permissions are known and lack Embed Links, nothing is saved."""
    text = await run(
        fake_discord,
        "ticketconfig logchannel",
        {"channel": str(QUIET_CHANNEL)},
        guild_id=QUIET_GUILD,
        channel_id=QUIET_CHANNEL,
        resolved=channel_option(QUIET_CHANNEL, QUIET_GUILD),
    )
    assert "not set" in text
    assert "Embed Links" in text
    assert "Send Messages" not in text
    assert await bot.store.get_guild_setting(QUIET_GUILD, "log_channel") is None
    assert await bot.store.list_audit(QUIET_GUILD) == []


def test_unknown_permissions_are_not_guessed():
    """Without the bot's own member in the cache the check says "cannot know" (None)."""
    interaction: Any = SimpleNamespace(guild=SimpleNamespace(me=None))
    assert missing_post_permissions(interaction, SimpleNamespace()) is None
    interaction = SimpleNamespace(guild=None)
    assert missing_post_permissions(interaction, SimpleNamespace()) is None


# -- /ticketconfig test ------------------------------------------------------------------------


async def test_test_says_stored_credentials_work(bot, fake_discord, fake_ra):
    """Stored, good credentials: one check upstream, "works", and no audit entry."""
    await bot.store.put_credential(GUILD_ID, None, RA, RA_GOOD, set_by=ADMIN)
    inter = await fake_discord.send_interaction(
        "ticketconfig test", {"provider": RA}, permissions=MANAGE_GUILD, user_id=ADMIN
    )
    assert (await fake_discord.wait_for_response(inter)).type == 5  # deferred first
    ephemeral, embeds = await answer(fake_discord, inter)
    assert ephemeral
    text = all_text(embeds)
    assert "✅" in text
    assert "works" in text
    assert len(fake_ra.requests) == 1
    assert await bot.store.list_audit(GUILD_ID) == []


async def test_test_names_a_rejected_key_and_does_not_retry(bot, fake_discord, fake_ra):
    """A key the provider answers 401 to: what is wrong and how to replace it, one request."""
    bad = {"username": "mod", "api_key": "bad-key-0000"}
    await bot.store.put_credential(GUILD_ID, None, RA, bad, set_by=ADMIN)
    text = await run(fake_discord, "ticketconfig test", {"provider": RA})
    assert "RetroAchievements is not working" in text
    assert "rejected the stored credentials" in text
    assert "/ticketconfig set provider:retroachievements" in text
    assert "bad-key-0000" not in text
    assert len(fake_ra.requests) == 1
    assert await bot.store.get_credential(GUILD_ID, None, RA) == bad  # a test changes nothing


async def test_test_says_when_the_host_is_down(bot, fake_discord, fake_ra):
    """The provider keeps failing (503): "could not be checked", the host looks down."""
    await bot.store.put_credential(GUILD_ID, None, RA, RA_GOOD, set_by=ADMIN)
    fake_ra.fail_next, fake_ra.fail_status = 1_000, 503
    text = await run(fake_discord, "ticketconfig test", {"provider": RA})
    assert "RetroAchievements could not be checked" in text
    assert "down or unreachable" in text
    assert "rejected" not in text


async def test_test_without_stored_credentials_says_how_to_set_them(bot, fake_discord, fake_ra):
    """Nothing stored: "not set", the command that sets it, and no request upstream."""
    text = await run(fake_discord, "ticketconfig test", {"provider": RA})
    assert "RetroAchievements is not set" in text
    assert "/ticketconfig set provider:retroachievements" in text
    assert fake_ra.requests == []


async def test_test_of_an_unreadable_credential_asks_to_enter_it_again(
    bot, fake_discord, fake_ra, tmp_path
):
    """A row sealed for another guild does not open: the usual "can't be read" answer."""
    await bot.store.put_credential(999, None, RA, RA_GOOD, set_by=1)
    with sqlite3.connect(tmp_path / "ticketlens.db") as db:
        db.execute(
            "INSERT INTO credentials (guild_id, user_id, provider, secret, set_by, set_at)"
            " SELECT ?, user_id, provider, secret, set_by, set_at FROM credentials"
            " WHERE guild_id = 999",
            (GUILD_ID,),
        )
    text = await run(fake_discord, "ticketconfig test", {"provider": RA})
    assert "can't be read" in text
    assert "/ticketconfig set" in text
    assert fake_ra.requests == []


async def test_test_explains_whmcs_ip_restriction(bot, fake_discord, fake_whmcs):
    """WHMCS refusing the bot's IP: "not allowed" plus WHMCS's own advice on the allow list."""
    credential = {"url": fake_whmcs.url, **WHMCS_GOOD}
    await bot.store.put_credential(GUILD_ID, None, WH, credential, set_by=ADMIN)
    fake_whmcs.ip_allowed = False
    text = await run(fake_discord, "ticketconfig test", {"provider": WH})
    assert "WHMCS is not working" in text
    assert "IP address is not allowed" in text
    assert "API IP Access Restriction" in text
    assert len(fake_whmcs.requests) == 1
    assert WHMCS_GOOD["secret"] not in text

    fake_whmcs.ip_allowed = True
    assert "✅ WHMCS works" in await run(fake_discord, "ticketconfig test", {"provider": WH})


# -- /ticketaccount forget ---------------------------------------------------------------------


async def test_forget_deletes_only_the_members_own_history_here(bot, fake_discord):
    """Any member can delete their lookup history in this server at once; nobody else's."""
    await bot.store.record_lookup(GUILD_ID, ALICE, RA, "12")
    await bot.store.record_lookup(GUILD_ID, ALICE, WH, "id:42")
    await bot.store.record_lookup(GUILD_ID, BOB, RA, "13")
    await bot.store.record_lookup(QUIET_GUILD, ALICE, RA, "14")

    text = await run(fake_discord, "ticketaccount forget", user_id=ALICE, permissions=0)
    assert "Deleted 2 entries" in text
    assert await bot.store.recent_lookups(GUILD_ID, ALICE, RA) == []
    assert await bot.store.recent_lookups(GUILD_ID, ALICE, WH) == []
    assert await bot.store.recent_lookups(GUILD_ID, BOB, RA) == ["13"]
    assert await bot.store.recent_lookups(QUIET_GUILD, ALICE, RA) == ["14"]

    again = await run(fake_discord, "ticketaccount forget", user_id=ALICE, permissions=0)
    assert "no lookup history" in again


async def test_forget_is_there_without_owner_scoped_providers(bot):
    """With no provider a member links a key for, /ticketaccount still has `forget` (alone)."""
    group = account_group(bot, [])
    assert [c.name for c in group.commands] == ["forget"]
    assert group.name == "ticketaccount"


async def test_test_does_not_retry_whmcs_credentials_it_just_rejected(
    bot, fake_discord, fake_whmcs
):
    """Three failed logins ban the bot's IP at WHMCS: after a rejection, `test` says so
    without logging in again, until the credentials are saved anew."""
    credential = {"url": fake_whmcs.url, **WHMCS_GOOD, "secret": "SecretWrong0123456789"}
    await bot.store.put_credential(GUILD_ID, None, WH, credential, set_by=ADMIN)
    first = await run(fake_discord, "ticketconfig test", {"provider": WH})
    assert "WHMCS is not working" in first
    assert len(fake_whmcs.requests) == 1
    again = await run(fake_discord, "ticketconfig test", {"provider": WH})
    assert "not tried again" in again
    assert len(fake_whmcs.requests) == 1
    assert "SecretWrong0123456789" not in first + again


# -- in the member's language ------------------------------------------------------------------


def text_inputs(components: Any) -> list[dict[str, Any]]:
    """Every text input (type 4) of a modal's components, in order."""
    found: list[dict[str, Any]] = []
    if isinstance(components, dict):
        if components.get("type") == 4:
            found.append(components)
        for value in components.values():
            found += text_inputs(value)
    elif isinstance(components, list):
        for item in components:
            found += text_inputs(item)
    return found


async def open_form(
    fake_discord: FakeDiscord, command: str, provider: str, locale: str, **extra: Any
) -> dict[str, Any]:
    """Run a command that answers with a modal; the modal's payload."""
    inter = await fake_discord.send_interaction(
        command, {"provider": provider}, locale=locale, **extra
    )
    response = await fake_discord.wait_for_response(inter)
    assert response.type == 9
    return dict(response.data)


async def embed_of(
    fake_discord: FakeDiscord,
    command: str,
    options: dict[str, Any] | None = None,
    *,
    user_id: int = ADMIN,
    permissions: int = MANAGE_GUILD,
    **extra: Any,
) -> tuple[str, str]:
    """Run a command; (title, description) of its one ephemeral embed."""
    inter = await fake_discord.send_interaction(
        command, options or {}, user_id=user_id, permissions=permissions, **extra
    )
    ephemeral, embeds = await answer(fake_discord, inter)
    assert ephemeral
    assert len(embeds) == 1
    return str(embeds[0]["title"]), str(embeds[0]["description"])


async def submitted(fake_discord: FakeDiscord, submit: FakeInteraction) -> tuple[str, str]:
    """(title, description) of the private answer to a modal submission."""
    reply = (await fake_discord.wait_for_followups(submit))[0]
    assert reply["flags"] & 64
    (embed,) = embeds_of(reply)
    return str(embed["title"]), str(embed["description"])


def actions(lines: list[str]) -> list[str]:
    """The audit lines without their time and actor."""
    matches = [AUDIT_LINE.fullmatch(line) for line in lines]
    assert all(matches), lines
    return [match[3] for match in matches if match]


async def test_show_and_audit_answer_in_the_members_language(bot, fake_discord):
    """`de`: /ticketconfig show and audit in German, commands quoted by their German names,
    provider labels and mentions as they are; `en-US`: the English answers, word for word."""
    title, text = await embed_of(fake_discord, "ticketconfig audit", locale="de")
    assert (title, text) == (
        "Änderungen an der Konfiguration",
        "Noch keine Änderungen aufgezeichnet.",
    )
    await bot.store.put_credential(GUILD_ID, None, RA, RA_GOOD, set_by=ADMIN)
    await bot.store.put_credential(GUILD_ID, ALICE, TB, {"api_key": TB_KEY}, set_by=ALICE)
    await bot.store.add_audit(GUILD_ID, ADMIN, "set", "RetroAchievements")
    await bot.store.add_audit(GUILD_ID, ADMIN, "set (unchecked)", "WHMCS")
    await bot.store.add_audit(GUILD_ID, ADMIN, "logchannel", "cleared")

    title, text = await embed_of(fake_discord, "ticketconfig show", locale="de")
    assert title == "Einrichtung von TicketLens auf diesem Server"
    lines = text.splitlines()
    assert re.fullmatch(
        rf"\*\*RetroAchievements\*\*: eingerichtet von <@{ADMIN}> <t:\d+:R>", lines[0]
    )
    assert lines[2:] == [
        "**TeamBattles**: nicht eingerichtet (`/ticketconfig einrichten anbieter:teambattles`); "
        "1 Mitglied(er) haben einen eigenen verknüpft",
        "**WHMCS**: nicht eingerichtet (`/ticketconfig einrichten anbieter:whmcs`)",
        "**Team**: Mitglieder mit „Server verwalten“ (`/ticketconfig teamrolle` fügt eine "
        "Rolle hinzu)",
    ]
    title, text = await embed_of(fake_discord, "ticketconfig audit", locale="de")
    assert title == "Änderungen an der Konfiguration"
    assert actions(text.splitlines()) == [
        "logkanal zurückgesetzt",
        "einrichten (ungeprüft) WHMCS",
        "einrichten RetroAchievements",
    ]

    title, text = await embed_of(fake_discord, "ticketconfig show", locale="en-US")
    assert title == "TicketLens on this server"
    lines = text.splitlines()
    assert re.fullmatch(rf"\*\*RetroAchievements\*\*: set by <@{ADMIN}> <t:\d+:R>", lines[0])
    assert lines[2:] == [
        "**TeamBattles**: not set (`/ticketconfig set provider:teambattles`); "
        "1 member(s) linked their own",
        "**WHMCS**: not set (`/ticketconfig set provider:whmcs`)",
        "**Staff**: members with Manage Server (`/ticketconfig staffrole` adds a role)",
    ]
    title, text = await embed_of(fake_discord, "ticketconfig audit", locale="en-US")
    assert title == "Configuration changes"
    assert actions(text.splitlines()) == [
        "logchannel cleared",
        "set (unchecked) WHMCS",
        "set RetroAchievements",
    ]


async def test_the_set_form_opens_in_the_members_language(bot, fake_discord):
    """The modal of /ticketconfig set: German title and field labels for `de` (the provider's
    label kept, custom ids unchanged), the German answer when submitted; English for en-US."""
    provider = bot.providers[RA]
    form = await open_form(
        fake_discord, "ticketconfig set", RA, "de", permissions=MANAGE_GUILD, user_id=ADMIN
    )
    assert form["custom_id"] == f"ticketlens:config:{RA}"
    assert form["title"] == "Zugangsdaten für RetroAchievements"
    inputs = text_inputs(form["components"])
    assert [i["custom_id"] for i in inputs] == ["username", "api_key"]
    german_labels = [worded(f.label, bot.i18n.bind("de")) for f in provider.credential_fields]
    assert [i["label"] for i in inputs] == german_labels
    assert german_labels != ["Username", "Web API key"]  # the provider's words have German

    submit = await fake_discord.send_modal_submit(
        f"ticketlens:config:{RA}", RA_GOOD, permissions=MANAGE_GUILD, user_id=ADMIN, locale="de"
    )
    assert await submitted(fake_discord, submit) == (
        "Gespeichert",
        "Die Zugangsdaten für RetroAchievements wurden geprüft und verschlüsselt gespeichert. "
        "Probier sie mit `/ticket retroachievements` aus.",
    )

    form = await open_form(
        fake_discord, "ticketconfig set", RA, "en-US", permissions=MANAGE_GUILD, user_id=ADMIN
    )
    assert form["custom_id"] == f"ticketlens:config:{RA}"
    assert form["title"] == "RetroAchievements credentials"
    inputs = text_inputs(form["components"])
    assert [(i["custom_id"], i["label"]) for i in inputs] == [
        ("username", "Username"),
        ("api_key", "Web API key"),
    ]
    submit = await fake_discord.send_modal_submit(
        f"ticketlens:config:{RA}", RA_GOOD, permissions=MANAGE_GUILD, user_id=ADMIN
    )
    assert await submitted(fake_discord, submit) == (
        "Saved",
        "RetroAchievements credentials were checked and stored encrypted. "
        "Try them with `/ticket retroachievements`.",
    )


async def test_a_refusal_and_the_account_commands_answer_in_german(bot, fake_discord):
    """A refused key, /ticketaccount link's form, forget and unlink follow the member's `de`."""
    await open_form(fake_discord, "ticketconfig set", RA, "de", permissions=MANAGE_GUILD)
    submit = await fake_discord.send_modal_submit(
        f"ticketlens:config:{RA}",
        {"username": "mod", "api_key": "bad-key-0000"},
        permissions=MANAGE_GUILD,
        locale="de",
    )
    title, text = await submitted(fake_discord, submit)
    assert title == "Nicht gespeichert"
    assert text.startswith("RetroAchievements hat diese Zugangsdaten nicht akzeptiert")
    assert "`/ticketconfig einrichten anbieter:retroachievements`" in text
    assert await bot.store.get_credential(GUILD_ID, None, RA) is None

    form = await open_form(
        fake_discord, "ticketaccount link", TB, "de", permissions=0, user_id=ALICE
    )
    assert form["custom_id"] == f"ticketlens:account:{TB}"
    assert form["title"] == "Verknüpfe dein TeamBattles-Konto"
    assert [i["custom_id"] for i in text_inputs(form["components"])] == ["api_key"]

    await bot.store.record_lookup(GUILD_ID, ALICE, RA, "12")
    title, text = await embed_of(
        fake_discord, "ticketaccount forget", user_id=ALICE, permissions=0, locale="de"
    )
    assert title == "Abfrageverlauf gelöscht"
    assert text.startswith("1 Eintrag deines Abfrageverlaufs auf diesem Server gelöscht")
    assert await embed_of(
        fake_discord,
        "ticketaccount unlink",
        {"provider": TB},
        user_id=ALICE,
        permissions=0,
        locale="de",
    ) == ("Nichts zu trennen", "Du hast auf diesem Server keinen TeamBattles-Schlüssel verknüpft.")


async def test_the_guilds_language_answers_a_member_whose_language_we_lack(bot, fake_discord):
    """A member in French in a German server is answered in German; the log channel is
    worded in the server's language whatever the admin's, the admin's answer in theirs."""
    fake_discord.guilds[GUILD_ID].preferred_locale = "de"
    title, _ = await embed_of(fake_discord, "ticketconfig show", locale="fr")
    assert title == "Einrichtung von TicketLens auf diesem Server"

    await run(
        fake_discord, "ticketconfig logchannel", {"channel": str(LOG)}, resolved=channel_option(LOG)
    )
    saved = await submit_form(fake_discord, RA, RA_GOOD)
    assert saved.startswith("Saved\nRetroAchievements credentials were checked")
    (post,) = fake_discord.channel_messages(LOG)
    assert post["embeds"][0]["title"] == "Zugangsdaten eingerichtet"
    assert post["embeds"][0]["description"] == (
        f"<@{ADMIN}> hat Zugangsdaten für **RetroAchievements** auf diesem Server hinterlegt."
    )


async def test_the_form_cuts_translated_titles_and_labels_to_discords_limits(bot):
    """Title and labels at 45 characters, placeholders at 100, after translating; a plain
    placeholder (data) is left as it is."""

    def long_words(message: str, /, **values: object) -> str:
        return "Ü" * 120

    provider: Any = SimpleNamespace(
        key="example",
        label="Example",
        credential_fields=(
            CredentialField("token", Msg("Token"), placeholder=Msg("Paste it here")),
            CredentialField("site", Msg("Site"), placeholder="https://…"),
        ),
    )
    form = CredentialModal(bot, provider, long_words)
    payload = form.to_dict()
    assert payload["title"] == "Ü" * 45
    assert payload["custom_id"] == "ticketlens:config:example"
    token, site = text_inputs(payload["components"])
    assert token["label"] == site["label"] == "Ü" * 45
    assert token["placeholder"] == "Ü" * 100
    assert site["placeholder"] == "https://…"
