"""The loopback Discord works with plain discord.py: login, gateway, sync, interactions."""

import asyncio
import contextlib
import io
import json
import sys
import zlib
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
from discord import app_commands
from discord.ext import commands

from .conftest import APPLICATION_ID, BOT_USER_ID, CHANNEL_ID, FAKE_TOKEN, GUILD_ID, OWNER_ID
from .fake_discord import (
    ENV_VAR,
    FLAG_EPHEMERAL,
    FLAG_IS_COMPONENTS_V2,
    MANAGE_GUILD,
    PRIVILEGED_INTENTS,
    FakeDiscord,
    FakeGuild,
    pointed_at,
    shard_of,
    validate_message_components,
)

ANSWER_ID = "probe-answer"


class AskModal(discord.ui.Modal, title="Ask"):
    """A modal of one bare TextInput (sent wrapped in an action row)."""

    answer: discord.ui.TextInput["AskModal"] = discord.ui.TextInput(
        label="Answer", custom_id=ANSWER_ID
    )

    def __init__(self, sink: list[str]) -> None:
        super().__init__(custom_id="probe-ask")
        self.sink = sink

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.sink.append(self.answer.value)
        await interaction.response.send_message(f"got: {self.answer.value}", ephemeral=True)


class LabelModal(discord.ui.Modal, title="Ask (label)"):
    """A modal of one TextInput inside a ui.Label (sent as component type 18)."""

    answer: discord.ui.Label["LabelModal"] = discord.ui.Label(
        text="Answer", component=discord.ui.TextInput(custom_id=ANSWER_ID)
    )

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
    async def press(
        self, interaction: discord.Interaction, button: discord.ui.Button["ButtonView"]
    ) -> None:
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


PROJECTS = ("ABC", "ABD", "XYZ")


class MenuBot(ProbeBot):
    """ProbeBot plus a message context menu and autocompleted options (`/find ...`)."""

    def __init__(self) -> None:
        super().__init__()
        self.quoted: list[discord.Message] = []
        self.typed: list[tuple[str, object]] = []  # (option, the `current` discord.py passed)

        async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
            self.quoted.append(message)
            await interaction.response.send_message(f"quoted: {message.content}", ephemeral=True)

        self.tree.add_command(app_commands.ContextMenu(name="Quote ticket", callback=quote))
        find = app_commands.Group(name="find", description="Autocompleted lookups.")

        async def projects(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            self.typed.append(("project", current))
            return [app_commands.Choice(name=p, value=p) for p in PROJECTS if p.startswith(current)]

        async def numbers(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[int]]:
            self.typed.append(("number", current))
            found = [n for n in (4, 7, 40) if str(n).startswith(current)]
            return [app_commands.Choice(name=f"#{n}", value=n) for n in found]

        @find.command(name="ticket", description="Find a ticket.")
        @app_commands.autocomplete(project=projects)
        @app_commands.autocomplete(number=numbers)
        async def ticket(interaction: discord.Interaction, project: str, number: int) -> None:
            await interaction.response.send_message(f"{project}-{number}", ephemeral=True)

        async def too_many(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=f"c{i}", value=f"c{i}") for i in range(26)]

        async def wrong_type(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name="four", value="4")]  # for an integer option

        async def too_long(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name="long", value="v" * 101)]

        @find.command(name="bad", description="Autocomplete answers Discord refuses.")
        @app_commands.autocomplete(many=too_many, count=wrong_type, long=too_long)
        async def bad(
            interaction: discord.Interaction, many: str = "", count: int = 0, long: str = ""
        ) -> None:
            await interaction.response.send_message("bad", ephemeral=True)

        self.tree.add_command(find)


class LinkView(discord.ui.View):
    """A link button (url, no custom_id) next to an ordinary one, as discord.py sends them."""

    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.add_item(discord.ui.Button(label="Open", url="https://example.com/ABC-1"))
        self.add_item(discord.ui.Button(label="Ack", custom_id="log-ack"))


BotT = TypeVar("BotT", bound=ProbeBot)


