"""
RetroAchievements achievement tickets (`API_GetTicketData`), as `/ticket retroachievements`,
and its counts and lists as `/tickets retroachievements ...`.

What the bot relies on about the API: docs/providers/retroachievements.md.
"""

from bot.providers.extension import provider_setup
from cogs.retroachievements._client import RetroAchievements, RetroSettings
from cogs.retroachievements._command import build_command, build_lists

#: Settings sections `__main__` validates before connecting.
SETTINGS = (RetroSettings,)

setup = provider_setup(RetroAchievements, RetroSettings, build_command, build_lists)
