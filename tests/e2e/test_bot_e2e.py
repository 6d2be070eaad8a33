"""
The real bot process as a black box: `python -m bot` against the loopback Discord.

Each test starts (or shares) a child interpreter running the unmodified bot, pointed at the
`FakeDiscord` of this process through `sitecustomize_hook` and at a `FakeRetroAchievements`
through RETROACHIEVEMENTS_BASE_URL, with LOG_LEVEL=DEBUG and its output captured to files. The
assertions are about what a Discord user would see (callbacks, messages, edits), what the bot
printed, and the bytes it left on disk.

Most scenarios share one bot process (`world`, module-scoped, on the module's event loop); the
restart, bad-token and SIGTERM scenarios need processes of their own and run on their own loops.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from tests.fakes.retroachievements import FakeRetroAchievements, ra_ticket

from .conftest import APPLICATION_ID, BOT_USER_ID, FAKE_TOKEN, OWNER_ID
from .fake_discord import (
    MANAGE_GUILD,
    CallbackRecord,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    RecordedRequest,
)

REPO = Path(__file__).resolve().parents[2]
RA = "retroachievements"
MODAL_ID = f"ticketlens:config:{RA}"

# Distinctive secrets: any occurrence outside the places they belong is a leak.
USERNAME = "e2e-moderator-Kq3v"
API_KEY = "RAKEY-e2e-" + secrets.token_hex(12)
WRONG_KEY = "RAKEY-wrong-" + secrets.token_hex(12)
SECRET_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()

#: Settings the bot reads: never inherited from the developer's shell.
BOT_SETTINGS = re.compile(
    r"^(DISCORD_TOKEN|DATABASE_URL|SECRET_KEY|DATA_DIR|HTTP_TIMEOUT_S|CACHE_TTL_S|LOG_LEVEL"
    r"|DEV_GUILD_ID|RETROACHIEVEMENTS_.*|METRICS_.*|SHUTDOWN_TIMEOUT_S|DATABASE_.*)$"
)
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) ")
MENTION = re.compile(r"@(?:everyone|here)|<(?:@[!&]?\d|#\d|/|id:)", re.IGNORECASE)
MASKED_LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?(?P<url>[^)\s>]+)")
HOSTILE = "@everyone <@123> <@&5> <#2000> @here [x](https://evil.example) "

MAIN_GUILD, BARE_GUILD, LEAVING_GUILD = 1000, 1001, 1002
CHANNELS = {MAIN_GUILD: 2000, BARE_GUILD: 2001, LEAVING_GUILD: 2002}

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


# -- the bot process ---------------------------------------------------------------------------


@dataclass
class BotProcess:
    """One `python -m bot` child; its stdout/stderr go to files in its working folder."""

    proc: subprocess.Popen[bytes]
    folder: Path
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    async def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:  # noqa: ASYNC109
        """The exit code; killed (and the test failed) if it does not exit in time."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"the bot did not exit within {timeout} s\n{self.stderr[-3000:]}")
            await asyncio.sleep(0.05)  # the fake must keep serving while the bot shuts down
        return self.proc.returncode

    async def stop(self) -> int:
        """SIGTERM, as a service manager would; killed after STOP_TIMEOUT_S."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self.wait()


def bot_env(fake: FakeDiscord, ra_url: str, token: str, **extra: str) -> dict[str, str]:
    """The child's environment: the fake Discord's hook, this repo, and nothing inherited."""
    base = {k: v for k, v in os.environ.items() if not BOT_SETTINGS.match(k)}
    env = fake.subprocess_env(base)
    env["PYTHONPATH"] = env["PYTHONPATH"] + os.pathsep + str(REPO)
    env.update(
        DISCORD_TOKEN=token,
        RETROACHIEVEMENTS_BASE_URL=ra_url,
        LOG_LEVEL="DEBUG",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def start_bot(
    fake: FakeDiscord, ra_url: str, folder: Path, *, token: str = FAKE_TOKEN, **extra: str
) -> BotProcess:
    """Start the real bot in `folder` (its data/ lands there)."""
    folder.mkdir(parents=True, exist_ok=True)
    run = len(list(folder.glob("bot-*.stderr")))
    stdout_path, stderr_path = folder / f"bot-{run}.stdout", folder / f"bot-{run}.stderr"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=folder,
            env=bot_env(fake, ra_url, token, **extra),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    return BotProcess(proc, folder, stdout_path, stderr_path)


async def wait_ready(fake: FakeDiscord, bot: BotProcess) -> None:
    """Until the bot identified and got every GUILD_CREATE; fails early if it died."""
    try:
        await fake.wait_for_gateway_ready(START_TIMEOUT_S)
    except TimeoutError:
        code = bot.proc.poll()
        if code is None:
            bot.proc.kill()
        pytest.fail(f"the bot never became ready (exit {code})\n{bot.stderr[-3000:]}")


async def wait_disconnected(fake: FakeDiscord) -> None:
    """Until no gateway connection is open (a previous process has gone)."""
    await fake.wait_until(
        lambda: None if any(c.open for c in fake.gateway_connections) else True,
        STOP_TIMEOUT_S,
        "every gateway connection closed",
    )


# -- what a user sees --------------------------------------------------------------------------


def embeds_of(payload: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return list((payload or {}).get("embeds") or [])


def embed_texts(embed: Mapping[str, Any]) -> list[str]:
    """Every string of an embed that counts against Discord's limits."""
    parts = [embed.get("title") or "", embed.get("description") or ""]
    parts += [(embed.get("footer") or {}).get("text") or ""]
    parts += [(embed.get("author") or {}).get("name") or ""]
    for f in embed.get("fields") or []:
        parts += [f.get("name") or "", f.get("value") or ""]
    return parts


