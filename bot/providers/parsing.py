"""
The tail every provider's fetch shares: the answer's JSON, the shape check, the model.

And path segments: a ticket reference placed in a URL path is validated and percent-encoded
here, so `/`, `..` and `?` can never steer a request elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from bot.errors import BadAnswer

__all__ = ["NOT_A_TICKET", "UNREADABLE", "path_segment", "read_model"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

NOT_A_TICKET = "the answer is not a ticket"
UNREADABLE = "the ticket could not be read"


def path_segment(ref: str) -> str:
    """`ref` as one URL path segment, percent-encoded; ValueError for "", "." and ".."."""
    if ref in ("", ".", ".."):
        raise ValueError("not a usable path segment")
    return quote(ref, safe="")


def read_model(
    model: type[M], payload: Any, *, is_ticket: Callable[[dict[str, Any]], bool] = bool
) -> M:
    """
    `payload` validated as `model`; BadAnswer when it is not an object `is_ticket` accepts
    ("not a ticket") or does not validate ("could not be read": logged with the count of
    problems, never the values, which may hold personal data).
    """
    if not isinstance(payload, dict) or not is_ticket(payload):
        raise BadAnswer(NOT_A_TICKET)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        log.warning("unreadable %s: %d problem(s)", model.__name__, exc.error_count())
    raise BadAnswer(UNREADABLE)
