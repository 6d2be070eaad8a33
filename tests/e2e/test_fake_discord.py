"""The loopback Discord works with plain discord.py: login, gateway, sync, interactions."""

import asyncio
import io
import json
import sys
import zlib
from collections.abc import AsyncIterator

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
from discord import app_commands
from discord.ext import commands

from .conftest import APPLICATION_ID, BOT_USER_ID, CHANNEL_ID, FAKE_TOKEN, GUILD_ID
from .fake_discord import (
    ENV_VAR,
    FLAG_EPHEMERAL,
    MANAGE_GUILD,
    PRIVILEGED_INTENTS,
    FakeDiscord,
    pointed_at,
)

ANSWER_ID = "probe-answer"


class AskModal(discord.ui.Modal, title="Ask"):
    """A modal of one bare TextInput (sent wrapped in an action row)."""

    answer = discord.ui.TextInput(label="Answer", custom_id=ANSWER_ID)

    def __init__(self, sink: list[str]) -> None:
        super().__init__(custom_id="probe-ask")
        self.sink = sink

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.sink.append(self.answer.value)
        await interaction.response.send_message(f"got: {self.answer.value}", ephemeral=True)


class LabelModal(discord.ui.Modal, title="Ask (label)"):
    """A modal of one TextInput inside a ui.Label (sent as component type 18)."""

    answer = discord.ui.Label(text="Answer", component=discord.ui.TextInput(custom_id=ANSWER_ID))

    def __init__(self, sink: list[str]) -> None:
        super().__init__(custom_id="probe-ask-label")
        self.sink = sink

    async def on_submit(self, interaction: discord.Interaction) -> None:
        value = self.answer.component.value  # type: ignore[attr-defined]
        self.sink.append(value)
        await interaction.response.send_message(f"got: {value}", ephemeral=True)


class ButtonView(discord.ui.View):
    """One button that rewrites the message it sits on."""

    @discord.ui.button(label="Press", custom_id="probe-press")
    async def press(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content="pressed", view=None)