@contextlib.asynccontextmanager
async def running(fake: FakeDiscord, kind: type[BotT]) -> AsyncIterator[BotT]:
    """A bot of class `kind` logged in to the fake and ready; closed on exit."""
    with pointed_at(fake.url):
        probe = kind()
        async with probe:
            task = asyncio.create_task(probe.start(FAKE_TOKEN))
            try:
                await fake.wait_for_gateway_ready(timeout=10)
                await asyncio.wait_for(probe.wait_until_ready(), 10)
                yield probe
            finally:
                await probe.close()
                await asyncio.wait_for(task, 10)


@pytest.fixture
async def bot(fake_discord: FakeDiscord) -> AsyncIterator[ProbeBot]:
    """A ProbeBot logged in to the fake and ready."""
    async with running(fake_discord, ProbeBot) as probe:
        yield probe


@pytest.fixture
async def menu_bot(fake_discord: FakeDiscord) -> AsyncIterator[MenuBot]:
    """A MenuBot logged in to the fake and ready."""
    async with running(fake_discord, MenuBot) as probe:
        yield probe


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


# -- message commands, autocomplete, channel posts, component checks ----------------------


async def test_message_command_resolves_the_target_message(
    fake_discord: FakeDiscord, menu_bot: MenuBot
) -> None:
    """A type 3 command carries target_id and resolved.messages: discord.py hands a Message."""
    await synced(menu_bot)
    registered = fake_discord.registered_command("Quote ticket", GUILD_ID, kind=3)
    assert registered is not None
    assert fake_discord.registered_command("Quote ticket", GUILD_ID) is None  # not a slash one
    target = fake_discord.user_message("ABC-1 is broken", embeds=[{"title": "context"}])
    inter = await fake_discord.send_message_command("Quote ticket", target)
    response = await fake_discord.wait_for_response(inter)
    assert response.data["content"] == "quoted: ABC-1 is broken"
    data = inter.payload["data"]
    assert data["id"] == registered["id"]
    assert data["type"] == 3
    assert data["target_id"] == target["id"]
    assert data["resolved"]["messages"] == {target["id"]: target}
    assert data["guild_id"] == str(GUILD_ID)
    assert "options" not in data
    (message,) = menu_bot.quoted
    assert message.id == int(target["id"])
    assert message.content == "ABC-1 is broken"
    assert [e.title for e in message.embeds] == ["context"]
    assert message.author.id == fake_discord.default_user_id
    assert not message.author.bot
    assert message.channel.id == CHANNEL_ID
    again = await fake_discord.send_message_command("Quote ticket", int(target["id"]))
    assert (await fake_discord.wait_for_response(again)).data["content"] == response.data["content"]
    with pytest.raises(KeyError):
        await fake_discord.send_message_command("Quote ticket", 12345)


async def test_autocomplete_sends_typed_text_and_reads_the_choices(
    fake_discord: FakeDiscord, menu_bot: MenuBot
) -> None:
    """The focused option is a string even for an int option; the type 8 choices are kept."""
    await synced(menu_bot)
    inter = await fake_discord.send_autocomplete("find ticket", {"project": "AB"}, "project")
    answer = await fake_discord.wait_for_response(inter)
    assert answer.type == 8
    assert fake_discord.autocomplete_choices(inter) == [
        {"name": "ABC", "value": "ABC"},
        {"name": "ABD", "value": "ABD"},
    ]
    assert inter.type == 4
    (sub,) = inter.payload["data"]["options"]
    assert (sub["name"], sub["type"]) == ("ticket", 1)
    assert sub["options"] == [{"name": "project", "type": 3, "value": "AB", "focused": True}]

    typed_int = await fake_discord.send_autocomplete(
        "find ticket", {"project": "ABC", "number": 4}, "number"
    )
    await fake_discord.wait_for_response(typed_int)
    assert fake_discord.autocomplete_choices(typed_int) == [
        {"name": "#4", "value": 4},
        {"name": "#40", "value": 40},
    ]
    project, number = typed_int.payload["data"]["options"][0]["options"]
    assert project == {"name": "project", "type": 3, "value": "ABC"}
    assert number == {"name": "number", "type": 4, "value": "4", "focused": True}
    assert menu_bot.typed == [("project", "AB"), ("number", "4")]

    nothing_typed = await fake_discord.send_autocomplete("find ticket", {}, "number")
    await fake_discord.wait_for_response(nothing_typed)
    assert len(fake_discord.autocomplete_choices(nothing_typed)) == 3
    assert menu_bot.typed[-1] == ("number", "")


