"""
`/healthz` and `/metrics` over HTTP (aiohttp), when METRICS_PORT is set.

`/healthz` answers 200 "ok" while every gateway connection (shard) of this process is up and
the store answers a cheap read, else 503 with a one-line reason. It is worked out on each
request: the gateway state from discord.py's state and its connect, resume and disconnect
events (`GatewayState`, kept by the bot), the store with a read bounded by `STORE_TIMEOUT_S`,
so a request made after losing either answers 503 within that bound. A reason names a state or
an exception type, never an exception's text (a database error may quote its URL).

`/metrics` is the bot's own registry (`bot.metrics`) in Prometheus' text format, or
OpenMetrics when the scraper asks for it.

The endpoint listens on METRICS_HOST (127.0.0.1 by default: it tells how the bot is doing to
whoever can reach it). It is started first thing in the bot's `setup_hook`, so a taken port
stops start-up before the gateway connects (`EndpointUnavailable`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final

from prometheus_client.exposition import choose_encoder

if TYPE_CHECKING:
    from aiohttp import web

    from bot.app import TicketLensBot

__all__ = ["STORE_TIMEOUT_S", "Endpoint", "EndpointUnavailable", "GatewayState", "problem"]

log = logging.getLogger(__name__)

#: Longest a health check waits for the store (the contract: 503 within 10 s of losing it).
STORE_TIMEOUT_S: Final = 2.0
#: The meta key the health check reads (never written: a read of a missing row is enough).
HEALTH_META_KEY: Final = "health"


class GatewayState:
    """
    Which gateway connections are down, from discord.py's events.

    `None` stands for "the connection" (events without a shard id), an int for one shard.
    discord.py sends both kinds to an AutoShardedBot, and each disconnect is followed by a
    connect (READY) or a resume of the same connection once it is back, so a connection is
    down from its disconnect until then.
    """

    def __init__(self) -> None:
        self._down: set[int | None] = set()

    def up(self, shard: int | None = None) -> None:
        """Connected (READY) or resumed."""
        self._down.discard(shard)

    def down(self, shard: int | None = None) -> None:
        """Disconnected; discord.py reconnects on its own."""
        self._down.add(shard)

    def problem(self) -> str | None:
        """What is down, or None."""
        if not self._down:
            return None
        shards = sorted(shard for shard in self._down if shard is not None)
        if shards:
            return "gateway disconnected (shard " + ", ".join(map(str, shards)) + ")"
        return "gateway disconnected"


def gateway_problem(bot: TicketLensBot) -> str | None:
    """Why the bot's gateway connections are not all up, or None."""
    if bot.draining:
        return "shutting down"
    if bot.is_closed():
        return "gateway closed"
    if not bot.is_ready():
        return "gateway not ready"
    for shard_id, closed in bot.shard_states():
        if closed:
            return f"gateway disconnected (shard {shard_id})"
    return bot.gateway.problem()


async def store_problem(bot: TicketLensBot, timeout_s: float = STORE_TIMEOUT_S) -> str | None:
    """Why the store does not answer a cheap read within `timeout_s`, or None."""
    try:
        await asyncio.wait_for(bot.store.get_meta(HEALTH_META_KEY), timeout_s)
    except TimeoutError:
        return f"database did not answer within {timeout_s:g} s"
    except Exception as exc:
        # The type only: a driver's message may hold the database URL and its password.
        return f"database unavailable ({type(exc).__name__})"
    return None


async def problem(bot: TicketLensBot) -> str | None:
    """Why this process is not healthy, or None (the gateway first: it costs nothing)."""
    return gateway_problem(bot) or await store_problem(bot)


class EndpointUnavailable(Exception):
    """The endpoint could not listen (the port is taken, the host is not ours); one line."""


class Endpoint:
    """The aiohttp server behind METRICS_PORT: `/healthz` and `/metrics`."""

    def __init__(self, bot: TicketLensBot, *, host: str, port: int) -> None:
        self.bot = bot
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        """The routes."""
        # Imported here: aiohttp's server side costs ~2 MiB of memory, for bots that serve.
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        return app

    async def start(self) -> None:
        """Listen on host:port; `EndpointUnavailable` if that is impossible."""
        from aiohttp import web

        runner = web.AppRunner(self.application(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            reason = exc.strerror or type(exc).__name__
            raise EndpointUnavailable(
                f"METRICS_PORT: cannot listen on {self.host}:{self.port} ({reason}); "
                "choose a free port (or set METRICS_HOST to an address of this machine)"
            ) from None
        self._runner = runner
        log.info("health and metrics on http://%s:%d/ (/healthz, /metrics)", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def healthz(self, request: web.Request) -> web.Response:
        """200 "ok", or 503 and the reason."""
        from aiohttp import web

        reason = await problem(self.bot)
        if reason is None:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"{reason}\n")

    async def metrics(self, request: web.Request) -> web.Response:
        """The registry in the format the scraper asked for (Prometheus text by default)."""
        from aiohttp import web

        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = encode(self.bot.metrics.registry)
        # aiohttp wants the charset apart from the content type.
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response
