"""
A loopback Discord for end-to-end tests: REST API v10 and the gateway on 127.0.0.1.

`FakeDiscord` is an aiohttp server on an ephemeral port that plays Discord well enough for an
unmodified discord.py 2.x `commands.Bot` to log in, connect the gateway, sync application
commands and answer interactions. Everything the bot sends is recorded so tests can assert on
it; everything Discord would push (interactions, guild events) is sent with helpers.

Pointing discord.py at it needs no bot code change:

* in-process: `with pointed_at(fake.url): ...` patches `discord.http.Route.BASE` and
  `discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` (a plain `Client` connects straight to
  DEFAULT_GATEWAY; only `AutoShardedClient` asks `GET /gateway/bot`);
* in a subprocess: `fake.subprocess_env()` puts `sitecustomize_hook/` on PYTHONPATH and sets
  TICKETLENS_FAKE_DISCORD, and that hook does the same patch at interpreter start.

Quirks of discord.py 2.7 this server honours (see the module's tests):

* a response is parsed as JSON only when Content-Type is exactly `application/json`
  (aiohttp's `json_response` adds `; charset=utf-8`, so every answer is built by `_json`);
* the gateway is opened with `compress=zlib-stream` (or `zstd-stream` when `zstandard` is
  installed); zlib-stream is served with one compressobj per connection and Z_SYNC_FLUSH per
  message, anything else gets plain text frames, which discord.py always accepts;
* interaction callbacks are posted with `?with_response=1` and discord.py reads the answer as an
  InteractionCallbackResponse (`{"interaction": {...}, "resource": {...}}`), storing a sent view
  under `interaction.response_message_id`; a 204 there would crash `send_message`;
* modal submits come back in the shape the modal was sent: a bare TextInput is wrapped in an
  action row (type 1), a `ui.Label` is type 18 with a single `component`; discord.py 2.7 parses
  both, and `send_modal_submit` mirrors whatever the bot actually sent.

Discord behaviours it models so bot mistakes show up: a second initial response is 400/40060; a
follow-up before any response is 404/10015; the first follow-up after a deferral (type 5)
replaces the "thinking" message; with `callback_deadline` set (Discord: 3 s) a late initial
response is 404/10062; privileged intents not granted close the gateway with 4014; no
GUILD_CREATE without the GUILDS intent; a bulk command overwrite is lightly validated (names,
descriptions, option order and nesting) and answered 400/50035 like Discord.

Beyond slash commands and components it plays: message context-menu commands
(`send_message_command`, the target in `data.resolved.messages`, see `user_message`),
autocomplete (`send_autocomplete`: the focused option's partial text always a string; the type 8
answer checked: at most 25 choices, names 1-100, values of the option's type) and the bot's own
channel posts (`POST /channels/{id}/messages`: 404/10003 outside the fake's guilds, 403/50001 for
`forbidden_channels`, 400/50006 when empty; `channel_messages`). Every message the bot sends or
edits (callbacks 4 and 7, follow-ups, edits, channel posts) has its components lightly checked
(`validate_message_components`: rows, buttons, custom ids) and is answered 400/50035 like Discord.
Each JSON answer is kept on its request as `RecordedRequest.answer`.

User-installed apps: `send_interaction`, `send_modal_submit` and `send_component` take
`install=UserInstall(...)` to send an interaction as Discord does under the member's own
installation: `context` 1 (the DM with the bot), 2 (a group DM, channel type 3) or 0 (a server
the bot is not in: `guild_id`, `member` and `app_permissions` there, no guild install), with
`authorizing_integration_owners` `{"1": <member id>}` only (a server's own install sends
`{"0": <guild id>}` and `context` 0). A slash command is sent that way only if its synced
top-level `integration_types` include 1 and its `contexts` the context (ValueError otherwise),
as Discord offers it nowhere else; a bulk overwrite's `contexts` and `integration_types` must be
null or distinct values of their enums (specs/openapi.json `ApplicationCommandCreateRequest`,
`InteractionContextType`, `ApplicationIntegrationType`).

Sharding (one fake, any number of gateway connections, from one process or several): IDENTIFY's
`shard` [shard_id, shard_count] (absent: [0, 1], which holds every guild) is kept as
`GatewayConnection.shard`; READY lists, and GUILD_CREATE sends, only the guilds with
`shard_of(guild_id, shard_count) == shard_id` (Discord's `(guild_id >> 22) % shard_count`). A
malformed shard, or shard_id outside 0..shard_count-1, is closed with 4010 (Invalid shard); a
session that would hold more than `max_guilds_per_shard` (Discord: 2500) guilds with 4011
(Sharding required). Sessions with different shard counts may coexist, as Discord allows
(events/gateway.mdx "Sharding": "sessions with different num_shards values"). A guild's events
(INTERACTION_CREATE, GUILD_CREATE/UPDATE/DELETE, any `dispatch` with a guild) go to the live
session holding its shard, the latest to IDENTIFY when several do; guildless ones (DMs) to
shard 0's. With none live the event waits up to the helper's timeout, then TimeoutError naming
the guild (`dispatch(wait_live=False)` instead queues it on a resumable session for RESUME).
`FakeInteraction.shard_id` is the shard it went to; see `wait_for_shards_ready`,
`connection_for`, and the `shard_id=` of `send_op`, `drop_connection`, `invalidate_session`.
`GET /gateway/bot` answers `recommended_shards`. discord.py's `AutoShardedClient` asks it only
when `shard_count` is None, then IDENTIFYs its shards one after another, each after
`before_identify_hook(shard_id, initial=...)`, whose default sleeps 5 s for every shard but the
first of `shard_ids`; it ignores `session_start_limit.max_concurrency`, so a test bot makes
several shards start quickly by overriding that hook, not through the fake.

Checked against Discord's own description (github.com/discord/discord-api-spec,
specs/openapi.json; github.com/discord/discord-api-docs, developers/...), not vendored here:

* message command data: `target_id` and `resolved.messages` (interactions/application-commands.mdx
  "Message Commands", interactions/receiving-and-responding.mdx "Application Command Data
  Structure", "Resolved Data Structure"); the REST spec does not describe incoming interactions;
* autocomplete: the callback is `ApplicationCommandAutocompleteCallbackRequest` (type 8, `data`
  one of `InteractionApplicationCommandAutocompleteCallback{String,Integer,Number}Data`,
  `choices` maxItems 25, each `ApplicationCommandOption{String,Integer,Number}Choice`: `name`
  1-100, `value` a string, an `Int53Type` or a double). The spec gives a string value
  maxLength 6000 where the docs ("Application Command Option Choice Structure") say "up to 100
  characters": the fake holds the bot to the documented 100. That the focused value is the raw
  typed text (a string even for integer and number options) is the maintainers' answer in
  discord/discord-api-docs#4338 (the docs' "not invalid numbers" is open as #4956). An
  `InteractionCallbackResponse` has a `resource` only for types 4, 7 and 12, so a type 8 answer
  with `with_response` carries none;
* components: `ActionRowComponentForMessageRequest` (type 1, `components` minItems 1, maxItems 5),
  `ButtonComponentForMessageRequest` (type 2, `custom_id` 1-100, `label` maxLength 80, `url`
  maxLength 512), `ButtonStyleTypes` (5 LINK, 6 PREMIUM); components/reference.mdx: link buttons
  need a `url` and no `custom_id`, other non-premium buttons a `custom_id` and no `url`, premium
  ones a `sku_id` only; custom ids unique within a message; one select fills a row; legacy
  messages at most 5 top-level action rows, IS_COMPONENTS_V2 (1 << 15) messages 40 components
  (`MessageCreateRequest.components` maxItems 40). COMPONENT_CUSTOM_ID_DUPLICATED is the code
  Discord answers (discord/discord-api-docs#3673); other codes are the BASE_TYPE_* family;
* channel posts: `create_message` answers 200 with a `MessageResponse` (its required fields are
  all present); error codes 10003, 50001, 50006, 50035 from topics/opcodes-and-status-codes.mdx.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.policy
import json
import math
import os
import re
import secrets
import time
import traceback
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

T = TypeVar("T")

HOOK_DIR = Path(__file__).resolve().parent / "sitecustomize_hook"
ENV_VAR = "TICKETLENS_FAKE_DISCORD"
API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits used by the helpers (values as Discord defines them).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1
DEFAULT_EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS

GUILDS_INTENT = 1 << 0
# Gateway intents Discord gates behind the developer portal.
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message_content

# Message flags.
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_IS_COMPONENTS_V2 = 1 << 15

# Application command types.
CHAT_INPUT = 1
MESSAGE_COMMAND = 3

# Message component types and button styles.
ACTION_ROW = 1
BUTTON = 2
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
BUTTON_LINK = 5
BUTTON_PREMIUM = 6

# Interaction types and callback types.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5
ALLOWED_CALLBACKS: dict[int, set[int]] = {
    APPLICATION_COMMAND: {4, 5, 9, 12},
    AUTOCOMPLETE: {8},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9, 12},
    MODAL_SUBMIT: {4, 5, 6, 7},
}

_NAME_RE = re.compile(r"^[-_\w]{1,32}$")


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard a guild's events go to: Discord's `(guild_id >> 22) % shard_count`."""
    return (guild_id >> 22) % shard_count


def snowflake_time_ms(value: int) -> int:
    """Unix milliseconds encoded in a snowflake."""
    return (value >> 22) + DISCORD_EPOCH_MS


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON answer whose Content-Type is exactly `application/json`, as discord.py requires."""
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    return web.Response(status=status, body=json.dumps(body).encode(), headers=all_headers)


def _error(status: int, message: str, code: int, **extra: Any) -> web.Response:
    return _json(status, {"message": message, "code": code, **extra})


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in {"1", "true", "yes"}


def http_to_ws(url: str) -> str:
    """`http://h:p` -> `ws://h:p`, `https://...` -> `wss://...`."""
    if url.startswith("http"):
        return "ws" + url[len("http") :]
    return url


@contextlib.contextmanager
def pointed_at(url: str) -> Iterator[None]:
    """Point this process's discord.py at a fake Discord at `url` (restored on exit)."""
    import discord.gateway  # late: the fake itself needs no discord.py
    import discord.http
    import yarl

    route = discord.http.Route
    socket = discord.gateway.DiscordWebSocket
    old_base, old_gateway = route.BASE, socket.DEFAULT_GATEWAY
    route.BASE = f"{url.rstrip('/')}{API_PREFIX}"
    socket.DEFAULT_GATEWAY = yarl.URL(f"{http_to_ws(url.rstrip('/'))}/gateway")
    try:
        yield
    finally:
        route.BASE, socket.DEFAULT_GATEWAY = old_base, old_gateway


# -- records ----------------------------------------------------------------------------------


@dataclass
class RecordedFile:
    """One file part of a multipart request."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One REST request as the fake received it."""

    method: str
    path: str  # the full path, e.g. /api/v10/users/@me
    query: dict[str, str]
    headers: dict[str, str]
    json: Any  # the parsed JSON body, or the `payload_json` part of a multipart body
    files: list[RecordedFile]
    body: bytes
    received_at: float  # time.monotonic()
    status: int = 0  # the status the fake answered with
    matched: bool = False  # False: no such route (answered 404)
    answer: Any = None  # the JSON the fake answered with (None: no JSON body)

    @property
    def route(self) -> str:
        """The path without the /api/v10 prefix."""
        return self.path.removeprefix(API_PREFIX)

    @property
    def authorization(self) -> str | None:
        return self.headers.get("Authorization")