@pytest.mark.parametrize(
    ("focused", "bad_field"),
    [("many", "choices"), ("count", "value"), ("long", "value")],
    ids=["26-choices", "str-for-int", "value-101-chars"],
)
async def test_autocomplete_answers_discord_refuses_get_50035(
    fake_discord: FakeDiscord, menu_bot: MenuBot, focused: str, bad_field: str
) -> None:
    """26 choices, a string value for an int option, a 101-char value: 400/50035."""
    await synced(menu_bot)
    inter = await fake_discord.send_autocomplete("find bad", {}, focused)
    callback = await fake_discord.wait_until(
        lambda: inter.callbacks[0] if inter.callbacks else None, what="autocomplete callback"
    )
    assert callback.type == 8
    assert callback.status == 400
    answer = callback.request.answer
    assert answer["code"] == 50035
    errors = answer["errors"]["data"]["choices"]
    if bad_field == "choices":
        assert errors["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    else:
        assert "value" in errors["0"]
    assert inter.response is None
    with pytest.raises(LookupError):
        fake_discord.autocomplete_choices(inter)


async def test_channel_posts_are_recorded_and_refused_like_discord(
    fake_discord: FakeDiscord, bot: ProbeBot
) -> None:
    """POST /channels/{id}/messages: 200 with the message, 404/10003 unknown, 403/50001."""
    channel = bot.get_channel(CHANNEL_ID)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("log: one")
    second = await channel.send("log: two", view=LinkView())
    posts = fake_discord.channel_messages(CHANNEL_ID)
    assert [p["content"] for p in posts] == ["log: one", "log: two"]
    assert [int(p["id"]) for p in posts] == [first.id, second.id]
    assert all(p["author"]["id"] == str(BOT_USER_ID) and p["author"]["bot"] for p in posts)
    assert all(p["channel_id"] == str(CHANNEL_ID) for p in posts)
    assert first.author.id == BOT_USER_ID
    assert first.channel.id == CHANNEL_ID
    assert first.content == "log: one"
    (row,) = posts[1]["components"]
    link, ack = row["components"]
    assert link["style"] == 5
    assert "custom_id" not in link
    assert ack["custom_id"] == "log-ack"
    requests = fake_discord.find("POST", rf"/channels/{CHANNEL_ID}/messages$")
    assert [r.authorization for r in requests] == [f"Bot {FAKE_TOKEN}"] * 2
    assert requests[0].answer == posts[0]
    assert fake_discord.channel_messages(CHANNEL_ID + 1) == []

    with pytest.raises(discord.NotFound) as unknown:
        await bot.get_partial_messageable(999).send("nowhere")
    assert unknown.value.code == 10003
    fake_discord.forbidden_channels.add(CHANNEL_ID)
    with pytest.raises(discord.Forbidden) as forbidden:
        await channel.send("denied")
    assert forbidden.value.code == 50001
    assert len(fake_discord.channel_messages(CHANNEL_ID)) == 2

    fake_discord.forbidden_channels.clear()
    url = f"{fake_discord.rest_base}/channels/{CHANNEL_ID}/messages"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={}, headers={"Authorization": f"Bot {FAKE_TOKEN}"}) as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["code"] == 50006


def _button(custom_id: str = "ok", **extra: Any) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": "Go", "custom_id": custom_id, **extra}


def _row(*components: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(components)}


_LINK = {"type": 2, "style": 5, "label": "Open", "url": "https://example.com/"}

