"""WHMCS support tickets (`GetTicket`), staff only. API facts: docs/providers/whmcs.md."""

from __future__ import annotations

from bot.providers.extension import provider_setup
from cogs.whmcs._client import Whmcs, WhmcsSettings
from cogs.whmcs._command import build_command

#: Settings sections `__main__` validates before connecting.
SETTINGS = (WhmcsSettings,)

setup = provider_setup(Whmcs, WhmcsSettings, build_command)