@dataclass
class CallbackRecord:
    """One `POST /interactions/{id}/{token}/callback`, accepted or not."""

    type: int
    data: dict[str, Any]
    received_at: float
    delay: float  # seconds since the interaction was dispatched
    status: int
    with_response: bool
    request: RecordedRequest

    @property
    def flags(self) -> int:
        return int(self.data.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)


# Interaction context types (`context`) and installation types (`authorizing_integration_owners`
# keys, `integration_types`), as Discord numbers them.
CONTEXT_GUILD = 0
CONTEXT_BOT_DM = 1
CONTEXT_PRIVATE_CHANNEL = 2
GUILD_INSTALL = 0
USER_INSTALL = 1


@dataclass(frozen=True)
class UserInstall:
    """
    Where the app installed to the member's own account is used, as Discord sends it: `context`
    1 (BOT_DM, the DM with the app's bot user), 2 (PRIVATE_CHANNEL: a group DM, channel type 3)
    or 0 (GUILD: `guild_id`, a server the bot is NOT in, where only the member added the app).
    `authorizing_integration_owners` is then `{"1": <the member's id>}` alone. `app_permissions`
    is what Discord lets the app do there (default: the DM set of
    interactions/receiving-and-responding.mdx, "app_permissions"; in a server, @everyone's
    default, which a server that restricts external apps narrows).
    """

    context: int = CONTEXT_BOT_DM
    guild_id: int | None = None
    app_permissions: int | None = None

    def __post_init__(self) -> None:
        if self.context not in (CONTEXT_GUILD, CONTEXT_BOT_DM, CONTEXT_PRIVATE_CHANNEL):
            raise ValueError(f"unknown interaction context {self.context}")
        if (self.context == CONTEXT_GUILD) != (self.guild_id is not None):
            raise ValueError("a guild_id exactly for context 0 (a server without the bot)")


#: The app's permissions Discord reports in DMs and group DMs (ATTACH_FILES, EMBED_LINKS,
#: MENTION_EVERYONE; USE_EXTERNAL_EMOJIS in the bot's own DM), plus what it may send there.
DM_APP_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | (1 << 17)