INVALID_COMPONENTS: dict[str, tuple[list[dict[str, Any]], list[str]]] = {
    "custom-id-101": ([_row(_button("x" * 101))], ["0", "components", "0", "custom_id"]),
    "six-buttons-in-a-row": ([_row(*(_button(f"b{i}") for i in range(6)))], ["0", "components"]),
    "duplicate-custom-id": (
        [_row(_button("same")), _row(_button("same"))],
        ["1", "components", "0", "custom_id"],
    ),
    "link-with-custom-id": (
        [_row({**_LINK, "custom_id": "x"})],
        ["0", "components", "0", "custom_id"],
    ),
    "link-without-url": ([_row({**_LINK, "url": None})], ["0", "components", "0", "url"]),
    "button-without-custom-id": (
        [_row(_button(custom_id=None))],  # type: ignore[arg-type]
        ["0", "components", "0", "custom_id"],
    ),
    "label-81": ([_row(_button(label="L" * 81))], ["0", "components", "0", "label"]),
    "six-rows": ([_row(_button(f"r{i}")) for i in range(6)], ["_errors"]),
    "empty-row": ([_row()], ["0", "components"]),
    "select-beside-a-button": (
        [_row({"type": 3, "custom_id": "pick", "options": []}, _button())],
        ["0", "components"],
    ),
}


def _dig(errors: dict[str, Any], path: list[str]) -> dict[str, Any]:
    node = errors
    for key in path:
        node = node[key]
    return node


@pytest.mark.parametrize("case", list(INVALID_COMPONENTS))
async def test_invalid_components_are_refused_on_channel_posts(
    fake_discord: FakeDiscord, case: str
) -> None:
    """What Discord refuses in a message's components is answered 400/50035, nothing stored."""
    components, path = INVALID_COMPONENTS[case]
    url = f"{fake_discord.rest_base}/channels/{CHANNEL_ID}/messages"
    headers = {"Authorization": f"Bot {FAKE_TOKEN}"}
    body = {"content": "log", "components": components}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as resp,
    ):
        assert resp.status == 400
        answer = await resp.json()
    assert answer["code"] == 50035
    assert _dig(answer["errors"]["components"], path)
    assert fake_discord.channel_messages(CHANNEL_ID) == []


async def test_invalid_components_are_refused_on_callbacks_followups_and_edits(
    fake_discord: FakeDiscord, bot: ProbeBot
) -> None:
    """The same checks on a type 4/7 callback (under `data`), a follow-up and an edit."""
    six = [_row(*(_button(f"b{i}") for i in range(6)))]
    good = [_row(_button("fine"), _LINK)]
    click = await fake_discord.send_component("nobody-listens")  # the bot ignores it
    callback = f"{fake_discord.rest_base}/interactions/{click.id}/{click.token}/callback"
    hook = f"{fake_discord.rest_base}/webhooks/{APPLICATION_ID}/{click.token}"
    async with aiohttp.ClientSession() as session:
        for kind in (4, 7):
            payload = {"type": kind, "data": {"content": "x", "components": six}}
            async with session.post(callback, json=payload) as resp:
                assert resp.status == 400
                answer = await resp.json()
            assert answer["code"] == 50035
            assert "components" in answer["errors"]["data"]
        assert not click.acknowledged
        payload = {"type": 4, "data": {"content": "ok", "components": good}}
        async with session.post(callback, json=payload, params={"with_response": "1"}) as resp:
            assert resp.status == 200
        async with session.post(hook, json={"content": "f", "components": six}) as resp:
            assert resp.status == 400
            assert (await resp.json())["code"] == 50035
        async with session.patch(f"{hook}/messages/@original", json={"components": six}) as resp:
            assert resp.status == 400
            assert (await resp.json())["code"] == 50035
        async with session.patch(f"{hook}/messages/@original", json={"components": []}) as resp:
            assert resp.status == 200
    assert click.followup_message_ids == []
    original = fake_discord.original_message(click)
    assert original is not None
    assert original["components"] == []


def test_components_v2_messages_may_have_more_than_five_rows() -> None:
    """IS_COMPONENTS_V2 lifts the 5-row limit (40 components in all) but not the row rules."""
    rows = [_row(_button(f"r{i}")) for i in range(6)]
    assert validate_message_components(rows, FLAG_IS_COMPONENTS_V2) == {}
    assert validate_message_components(rows, 0)
    many = [_row(*(_button(f"b{r}-{i}") for i in range(5))) for r in range(7)]  # 42 in all
    assert validate_message_components(many, FLAG_IS_COMPONENTS_V2)
    container = {"type": 17, "components": [_row(_button("a")), _row(_button("a"))]}
    errors = validate_message_components([container], FLAG_IS_COMPONENTS_V2)
    assert errors["components"]["0"]["components"]["1"]["components"]["0"]["custom_id"]


