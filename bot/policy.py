"""
Who may see what: the one place that decides it.

Pure functions over plain values (no discord.py types), so every rule is tested directly.
A cog asks `decide()` before any request and `redact()` before rendering; a public post and
an ephemeral answer go through the same `redact()` call with a different audience.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.providers.base import Audience, TicketView, Visibility


@dataclass(frozen=True, slots=True)
class Viewer:
    """The member asking, reduced to what the rules need."""

    user_id: int
    is_staff: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one lookup: refused (with why), or allowed with an audience."""

    allowed: bool
    ephemeral: bool
    audience: Audience
    refusal: str | None = None


def decide(visibility: Visibility, viewer: Viewer, *, public_requested: bool) -> Decision:
    """Decide whether a lookup may run and how its answer is shown."""
    if visibility.staff_only and not viewer.is_staff:
        return Decision(False, True, Audience.PUBLIC, "staff_only")
    private = Audience.STAFF if viewer.is_staff else Audience.REQUESTER
    if not public_requested:
        return Decision(True, True, private)
    if not visibility.public_allowed:
        return Decision(False, True, private, "public_not_allowed")
    return Decision(True, False, visibility.public_audience)


def redact(view: TicketView, audience: Audience) -> TicketView:
    """Keep only the parts of `view` that `audience` may see."""
    description = view.description if view.description_audience <= audience else ""
    return view.model_copy(
        update={
            "description": description,
            "fields": tuple(f for f in view.fields if f.audience <= audience),
            "entries": tuple(e for e in view.entries if e.audience <= audience),
        }
    )
