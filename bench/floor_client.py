"""
The floor: what any bot must do for one lookup, with no framework at all.

Reads the gateway with aiohttp (IDENTIFY, zlib-stream like discord.py, so the fake does the
same work for every subject), and for each INTERACTION_CREATE calls the fake provider directly
with one shared aiohttp session and POSTs one embed to the interaction's callback URL.
Configured by TICKETLENS_FAKE_DISCORD (set by `FakeDiscord.subprocess_env`), BARE_RA_URL,
BARE_RA_KEY and DISCORD_TOKEN.
"""

from __future__ import annotations

import asyncio
import json
import os
import zlib
from typing import Any

import aiohttp

ZLIB_SUFFIX = b"\x00\x00\xff\xff"


async def answer(
    session: aiohttp.ClientSession, rest: str, endpoint: str, key: str, d: dict[str, Any]
) -> None:
    """GET the ticket, POST a type 4 callback with one embed."""
    leaf = d["data"]["options"][0]["options"]
    ticket_id = next(o["value"] for o in leaf if o["name"] == "id")
    async with session.get(endpoint, params={"i": str(ticket_id), "y": key}) as response:
        ticket = await response.json(content_type=None)
    embed = {
        "title": f"Ticket #{ticket['ID']}: {ticket.get('AchievementTitle')}",
        "description": ticket.get("ReportNotes") or "",
    }
    body = {"type": 4, "data": {"embeds": [embed], "flags": 64, "allowed_mentions": {"parse": []}}}
    url = f"{rest}/interactions/{d['id']}/{d['token']}/callback"
    async with session.post(url, json=body) as response:
        await response.read()


async def main() -> None:
    base = os.environ["TICKETLENS_FAKE_DISCORD"].rstrip("/")
    rest = f"{base}/api/v10"
    gateway = "ws" + base.removeprefix("http") + "/gateway?v=10&encoding=json&compress=zlib-stream"
    endpoint = os.environ["BARE_RA_URL"].rstrip("/") + "/API_GetTicketData.php"
    key, token = os.environ["BARE_RA_KEY"], os.environ["DISCORD_TOKEN"]
    tasks: set[asyncio.Task[None]] = set()
    # No connection cap: the floor must not queue where a bot would not (discord.py's own
    # session has none; the bots' provider sessions cap at 100, never reached here).
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
        session.ws_connect(gateway, max_msg_size=0) as ws,
    ):
        inflator = zlib.decompressobj()
        buffer = bytearray()
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                buffer += message.data
                if not buffer.endswith(ZLIB_SUFFIX):
                    continue
                text = inflator.decompress(buffer)
                buffer.clear()
            elif message.type == aiohttp.WSMsgType.TEXT:
                text = message.data
            else:
                break
            payload = json.loads(text)
            if payload["op"] == 10:
                identify = {"token": token, "intents": 1, "properties": {"os": "linux"}}
                await ws.send_json({"op": 2, "d": identify})
            elif payload["op"] == 0 and payload["t"] == "INTERACTION_CREATE":
                task = asyncio.create_task(answer(session, rest, endpoint, key, payload["d"]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)


if __name__ == "__main__":
    asyncio.run(main())
