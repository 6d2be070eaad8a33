"""
`make bench` (`python -m bench`): TicketLens against the loopback Discord, next to its floors.

Three subjects answer the same `/ticket retroachievements id:<n>` interactions, each in its own
process connected to its own `FakeDiscord`, all served by one `FakeRetroAchievements` that
answers in a fixed 50 ms:

* `bot`: the real TicketLens (`python -m bot`), LOG_LEVEL=WARNING;
* `bare`: a bare discord.py bot (`bench/bare_bot.py`): one aiohttp session, direct reply with an
  embed, no store, cache or policy: the peer floor;
* `floor`: no discord.py at all (`bench/floor_client.py`): the gateway read with aiohttp, the
  fake provider called directly, one POST to the callback URL: the floor of any bot.

Nothing here asserts: the bench prints a table and marks its targets PASS or MISS.
"""