def text_of(payload: Mapping[str, Any] | None) -> str:
    """Content and embed text of a message payload, as one string."""
    parts = [str((payload or {}).get("content") or "")]
    for embed in embeds_of(payload):
        parts += embed_texts(embed)
    return "\n".join(parts)


async def final_message(fake: FakeDiscord, inter: FakeInteraction) -> dict[str, Any]:
    """The answer as finally shown: the direct reply, or the edit of a deferral."""
    response = await fake.wait_for_response(inter, timeout=10)
    if response.type == 4:
        return response.data
    edit = await fake.wait_for_request(
        "PATCH", rf"/webhooks/\d+/{re.escape(inter.token)}/messages/@original", timeout=15
    )
    assert edit.status == 200, edit.status
    return dict(edit.json)


async def lookup(
    fake: FakeDiscord, ticket_id: int, *, guild_id: int = MAIN_GUILD, **options: Any
) -> tuple[CallbackRecord, dict[str, Any]]:
    """A member (no special permission) runs `/ticket retroachievements id:<ticket_id>`."""
    inter = await fake.send_interaction(
        f"ticket {RA}",
        {"id": ticket_id, **options},
        guild_id=guild_id,
        channel_id=CHANNELS[guild_id],
        permissions=0,
        user_id=700 + ticket_id % 100,
    )
    message = await final_message(fake, inter)
    response = inter.response
    assert response is not None
    return response, message


async def configure(fake: FakeDiscord, guild_id: int, api_key: str = API_KEY) -> dict[str, Any]:
    """An admin runs `/ticketconfig set provider:retroachievements` and fills the form."""
    inter = await fake.send_interaction(
        "ticketconfig set",
        {"provider": RA},
        guild_id=guild_id,
        channel_id=CHANNELS[guild_id],
        permissions=MANAGE_GUILD,
        user_id=OWNER_ID,
    )
    modal = await fake.wait_for_response(inter)
    assert modal.type == 9, modal
    assert modal.data["custom_id"] == MODAL_ID
    submit = await fake.send_modal_submit(
        MODAL_ID,
        {"username": USERNAME, "api_key": api_key},
        guild_id=guild_id,
        channel_id=CHANNELS[guild_id],
        permissions=MANAGE_GUILD,
        user_id=OWNER_ID,
    )
    reply = (await fake.wait_for_followups(submit, timeout=10))[0]
    assert reply["flags"] & 64, "configuration answers are ephemeral"
    return reply


def sent_messages(fake: FakeDiscord) -> list[tuple[RecordedRequest, dict[str, Any]]]:
    """Every message body the bot sent: replies, follow-ups and edits."""
    found = []
    for r in fake.requests:
        body = r.json if isinstance(r.json, dict) else None
        if body is None:
            continue
        if r.method == "POST" and r.route.endswith("/callback"):
            if body.get("type") in (4, 7):
                found.append((r, dict(body.get("data") or {})))
        elif r.route.startswith("/webhooks/") and r.method in ("POST", "PATCH"):
            found.append((r, body))
    return found


