"""
series.hr workspace tickets (`GET /tickets/get/{ticketId}`), staff only.

What the API does and where each fact comes from: `docs/providers/serieshr.md`.
"""

from __future__ import annotations

from bot.providers.extension import provider_setup
from cogs.serieshr._client import SeriesHr, SeriesHrSettings
from cogs.serieshr._command import build_command

#: Settings sections `__main__` validates before connecting.
SETTINGS = (SeriesHrSettings,)

setup = provider_setup(SeriesHr, SeriesHrSettings, build_command)
