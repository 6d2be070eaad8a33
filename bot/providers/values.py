"""
Loose value types for provider models: one vocabulary, one truth rule.

Ticket APIs send the same thing many ways (ids as numbers or numeric strings, flags as `1`,
`"true"` or `"yes"`, a missing date as `null`, `""` or `0000-00-00 00:00:00`). A field typed with
these never fails a whole ticket over one odd value: what cannot be read becomes "unknown"
(None, or the empty text) and the view says so.

The truth rule, for `Flag` and `OptFlag`:
- true: `true`, a non-zero number, and the texts `1`, `true`, `yes`, `on` (any case, spaces
  around ignored);
- false: `false`, `0`, and the texts `0`, `false`, `no`, `off`;
- unknown: `null`, `""` and any other text (`OptFlag` keeps it as None; `Flag` reads it as
  false).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import BeforeValidator

__all__ = [
    "Flag",
    "OptFlag",
    "OptInt",
    "OptText",
    "Text",
    "Time",
    "is_zero_date",
    "truth",
]

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})

#: Epoch values above this are milliseconds (1e11 seconds is the year 5138).
_MILLISECONDS_ABOVE: Final = 1e11


def truth(value: Any) -> bool | None:
    """True, False or None (unknown) by the module's one truth rule."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None  # an object or list where text belongs: nothing we could show
    if isinstance(value, bool):
        return str(int(value))
    return str(value)


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.lstrip("-").isdigit() else None
    return None


def is_zero_date(text: str) -> bool:
    """Whether `text` is a "no date" placeholder: empty, or all zeros (`0000-00-00 00:00:00`)."""
    stripped = text.strip()
    return not stripped.strip("0-:T ")


def _epoch(seconds: float) -> datetime | None:
    if abs(seconds) > _MILLISECONDS_ABOVE:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _time(value: Any) -> datetime | None:
    """ISO 8601 (a space for the `T` too) or epoch seconds/milliseconds; naive times are UTC."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return _epoch(value)
    if not isinstance(value, str) or is_zero_date(value):
        return None
    text = value.strip()
    try:
        return _epoch(float(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


Text = Annotated[str, BeforeValidator(lambda v: _text(v) or "")]
"""Text; null, objects and lists read as ""."""
OptText = Annotated[str | None, BeforeValidator(_text)]
"""Text, or None for null, objects and lists."""
OptInt = Annotated[int | None, BeforeValidator(_int)]
"""A whole number (or a numeric string), else None."""
Flag = Annotated[bool, BeforeValidator(lambda v: truth(v) or False)]
"""A yes/no by the truth rule; unknown reads as false."""
OptFlag = Annotated[bool | None, BeforeValidator(truth)]
"""A yes/no by the truth rule; unknown stays None."""
Time = Annotated[datetime | None, BeforeValidator(_time)]
"""A moment (see `_time`); zero dates and anything unreadable are None."""