# -- sharding -----------------------------------------------------------------------------------

SHARD1_GUILD_ID = (1 << 22) + GUILD_ID  # (id >> 22) % 2 == 1; GUILD_ID is on shard 0
SHARD1_CHANNEL_ID = 2001


class ShardedProbe(commands.AutoShardedBot):
    """An AutoShardedBot with `/where`, which records the guild each invocation came from."""

    def __init__(self, **options: Any) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            help_command=None,
            guild_ready_timeout=0.05,
            **options,
        )
        self.seen: asyncio.Queue[int | None] = asyncio.Queue()
        self.available: asyncio.Queue[discord.Guild] = asyncio.Queue()  # joined or back

        @self.tree.command(name="where", description="Say where the command arrived.")
        async def where(interaction: discord.Interaction) -> None:
            await self.seen.put(interaction.guild_id)
            await interaction.response.send_message("here", ephemeral=True)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No 5 s pause before each non-first shard's IDENTIFY (discord.py's default)."""

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.available.put(guild)

    async def on_guild_available(self, guild: discord.Guild) -> None:
        await self.available.put(guild)


@pytest.fixture
async def sharded_fake() -> AsyncIterator[FakeDiscord]:
    """A fake recommending 2 shards, with a guild on each: GUILD_ID (0) and SHARD1_GUILD_ID (1)."""
    fake = FakeDiscord(
        token=FAKE_TOKEN,
        application_id=APPLICATION_ID,
        bot_user_id=BOT_USER_ID,
        owner_id=OWNER_ID,
        recommended_shards=2,
        guilds=[
            FakeGuild(id=GUILD_ID, name="Zero", owner_id=OWNER_ID, channels={CHANNEL_ID: "a"}),
            FakeGuild(
                id=SHARD1_GUILD_ID, name="One", owner_id=OWNER_ID, channels={SHARD1_CHANNEL_ID: "b"}
            ),
        ],
    )
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    assert not fake.errors, "the fake itself failed:\n" + "\n".join(fake.errors)


@contextlib.asynccontextmanager
async def sharded(fake: FakeDiscord, **options: Any) -> AsyncIterator[ShardedProbe]:
    """A ShardedProbe(**options) whose shards are all READY on the fake; closed on exit."""
    with pointed_at(fake.url):
        probe = ShardedProbe(**options)
        async with probe:
            task = asyncio.create_task(probe.start(FAKE_TOKEN))
            try:
                await asyncio.wait_for(probe.wait_until_ready(), 10)
                assert probe.shard_count is not None
                ids = options.get("shard_ids") or range(probe.shard_count)
                await fake.wait_for_shards_ready(ids, shard_count=probe.shard_count)
                yield probe
            finally:
                await probe.close()
                await asyncio.wait_for(task, 10)


def sent_on(conn: Any, event: str) -> list[dict[str, Any]]:
    """The `d` of every `event` dispatched on the session `conn` serves."""
    assert conn is not None
    assert conn.session is not None
    return [p["d"] for p in conn.session.history if p["t"] == event]


def test_shard_of_is_discords_formula() -> None:
    assert shard_of(GUILD_ID, 2) == 0
    assert shard_of(SHARD1_GUILD_ID, 2) == 1
    assert shard_of(SHARD1_GUILD_ID, 1) == 0
    assert shard_of(81384788765712384, 3) == (81384788765712384 >> 22) % 3


@pytest.mark.parametrize("shard_count", [2, None])
async def test_one_process_runs_two_shards(
    sharded_fake: FakeDiscord, shard_count: int | None
) -> None:
    """
    Each shard's connection gets only its guilds; a shard-1 guild's interaction arrives on
    shard 1, a DM's on shard 0. discord.py asks GET /gateway/bot only without a shard_count.
    """
    fake = sharded_fake
    async with sharded(fake, shard_count=shard_count) as probe:
        assert probe.shard_count == 2
        asked = fake.find("GET", r"/gateway/bot$")
        assert len(asked) == (1 if shard_count is None else 0)
        assert sorted(p["shard"] for p in fake.identify_payloads) == [[0, 2], [1, 2]]
        conns = await fake.wait_for_shards_ready([0, 1], shard_count=2)
        for shard_id, guild_id in ((0, GUILD_ID), (1, SHARD1_GUILD_ID)):
            conn = conns[shard_id]
            assert conn.shard == (shard_id, 2)
            assert fake.connection_for(guild_id) is conn
            (ready,) = sent_on(conn, "READY")
            assert [g["id"] for g in ready["guilds"]] == [str(guild_id)]
            assert [g["id"] for g in sent_on(conn, "GUILD_CREATE")] == [str(guild_id)]
        assert {g.id: g.shard_id for g in probe.guilds} == {GUILD_ID: 0, SHARD1_GUILD_ID: 1}
        assert fake.connection_for(None) is conns[0]

        inter = await fake.send_interaction("where", guild_id=SHARD1_GUILD_ID)
        assert inter.shard_id == 1
        assert (await fake.wait_for_response(inter)).type == 4
        assert await asyncio.wait_for(probe.seen.get(), 5) == SHARD1_GUILD_ID
        assert [d["id"] for d in sent_on(conns[1], "INTERACTION_CREATE")] == [str(inter.id)]
        assert not sent_on(conns[0], "INTERACTION_CREATE")

        dm = await fake.send_interaction("where", dm=True)
        assert dm.shard_id == 0
        assert (await fake.wait_for_response(dm)).type == 4
        assert await asyncio.wait_for(probe.seen.get(), 5) is None

        joined = FakeGuild(id=(3 << 22) + 7, name="Three", owner_id=OWNER_ID)  # shard 1 of 2
        await fake.guild_create(joined)
        assert [g["id"] for g in sent_on(conns[1], "GUILD_CREATE")][-1] == str(joined.id)
        while (guild := await asyncio.wait_for(probe.available.get(), 5)).id != joined.id:
            pass  # the startup guilds' on_guild_available
        assert guild.shard_id == 1


async def test_two_processes_each_get_only_their_shard(sharded_fake: FakeDiscord) -> None:
    """Two AutoShardedBots (shard_ids [0] and [1] of 2) on one fake: guilds and events split."""
    fake = sharded_fake
    async with (
        sharded(fake, shard_ids=[0], shard_count=2) as first,
        sharded(fake, shard_ids=[1], shard_count=2) as second,
    ):
        assert not fake.find("GET", r"/gateway/bot$")
        assert [g.id for g in first.guilds] == [GUILD_ID]
        assert [g.id for g in second.guilds] == [SHARD1_GUILD_ID]
        for guild_id, probe, shard_id in ((GUILD_ID, first, 0), (SHARD1_GUILD_ID, second, 1)):
            inter = await fake.send_interaction("where", guild_id=guild_id)
            assert inter.shard_id == shard_id
            assert (await fake.wait_for_response(inter)).type == 4
            assert await asyncio.wait_for(probe.seen.get(), 5) == guild_id
        dm = await fake.send_interaction("where", dm=True)
        assert dm.shard_id == 0
        assert await asyncio.wait_for(first.seen.get(), 5) is None
        assert first.seen.empty()
        assert second.seen.empty()

        # Shard 1 drops and RESUMEs: its guild's events wait for it, then reach it; shard 0
        # stays untouched.
        fake.resume_gate.clear()
        await fake.drop_connection(4000, shard_id=1)
        await fake.wait_until(lambda: fake.connection_for(SHARD1_GUILD_ID) is None or None, 5)
        assert fake.connection_for(GUILD_ID) is not None
        pending = asyncio.create_task(fake.send_interaction("where", guild_id=SHARD1_GUILD_ID))
        await asyncio.sleep(0.1)
        assert not pending.done()
        fake.resume_gate.set()
        inter = await asyncio.wait_for(pending, 10)
        assert inter.shard_id == 1
        assert await asyncio.wait_for(second.seen.get(), 5) == SHARD1_GUILD_ID
        assert len(fake.identify_payloads) == 2


async def test_no_session_for_a_guild_times_out_naming_it(sharded_fake: FakeDiscord) -> None:
    """Only shard 0 connected: an event for a shard-1 guild waits, then TimeoutError."""
    fake = sharded_fake
    async with sharded(fake, shard_ids=[0], shard_count=2):
        with pytest.raises(TimeoutError, match=f"holding guild {SHARD1_GUILD_ID}"):
            await fake.dispatch(
                "GUILD_DELETE", {"id": str(SHARD1_GUILD_ID), "unavailable": True}, timeout=0.2
            )
        with pytest.raises(RuntimeError, match=f"no gateway session holds guild {SHARD1_GUILD_ID}"):
            await fake.dispatch("GUILD_DELETE", {"id": str(SHARD1_GUILD_ID)}, wait_live=False)


async def test_bad_shard_is_closed_with_4010(sharded_fake: FakeDiscord) -> None:
    """discord.py launching shard 2 of 2 gets 4010 (Invalid shard) and gives up."""
    with pointed_at(sharded_fake.url):
        probe = ShardedProbe(shard_ids=[2], shard_count=2)
        async with probe:
            with pytest.raises(discord.ConnectionClosed) as closed:
                await asyncio.wait_for(probe.start(FAKE_TOKEN), 10)
    assert closed.value.code == 4010
    assert sharded_fake.gateway_connections[-1].close_code == 4010
    assert sharded_fake.session_starts == 0


async def identify_raw(fake: FakeDiscord, shard: Any) -> tuple[int | None, dict[str, Any] | None]:
    """IDENTIFY with `shard` on a raw socket: (close code, None) or (None, the READY)."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(fake.gateway_url, params={"v": "10", "encoding": "json"}) as ws,
    ):
        assert (await ws.receive_json(timeout=5))["op"] == 10
        identify: dict[str, Any] = {"token": FAKE_TOKEN, "intents": 1}
        if shard is not None:
            identify["shard"] = shard
        await ws.send_json({"op": 2, "d": identify})
        msg = await ws.receive(timeout=5)
        if msg.type is aiohttp.WSMsgType.CLOSE:
            return ws.close_code, None
        payload = json.loads(msg.data)
        assert payload["t"] == "READY"
        return None, payload["d"]


