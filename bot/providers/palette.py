"""
The colours and words ticket views share: status colours, priority labels, humanised enums.

Providers pick a colour by what a status means, so "open" looks the same from every system
unless the system itself colours differently.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

from bot.i18n import Msg

__all__ = ["PRIORITIES", "UNKNOWN", "Colour", "humanise", "priority_label", "status_of"]


class Colour(enum.IntEnum):
    """Embed colours (24-bit RGB)."""

    BLURPLE = 0x5865F2
    """Discord's own: our notices and views without a status colour."""
    BLUE = 0x3498DB
    GREEN = 0x2ECC71
    ORANGE = 0xE67E22
    YELLOW = 0xF1C40F
    PURPLE = 0x9B59B6
    GREY = 0x95A5A6
    SLATE = 0x607D8B
    """A status we do not know."""
    RED = 0xE74C3C


#: The usual four priorities, by their lower-case API value: our words (`Msg`), so every
#: provider's answer shows them in the reader's language.
PRIORITIES: Final[Mapping[str, str]] = {
    "low": Msg("Low"),
    "medium": Msg("Medium"),
    "high": Msg("High"),
    "urgent": Msg("Urgent"),
}
#: What `humanise` says of a missing value: our word too.
UNKNOWN: Final = Msg("Unknown")


def humanise(value: str) -> str:
    """`in_progress`/`in-progress` -> `In progress` (the API's value, shown as is); "" ->
    `Unknown` (our word)."""
    text = value.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:] if text else UNKNOWN


def priority_label(value: str) -> str:
    """The label of a priority: a known one, else the value humanised."""
    key = value.strip().lower()
    return PRIORITIES.get(key) or humanise(key)


def status_of(
    value: str, known: Mapping[str, tuple[str, Colour]], *, unknown: Colour | None = Colour.SLATE
) -> tuple[str, int | None]:
    """(label, colour) of a status: a known one by its lower-case value, else humanised."""
    key = value.strip().lower()
    found = known.get(key)
    if found is not None:
        return found[0], int(found[1])
    return humanise(key), None if unknown is None else int(unknown)