@dataclass
class FakeInteraction:
    """An interaction the fake dispatched, and what the bot did with it."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    sent_at: float
    channel_id: int
    callbacks: list[CallbackRecord] = field(default_factory=list)
    original_message_id: int | None = None
    followup_message_ids: list[int] = field(default_factory=list)
    source_message_id: int | None = None  # the message a component sat on
    shard_id: int | None = None  # the shard of the connection it was dispatched on

    @property
    def response(self) -> CallbackRecord | None:
        """The accepted callback (the bot's one allowed initial response), if any."""
        return next((cb for cb in self.callbacks if cb.status < 300), None)

    @property
    def acknowledged(self) -> bool:
        return self.response is not None


@dataclass
class FakeGuild:
    """A guild the bot is in: sent as GUILD_CREATE after READY."""

    id: int
    name: str
    owner_id: int
    channels: dict[int, str] = field(default_factory=dict)  # text channel id -> name
    everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS
    bot_permissions: int = DEFAULT_BOT_PERMISSIONS  # of the bot's managed role
    member_count: int = 2
    preferred_locale: str = "en-US"
    features: list[str] = field(default_factory=list)
    bot_role_id: int | None = None  # defaults to id + 1

    @property
    def bot_role(self) -> int:
        return self.bot_role_id if self.bot_role_id is not None else self.id + 1


@dataclass
class _Session:
    id: str
    shard: tuple[int, int] = (0, 1)  # [shard_id, shard_count] from IDENTIFY
    seq: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    ready: bool = False
    conn: GatewayConnection | None = field(default=None, repr=False)  # the latest one

    def holds(self, guild_id: int | None) -> bool:
        """Whether this session gets `guild_id`'s events (None: a DM, shard 0's)."""
        shard_id, shard_count = self.shard
        if guild_id is None:
            return shard_id == 0
        return shard_of(guild_id, shard_count) == shard_id

    @property
    def live(self) -> bool:
        return self.ready and self.conn is not None and self.conn.open


@dataclass
class GatewayConnection:
    """One websocket the bot opened."""

    path: str
    query: dict[str, str]
    opened_at: float
    ws: web.WebSocketResponse = field(repr=False)
    compress: str | None = None
    closed_at: float | None = None
    close_code: int | None = None  # the fake's code when it closed the socket, else the bot's
    identify: dict[str, Any] | None = None
    resume: dict[str, Any] | None = None
    shard: tuple[int, int] | None = None  # [shard_id, shard_count] once IDENTIFYed or RESUMEd
    session: _Session | None = field(default=None, repr=False)
    _zlib: Any = field(default=None, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def open(self) -> bool:
        return self.closed_at is None and not self.ws.closed

    @property
    def shard_id(self) -> int | None:
        return self.shard[0] if self.shard is not None else None

    @property
    def shard_count(self) -> int | None:
        return self.shard[1] if self.shard is not None else None

    async def close(self, code: int, message: bytes = b"") -> None:
        """Close from the server side, recording `code` (the bot may answer with another)."""
        if self.close_code is None:
            self.close_code = code
        await self.ws.close(code=code, message=message)

    async def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        async with self._lock:  # one shared zlib stream: compress and send in order
            if self._zlib is not None:
                data = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(text)


@dataclass
class _Override:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int | None


Handler = Callable[[RecordedRequest, re.Match[str]], Awaitable[web.Response]]


# -- the server ---------------------------------------------------------------------------------


class FakeDiscord:
    """A loopback Discord (REST v10 + JSON gateway) for one bot."""

    def __init__(
        self,
        *,
        token: str,
        application_id: int = 4242,
        bot_user_id: int = 4243,
        bot_username: str = "TicketLens",
        guilds: Sequence[FakeGuild] = (),
        owner_id: int = 1,
        application_flags: int = 1 << 23,  # APPLICATION_COMMAND_BADGE, as a typical bot
        privileged_intents: int = 0,  # those "enabled in the portal"; others close with 4014
        heartbeat_interval_ms: int = 41_250,
        callback_deadline: float | None = None,  # Discord's 3 s; None: never expire
        default_user_id: int = 5555,
        host: str = "127.0.0.1",
        recommended_shards: int = 1,  # GET /gateway/bot `shards`
        max_concurrency: int = 1,  # session_start_limit.max_concurrency (discord.py ignores it)
        max_guilds_per_shard: int = 2500,  # Discord's limit; more on one session closes 4011
    ) -> None:
        self.token = token
        self.application_id = application_id
        self.bot_user_id = bot_user_id
        self.bot_username = bot_username
        self.guilds: dict[int, FakeGuild] = {g.id: g for g in guilds}
        self.owner_id = owner_id
        self.application_flags = application_flags
        self.privileged_intents = privileged_intents
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.callback_deadline = callback_deadline
        self.default_user_id = default_user_id
        self.host = host
        self.recommended_shards = recommended_shards
        self.max_concurrency = max_concurrency
        self.max_guilds_per_shard = max_guilds_per_shard

        self.requests: list[RecordedRequest] = []
        self.gateway_connections: list[GatewayConnection] = []
        self.gateway_received: list[tuple[float, dict[str, Any]]] = []  # (monotonic, payload)
        self.dispatched: list[dict[str, Any]] = []  # every op 0 sent, incl. READY
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None: global)
        self.interactions: dict[int, FakeInteraction] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.deleted_message_ids: list[int] = []
        self.forbidden_channels: set[int] = set()  # the bot's posts there get 403/50001
        # Threads started from a message (POST .../messages/{id}/threads): thread id -> channel.
        self.threads: dict[int, dict[str, Any]] = {}
        self.session_starts = 0
        self.errors: list[str] = []  # tracebacks of the fake's own failures (should stay empty)
        # Cleared: RESUMEs wait (to dispatch "while the bot is away" deterministically).
        self.resume_gate = asyncio.Event()
        self.resume_gate.set()

        self._tokens: dict[str, FakeInteraction] = {}
        self._channel_posts: list[int] = []  # ids of messages the bot posted to a channel
        self._overrides: list[_Override] = []
        self._sessions: list[_Session] = []  # resumable sessions, oldest IDENTIFY first
        self._conn: GatewayConnection | None = None  # the latest to IDENTIFY or RESUME
        self._changed = asyncio.Event()
        self._last_snowflake = 0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        self._build_routes()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on an ephemeral port of `host`."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/resume", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Close every websocket and the server."""
        for conn in self.gateway_connections:
            if not conn.ws.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.ws.close(code=1001), 2.0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`: what TICKETLENS_FAKE_DISCORD is set to."""
        return f"http://{self.host}:{self.port}"

    @property
    def rest_base(self) -> str:
        return f"{self.url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway/resume"

    def subprocess_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """An environment for a child `python` whose discord.py talks to this fake."""
        env = dict(os.environ if base is None else base)
        env[ENV_VAR] = self.url
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(HOOK_DIR) + (os.pathsep + path if path else "")
        return env

    # -- ids and small payloads ------------------------------------------------------------

    def snowflake(self) -> int:
        """A fresh, increasing snowflake for the current time."""
        value = ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (1 << 17)
        value = max(value, self._last_snowflake + 1)
        self._last_snowflake = value
        return value

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": str(self.bot_user_id),
            "username": self.bot_username,
            "global_name": None,
            "discriminator": "0",
            "avatar": None,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "bot": True,
            "verified": True,
            "mfa_enabled": False,
            "email": None,
            "locale": "en-US",
            "flags": 0,
            "public_flags": 0,
            "premium_type": 0,
        }

    def author_payload(self) -> dict[str, Any]:
        """The bot as a message author."""
        return {
            "id": str(self.bot_user_id),
            "username": self.bot_username,
            "global_name": None,
            "discriminator": "0",
            "avatar": None,
            "bot": True,
            "public_flags": 0,
            "flags": 0,
        }

    @staticmethod
    def user_payload(user_id: int, username: str = "tester") -> dict[str, Any]:
        return {
            "id": str(user_id),
            "username": username,
            "global_name": username.title(),
            "discriminator": "0",
            "avatar": None,
            "avatar_decoration_data": None,
            "public_flags": 0,
            "flags": 0,
            "collectibles": None,
            "primary_guild": None,
        }

    @staticmethod
    def member_payload(
        user: dict[str, Any], roles: Sequence[int] = (), permissions: int | None = None
    ) -> dict[str, Any]:
        member: dict[str, Any] = {
            "user": user,
            "roles": [str(r) for r in roles],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
        }
        if permissions is not None:
            member["permissions"] = str(permissions)
        return member

    def application_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": self.application_flags,
            "owner": self.user_payload(self.owner_id, "owner"),
            "team": None,
            "bot": self.bot_user(),
            "redirect_uris": [],
            "interactions_endpoint_url": None,  # set: discord.py warns it receives no events
            "role_connections_verification_url": None,
            "tags": [],
            "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
            "integration_types_config": {"0": {}},
            "approximate_guild_count": len(self.guilds),
            "approximate_user_install_count": 0,
            "rpc_origins": [],
            "terms_of_service_url": None,
            "privacy_policy_url": None,
            "custom_install_url": None,
        }

    def _role(
        self, role_id: int, name: str, permissions: int, position: int, **extra: Any
    ) -> dict[str, Any]:
        return {
            "id": str(role_id),
            "name": name,
            "description": None,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": False,
            "mentionable": False,
            "flags": 0,
            **extra,
        }

    def channel_payload(self, guild: FakeGuild | None, channel_id: int) -> dict[str, Any]:
        names = list(guild.channels) if guild else []
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(guild.id) if guild else None,
            "name": guild.channels.get(channel_id, f"channel-{channel_id}") if guild else "",
            "position": names.index(channel_id) if channel_id in names else 0,
            "permission_overwrites": [],
            "parent_id": None,
            "nsfw": False,
            "topic": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }

    def guild_create_payload(self, guild: FakeGuild) -> dict[str, Any]:
        """A GUILD_CREATE as Discord sends it to a bot without privileged intents."""
        members = [
            self.member_payload(self.bot_user(), roles=[guild.bot_role]),
        ]
        if guild.owner_id != self.bot_user_id:
            members.append(self.member_payload(self.user_payload(guild.owner_id, "owner")))
        channels = []
        for channel_id in guild.channels:
            channel = self.channel_payload(guild, channel_id)
            channel.pop("guild_id")  # GUILD_CREATE's channels carry no guild_id
            channels.append(channel)
        first_channel = str(next(iter(guild.channels))) if guild.channels else None
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [
                self._role(guild.id, "@everyone", guild.everyone_permissions, 0),
                self._role(
                    guild.bot_role,
                    self.bot_username,
                    guild.bot_permissions,
                    1,
                    managed=True,
                    tags={"bot_id": str(self.bot_user_id)},
                ),
            ],
            "emojis": [],
            "stickers": [],
            "features": list(guild.features),
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": first_channel,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_presences": None,
            "max_members": 500_000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": guild.preferred_locale,
            "nsfw_level": 0,
            "nsfw": False,
            "incidents_data": None,
            "home_header": None,
            "hub_type": None,
            "latest_onboarding_question_id": None,
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "large": False,
            "lazy": True,
            "unavailable": False,
            "member_count": guild.member_count,
            "voice_states": [],
            "members": members,
            "channels": channels,
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "activity_instances": [],
            "application_command_counts": {},
        }

    # -- waiting -------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(
        self,
        check: Callable[[], T | None],
        timeout: float = 5.0,  # noqa: ASYNC109
        what: str = "a condition",
    ) -> T:
        """
        Wait until `check()` returns something not None (re-checked on every change).

        On timeout raises TimeoutError naming `what` and the last requests the fake saw.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    found = check()
                    if found is not None:
                        return found
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"FakeDiscord: no {what} within {timeout}s\n{self.summary()}"
            ) from None

    def summary(self, last: int = 15) -> str:
        """The last requests and gateway connections, for failure messages."""
        lines = [f"  {r.method} {r.path} -> {r.status}" for r in self.requests[-last:]]
        conns = [
            f"  ws {c.path} compress={c.compress} identify={c.identify is not None}"
            f" shard={list(c.shard) if c.shard is not None else None}"
            f" resume={c.resume is not None} open={c.open} close_code={c.close_code}"
            for c in self.gateway_connections
        ]
        return "\n".join(["recent requests:", *lines, "gateway connections:", *conns])

    def find(self, method: str, path_regex: str, *, since: int = 0) -> list[RecordedRequest]:
        """Recorded requests with this method whose full path `re.search`es `path_regex`."""
        pattern = re.compile(path_regex)
        return [
            r
            for r in self.requests[since:]
            if r.method == method.upper() and pattern.search(r.path) is not None
        ]

    def mark(self) -> int:
        """An index for `since=`: only requests recorded after this call."""
        return len(self.requests)

    async def wait_for(
        self,
        predicate: Callable[[RecordedRequest], bool],
        timeout: float = 5.0,  # noqa: ASYNC109  (the brief's signature; wraps asyncio.timeout)
        *,
        since: int = 0,
    ) -> RecordedRequest:
        """The first recorded request (from index `since`) matching `predicate`, waiting."""

        def check() -> RecordedRequest | None:
            return next((r for r in self.requests[since:] if predicate(r)), None)

        return await self.wait_until(check, timeout, "matching request")

    async def wait_for_request(
        self,
        method: str,
        path_regex: str,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        since: int = 0,
    ) -> RecordedRequest:
        pattern = re.compile(path_regex)
        return await self.wait_for(
            lambda r: r.method == method.upper() and pattern.search(r.path) is not None,
            timeout,
            since=since,
        )

    async def wait_for_gateway_ready(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """
        Resolve once a session is live: identified and READY (and its GUILD_CREATEs) went out
        on a still open connection. With several shards, any one; see `wait_for_shards_ready`.
        """

        def check() -> bool | None:
            return True if any(s.live for s in self._sessions) else None

        await self.wait_until(check, timeout, "READY on a live gateway session")

    async def wait_for_shards_ready(
        self,
        shard_ids: Iterable[int],
        timeout: float = 10.0,  # noqa: ASYNC109
        *,
        shard_count: int | None = None,
    ) -> dict[int, GatewayConnection]:
        """
        Resolve once every shard in `shard_ids` (of `shard_count`, if given) has a live session;
        returns each shard's open connection (the latest to IDENTIFY it).
        """
        wanted = sorted(set(shard_ids))

        def check() -> dict[int, GatewayConnection] | None:
            found: dict[int, GatewayConnection] = {}
            for session in reversed(self._sessions):
                shard_id, count = session.shard
                fits = shard_count is None or count == shard_count
                conn = session.conn if session.live else None
                if fits and conn is not None and shard_id in wanted and shard_id not in found:
                    found[shard_id] = conn
            return found if len(found) == len(wanted) else None

        of = f" of {shard_count}" if shard_count is not None else ""
        return await self.wait_until(check, timeout, f"READY for shards {wanted}{of}")

    def connection_for(self, guild_id: int | None) -> GatewayConnection | None:
        """
        The open connection events of `guild_id` go to now (None: DMs and other guildless
        events, which go to shard 0), or None when no live session holds that guild's shard.
        """
        session = self._session_for(guild_id)
        return session.conn if session is not None else None

    @property
    def _session(self) -> _Session | None:
        """The latest session to IDENTIFY (the only one for an unsharded bot)."""
        return self._sessions[-1] if self._sessions else None

    def _session_for(self, guild_id: int | None, *, live: bool = True) -> _Session | None:
        """The latest-identified session holding `guild_id`'s shard (live: on an open socket)."""
        for session in reversed(self._sessions):
            if session.holds(guild_id) and (session.live or not live):
                return session
        return None

    async def _wait_session_for(
        self,
        guild_id: int | None,
        timeout: float,  # noqa: ASYNC109
    ) -> _Session:
        where = "DMs (shard 0)" if guild_id is None else f"guild {guild_id}"
        return await self.wait_until(
            lambda: self._session_for(guild_id),
            timeout,
            f"READY on a live gateway session holding {where}",
        )

    async def wait_for_response(
        self,
        interaction: FakeInteraction,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> CallbackRecord:
        """The bot's accepted initial response (callback) to `interaction`."""
        return await self.wait_until(
            lambda: interaction.response, timeout, f"response to interaction {interaction.id}"
        )

    async def wait_for_followups(
        self,
        interaction: FakeInteraction,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """The first `count` follow-up messages (a follow-up after a deferral edits it)."""

        def check() -> list[dict[str, Any]] | None:
            ids = interaction.followup_message_ids
            return [self.messages[i] for i in ids[:count]] if len(ids) >= count else None

        return await self.wait_until(check, timeout, f"{count} follow-up(s)")

    def original_message(self, interaction: FakeInteraction) -> dict[str, Any] | None:
        mid = interaction.original_message_id
        return self.messages.get(mid) if mid is not None else None

    @property
    def unknown_requests(self) -> list[RecordedRequest]:
        """Requests to routes the fake does not know (each answered 404)."""
        return [r for r in self.requests if not r.matched]

    @property
    def identify_payloads(self) -> list[dict[str, Any]]:
        return [c.identify for c in self.gateway_connections if c.identify is not None]

    # -- overrides -----------------------------------------------------------------------

    def add_override(
        self,
        method: str,
        path_regex: str,
        *,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next `times` (None: all) matching requests with this status and JSON."""
        self._overrides.append(
            _Override(
                method.upper(), re.compile(path_regex), status, body, dict(headers or {}), times
            )
        )

    # -- REST ----------------------------------------------------------------------------

    def _build_routes(self) -> None:
        app = r"(?P<app_id>\d+)"
        hook = r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)"
        table: list[tuple[str, str, Handler, bool]] = [
            ("GET", r"/users/@me", self._get_me, True),
            ("GET", r"/oauth2/applications/@me", self._get_application, True),
            ("GET", r"/applications/@me", self._get_application, True),
            ("GET", r"/gateway/bot", self._get_gateway_bot, True),
            ("GET", r"/gateway", self._get_gateway, False),
            ("GET", rf"/applications/{app}/commands", self._get_commands, True),
            ("PUT", rf"/applications/{app}/commands", self._put_commands, True),
            (
                "GET",
                rf"/applications/{app}/guilds/(?P<guild_id>\d+)/commands",
                self._get_commands,
                True,
            ),
            (
                "PUT",
                rf"/applications/{app}/guilds/(?P<guild_id>\d+)/commands",
                self._put_commands,
                True,
            ),
            (
                "POST",
                r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback",
                self._callback,
                False,
            ),
            ("POST", hook, self._followup, False),
            ("GET", hook + r"/messages/(?P<mid>@original|\d+)", self._get_message, False),
            ("PATCH", hook + r"/messages/(?P<mid>@original|\d+)", self._edit_message, False),
            ("DELETE", hook + r"/messages/(?P<mid>@original|\d+)", self._delete_message, False),
            (
                "POST",
                r"/channels/(?P<channel_id>\d+)/messages",
                self._create_channel_message,
                True,
            ),
            (
                "GET",
                r"/channels/(?P<channel_id>\d+)/messages/(?P<mid>\d+)",
                self._get_channel_message,
                True,
            ),
            (
                "PATCH",
                r"/channels/(?P<channel_id>\d+)/messages/(?P<mid>\d+)",
                self._edit_channel_message,
                True,
            ),
            (
                "DELETE",
                r"/channels/(?P<channel_id>\d+)/messages/(?P<mid>\d+)",
                self._delete_channel_message,
                True,
            ),
            (
                "POST",
                r"/channels/(?P<channel_id>\d+)/messages/(?P<mid>\d+)/threads",
                self._start_thread,
                True,
            ),
        ]
        self._routes = [(m, re.compile(p), h, auth) for m, p, h, auth in table]

    async def _record(self, request: web.Request) -> RecordedRequest:
        body = await request.read()
        parsed: Any = None
        files: list[RecordedFile] = []
        ctype = request.content_type
        if ctype.startswith("multipart/"):
            parsed, files = _parse_multipart(request.headers["Content-Type"], body)
        elif body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            json=parsed,
            files=files,
            body=body,
            received_at=time.monotonic(),
        )
        self.requests.append(recorded)
        return recorded

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        try:
            response = await self._route(recorded)
        except Exception as exc:  # a bug in the fake: visible, and no 5xx (discord.py retries)
            self.errors.append(traceback.format_exc())
            recorded.matched = True
            response = _error(400, f"fake discord internal error: {exc!r}", 0)
        recorded.status = response.status
        if response.content_type == "application/json" and isinstance(response.body, bytes):
            recorded.answer = json.loads(response.body)
        self._notify()
        return response

    async def _route(self, req: RecordedRequest) -> web.Response:
        for override in self._overrides:
            if override.method == req.method and override.pattern.search(req.path):
                if override.times is not None:
                    override.times -= 1
                    if override.times <= 0:
                        self._overrides.remove(override)
                req.matched = True
                if override.body is None:
                    return web.Response(status=override.status, headers=override.headers)
                return _json(override.status, override.body, override.headers)
        if req.path.startswith(API_PREFIX + "/"):
            route = req.route
            for method, pattern, handler, needs_auth in self._routes:
                match = pattern.fullmatch(route)
                if match is None or method != req.method:
                    continue
                req.matched = True
                if needs_auth and req.authorization != f"Bot {self.token}":
                    return _error(401, "401: Unauthorized", 0)
                return await handler(req, match)
        return _error(404, "404: Not Found", 0)

    async def _get_me(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        return _json(200, self.bot_user())

    async def _get_application(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        return _json(200, self.application_payload())

    async def _get_gateway(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        return _json(200, {"url": self.gateway_url})

    async def _get_gateway_bot(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        limit = {
            "total": 1000,
            "remaining": max(0, 1000 - self.session_starts),
            "reset_after": 14_400_000,
            "max_concurrency": self.max_concurrency,
        }
        body = {"url": self.gateway_url, "shards": self.recommended_shards}
        return _json(200, {**body, "session_start_limit": limit})

    def _check_app(self, m: re.Match[str]) -> web.Response | None:
        if int(m["app_id"]) != self.application_id:
            return _error(403, "Missing Access", 50001)
        return None

    def _command_scope(self, m: re.Match[str]) -> tuple[int | None, web.Response | None]:
        guild_id = int(m["guild_id"]) if m.groupdict().get("guild_id") else None
        if guild_id is not None and guild_id not in self.guilds:
            return guild_id, _error(403, "Missing Access", 50001)
        return guild_id, self._check_app(m)

    async def _get_commands(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        guild_id, problem = self._command_scope(m)
        return problem or _json(200, self.commands.get(guild_id, []))

    async def _put_commands(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        guild_id, problem = self._command_scope(m)
        if problem is not None:
            return problem
        body = req.json
        if not isinstance(body, list):
            return _error(400, "Invalid Form Body", 50035, errors={"_errors": ["expected a list"]})
        errors = validate_commands(body)
        if errors:
            return _error(400, "Invalid Form Body", 50035, errors=errors)
        previous = {(c["name"], c["type"]): c for c in self.commands.get(guild_id, [])}
        stored = []
        for command in body:
            kind = command.get("type", 1)
            before = previous.get((command["name"], kind))
            entry = {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                "integration_types": [0],
                "contexts": None,
                **command,
                "id": before["id"] if before else str(self.snowflake()),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
                "type": kind,
            }
            if guild_id is not None:
                entry["guild_id"] = str(guild_id)
            stored.append(entry)
        self.commands[guild_id] = stored
        return _json(200, stored)

    # -- interactions ----------------------------------------------------------------

    async def _callback(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        inter = self.interactions.get(int(m["iid"]))
        if inter is None or inter.token != m["token"]:
            return _error(404, "Unknown interaction", 10062)
        body = req.json if isinstance(req.json, dict) else {}
        cb_type = int(body.get("type") or 0)
        data = body.get("data") or {}
        record = CallbackRecord(
            type=cb_type,
            data=data,
            received_at=req.received_at,
            delay=req.received_at - inter.sent_at,
            status=0,
            with_response=_truthy(req.query.get("with_response")),
            request=req,
        )
        inter.callbacks.append(record)
        response = self._answer_callback(inter, record)
        record.status = response.status
        return response

    def _answer_callback(self, inter: FakeInteraction, record: CallbackRecord) -> web.Response:
        deadline = self.callback_deadline
        if deadline is not None and record.delay > deadline:
            return _error(404, "Unknown interaction", 10062)
        if any(cb.status < 300 for cb in inter.callbacks[:-1]):
            return _error(400, "Interaction has already been acknowledged.", 40060)
        if record.type not in ALLOWED_CALLBACKS.get(inter.type, set()):
            return _error(
                400, "Invalid Form Body", 50035, errors={"type": {"_errors": ["invalid type"]}}
            )
        data = record.data
        message: dict[str, Any] | None = None
        problem = self._check_callback_data(inter, record)
        if problem is not None:
            return problem
        if record.type == 9:
            if not data.get("custom_id") or not data.get("title") or not data.get("components"):
                return _error(400, "Invalid Form Body", 50035, errors={"data": {"_errors": []}})
        elif record.type in (4, 5):
            flags = record.flags | (FLAG_LOADING if record.type == 5 else 0)
            message = self._new_message(inter, {} if record.type == 5 else data, flags, record)
            inter.original_message_id = int(message["id"])
        elif record.type in (6, 7):
            if inter.source_message_id is None or inter.source_message_id not in self.messages:
                return _error(400, "Invalid Form Body", 50035, errors={"type": {"_errors": []}})
            inter.original_message_id = inter.source_message_id
            message = self.messages[inter.source_message_id]
            if record.type == 7:
                self._apply_edit(message, data, record.request)
        if not record.with_response:
            return web.Response(status=204)
        info: dict[str, Any] = {"id": str(inter.id), "type": inter.type}
        if message is not None:
            info["response_message_id"] = message["id"]
            info["response_message_loading"] = record.type == 5
            info["response_message_ephemeral"] = bool(int(message["flags"]) & FLAG_EPHEMERAL)
        if record.type == 8:  # no resource: an autocomplete answer creates nothing
            return _json(200, {"interaction": info})
        resource: dict[str, Any] = {"type": record.type}
        if message is not None and record.type != 6:
            resource["message"] = message
        return _json(200, {"interaction": info, "resource": resource})

    def _check_callback_data(
        self, inter: FakeInteraction, record: CallbackRecord
    ) -> web.Response | None:
        """400/50035 for an autocomplete answer or message Discord would refuse, else None."""
        errors: dict[str, Any] = {}
        if record.type == 8:
            focused = _focused_option(inter.payload["data"].get("options") or [])
            option_type = int(focused["type"]) if focused is not None else None
            body = record.request.json
            answer = body.get("data") if isinstance(body, dict) else None
            errors = validate_autocomplete_choices(answer, option_type)
        elif record.type in (4, 7):
            flags = record.flags
            if record.type == 7 and inter.source_message_id in self.messages:
                flags |= int(self.messages[inter.source_message_id]["flags"])
            errors = validate_message_components(record.data.get("components"), flags)
            errors = {"data": errors} if errors else {}
        return _error(400, "Invalid Form Body", 50035, errors=errors) if errors else None

    def _attachments(self, data: Mapping[str, Any], req: RecordedRequest) -> list[dict[str, Any]]:
        files = {f.name: f for f in req.files}
        out = []
        for index, attachment in enumerate(data.get("attachments") or []):
            if "filename" not in attachment and "id" in attachment:
                kept = next(
                    (
                        a
                        for m in self.messages.values()
                        for a in m.get("attachments", [])
                        if a["id"] == str(attachment["id"])
                    ),
                    None,
                )
                if kept is not None:
                    out.append(kept)
                continue
            part = files.get(f"files[{attachment.get('id', index)}]")
            aid = self.snowflake()
            filename = attachment.get("filename") or (part.filename if part else "file")
            out.append(
                {
                    "id": str(aid),
                    "filename": filename,
                    "size": len(part.data) if part else 0,
                    "url": f"{self.url}/attachments/{aid}/{filename}",
                    "proxy_url": f"{self.url}/attachments/{aid}/{filename}",
                    "content_type": part.content_type if part else None,
                    "description": attachment.get("description"),
                }
            )
        return out

    def _new_message(
        self,
        inter: FakeInteraction,
        data: Mapping[str, Any],
        flags: int,
        record: CallbackRecord | None = None,
        req: RecordedRequest | None = None,
    ) -> dict[str, Any]:
        request = req if req is not None else (record.request if record else None)
        payload = inter.payload
        user = payload.get("member", {}).get("user") or payload.get("user")
        message = self._message_payload(
            inter.channel_id, self.author_payload(), data, flags, request
        )
        message["type"] = 20 if inter.type == APPLICATION_COMMAND else 0
        message.update(
            {
                "webhook_id": str(self.application_id),
                "application_id": str(self.application_id),
                "interaction_metadata": {
                    "id": str(inter.id),
                    "type": inter.type,
                    "user": user,
                    "authorizing_integration_owners": payload.get(
                        "authorizing_integration_owners", {}
                    ),
                },
                "position": 0,
            }
        )
        self.messages[int(message["id"])] = message
        return message

    def _message_payload(
        self,
        channel_id: int,
        author: dict[str, Any],
        data: Mapping[str, Any],
        flags: int,
        req: RecordedRequest | None = None,
    ) -> dict[str, Any]:
        """A default (type 0) message with every field `MessageResponse` requires; not stored."""
        message: dict[str, Any] = {
            "id": str(self.snowflake()),
            "type": 0,
            "channel_id": str(channel_id),
            "author": author,
            "content": data.get("content") or "",
            "embeds": list(data.get("embeds") or []),
            "components": list(data.get("components") or []),
            "attachments": self._attachments(data, req) if req else [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": bool(data.get("tts")),
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "flags": flags,
        }
        if "poll" in data:
            message["poll"] = data["poll"]
        return message

    def _apply_edit(
        self, message: dict[str, Any], data: Mapping[str, Any], req: RecordedRequest
    ) -> None:
        for key in ("content", "embeds", "components", "poll"):
            if key in data:
                value = data[key]
                message[key] = value if value is not None else ("" if key == "content" else [])
        if "attachments" in data:
            message["attachments"] = self._attachments(data, req)
        flags = int(message["flags"])
        if flags & FLAG_LOADING:
            message["flags"] = flags & ~FLAG_LOADING
        else:
            message["edited_timestamp"] = _now_iso()

    def _interaction_for_hook(self, m: re.Match[str]) -> FakeInteraction | None:
        if int(m["app_id"]) != self.application_id:
            return None
        return self._tokens.get(m["token"])

    async def _followup(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        inter = self._interaction_for_hook(m)
        if inter is None or not inter.acknowledged:
            return _error(404, "Unknown Webhook", 10015)
        data = req.json if isinstance(req.json, dict) else {}
        errors = validate_message_components(data.get("components"), int(data.get("flags") or 0))
        if errors:
            return _error(400, "Invalid Form Body", 50035, errors=errors)
        original = self.original_message(inter)
        if original is not None and int(original["flags"]) & FLAG_LOADING:
            # Discord: the first follow-up after a deferral replaces the "thinking" message,
            # keeping the deferral's ephemerality.
            self._apply_edit(original, data, req)
            message = original
        else:
            message = self._new_message(inter, data, int(data.get("flags") or 0), req=req)
        inter.followup_message_ids.append(int(message["id"]))
        if not _truthy(req.query.get("wait")):
            return web.Response(status=204)
        return _json(200, message)

    def _resolve_message(
        self, m: re.Match[str]
    ) -> tuple[FakeInteraction | None, dict[str, Any] | None, web.Response | None]:
        inter = self._interaction_for_hook(m)
        if inter is None:
            return None, None, _error(404, "Unknown Webhook", 10015)
        if m["mid"] == "@original":
            mid = inter.original_message_id
        else:
            mid = int(m["mid"])
            if mid != inter.original_message_id and mid not in inter.followup_message_ids:
                mid = None
        message = self.messages.get(mid) if mid is not None else None
        if message is None:
            return inter, None, _error(404, "Unknown Message", 10008)
        return inter, message, None

    async def _get_message(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        _, message, problem = self._resolve_message(m)
        return problem or _json(200, message)

    async def _edit_message(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        _, message, problem = self._resolve_message(m)
        if problem is not None or message is None:
            return problem or _error(404, "Unknown Message", 10008)
        data = req.json if isinstance(req.json, dict) else {}
        flags = int(message["flags"]) | int(data.get("flags") or 0)  # V2 cannot be unset
        errors = validate_message_components(data.get("components"), flags)
        if errors:
            return _error(400, "Invalid Form Body", 50035, errors=errors)
        self._apply_edit(message, data, req)
        return _json(200, message)

    async def _create_channel_message(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        """The bot posts to a guild text channel (e.g. a log channel)."""
        channel_id = int(m["channel_id"])
        if not self._known_channel(channel_id):
            return _error(404, "Unknown Channel", 10003)
        if channel_id in self.forbidden_channels:
            return _error(403, "Missing Access", 50001)
        data = req.json if isinstance(req.json, dict) else {}
        flags = int(data.get("flags") or 0) & ~FLAG_EPHEMERAL  # no ephemeral channel posts
        errors = validate_message_components(data.get("components"), flags)
        if errors:
            return _error(400, "Invalid Form Body", 50035, errors=errors)
        keys = ("content", "embeds", "components", "attachments", "sticker_ids", "poll")
        if not req.files and not any(data.get(key) for key in keys):
            return _error(400, "Cannot send an empty message", 50006)
        message = self._message_payload(channel_id, self.author_payload(), data, flags, req)
        if data.get("nonce") is not None:
            message["nonce"] = data["nonce"]
        reference = data.get("message_reference")
        if isinstance(reference, dict) and reference.get("message_id") is not None:
            message["message_reference"] = {
                "type": int(reference.get("type") or 0),
                "message_id": str(reference["message_id"]),
                "channel_id": str(reference.get("channel_id") or channel_id),
            }
        self.messages[int(message["id"])] = message
        self._channel_posts.append(int(message["id"]))
        return _json(200, message)

    def _known_channel(self, channel_id: int) -> bool:
        """A text channel of one of the fake's guilds, or a thread started in one."""
        return channel_id in self.threads or any(
            channel_id in guild.channels for guild in self.guilds.values()
        )

    def _channel_message(
        self, m: re.Match[str]
    ) -> tuple[dict[str, Any] | None, web.Response | None]:
        """The message `mid` of channel `channel_id` (Discord: 10003 for an unknown channel,
        10008 for a message not in it)."""
        channel_id = int(m["channel_id"])
        if not self._known_channel(channel_id):
            return None, _error(404, "Unknown Channel", 10003)
        message = self.messages.get(int(m["mid"]))
        if message is None or message["channel_id"] != str(channel_id):
            return None, _error(404, "Unknown Message", 10008)
        return message, None

    async def _get_channel_message(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        """GET /channels/{channel.id}/messages/{message.id}."""
        message, problem = self._channel_message(m)
        return problem or _json(200, message)

    async def _edit_channel_message(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        """PATCH /channels/{channel.id}/messages/{message.id}: only the bot's own messages."""
        message, problem = self._channel_message(m)
        if problem is not None or message is None:
            return problem or _error(404, "Unknown Message", 10008)
        if message["author"]["id"] != str(self.bot_user_id):
            return _error(403, "Cannot edit a message authored by another user", 50005)
        data = req.json if isinstance(req.json, dict) else {}
        errors = validate_message_components(data.get("components"), int(message["flags"]))
        if errors:
            return _error(400, "Invalid Form Body", 50035, errors=errors)
        self._apply_edit(message, data, req)
        return _json(200, message)

    async def _delete_channel_message(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        """DELETE /channels/{channel.id}/messages/{message.id}: 204."""
        message, problem = self._channel_message(m)
        if problem is not None or message is None:
            return problem or _error(404, "Unknown Message", 10008)
        mid = int(message["id"])
        del self.messages[mid]
        self.deleted_message_ids.append(mid)
        return web.Response(status=204)

    async def _start_thread(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        """
        POST /channels/{channel.id}/messages/{message.id}/threads (create_thread_from_message):
        201 with the thread (a public thread, type 11, whose id is the message's). Refused with
        403/50013 without CREATE_PUBLIC_THREADS, 400/160004 when the message has one already.
        """
        message, problem = self._channel_message(m)
        if problem is not None or message is None:
            return problem or _error(404, "Unknown Message", 10008)
        channel_id = int(m["channel_id"])
        guild = next((g for g in self.guilds.values() if channel_id in g.channels), None)
        if guild is None:  # a thread: no thread of a thread
            return _error(400, "Cannot execute action on this channel type", 50024)
        if not guild.bot_permissions & CREATE_PUBLIC_THREADS:
            return _error(403, "Missing Permissions", 50013)
        thread_id = int(message["id"])
        if thread_id in self.threads:
            return _error(400, "A thread has already been created for this message", 160004)
        body = req.json if isinstance(req.json, dict) else {}
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            return _error(400, "Invalid Form Body", 50035, errors={"name": {"_errors": []}})
        thread = {
            "id": str(thread_id),
            "type": 11,
            "guild_id": str(guild.id),
            "parent_id": str(channel_id),
            "owner_id": str(self.bot_user_id),
            "name": name,
            "flags": 0,
            "last_message_id": None,
            "rate_limit_per_user": int(body.get("rate_limit_per_user") or 0),
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "archive_timestamp": _now_iso(),
                "auto_archive_duration": int(body.get("auto_archive_duration") or 4320),
                "locked": False,
                "create_timestamp": _now_iso(),
            },
        }
        self.threads[thread_id] = thread
        message["thread"] = thread
        return _json(201, thread)

    async def _delete_message(self, req: RecordedRequest, m: re.Match[str]) -> web.Response:
        _, message, problem = self._resolve_message(m)
        if problem is not None or message is None:
            return problem or _error(404, "Unknown Message", 10008)
        mid = int(message["id"])
        del self.messages[mid]
        self.deleted_message_ids.append(mid)
        return web.Response(status=204)

    # -- gateway ---------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(
            path=request.path,
            query=dict(request.query),
            opened_at=time.monotonic(),
            ws=ws,
            compress=request.query.get("compress"),
        )
        if conn.compress == "zlib-stream":
            conn._zlib = zlib.compressobj()
        self.gateway_connections.append(conn)
        self._notify()
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gateway"]}
            await conn.send({"op": 10, "d": hello, "s": None, "t": None})
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                payload = json.loads(msg.data)
                self.gateway_received.append((time.monotonic(), payload))
                await self._on_gateway_payload(conn, payload)
                self._notify()
        except Exception:
            self.errors.append(traceback.format_exc())
            raise
        finally:
            conn.closed_at = time.monotonic()
            if conn.close_code is None:  # the bot closed it (or the fake in `stop`)
                conn.close_code = ws.close_code
            if self._conn is conn:
                self._conn = None
            self._notify()
        return ws

    async def _on_gateway_payload(self, conn: GatewayConnection, payload: dict[str, Any]) -> None:
        op, data = payload.get("op"), payload.get("d")
        if op == 1:
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        # op 3 (presence), 4 (voice state), 8 (request members) are only recorded.

    async def _identify(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        conn.identify = data
        if data.get("token") != self.token:
            await conn.close(4004, b"Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await conn.close(4013, b"Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await conn.close(4014, b"Disallowed intent(s).")
            return
        shard = _parse_shard(data.get("shard", [0, 1]))
        if shard is None:
            await conn.close(4010, b"Invalid shard.")
            return
        shard_id, shard_count = shard
        guilds = [g for g in self.guilds.values() if shard_of(g.id, shard_count) == shard_id]
        if len(guilds) > self.max_guilds_per_shard:
            await conn.close(4011, b"Sharding required.")
            return
        self.session_starts += 1
        session = _Session(id=uuid.uuid4().hex, shard=shard, conn=conn)
        # A fresh IDENTIFY ends this shard's sessions no socket serves: they resume no more.
        self._sessions = [
            s for s in self._sessions if s.shard != shard or (s.conn is not None and s.conn.open)
        ]
        self._sessions.append(session)
        conn.session, conn.shard = session, shard
        self._conn = conn
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.bot_user(),
            "user_settings": {},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": self.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "auth": {},
            "_trace": ["fake-gateway"],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        await self._send_dispatch(conn, session, "READY", ready)
        if intents & GUILDS_INTENT:  # without it Discord sends no GUILD_CREATE at all
            for guild in guilds:
                payload = self.guild_create_payload(guild)
                await self._send_dispatch(conn, session, "GUILD_CREATE", payload)
        session.ready = True

    async def _resume(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        conn.resume = data
        await self.resume_gate.wait()
        if data.get("token") != self.token:
            await conn.close(4004, b"Authentication failed.")
            return
        session_id = data.get("session_id")
        session = next((s for s in self._sessions if s.id == session_id), None)
        if session is None:
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        conn.session, conn.shard = session, session.shard
        session.conn = conn
        self._conn = conn
        seq = data.get("seq") or 0
        for missed in session.history:
            if missed["s"] > seq:
                await conn.send(missed)
        await self._send_dispatch(conn, session, "RESUMED", {"_trace": ["fake-gateway"]})

    async def _send_dispatch(
        self, conn: GatewayConnection | None, session: _Session, event: str, data: Any
    ) -> dict[str, Any]:
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.history.append(payload)
        self.dispatched.append(payload)
        if conn is not None and conn.open:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.send(payload)
        self._notify()
        return payload

    async def _route_event(
        self,
        guild_id: int | None,
        timeout: float,  # noqa: ASYNC109
        wait_live: bool,
    ) -> _Session:
        """The session an event of `guild_id` goes to (see `dispatch`)."""
        if wait_live:
            return await self._wait_session_for(guild_id, timeout)
        session = self._session_for(guild_id) or self._session_for(guild_id, live=False)
        if session is None:
            where = "DMs (shard 0)" if guild_id is None else f"guild {guild_id}"
            raise RuntimeError(f"no gateway session holds {where}: the bot has not identified")
        return session

    async def dispatch(
        self,
        event: str,
        data: Any,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        wait_live: bool = True,
        guild_id: int | None = None,
    ) -> int:
        """
        Push a dispatch (op 0) with the next sequence number of the session it goes to; returns
        that number.

        Routed like Discord: to the session whose shard holds the event's guild (`guild_id`,
        else the payload's `id` for GUILD_CREATE/UPDATE/DELETE, else its `guild_id`; no guild:
        shard 0), the latest to IDENTIFY when several do. Waits up to `timeout` for such a
        session to be live (TimeoutError naming the guild); with `wait_live=False` an event
        sent while the bot is away (dropped, not yet RESUMEd) joins that session's history and
        is replayed on RESUME, as Discord does.
        """
        gid = guild_id if guild_id is not None else _event_guild(event, data)
        session = await self._route_event(gid, timeout, wait_live)
        payload = await self._send_dispatch(session.conn, session, event, data)
        return int(payload["s"])

    def _live_conn(self, shard_id: int | None) -> GatewayConnection:
        if shard_id is None:
            conn = self._conn
        else:
            conn = next(
                (
                    s.conn
                    for s in reversed(self._sessions)
                    if s.shard[0] == shard_id and s.conn is not None and s.conn.open
                ),
                None,
            )
        if conn is None or not conn.open:
            which = "" if shard_id is None else f" for shard {shard_id}"
            raise RuntimeError(f"no live gateway connection{which}")
        return conn

    async def send_op(self, op: int, data: Any = None, *, shard_id: int | None = None) -> None:
        """
        Send a raw non-dispatch opcode on the live connection (the latest to IDENTIFY or
        RESUME; with `shard_id`, that shard's).
        """
        conn = self._live_conn(shard_id)
        await conn.send({"op": op, "d": data, "s": None, "t": None})

    async def request_reconnect(self, *, shard_id: int | None = None) -> None:
        """Send op 7 RECONNECT: discord.py closes and RESUMEs at resume_gateway_url."""
        await self.send_op(7, shard_id=shard_id)

    async def invalidate_session(
        self, resumable: bool = False, *, shard_id: int | None = None
    ) -> None:
        """Send op 9 INVALID_SESSION; not resumable: the bot must IDENTIFY afresh."""
        conn = self._live_conn(shard_id)
        if not resumable and conn.session in self._sessions:
            self._sessions.remove(conn.session)
        await self.send_op(9, resumable, shard_id=shard_id)

    async def drop_connection(self, code: int = 4000, *, shard_id: int | None = None) -> None:
        """Close the live websocket (see `send_op`) from the server side with `code`."""
        conn = self._conn if shard_id is None else self._live_conn(shard_id)
        if conn is not None and not conn.ws.closed:
            await conn.close(code)

    async def wait_for_resumed(self, timeout: float = 10.0) -> GatewayConnection:  # noqa: ASYNC109
        """The first connection on which the bot RESUMEd and got RESUMED."""

        def check() -> GatewayConnection | None:
            return next(
                (c for c in self.gateway_connections if c.resume and c.session is not None), None
            )

        return await self.wait_until(check, timeout, "RESUMEd connection")

    # -- interaction helpers -----------------------------------------------------------

    def _default_guild(self, guild_id: int | None) -> FakeGuild:
        if guild_id is None:
            if not self.guilds:
                raise ValueError("no guild configured; pass dm=True for a DM interaction")
            return next(iter(self.guilds.values()))
        guild = self.guilds.get(guild_id)
        if guild is None:
            raise ValueError(f"guild {guild_id} is not configured")
        return guild

    def _base_interaction(
        self,
        itype: int,
        data: dict[str, Any],
        *,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int | None,
        username: str,
        permissions: int | None,
        roles: Sequence[int],
        locale: str,
        dm: bool,
        message: dict[str, Any] | None = None,
        install: UserInstall | None = None,
    ) -> FakeInteraction:
        iid = self.snowflake()
        token = f"interaction.{iid}.{secrets.token_urlsafe(24)}"
        uid = self.default_user_id if user_id is None else user_id
        user = self.user_payload(uid, username)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if install is not None:
            cid = channel_id if channel_id is not None else self.snowflake()
            payload.update(self._user_install_payload(install, user, uid, cid, permissions, roles))
        elif dm:
            cid = channel_id if channel_id is not None else self.snowflake()
            payload.update(
                {
                    "user": user,
                    "channel_id": str(cid),
                    "channel": {"id": str(cid), "type": 1, "flags": 0, "recipients": [user]},
                    "app_permissions": str(DEFAULT_EVERYONE_PERMISSIONS),
                    "authorizing_integration_owners": {"1": str(uid)},
                    "context": 1,
                }
            )
        else:
            guild = self._default_guild(guild_id)
            cid = channel_id if channel_id is not None else next(iter(guild.channels), guild.id)
            if permissions is None:
                permissions = (
                    ALL_PERMISSIONS if uid == guild.owner_id else guild.everyone_permissions
                )
            channel = self.channel_payload(guild, cid)
            channel["permissions"] = str(permissions)
            payload.update(
                {
                    "guild_id": str(guild.id),
                    "guild": {
                        "id": str(guild.id),
                        "locale": guild.preferred_locale,
                        "features": [],
                    },
                    "guild_locale": guild.preferred_locale,
                    "channel_id": str(cid),
                    "channel": channel,
                    "member": self.member_payload(user, roles, permissions),
                    "app_permissions": str(guild.everyone_permissions | guild.bot_permissions),
                    "authorizing_integration_owners": {"0": str(guild.id)},
                    "context": 0,
                }
            )
        if message is not None:
            payload["message"] = message
        inter = FakeInteraction(
            id=iid,
            token=token,
            type=itype,
            payload=payload,
            sent_at=0.0,
            channel_id=cid,
            source_message_id=int(message["id"]) if message is not None else None,
        )
        self.interactions[iid] = inter
        self._tokens[token] = inter
        return inter

    def _user_install_payload(
        self,
        install: UserInstall,
        user: dict[str, Any],
        uid: int,
        cid: int,
        permissions: int | None,
        roles: Sequence[int],
    ) -> dict[str, Any]:
        """The parts of an interaction that say it runs under the member's own installation."""
        fields: dict[str, Any] = {
            "channel_id": str(cid),
            "authorizing_integration_owners": {str(USER_INSTALL): str(uid)},
            "context": install.context,
        }
        if install.context == CONTEXT_GUILD:
            guild_id = install.guild_id
            assert guild_id is not None  # checked by UserInstall
            if guild_id in self.guilds:
                raise ValueError(f"guild {guild_id} has the bot; a user install is elsewhere")
            member_permissions = (
                DEFAULT_EVERYONE_PERMISSIONS if permissions is None else permissions
            )
            fields.update(
                {
                    "guild_id": str(guild_id),
                    "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    "channel": {
                        **self.channel_payload(None, cid),
                        "guild_id": str(guild_id),
                        "permissions": str(member_permissions),
                    },
                    "member": self.member_payload(user, roles, member_permissions),
                    "app_permissions": str(
                        DEFAULT_EVERYONE_PERMISSIONS
                        if install.app_permissions is None
                        else install.app_permissions
                    ),
                }
            )
            return fields
        if install.context == CONTEXT_BOT_DM:
            channel = {"id": str(cid), "type": 1, "flags": 0, "recipients": [user]}
        else:
            other = self.user_payload(uid + 1, "friend")
            channel = {
                "id": str(cid),
                "type": 3,
                "flags": 0,
                "name": None,
                "icon": None,
                "owner_id": str(uid),
                "recipients": [user, other],
            }
        fields.update(
            {
                "user": user,
                "channel": channel,
                "app_permissions": str(
                    DM_APP_PERMISSIONS
                    if install.app_permissions is None
                    else install.app_permissions
                ),
            }
        )
        return fields

    def _check_offered(self, data: Mapping[str, Any], install: UserInstall) -> None:
        """Discord offers a command under a member's own installation only if its synced
        `integration_types` include user installs and its `contexts` this context (both read
        on the top-level command; None means Discord's defaults: guild install, every context)."""
        registered = self.registered_command(str(data.get("name")), None, int(data.get("type", 1)))
        if registered is None:
            raise ValueError(f"/{data.get('name')} is not synced globally: not offered there")
        installs = registered.get("integration_types") or [GUILD_INSTALL]
        contexts = registered.get("contexts")
        if USER_INSTALL not in installs or (
            contexts is not None and install.context not in contexts
        ):
            raise ValueError(
                f"/{registered['name']} is not offered in context {install.context} of a user "
                f"install (integration_types {installs}, contexts {contexts})"
            )

    async def _send(self, inter: FakeInteraction) -> FakeInteraction:
        """INTERACTION_CREATE to the live session holding its guild (a DM: shard 0's)."""
        session = await self._wait_session_for(_int_or_none(inter.payload.get("guild_id")), 10.0)
        inter.sent_at = time.monotonic()
        inter.shard_id = session.shard[0]
        await self._send_dispatch(session.conn, session, "INTERACTION_CREATE", inter.payload)
        return inter

    def registered_command(
        self, name: str, guild_id: int | None = None, kind: int = CHAT_INPUT
    ) -> dict[str, Any] | None:
        """The synced command `name` of type `kind` (1 slash, 3 message; guild's, then global)."""
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", CHAT_INPUT) == kind:
                    return command
        return None

    def _chat_input_data(
        self,
        command: str,
        options: Mapping[str, Any] | None,
        *,
        guild_id: int | None,
        dm: bool,
        raw_options: list[dict[str, Any]] | None,
        resolved: dict[str, Any] | None,
        focused: str | None = None,
    ) -> dict[str, Any]:
        """
        The `data` of a slash command (or autocomplete) interaction: the command's words nest
        as subcommand group (2) and subcommand (1) options around the leaf's `options`.
        `focused` names the leaf option being typed: sent as a string with `focused: true`.
        """
        path = command.split()
        guild = None if dm else self._default_guild(guild_id)
        scope = guild.id if guild is not None else None
        registered = self.registered_command(path[0], scope)
        schema: list[dict[str, Any]] = list(registered.get("options") or []) if registered else []
        leaf_schema = schema
        for word in path[1:]:
            sub = next((o for o in leaf_schema if o.get("name") == word), None)
            leaf_schema = list(sub.get("options") or []) if sub else []
        values = dict(options or {})
        if focused is not None:
            values.setdefault(focused, "")  # the option was picked, nothing typed yet
        leaf: list[dict[str, Any]] = []
        for name, value in values.items():
            option = {"name": name, "type": _option_type(leaf_schema, name, value), "value": value}
            if name == focused:
                option["value"] = value if isinstance(value, str) else str(value)
                option["focused"] = True
            leaf.append(option)
        built: list[dict[str, Any]] = leaf
        for depth in range(len(path) - 1, 0, -1):
            kind = 1 if depth == len(path) - 1 else 2
            built = [{"name": path[depth], "type": kind, "options": built}]
        data: dict[str, Any] = {
            "id": registered["id"] if registered else str(self.snowflake()),
            "name": path[0],
            "type": CHAT_INPUT,
            "options": raw_options if raw_options is not None else built,
        }
        if registered is not None and "guild_id" in registered:
            data["guild_id"] = registered["guild_id"]
        if resolved is not None:
            data["resolved"] = resolved
        return data

    async def send_interaction(
        self,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        username: str = "tester",
        permissions: int | None = None,
        roles: Sequence[int] = (),
        locale: str = "en-US",
        dm: bool = False,
        raw_options: list[dict[str, Any]] | None = None,
        resolved: dict[str, Any] | None = None,
        install: UserInstall | None = None,
    ) -> FakeInteraction:
        """
        Dispatch INTERACTION_CREATE for a slash command, e.g. `send_interaction("ticket jira",
        {"key": "ABC-1"})`: the words are the command, its group and subcommand (nested as
        type 2/1 options), `options` the leaf's values.

        Option types come from the synced command when there is one (else str 3, int 4,
        bool 5, float 10). `permissions` is the member's resolved permissions (default: the
        guild owner gets all, anyone else @everyone's); `raw_options` replaces the built
        options verbatim. `install` sends it under the member's own installation of the app
        (a DM, a group DM, a server without the bot: see `UserInstall`), and only for a global
        command Discord would offer there (ValueError otherwise). Returns the interaction; its
        `token` is the webhook token.
        """
        data = self._chat_input_data(
            command,
            options,
            guild_id=guild_id,
            dm=dm or install is not None,
            raw_options=raw_options,
            resolved=resolved,
        )
        if install is not None:
            self._check_offered(data, install)
        inter = self._base_interaction(
            APPLICATION_COMMAND,
            data,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            username=username,
            permissions=permissions,
            roles=roles,
            locale=locale,
            dm=dm,
            install=install,
        )
        return await self._send(inter)

    async def send_autocomplete(
        self,
        command: str,
        options: Mapping[str, Any],
        focused: str,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        username: str = "tester",
        permissions: int | None = None,
        roles: Sequence[int] = (),
        locale: str = "en-US",
        dm: bool = False,
        raw_options: list[dict[str, Any]] | None = None,
        resolved: dict[str, Any] | None = None,
    ) -> FakeInteraction:
        """
        Dispatch an APPLICATION_COMMAND_AUTOCOMPLETE (type 4) while the user types in option
        `focused`: `send_autocomplete("ticket jira", {"key": "AB"}, "key")`.

        Options are built as by `send_interaction`; the focused one carries `"focused": true`
        and its value is the typed text as a string, as Discord sends it even for integer and
        number options (missing from `options`: ""). The bot answers with callback type 8,
        checked like Discord (see `validate_autocomplete_choices`); `autocomplete_choices`
        reads the accepted answer.
        """
        data = self._chat_input_data(
            command,
            options,
            guild_id=guild_id,
            dm=dm,
            raw_options=raw_options,
            resolved=resolved,
            focused=focused,
        )
        inter = self._base_interaction(
            AUTOCOMPLETE,
            data,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            username=username,
            permissions=permissions,
            roles=roles,
            locale=locale,
            dm=dm,
        )
        return await self._send(inter)

    def autocomplete_choices(self, inter: FakeInteraction) -> list[dict[str, Any]]:
        """The choices of the bot's accepted type 8 answer to `inter` (LookupError: none yet)."""
        response = inter.response
        if response is None or response.type != 8:
            raise LookupError(f"interaction {inter.id} has no accepted autocomplete answer")
        return list(response.data.get("choices") or [])

    def user_message(
        self,
        content: str,
        *,
        channel_id: int | None = None,
        author_id: int | None = None,
        embeds: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """
        A message a (non-bot) user posted, stored in `messages`: the target of
        `send_message_command`. The channel defaults to the first guild's first channel, the
        author to `default_user_id`.
        """
        if channel_id is None:
            guild = self._default_guild(None)
            channel_id = next(iter(guild.channels), guild.id)
        uid = self.default_user_id if author_id is None else author_id
        author = self.user_payload(uid, "tester" if uid == self.default_user_id else f"user{uid}")
        data = {"content": content, "embeds": [dict(embed) for embed in embeds]}
        message = self._message_payload(channel_id, author, data, 0)
        self.messages[int(message["id"])] = message
        return message

    async def send_message_command(
        self,
        name: str,
        message: Mapping[str, Any] | int,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        username: str = "tester",
        permissions: int | None = None,
        roles: Sequence[int] = (),
        locale: str = "en-US",
        dm: bool = False,
    ) -> FakeInteraction:
        """
        Dispatch a message context-menu command (APPLICATION_COMMAND, command type 3) `name`
        used on `message`: a message id in `messages`, or a payload (see `user_message`).

        `data` is as Discord sends it: the registered type 3 command's id and name,
        `target_id` and the message in `resolved.messages`, plus `guild_id` for a guild
        command. The channel defaults to the message's.
        """
        if isinstance(message, int):
            if message not in self.messages:
                raise KeyError(f"message {message} is unknown to the fake")
            target = self.messages[message]
        else:
            target = dict(message)
            self.messages.setdefault(int(target["id"]), target)
        guild = None if dm else self._default_guild(guild_id)
        registered = self.registered_command(
            name, guild.id if guild is not None else None, MESSAGE_COMMAND
        )
        target_id = str(target["id"])
        data: dict[str, Any] = {
            "id": registered["id"] if registered else str(self.snowflake()),
            "name": name,
            "type": MESSAGE_COMMAND,
            "target_id": target_id,
            "resolved": {"messages": {target_id: copy.deepcopy(target)}},
        }
        if registered is not None and "guild_id" in registered:
            data["guild_id"] = registered["guild_id"]
        inter = self._base_interaction(
            APPLICATION_COMMAND,
            data,
            guild_id=guild_id,
            channel_id=_int_or_none(target.get("channel_id")) if channel_id is None else channel_id,
            user_id=user_id,
            username=username,
            permissions=permissions,
            roles=roles,
            locale=locale,
            dm=dm,
        )
        return await self._send(inter)

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """The messages the bot posted to `channel_id` (POST .../messages), oldest first."""
        return [
            self.messages[mid]
            for mid in self._channel_posts
            if mid in self.messages and self.messages[mid]["channel_id"] == str(channel_id)
        ]

    def last_modal(self, custom_id: str) -> dict[str, Any] | None:
        """The data of the most recent type 9 (modal) callback with this custom_id."""
        for inter in reversed(list(self.interactions.values())):
            for cb in reversed(inter.callbacks):
                if cb.type == 9 and cb.status < 300 and cb.data.get("custom_id") == custom_id:
                    return cb.data
        return None

    async def send_modal_submit(
        self,
        custom_id: str,
        values: Mapping[str, str | Sequence[str]],
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        username: str = "tester",
        permissions: int | None = None,
        roles: Sequence[int] = (),
        locale: str = "en-US",
        dm: bool = False,
        message_id: int | None = None,
        install: UserInstall | None = None,
    ) -> FakeInteraction:
        """
        Dispatch a MODAL_SUBMIT (type 5) with `values` by input custom_id (`install`: under the
        member's own installation, as the command that opened the form was).

        The components mirror the modal the bot last opened with this custom_id: an action row
        (type 1) around a bare TextInput, a Label (type 18) with its `component`, text displays
        as `{type 10, id}`; a list value is sent as a select's `values`. With no such modal,
        each value goes in its own action row as a text input.
        """
        modal = self.last_modal(custom_id)
        if modal is not None:
            components = _mirror_modal(modal.get("components") or [], values)
        else:
            components = [
                {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
                for key, value in values.items()
            ]
        message = self.messages.get(message_id) if message_id is not None else None
        inter = self._base_interaction(
            MODAL_SUBMIT,
            {"custom_id": custom_id, "components": components},
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            username=username,
            permissions=permissions,
            roles=roles,
            locale=locale,
            dm=dm,
            message=message,
            install=install,
        )
        return await self._send(inter)

    async def send_component(
        self,
        custom_id: str,
        *,
        message_id: int | None = None,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        username: str = "tester",
        permissions: int | None = None,
        roles: Sequence[int] = (),
        locale: str = "en-US",
        dm: bool = False,
        install: UserInstall | None = None,
    ) -> FakeInteraction:
        """
        Dispatch a MESSAGE_COMPONENT (type 3): a button (2) or select (3, 5-8) `custom_id`
        clicked on the fake's message `message_id` (e.g. an interaction's original message);
        `install`: under the member's own installation of the app.
        """
        if message_id is not None:
            if message_id not in self.messages:
                raise KeyError(f"message {message_id} is unknown to the fake")
            message = self.messages[message_id]
        else:
            message = self._message_payload(channel_id or 0, self.author_payload(), {}, 0)
            self.messages[int(message["id"])] = message
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        inter = self._base_interaction(
            MESSAGE_COMPONENT,
            data,
            guild_id=guild_id,
            channel_id=_int_or_none(message["channel_id"]) if channel_id is None else channel_id,
            user_id=user_id,
            username=username,
            permissions=permissions,
            roles=roles,
            locale=locale,
            dm=dm,
            message=message,
            install=install,
        )
        return await self._send(inter)

    async def guild_delete(self, guild_id: int, unavailable: bool = False) -> None:
        """GUILD_DELETE: removed from the guild (False) or an outage (True)."""
        data: dict[str, Any] = {"id": str(guild_id)}
        if unavailable:
            data["unavailable"] = True
        else:
            self.guilds.pop(guild_id, None)
            self.commands.pop(guild_id, None)  # leaving a guild drops its guild commands
        await self.dispatch("GUILD_DELETE", data)

    async def guild_create(self, guild: FakeGuild) -> None:
        """The bot joins (or regains) `guild`: GUILD_CREATE with the full payload."""
        self.guilds[guild.id] = guild
        await self.dispatch("GUILD_CREATE", self.guild_create_payload(guild))


# -- helpers -------------------------------------------------------------------------------


def _parse_multipart(content_type: str, body: bytes) -> tuple[Any, list[RecordedFile]]:
    """The `payload_json` part (parsed) and the file parts of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parsed: Any = None
    files: list[RecordedFile] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "payload_json":
            parsed = json.loads(data)
        else:
            files.append(
                RecordedFile(str(name), part.get_filename(), part.get_content_type(), data)
            )
    return parsed, files


def _parse_shard(value: Any) -> tuple[int, int] | None:
    """IDENTIFY's `shard` as (shard_id, shard_count), or None when Discord closes with 4010."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    shard_id, shard_count = value
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return None
    if shard_count < 1 or not 0 <= shard_id < shard_count:
        return None
    return shard_id, shard_count


_GUILD_EVENTS = frozenset({"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"})


def _event_guild(event: str, data: Any) -> int | None:
    """The guild a dispatch is about (its `id` for GUILD_* events, else `guild_id`)."""
    if not isinstance(data, Mapping):
        return None
    return _int_or_none(data.get("id" if event in _GUILD_EVENTS else "guild_id"))


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) or None
    except (TypeError, ValueError):
        return None


def _option_type(schema: Sequence[Mapping[str, Any]], name: str, value: Any) -> int:
    declared = next((o for o in schema if o.get("name") == name), None)
    if declared is not None and "type" in declared:
        return int(declared["type"])
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def _mirror_modal(
    sent: Sequence[Mapping[str, Any]], values: Mapping[str, str | Sequence[str]]
) -> list[dict[str, Any]]:
    """Modal-submit components in the shape of the modal's `sent` components."""

    def leaf(component: Mapping[str, Any]) -> dict[str, Any]:
        kind = int(component.get("type", 4))
        out: dict[str, Any] = {"type": kind}
        if "id" in component:
            out["id"] = component["id"]
        custom_id = component.get("custom_id")
        if custom_id is None:
            return out
        out["custom_id"] = custom_id
        value = values.get(custom_id, component.get("value") or "")
        if kind == 4:
            out["value"] = value if isinstance(value, str) else ",".join(value)
        else:
            out["values"] = [value] if isinstance(value, str) else list(value)
        return out

    mirrored: list[dict[str, Any]] = []
    for component in sent:
        kind = component.get("type")
        if kind == 1:
            mirrored.append(
                {"type": 1, "components": [leaf(c) for c in component.get("components", [])]}
            )
        elif kind == 18:
            label: dict[str, Any] = {"type": 18, "component": leaf(component["component"])}
            if "id" in component:
                label["id"] = component["id"]
            mirrored.append(label)
        else:
            mirrored.append(leaf(component))
    return mirrored


def _add_error(errors: dict[str, Any], path: Sequence[str | int], code: str, message: str) -> None:
    """Add one error at `path` to a Discord-style nested `errors` object."""
    node = errors
    for key in path:
        node = node.setdefault(str(key), {})
    node.setdefault("_errors", []).append({"code": code, "message": message})


def _focused_option(options: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The option marked `focused` in an interaction's (possibly nested) options."""
    for option in options:
        if option.get("focused"):
            return option
        found = _focused_option(option.get("options") or [])
        if found is not None:
            return found
    return None


_INT53 = (1 << 53) - 1  # the spec's Int53Type bound


def validate_autocomplete_choices(data: Any, option_type: int | None) -> dict[str, Any]:
    """
    Discord's checks on a type 8 callback's `data`: at most 25 choices, each a `name` of 1-100
    characters and a `value` of the focused option's type (3: a string of at most 100
    characters, 4: an integer, 10: a number; None: any of these). {} when valid, else the
    `errors` of a 400/50035.
    """
    errors: dict[str, Any] = {}
    if not isinstance(data, dict):
        _add_error(errors, ["data"], "BASE_TYPE_REQUIRED", "This field is required")
        return errors
    choices = data.get("choices")
    if choices is None:  # the spec allows null: no suggestions
        return errors
    if not isinstance(choices, list):
        _add_error(errors, ["data", "choices"], "BASE_TYPE_ARRAY", "Must be an array.")
        return errors
    if len(choices) > 25:
        _add_error(
            errors, ["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
        )
    for index, choice in enumerate(choices):
        where: list[str | int] = ["data", "choices", index]
        if not isinstance(choice, dict):
            _add_error(errors, where, "MODEL_TYPE_CONVERT", "Only dictionaries may be used.")
            continue
        name = choice.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            _add_error(errors, [*where, "name"], "BASE_TYPE_BAD_LENGTH", "Must be 1-100 in length.")
        if not _choice_value_ok(choice.get("value"), option_type):
            _add_error(
                errors, [*where, "value"], "BASE_TYPE_CHOICES", "Value does not fit the option."
            )
    return errors


def _choice_value_ok(value: Any, option_type: int | None) -> bool:
    is_str = isinstance(value, str) and len(value) <= 100
    is_int = isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _INT53
    is_number = is_int or (isinstance(value, float) and math.isfinite(value))
    if option_type == 3:
        return is_str
    if option_type == 4:
        return is_int
    if option_type == 10:
        return is_number
    return is_str or is_number


def validate_message_components(components: Any, flags: int = 0) -> dict[str, Any]:
    """
    A light version of Discord's checks on a message's `components` ({} when valid): a legacy
    message has at most 5 top-level components, all action rows, an IS_COMPONENTS_V2 one at
    most 40 components in all; a row holds 1-5 buttons or one select; a custom_id is 1-100
    characters and unique in the message; a link button (style 5) has a `url` and no
    custom_id, a premium one (6) a `sku_id` only, any other a custom_id and no url; a label
    has at most 80 characters, a url 512.
    """
    errors: dict[str, Any] = {}
    if components is None:
        return errors
    if not isinstance(components, list):
        _add_error(errors, ["components"], "BASE_TYPE_ARRAY", "Must be an array.")
        return errors
    if not flags & FLAG_IS_COMPONENTS_V2:
        if len(components) > 5:
            _add_error(
                errors, ["components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."
            )
        for index, component in enumerate(components):
            if not isinstance(component, dict) or component.get("type") != ACTION_ROW:
                _add_error(
                    errors,
                    ["components", index, "type"],
                    "COMPONENT_TYPE_INVALID",
                    "Without IS_COMPONENTS_V2 only action rows are top-level components.",
                )
    elif _count_components(components) > 40:
        _add_error(errors, ["components"], "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in length.")
    seen: set[str] = set()
    for index, component in enumerate(components):
        _check_component(component, ["components", index], errors, seen)
    return errors


def _count_components(components: Sequence[Any]) -> int:
    """Components in all, nested ones and section accessories included."""
    total = 0
    for component in components:
        if isinstance(component, dict):
            total += 1 + _count_components(component.get("components") or [])
            total += 1 if isinstance(component.get("accessory"), dict) else 0
    return total


def _check_component(
    component: Any, path: list[str | int], errors: dict[str, Any], seen: set[str]
) -> None:
    if not isinstance(component, dict):
        _add_error(errors, path, "MODEL_TYPE_CONVERT", "Only dictionaries may be used.")
        return
    kind = component.get("type")
    if kind == ACTION_ROW:
        _check_row(component, path, errors, seen)
        return
    if kind == BUTTON:
        _check_button(component, path, errors)
    elif kind in SELECT_TYPES and component.get("custom_id") is None:
        _add_error(errors, [*path, "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
    custom_id = component.get("custom_id")
    if custom_id is not None:
        if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 100:
            _add_error(
                errors,
                [*path, "custom_id"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        elif custom_id in seen:
            _add_error(
                errors,
                [*path, "custom_id"],
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id was already specified",
            )
        else:
            seen.add(custom_id)
    # IS_COMPONENTS_V2 layouts (container 17, section 9) nest rows, buttons and accessories.
    for index, child in enumerate(component.get("components") or []):
        _check_component(child, [*path, "components", index], errors, seen)
    if isinstance(component.get("accessory"), dict):
        _check_component(component["accessory"], [*path, "accessory"], errors, seen)


def _check_row(
    row: Mapping[str, Any], path: list[str | int], errors: dict[str, Any], seen: set[str]
) -> None:
    children = row.get("components")
    where: list[str | int] = [*path, "components"]
    if not isinstance(children, list) or not children:
        _add_error(errors, where, "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")
        return
    if len(children) > 5:
        _add_error(errors, where, "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    kinds = [child.get("type") if isinstance(child, dict) else None for child in children]
    if len(children) > 1 and any(kind in SELECT_TYPES for kind in kinds):
        _add_error(
            errors,
            where,
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
            "The specified component exceeds the maximum width",
        )
    for index, child in enumerate(children):
        if kinds[index] == BUTTON or kinds[index] in SELECT_TYPES:
            _check_component(child, [*where, index], errors, seen)
        else:
            _add_error(
                errors, [*where, index, "type"], "COMPONENT_TYPE_INVALID", "Not allowed in a row."
            )


def _check_button(button: Mapping[str, Any], path: list[str | int], errors: dict[str, Any]) -> None:
    style = button.get("style")

    def has(key: str) -> bool:
        return button.get(key) is not None

    def forbid(*keys: str) -> None:
        for key in keys:
            if has(key):
                _add_error(
                    errors,
                    [*path, key],
                    "BUTTON_COMPONENT_FIELD_NOT_ALLOWED",
                    f"A button of style {style} cannot have a {key}.",
                )

    def require(key: str) -> None:
        if not has(key):
            _add_error(errors, [*path, key], "BASE_TYPE_REQUIRED", "This field is required")

    if style == BUTTON_LINK:
        require("url")
        forbid("custom_id", "sku_id")
    elif style == BUTTON_PREMIUM:
        require("sku_id")
        forbid("custom_id", "url", "label", "emoji")
    elif style in (1, 2, 3, 4):
        require("custom_id")
        forbid("url", "sku_id")
    else:
        _add_error(errors, [*path, "style"], "BASE_TYPE_CHOICES", "Value must be one of 1-6.")
    for key, limit in (("label", 80), ("url", 512)):
        value = button.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            _add_error(
                errors, [*path, key], "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
            )


def validate_commands(commands: Sequence[Any]) -> dict[str, Any]:
    """A light version of Discord's checks on a bulk overwrite; {} when valid."""
    errors: dict[str, Any] = {}

    def fail(path: Sequence[str | int], code: str, message: str) -> None:
        node = errors
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    seen: set[tuple[str, int]] = set()
    for index, command in enumerate(commands):
        if not isinstance(command, dict) or not isinstance(command.get("name"), str):
            fail([index, "name"], "BASE_TYPE_REQUIRED", "This field is required")
            continue
        kind = int(command.get("type", 1))
        name = command["name"]
        if (name, kind) in seen:
            fail([index, "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME", "Duplicate name")
        seen.add((name, kind))
        # ApplicationCommandCreateRequest (discord-api-spec): null, or at least one of the
        # enum's values, each once (InteractionContextType 0-2, ApplicationIntegrationType 0-1).
        for field_name, allowed in (("contexts", {0, 1, 2}), ("integration_types", {0, 1})):
            values = command.get(field_name)
            if values is None:
                continue
            if (
                not isinstance(values, list)
                or not values
                or len(set(values)) != len(values)
                or not set(values) <= allowed
            ):
                fail([index, field_name], "BASE_TYPE_CHOICES", f"Invalid {field_name}")
        if kind == 1:
            _check_chat_input(command, [index], fail, 0)
        elif not 1 <= len(name) <= 32:
            fail([index, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
    if sum(1 for c in commands if isinstance(c, dict) and c.get("type", 1) == 1) > 100:
        fail([], "APPLICATION_COMMANDS_TOO_MANY", "Too many chat input commands")
    return errors


def _check_chat_input(
    node: Mapping[str, Any],
    path: list[str | int],
    fail: Callable[[Sequence[str | int], str, str], None],
    parent_kind: int,
) -> None:
    """Check a command (parent_kind 0), a subcommand group (2) or a subcommand (1)."""
    name = node.get("name", "")
    if not isinstance(name, str) or not _NAME_RE.match(name) or name != name.lower():
        fail([*path, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    description = node.get("description", "")
    if not isinstance(description, str) or not 1 <= len(description) <= 100:
        fail([*path, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    options = node.get("options") or []
    if len(options) > 25:
        fail([*path, "options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    kinds = {int(o.get("type", 0)) for o in options}
    if kinds & {1, 2} and kinds - {1, 2}:
        fail([*path, "options"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Mixed subcommands")
    optional_seen = False
    names: set[str] = set()
    for i, option in enumerate(options):
        where: list[str | int] = [*path, "options", i]
        kind = int(option.get("type", 0))
        option_name = option.get("name")
        if option_name in names:
            fail([*where, "name"], "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Duplicate")
        names.add(option_name)
        allowed = {0: {1, 2}, 2: {1}, 1: set()}[parent_kind]
        if kind in (1, 2) or parent_kind == 2:
            if kind not in allowed:
                fail([*where, "type"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Bad nesting")
                continue
            if option.get("required"):
                fail([*where, "required"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Required")
            _check_chat_input(option, where, fail, kind)
            continue
        if not 3 <= kind <= 11:
            fail([*where, "type"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Bad type")
        if not isinstance(option_name, str) or not _NAME_RE.match(option_name):
            fail([*where, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Option name is invalid")
        leaf_description = option.get("description", "")
        if not isinstance(leaf_description, str) or not 1 <= len(leaf_description) <= 100:
            fail([*where, "description"], "BASE_TYPE_BAD_LENGTH", "Must be 1-100 in length.")
        if len(option.get("choices") or []) > 25:
            fail([*where, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if option.get("required"):
            if optional_seen:
                fail(
                    [*where, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