@pytest.mark.parametrize("shard", [[2, 2], [-1, 2], [0, 0], [0], "0,1", [0, True]])
async def test_malformed_shards_are_closed_with_4010(sharded_fake: FakeDiscord, shard: Any) -> None:
    assert await identify_raw(sharded_fake, shard) == (4010, None)


async def test_shard_counts_may_differ_and_too_many_guilds_need_sharding() -> None:
    """
    Discord allows sessions with different shard counts at once (zero-downtime resharding);
    a session that would hold more than `max_guilds_per_shard` guilds is closed with 4011.
    """
    guilds = [FakeGuild(id=(n << 22) + 1, name=f"g{n}", owner_id=OWNER_ID) for n in range(3)]
    async with FakeDiscord(token=FAKE_TOKEN, guilds=guilds, max_guilds_per_shard=2) as fake:
        assert await identify_raw(fake, None) == (4011, None)
        assert await identify_raw(fake, [0, 1]) == (4011, None)
        code, ready = await identify_raw(fake, [0, 2])  # guilds 0 and 2
        assert code is None
        assert ready is not None
        assert [g["id"] for g in ready["guilds"]] == [str(guilds[0].id), str(guilds[2].id)]
        code, ready = await identify_raw(fake, [2, 3])
        assert code is None
        assert ready is not None
        assert [g["id"] for g in ready["guilds"]] == [str(guilds[2].id)]
        async with aiohttp.ClientSession() as session:
            url = f"{fake.rest_base}/gateway/bot"
            headers = {"Authorization": f"Bot {FAKE_TOKEN}"}
            async with session.get(url, headers=headers) as resp:
                body = await resp.json()
        assert body["shards"] == 1
        assert body["session_start_limit"]["max_concurrency"] == 1
        assert not fake.errors
