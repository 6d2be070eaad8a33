"""teambattles.gg support tickets (`GET /tickets/{ticketId}`): owner-scoped, member keys."""

from __future__ import annotations

from bot.providers.extension import provider_setup
from cogs.teambattles._client import TeamBattles, TeamBattlesSettings
from cogs.teambattles._command import build_command

#: Settings sections `__main__` validates before connecting.
SETTINGS = (TeamBattlesSettings,)

setup = provider_setup(TeamBattles, TeamBattlesSettings, build_command)