def assert_mentions_off(fake: FakeDiscord) -> None:
    """allowed_mentions is {"parse": []} on every message the bot sent."""
    messages = sent_messages(fake)
    assert messages, "the bot sent no message at all"
    for request, body in messages:
        assert body.get("allowed_mentions") == {"parse": []}, (request.method, request.route)


def assert_within_embed_limits(message: Mapping[str, Any]) -> None:
    """Discord's embed limits, per embed and per message."""
    embeds = embeds_of(message)
    assert 1 <= len(embeds) <= 10
    for embed in embeds:
        assert len(embed.get("title") or "") <= 256
        assert len(embed.get("description") or "") <= 4096
        assert len(embed.get("fields") or []) <= 25
        for f in embed.get("fields") or []:
            assert 0 < len(f["name"]) <= 256
            assert 0 < len(f["value"]) <= 1024
        assert len((embed.get("footer") or {}).get("text") or "") <= 2048
        assert len((embed.get("author") or {}).get("name") or "") <= 256
    assert sum(len(part) for embed in embeds for part in embed_texts(embed)) <= 6000


# -- the shared world --------------------------------------------------------------------------


@dataclass
class World:
    """One bot process, its fakes and its folder, shared by the module's scenarios."""

    discord: FakeDiscord
    ra: FakeRetroAchievements
    bot: BotProcess
    guilds: dict[int, FakeGuild] = field(default_factory=dict)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """Guild 1000 configured through the form, 1001 never configured, 1002 configured."""
    guilds = {
        gid: FakeGuild(id=gid, name=f"Guild {gid}", owner_id=OWNER_ID, channels={cid: "general"})
        for gid, cid in CHANNELS.items()
    }
    fake = FakeDiscord(
        token=FAKE_TOKEN,
        application_id=APPLICATION_ID,
        bot_user_id=BOT_USER_ID,
        owner_id=OWNER_ID,
        guilds=list(guilds.values()),
        callback_deadline=3.0,
    )
    ra = FakeRetroAchievements(keys={API_KEY})
    await fake.start()
    await ra.start()
    bot = start_bot(fake, ra.url, tmp_path_factory.mktemp("world"), SECRET_KEY=SECRET_KEY)
    try:
        await wait_ready(fake, bot)
        for gid in (MAIN_GUILD, LEAVING_GUILD):
            assert "Saved" in text_of(await configure(fake, gid))
        yield World(fake, ra, bot, guilds)
    finally:
        code = await bot.stop()
        await ra.stop()
        await fake.stop()
    assert code == 0, f"exit {code} after SIGTERM\n{bot.stderr[-3000:]}"
    assert not fake.errors, "the fake itself failed:\n" + "\n".join(fake.errors)


on_world_loop = pytest.mark.asyncio(loop_scope="module")


# -- scenarios ---------------------------------------------------------------------------------


async def test_configure_lookup_restart_keeps_credentials_without_resync(
    fake_discord: FakeDiscord, fake_ra: FakeRetroAchievements, tmp_path: Path
):
    """Configured through the form, a restart keeps the credentials and does not sync again."""
    fake_ra.keys.add(API_KEY)
    fake_ra.tickets[4242] = ra_ticket(4242)
    first = start_bot(fake_discord, fake_ra.url, tmp_path)
    try:
        await wait_ready(fake_discord, first)
        reply = await configure(fake_discord, MAIN_GUILD)
        assert "Saved" in text_of(reply)
        response, message = await lookup(fake_discord, 4242)
        assert response.ephemeral
        assert embeds_of(message)[0]["title"].startswith("Ticket #4242")
    finally:
        assert await first.stop() == 0, first.stderr[-3000:]

    await wait_disconnected(fake_discord)
    second = start_bot(fake_discord, fake_ra.url, tmp_path)
    try:
        await wait_ready(fake_discord, second)
        before = fake_ra.ticket_requests
        response, message = await lookup(fake_discord, 4242)
        assert embeds_of(message)[0]["title"].startswith("Ticket #4242")
        assert "Sample Quest" in text_of(message)
        assert fake_ra.ticket_requests == before + 1, "fetched upstream with the stored key"
    finally:
        assert await second.stop() == 0, second.stderr[-3000:]

    syncs = fake_discord.find("PUT", rf"/applications/{APPLICATION_ID}/commands$")
    assert len(syncs) == 1, [r.path for r in syncs]
    assert len(fake_discord.identify_payloads) == 2
    assert_mentions_off(fake_discord)


