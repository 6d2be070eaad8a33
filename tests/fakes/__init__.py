"""Fake upstream providers on 127.0.0.1, answering like the documented APIs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def listen(route: str, handler: Handler) -> tuple[web.AppRunner, str]:
    """Serve `handler` for every method at `route` on an ephemeral port: (runner, origin)."""
    app = web.Application()
    app.router.add_route("*", route, handler)
    # No access log: it would print request lines, query-string secrets included.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"