class ProbeBot(commands.Bot):
    """A tiny bot with a `/probe` group; records what its handlers saw."""

    def __init__(self, intents: discord.Intents | None = None) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents or discord.Intents.default(),
            help_command=None,
            guild_ready_timeout=0.05,
        )
        self.submitted: list[str] = []
        self.removed: asyncio.Queue[int] = asyncio.Queue()
        self.unavailable: asyncio.Queue[int] = asyncio.Queue()
        group = app_commands.Group(name="probe", description="Loopback probe commands.")

        @group.command(name="ping", description="Reply ephemerally.")
        async def ping(interaction: discord.Interaction, text: str = "pong") -> None:
            staff = interaction.permissions.manage_guild
            await interaction.response.send_message(f"pong: {text} staff={staff}", ephemeral=True)

        @group.command(name="ask", description="Open a modal of a bare text input.")
        async def ask(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(AskModal(self.submitted))

        @group.command(name="ask-label", description="Open a modal of a labelled text input.")
        async def ask_label(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(LabelModal(self.submitted))

        @group.command(name="slow", description="Defer, then follow up and edit.")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.followup.send("first", ephemeral=True)
            note = discord.File(io.BytesIO(b"note body"), filename="note.txt")
            await interaction.followup.send("second", file=note, ephemeral=True)
            await interaction.edit_original_response(content="edited")

        @group.command(name="button", description="Send a message with a button.")
        async def button(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("press it", view=ButtonView(timeout=30))

        self.tree.add_command(group)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No 5 s pause before a re-IDENTIFY (discord.py's default, for Discord's rate limit)."""

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await self.removed.put(guild.id)

    async def on_guild_unavailable(self, guild: discord.Guild) -> None:
        await self.unavailable.put(guild.id)


@pytest.fixture
async def bot(fake_discord: FakeDiscord) -> AsyncIterator[ProbeBot]:
    """A ProbeBot logged in to the fake and ready."""
    with pointed_at(fake_discord.url):
        probe = ProbeBot()
        async with probe:
            task = asyncio.create_task(probe.start(FAKE_TOKEN))
            try:
                await fake_discord.wait_for_gateway_ready(timeout=10)
                await asyncio.wait_for(probe.wait_until_ready(), 10)
                yield probe
            finally:
                await probe.close()
                await asyncio.wait_for(task, 10)


async def synced(bot: ProbeBot) -> list[app_commands.AppCommand]:
    """Copy the global commands to the test guild and sync there (as TicketLens's dev mode)."""
    guild = discord.Object(GUILD_ID)
    bot.tree.copy_global_to(guild=guild)
    return await bot.tree.sync(guild=guild)


async def test_json_answers_have_the_exact_content_type(fake_discord: FakeDiscord) -> None:
    """REST answers carry Content-Type exactly application/json, which discord.py requires."""
    headers = {"Authorization": f"Bot {FAKE_TOKEN}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake_discord.rest_base}/users/@me", headers=headers) as resp:
            assert resp.headers["content-type"] == "application/json"
            data = await discord.http.json_or_text(resp)
        async with session.get(f"{fake_discord.rest_base}/nope", headers=headers) as resp:
            assert resp.status == 404
            missing = await discord.http.json_or_text(resp)
    assert isinstance(data, dict)
    assert data["id"] == str(BOT_USER_ID)
    assert missing == {"message": "404: Not Found", "code": 0}
    assert [r.path for r in fake_discord.unknown_requests] == ["/api/v10/nope"]


async def test_bot_logs_in_and_becomes_ready(fake_discord: FakeDiscord, bot: ProbeBot) -> None:
    """Login uses the bot token, the gateway identifies over zlib-stream, GUILD_CREATE lands."""
    (me,) = fake_discord.find("GET", r"/users/@me$")
    assert me.authorization == f"Bot {FAKE_TOKEN}"
    assert fake_discord.find("GET", r"/oauth2/applications/@me$")
    (identify,) = fake_discord.identify_payloads
    assert identify["token"] == FAKE_TOKEN
    assert identify["intents"] == discord.Intents.default().value
    assert not identify["intents"] & PRIVILEGED_INTENTS
    (conn,) = fake_discord.gateway_connections
    assert conn.compress == "zlib-stream"
    assert conn.query["encoding"] == "json"
    assert conn.query["v"] == "10"
    assert bot.user is not None
    assert bot.user.id == BOT_USER_ID
    assert bot.application_id == APPLICATION_ID
    assert bot.latency < 5  # a HEARTBEAT_ACK arrived (latency is inf until one does)
    guild = bot.get_guild(GUILD_ID)
    assert guild is not None
    assert guild in bot.guilds
    assert guild.name == "Test Guild"
    assert guild.me is not None
    channel = guild.get_channel(CHANNEL_ID)
    assert isinstance(channel, discord.TextChannel)
    assert channel.name == "general"


async def test_tree_sync_lands_on_put_commands(fake_discord: FakeDiscord, bot: ProbeBot) -> None:
    """tree.sync() PUTs the command JSON (group with subcommands) and gets ids back."""
    result = await synced(bot)
    (put,) = fake_discord.find(
        "PUT", rf"/applications/{APPLICATION_ID}/guilds/{GUILD_ID}/commands$"
    )
    assert put.authorization == f"Bot {FAKE_TOKEN}"
    (probe,) = put.json
    assert probe["name"] == "probe"
    subcommands = {o["name"]: o for o in probe["options"]}
    assert set(subcommands) == {"ping", "ask", "ask-label", "slow", "button"}
    assert all(o["type"] == 1 for o in subcommands.values())
    assert subcommands["ping"]["options"][0]["name"] == "text"
    assert [c.id for c in result] == [int(c["id"]) for c in fake_discord.commands[GUILD_ID]]
    await bot.tree.sync()
    assert fake_discord.find("PUT", rf"/applications/{APPLICATION_ID}/commands$")


async def test_slash_command_gets_an_ephemeral_reply(
    fake_discord: FakeDiscord, bot: ProbeBot
) -> None:
    """An INTERACTION_CREATE for /probe ping is answered by a type 4 callback with flags 64."""
    await synced(bot)
    inter = await fake_discord.send_interaction(
        "probe ping", {"text": "hi"}, permissions=MANAGE_GUILD
    )
    response = await fake_discord.wait_for_response(inter)
    assert response.type == 4
    assert response.flags == FLAG_EPHEMERAL
    assert response.data["content"] == "pong: hi staff=True"
    assert response.with_response
    assert response.request.authorization is None  # the bot token goes to REST routes only
    assert inter.payload["data"]["guild_id"] == str(GUILD_ID)
    original = fake_discord.original_message(inter)
    assert original is not None
    assert original["content"] == "pong: hi staff=True"
    with_auth = [r for r in fake_discord.requests if r.authorization is not None]
    assert all(r.authorization == f"Bot {FAKE_TOKEN}" for r in with_auth)
    assert not any(r.route.startswith(("/interactions", "/webhooks")) for r in with_auth)


@pytest.mark.parametrize("command", ["probe ask", "probe ask-label"])
async def test_modal_opens_and_its_submit_reaches_the_handler(
    fake_discord: FakeDiscord, bot: ProbeBot, command: str
) -> None:
    """A modal command answers type 9; the submit (mirroring its shape) gives on_submit the text."""
    await synced(bot)
    inter = await fake_discord.send_interaction(command)
    opened = await fake_discord.wait_for_response(inter)
    assert opened.type == 9
    custom_id = opened.data["custom_id"]
    submit = await fake_discord.send_modal_submit(custom_id, {ANSWER_ID: "typed text"})
    reply = await fake_discord.wait_for_response(submit)
    assert reply.type == 4
    assert reply.data["content"] == "got: typed text"
    assert reply.ephemeral
    assert bot.submitted == ["typed text"]
    sent_kind = opened.data["components"][0]["type"]
    assert submit.payload["data"]["components"][0]["type"] == sent_kind
    assert sent_kind == (1 if command == "probe ask" else 18)


async def test_defer_then_followups_and_edit(fake_discord: FakeDiscord, bot: ProbeBot) -> None:
    """Deferral (type 5), follow-ups (the first replaces the thinking message) and @original."""
    await synced(bot)
    inter = await fake_discord.send_interaction("probe slow")
    deferred = await fake_discord.wait_for_response(inter)
    assert deferred.type == 5
    assert deferred.ephemeral
    await fake_discord.wait_for_request("PATCH", r"/messages/@original$")
    first, second = await fake_discord.wait_for_followups(inter, count=2)
    assert first["id"] == str(inter.original_message_id)
    assert first["content"] == "edited"
    assert second["content"] == "second"
    assert second["flags"] & FLAG_EPHEMERAL
    assert [a["filename"] for a in second["attachments"]] == ["note.txt"]
    (upload,) = [r for r in fake_discord.find("POST", r"/webhooks/") if r.files]
    assert upload.json["content"] == "second"  # the multipart payload_json part
    assert [(f.filename, f.data) for f in upload.files] == [("note.txt", b"note body")]


async def test_button_click_updates_the_message(fake_discord: FakeDiscord, bot: ProbeBot) -> None:
    """A view sent with the reply is found again by message id; a click edits (type 7)."""
    await synced(bot)
    inter = await fake_discord.send_interaction("probe button")
    await fake_discord.wait_for_response(inter)
    assert inter.original_message_id is not None
    click = await fake_discord.send_component("probe-press", message_id=inter.original_message_id)
    update = await fake_discord.wait_for_response(click)
    assert update.type == 7
    message = fake_discord.original_message(inter)
    assert message is not None
    assert message["content"] == "pressed"
    assert message["components"] == []


async def test_guild_delete_triggers_on_guild_remove(
    fake_discord: FakeDiscord, bot: ProbeBot
) -> None:
    """GUILD_DELETE unavailable=True is an outage; unavailable=False removes the guild."""
    await fake_discord.guild_delete(GUILD_ID, unavailable=True)
    assert await asyncio.wait_for(bot.unavailable.get(), 5) == GUILD_ID
    assert bot.removed.empty()
    await fake_discord.guild_delete(GUILD_ID, unavailable=False)
    assert await asyncio.wait_for(bot.removed.get(), 5) == GUILD_ID
    assert bot.get_guild(GUILD_ID) is None


async def test_reconnect_resumes_and_replays(fake_discord: FakeDiscord, bot: ProbeBot) -> None:
    """After op 7 the bot RESUMEs at resume_gateway_url; events it missed are replayed."""
    await synced(bot)
    fake_discord.resume_gate.clear()
    await fake_discord.request_reconnect()
    seq = await fake_discord.dispatch(
        "GUILD_DELETE", {"id": str(GUILD_ID), "unavailable": True}, wait_live=False
    )
    fake_discord.resume_gate.set()
    conn = await fake_discord.wait_for_resumed()
    assert conn.path == "/gateway/resume"
    assert conn.resume is not None
    assert conn.resume["seq"] < seq  # so the event reached the bot by replay
    assert await asyncio.wait_for(bot.unavailable.get(), 5) == GUILD_ID
    assert len(fake_discord.identify_payloads) == 1
    inter = await fake_discord.send_interaction("probe ping")
    assert (await fake_discord.wait_for_response(inter)).type == 4


async def test_wrong_token_raises_login_failure(fake_discord: FakeDiscord) -> None:
    """A token the fake does not expect gets 401 on /users/@me: discord.LoginFailure."""
    with pointed_at(fake_discord.url):
        probe = ProbeBot()
        async with probe:
            with pytest.raises(discord.LoginFailure):
                await probe.start("not-the.right.token")
    (me,) = fake_discord.find("GET", r"/users/@me$")
    assert me.status == 401
    assert not fake_discord.gateway_connections


async def test_sitecustomize_hook_points_a_child_process_at_the_fake(
    fake_discord: FakeDiscord,
) -> None:
    """With the hook on PYTHONPATH and the variable set, a child's discord.py uses the fake."""
    code = (
        "import discord.gateway, discord.http;"
        "print(discord.http.Route.BASE);"
        "print(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)"
    )
    env = fake_discord.subprocess_env()
    assert env[ENV_VAR] == fake_discord.url
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert out.decode().split() == [fake_discord.rest_base, fake_discord.gateway_url]


CHILD_BOT = """
import sys
import discord
from discord import app_commands

client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)
tree = app_commands.CommandTree(client)


@tree.command(name="hello", description="Say hello.")
async def hello(interaction):
    await interaction.response.send_message("hello from a child", ephemeral=True)


@client.event
async def setup_hook():
    await tree.sync()


client.run(sys.argv[1], log_handler=None)
"""


async def test_unmodified_bot_in_a_child_process_serves_a_command(
    fake_discord: FakeDiscord,
) -> None:
    """A child bot that knows nothing of the fake logs in, syncs and answers, via the hook."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD_BOT,
        FAKE_TOKEN,
        env=fake_discord.subprocess_env(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await fake_discord.wait_for_gateway_ready(timeout=30)
        await fake_discord.wait_for_request("PUT", rf"/applications/{APPLICATION_ID}/commands$")
        inter = await fake_discord.send_interaction("hello")
        response = await fake_discord.wait_for_response(inter)
        assert response.data["content"] == "hello from a child"
        assert response.ephemeral
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 10)


@pytest.mark.parametrize("compress", ["zlib-stream", "zstd-stream", None])
async def test_gateway_frames_match_the_requested_compression(
    fake_discord: FakeDiscord, compress: str | None
) -> None:
    """zlib-stream gets Z_SYNC_FLUSHed binary frames; anything else plain text frames."""
    query = {"v": "10", "encoding": "json"} | ({"compress": compress} if compress else {})
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(fake_discord.gateway_url, params=query) as ws,
    ):
        msg = await ws.receive(timeout=5)
        if compress == "zlib-stream":
            assert msg.type is aiohttp.WSMsgType.BINARY
            assert msg.data.endswith(b"\x00\x00\xff\xff")
            text = zlib.decompressobj().decompress(msg.data).decode()
        else:
            assert msg.type is aiohttp.WSMsgType.TEXT
            text = msg.data
        assert json.loads(text)["op"] == 10
        await ws.send_json({"op": 2, "d": {"token": "wrong.token.value", "intents": 1}})
        closed = await ws.receive(timeout=5)
        assert closed.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4004


async def test_privileged_intents_are_refused_like_discord(fake_discord: FakeDiscord) -> None:
    """Asking for members/message_content not enabled in the 'portal' closes with 4014."""
    with pointed_at(fake_discord.url):
        probe = ProbeBot(discord.Intents(guilds=True, members=True))
        async with probe:
            with pytest.raises(discord.PrivilegedIntentsRequired):
                await asyncio.wait_for(probe.start(FAKE_TOKEN), 10)


async def test_protocol_errors_answer_like_discord(
    fake_discord: FakeDiscord, bot: ProbeBot
) -> None:
    """Bad commands 400/50035, second callback 400/40060, unknown webhook 404, late reply 404."""
    commands_url = f"{fake_discord.rest_base}/applications/{APPLICATION_ID}/commands"
    bad = [{"name": "Bad Name", "description": "x" * 101, "type": 1}]
    await synced(bot)
    inter = await fake_discord.send_interaction("probe ping")
    await fake_discord.wait_for_response(inter)
    callback_url = f"{fake_discord.rest_base}/interactions/{inter.id}/{inter.token}/callback"
    headers = {"Authorization": f"Bot {FAKE_TOKEN}"}
    async with aiohttp.ClientSession() as session:
        async with session.put(commands_url, json=bad, headers=headers) as resp:
            assert resp.status == 400
            body = await resp.json()
            assert body["code"] == 50035
            assert set(body["errors"]["0"]) == {"name", "description"}
        async with session.post(callback_url, json={"type": 4, "data": {"content": "again"}}) as r:
            assert r.status == 400
            assert (await r.json())["code"] == 40060
        hook = f"{fake_discord.rest_base}/webhooks/{APPLICATION_ID}/no-such-token"
        async with session.post(hook, json={"content": "x"}) as resp:
            assert resp.status == 404
            assert (await resp.json())["code"] == 10015
    fake_discord.callback_deadline = 0.0
    late = await fake_discord.send_interaction("probe ping")
    rejected = await fake_discord.wait_for_request("POST", rf"/interactions/{late.id}/")
    assert rejected.status == 404
    assert late.response is None


async def test_dropped_socket_resumes_and_invalid_session_reidentifies(
    fake_discord: FakeDiscord, bot: ProbeBot
) -> None:
    """A server-side close 4000 leads to RESUME; op 9 (not resumable) to a fresh IDENTIFY."""
    await fake_discord.drop_connection(4000)
    await fake_discord.wait_for_resumed()
    await fake_discord.wait_for_gateway_ready()
    await fake_discord.invalidate_session(resumable=False)
    await fake_discord.wait_until(
        lambda: True if len(fake_discord.identify_payloads) == 2 else None, 10, "re-IDENTIFY"
    )
    await fake_discord.wait_for_gateway_ready()
    last = fake_discord.gateway_connections[-1]
    assert last.identify is not None
    assert last.resume is None
    assert bot.get_guild(GUILD_ID) is not None