async def test_rejected_token_is_one_line_without_the_token(
    fake_discord: FakeDiscord, fake_ra: FakeRetroAchievements, tmp_path: Path
):
    """A token Discord rejects: one plain line naming DISCORD_TOKEN, exit 1, no traceback."""
    wrong = "wrong-token-" + secrets.token_hex(16)
    bot = start_bot(fake_discord, fake_ra.url, tmp_path, token=wrong)
    code = await bot.wait(START_TIMEOUT_S)
    stderr, stdout = bot.stderr, bot.stdout
    assert code == 1, stderr[-3000:]
    plain = [line for line in stderr.splitlines() if line.strip() and not LOG_RECORD.match(line)]
    assert len(plain) == 1, plain
    assert "DISCORD_TOKEN" in plain[0]
    assert "Traceback" not in stderr + stdout
    errors = [m["level"] for line in stderr.splitlines() if (m := LOG_RECORD.match(line))]
    assert not {"ERROR", "CRITICAL"} & set(errors), stderr[-3000:]
    assert wrong not in stderr + stdout
    assert not fake_discord.gateway_connections, "no gateway without a valid token"


async def test_sigterm_during_a_slow_lookup_still_answers_it(
    fake_discord: FakeDiscord, fake_ra: FakeRetroAchievements, tmp_path: Path
):
    """
    SIGTERM while a lookup waits on a slow RetroAchievements: a command arriving then gets a
    private "restarting" and fetches nothing, the lookup in flight is still answered with its
    ticket and remembered in the member's history, and the process exits 0.
    """
    fake_ra.keys.add(API_KEY)
    fake_ra.tickets[5151] = ra_ticket(5151)
    bot = start_bot(fake_discord, fake_ra.url, tmp_path)
    try:
        await wait_ready(fake_discord, bot)
        assert "Saved" in text_of(await configure(fake_discord, MAIN_GUILD))
        fake_ra.delay_s = 4.0
        member = dict(guild_id=MAIN_GUILD, channel_id=CHANNELS[MAIN_GUILD], permissions=0)
        slow = await fake_discord.send_interaction(
            f"ticket {RA}", {"id": 5151}, user_id=751, **member
        )
        await until(
            lambda: any(r.get("i") == "5151" for r in fake_ra.requests), "the upstream call"
        )

        bot.proc.send_signal(signal.SIGTERM)
        await until(lambda: "shutting down: 1 command(s) in flight" in bot.stderr, "draining")
        late = await fake_discord.send_interaction(
            f"ticket {RA}", {"id": 5152}, user_id=752, **member
        )
        refused = await fake_discord.wait_for_response(late)
        assert refused.type == 4
        assert refused.ephemeral
        assert "TicketLens is restarting; try again in a moment." in text_of(refused.data)

        message = await final_message(fake_discord, slow)
        assert embeds_of(message)[0]["title"].startswith("Ticket #5151")
        code = await bot.wait()
    finally:
        if bot.proc.poll() is None:
            bot.proc.kill()
            bot.proc.wait()
    assert code == 0, bot.stderr[-3000:]
    assert fake_ra.ticket_requests == 1, "nothing fetched for the refused command"
    # Written by the store's close, after the answer: nothing was lost on the way out.
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "ticketlens.db")) as db:
        history = db.execute("SELECT user_id, provider, ref FROM lookup_history").fetchall()
    assert history == [(751, RA, "5151")]


