"""
Point discord.py at a loopback fake Discord when TICKETLENS_FAKE_DISCORD is set.

Put this folder on PYTHONPATH of a child interpreter (`FakeDiscord.subprocess_env()` does) and
set TICKETLENS_FAKE_DISCORD=http://127.0.0.1:PORT: at start-up `site` imports this module,
which sets `discord.http.Route.BASE` to `<url>/api/v10` and
`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` to `ws://.../gateway` (a plain `Client`
connects there without asking `GET /gateway/bot`). Without the variable it does nothing but
hand over to any sitecustomize this folder shadows. Ignored under `python -S`/`-I`.
"""

import importlib.util
import os
import sys

_VAR = "TICKETLENS_FAKE_DISCORD"


def _point_discord_at_fake() -> None:
    url = os.environ.get(_VAR, "").strip().rstrip("/")
    if not url:
        return
    try:
        import discord.gateway
        import discord.http
        import yarl
    except ImportError as exc:  # an interpreter without discord.py: nothing to patch
        sys.stderr.write(f"{_VAR} set but discord.py is not importable: {exc}\n")
        return
    ws = "ws" + url[len("http") :] if url.startswith("http") else url
    discord.http.Route.BASE = f"{url}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"{ws}/gateway")


def _chain_shadowed_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == here:
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_shadowed_sitecustomize", candidate)
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            return


_point_discord_at_fake()
_chain_shadowed_sitecustomize()