async def until(check: Any, what: str, timeout: float = START_TIMEOUT_S) -> None:  # noqa: ASYNC109
    """Poll `check()` until it is true (for state outside the fake Discord)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout} s")
        await asyncio.sleep(0.02)


@on_world_loop
async def test_member_without_manage_server_cannot_configure(world: World):
    """Without Manage Server, every /ticketconfig answer is a private refusal naming it."""
    for command, options in (
        ("ticketconfig set", {"provider": RA}),
        ("ticketconfig remove", {"provider": RA}),
        ("ticketconfig show", {}),
    ):
        inter = await world.discord.send_interaction(
            command, options, guild_id=MAIN_GUILD, permissions=0, user_id=77
        )
        response = await world.discord.wait_for_response(inter)
        assert response.type == 4, (command, response.type)
        assert response.ephemeral
        assert "Manage Server" in text_of(response.data)
    # Still configured: the refused `remove` changed nothing.
    world.ra.tickets[11] = ra_ticket(11)
    _, message = await lookup(world.discord, 11)
    assert embeds_of(message)[0]["title"].startswith("Ticket #11")


@on_world_loop
async def test_unconfigured_guild_is_told_how_to_configure(world: World):
    """A guild without credentials gets a private answer naming `/ticketconfig set`."""
    world.ra.tickets[12] = ra_ticket(12)
    before = len(world.ra.requests)
    response, message = await lookup(world.discord, 12, guild_id=BARE_GUILD)
    text = text_of(message)
    assert response.type == 4
    assert response.ephemeral
    assert "isn't set up" in text
    assert f"/ticketconfig set provider:{RA}" in text
    assert "Manage Server" in text
    assert len(world.ra.requests) == before, "nothing was asked upstream"


@on_world_loop
async def test_slow_upstream_is_deferred_before_the_deadline(world: World):
    """A 4 s upstream: deferred within Discord's 3 s, then @original is edited with the ticket."""
    world.ra.tickets[13] = ra_ticket(13)
    world.ra.delay_s = 4.0
    try:
        inter = await world.discord.send_interaction(
            f"ticket {RA}", {"id": 13}, guild_id=MAIN_GUILD, permissions=0, user_id=713
        )
        response = await world.discord.wait_for_response(inter, timeout=5)
        assert response.type == 5
        assert response.status < 300, "accepted, so within the 3 s deadline"
        assert response.delay < 3.0
        assert response.ephemeral
        message = await final_message(world.discord, inter)
    finally:
        world.ra.delay_s = 0.0
    assert embeds_of(message)[0]["title"].startswith("Ticket #13")
    original = world.discord.original_message(inter)
    assert original is not None
    assert not original["flags"] & (1 << 7), "the 'thinking' state was replaced"
    assert original["flags"] & 64, "still only for the member"


@on_world_loop
@pytest.mark.parametrize("public", [False, True])
async def test_hostile_ticket_text_fits_and_never_pings(world: World, public: bool):
    """Mentions, masked links and 20 000 characters of ticket text: within limits, inert."""
    ticket_id = 20 + int(public)
    long_text = HOSTILE + "A" * 20_000
    world.ra.tickets[ticket_id] = ra_ticket(
        ticket_id,
        ReportNotes=long_text,
        AchievementTitle=HOSTILE + "T" * 400,
        AchievementDesc=long_text,
        GameTitle=HOSTILE + "G" * 2_000,
        ConsoleName=HOSTILE,
        ReportedBy=HOSTILE + "R" * 300,
        AchievementAuthor=HOSTILE + "U" * 300,
        ResolvedBy=HOSTILE + "B" * 300,
        ReportStateDescription=HOSTILE + "S" * 3_000,
        ReportTypeDescription=HOSTILE + "Y" * 3_000,
    )
    options = {"public": True} if public else {}
    response, message = await lookup(world.discord, ticket_id, **options)
    assert response.ephemeral is not public
    assert_within_embed_limits(message)
    text = text_of(message)
    assert f"Ticket #{ticket_id}" in text
    assert not MENTION.search(text), MENTION.search(text)
    for link in MASKED_LINK.finditer(text):
        host = urlsplit(link["url"]).hostname or ""
        assert host == "retroachievements.org" or host.endswith(".retroachievements.org"), link[0]
    assert "AAAA" in text, "the ticket text itself is shown"
    assert message.get("allowed_mentions") == {"parse": []}
    assert_mentions_off(world.discord)


@on_world_loop
async def test_removal_forgets_credentials_but_an_outage_does_not(world: World):
    """GUILD_DELETE for an outage keeps a guild's credentials; removal from it deletes them."""
    fake, guild = world.discord, world.guilds[LEAVING_GUILD]
    world.ra.tickets[14] = ra_ticket(14)
    world.ra.tickets[15] = ra_ticket(15)

    await fake.guild_delete(LEAVING_GUILD, unavailable=True)
    await fake.guild_create(guild)
    _, message = await lookup(fake, 14, guild_id=LEAVING_GUILD)
    assert embeds_of(message)[0]["title"].startswith("Ticket #14")

    await fake.guild_delete(LEAVING_GUILD)
    await fake.guild_create(guild)  # invited again: it must start from scratch
    _, message = await lookup(fake, 15, guild_id=LEAVING_GUILD)
    assert "isn't set up" in text_of(message)
    assert f"/ticketconfig set provider:{RA}" in text_of(message)

    # Other guilds keep theirs.
    _, message = await lookup(fake, 15)
    assert embeds_of(message)[0]["title"].startswith("Ticket #15")


@on_world_loop
async def test_no_secret_reaches_discord_logs_or_disk(world: World):
    """The API key, a rejected key, the bot token and SECRET_KEY stay out of every output."""
    fake, ra = world.discord, world.ra
    refused = await configure(fake, BARE_GUILD, api_key=WRONG_KEY)
    assert "Not saved" in text_of(refused)
    world.ra.tickets[16] = ra_ticket(16)
    _, message = await lookup(fake, 16)
    assert embeds_of(message)[0]["title"].startswith("Ticket #16")
    # Not vacuous: the bot really held and used both keys.
    assert any(r.get("y") == API_KEY for r in ra.requests)
    assert any(r.get("y") == WRONG_KEY for r in ra.requests)

    secret_values = {"API key": API_KEY, "rejected key": WRONG_KEY, "SECRET_KEY": SECRET_KEY}
    everything = {**secret_values, "bot token": FAKE_TOKEN}
    for request in fake.requests:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        sent = f"{request.path} {request.query} {headers}".encode() + request.body
        for name, value in everything.items():
            assert value.encode() not in sent, f"{name} sent to Discord: {request.route}"
    for _, payload in fake.gateway_received:  # IDENTIFY carries the token, as it must
        for name, value in secret_values.items():
            assert value not in str(payload), f"{name} sent over the gateway"

    logs = world.bot.stdout + world.bot.stderr
    assert " DEBUG " in logs, "the bot really logged at DEBUG"
    for name, value in everything.items():
        assert value not in logs, f"{name} in the bot's logs"

    db_files = sorted((world.bot.folder / "data").glob("*.db*"))
    assert db_files, "the bot keeps its database in data/"
    for path in db_files:
        data = path.read_bytes()
        assert API_KEY.encode() not in data, f"the API key in clear in {path.name}"
        assert WRONG_KEY.encode() not in data, f"the rejected key in {path.name}"
    assert_mentions_off(fake)


@on_world_loop
async def test_context_menu_on_a_message_with_two_links(world: World):
    """
    A moderator right-clicks a member's message holding two RetroAchievements links (the
    current and the legacy form): a private header, then each ticket privately with its own
    Refresh, which fetches that ticket again and edits its message in place.
    """
    fake, ra = world.discord, world.ra
    ra.tickets[6101] = ra_ticket(6101)
    ra.tickets[6102] = ra_ticket(6102, AchievementTitle="Second Cheevo")
    message = fake.user_message(
        "two reports: https://retroachievements.org/ticket/6101 and "
        "https://retroachievements.org/ticketmanager.php?i=6102 please check",
        channel_id=CHANNELS[MAIN_GUILD],
    )
    inter = await fake.send_message_command(
        "Look up tickets",
        message,
        guild_id=MAIN_GUILD,
        channel_id=CHANNELS[MAIN_GUILD],
        permissions=0,
        user_id=761,
    )
    header = await final_message(fake, inter)
    assert "Found 2 ticket references" in header.get("content", "")
    answers = await fake.wait_for_followups(inter, count=2, timeout=15)
    assert [a["embeds"][0]["title"] for a in answers] == [
        "Ticket #6101: Sample Cheevo",
        "Ticket #6102: Second Cheevo",
    ]
    for answer in answers:
        assert answer["flags"] & 64, "a context-menu answer is private"
        assert_within_embed_limits(answer)
    refresh = next(
        b["custom_id"]
        for row in answers[1]["components"]
        for b in row["components"]
        if b.get("label") == "Refresh"
    )
    before = ra.ticket_requests
    ra.tickets[6102] = ra_ticket(
        6102, AchievementTitle="Second Cheevo", ReportState=2, ReportStateDescription="Resolved"
    )
    pressed = await fake.send_component(
        refresh,
        message_id=int(answers[1]["id"]),
        guild_id=MAIN_GUILD,
        permissions=0,
        user_id=761,
    )
    await fake.wait_for_response(pressed, timeout=10)
    await fake.wait_until(
        lambda: True if "Resolved" in text_of(fake.messages[int(answers[1]["id"])]) else None,
        10,
        "the refreshed ticket",
    )
    assert ra.ticket_requests == before + 1
    assert_mentions_off(fake)
