"""
API_GetTicketData's answers, as the live API sends them: one ticket (`i=`) and the aggregate
modes (recent list, most-reported games, developer, game, achievement).

The live API answers in PascalCase (`ID`, `GameID`, `URL`); the docs' JS sample shows
camelCase (`id`, `gameId`, `url`). Both are accepted. Ids and counts may be numbers or
numeric strings (older answers), `Hardcore` is 1, 0 or null, dates are `YYYY-MM-DD HH:MM:SS`
in UTC. One odd optional value reads as unknown rather than failing the ticket.
See docs/providers/retroachievements.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot.providers.values import OptFlag, OptInt, OptText, Time

log = logging.getLogger(__name__)

_M = TypeVar("_M", bound=BaseModel)


def _both(pascal: str, camel: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(pascal, camel))


class RaTicket(BaseModel):
    """One achievement ticket. Only `ID` is required: an answer without it is not a ticket."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # Not OptInt: a ticket whose own id cannot be read is not one we could show or link to.
    id: int = Field(validation_alias=AliasChoices("ID", "id"))
    achievement_id: OptInt = _both("AchievementID", "achievementId")
    achievement_title: OptText = _both("AchievementTitle", "achievementTitle")
    achievement_desc: OptText = _both("AchievementDesc", "achievementDesc")
    achievement_type: OptText = _both("AchievementType", "achievementType")
    points: OptInt = _both("Points", "points")
    badge_name: OptText = _both("BadgeName", "badgeName")
    achievement_author: OptText = _both("AchievementAuthor", "achievementAuthor")
    game_id: OptInt = _both("GameID", "gameId")
    console_name: OptText = _both("ConsoleName", "consoleName")
    game_title: OptText = _both("GameTitle", "gameTitle")
    game_icon: OptText = _both("GameIcon", "gameIcon")
    reported_at: Time = _both("ReportedAt", "reportedAt")
    report_type: OptInt = _both("ReportType", "reportType")
    report_state: OptInt = _both("ReportState", "reportState")
    hardcore: OptFlag = _both("Hardcore", "hardcore")
    report_notes: OptText = _both("ReportNotes", "reportNotes")
    reported_by: OptText = _both("ReportedBy", "reportedBy")
    resolved_at: Time = _both("ResolvedAt", "resolvedAt")
    resolved_by: OptText = _both("ResolvedBy", "resolvedBy")
    report_state_description: OptText = _both("ReportStateDescription", "reportStateDescription")
    report_type_description: OptText = _both("ReportTypeDescription", "reportTypeDescription")
    url: OptText = _both("URL", "url")


# --- the aggregate modes (`g`, `a`, `u`, recent, `f=1`) -------------------------------------
#
# One unreadable item of a list (a ticket without an id, a number where an object belongs)
# is dropped rather than failing the whole list: the rest is still worth showing, and the
# count fields say how many there are upstream.


def _readable(model: type[_M]) -> Callable[[Any], list[_M]]:
    def keep(items: Any) -> list[_M]:
        if not isinstance(items, list):
            return []  # null, or an object where the list belongs: nothing listed
        kept: list[_M] = []
        for item in items:
            try:
                kept.append(model.model_validate(item))
            except ValidationError:
                continue
        if len(kept) != len(items):
            log.warning("dropped %d unreadable %s item(s)", len(items) - len(kept), model.__name__)
        return kept

    return keep


def _list(pascal: str, camel: str) -> Any:
    return Field(default_factory=list, validation_alias=AliasChoices(pascal, camel))


class RaReportedGame(BaseModel):
    """One game of the most-reported list (`f=1`). Its console key is `Console`, not
    `ConsoleName` as everywhere else."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    game_id: OptInt = _both("GameID", "gameId")
    game_title: OptText = _both("GameTitle", "gameTitle")
    game_icon: OptText = _both("GameIcon", "gameIcon")
    console: OptText = _both("Console", "console")
    open_tickets: OptInt = _both("OpenTickets", "openTickets")


RaTickets = Annotated[list[RaTicket], BeforeValidator(_readable(RaTicket))]
RaReportedGames = Annotated[list[RaReportedGame], BeforeValidator(_readable(RaReportedGame))]


class RaRecent(BaseModel):
    """The recent open tickets (no mode parameter): Open and Request tickets on published
    achievements, newest first; `OpenTickets` is their total, not the length of the page."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    recent_tickets: RaTickets = _list("RecentTickets", "recentTickets")
    open_tickets: OptInt = _both("OpenTickets", "openTickets")
    url: OptText = _both("URL", "url")


class RaMostReported(BaseModel):
    """Games with the most open tickets (`f=1`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    most_reported_games: RaReportedGames = _list("MostReportedGames", "mostReportedGames")
    url: OptText = _both("URL", "url")


class RaDeveloper(BaseModel):
    """Ticket counts of one developer (`u=`): tickets on the published achievements they
    maintain. `Total` is Open + Closed + Resolved; Request and Pending Review are in none."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user: OptText = _both("User", "user")
    ulid: OptText = _both("ULID", "ulid")
    open: OptInt = _both("Open", "open")
    closed: OptInt = _both("Closed", "closed")
    resolved: OptInt = _both("Resolved", "resolved")
    total: OptInt = _both("Total", "total")
    url: OptText = _both("URL", "url")


class RaGame(BaseModel):
    """One game's tickets (`g=`, with `d=1` for the list). Upstream filters neither the
    count nor the list by state, whatever the name `OpenTickets` says."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    game_id: OptInt = _both("GameID", "gameId")
    game_title: OptText = _both("GameTitle", "gameTitle")
    console_name: OptText = _both("ConsoleName", "consoleName")
    open_tickets: OptInt = _both("OpenTickets", "openTickets")
    url: OptText = _both("URL", "url")
    tickets: RaTickets = _list("Tickets", "tickets")


class RaAchievement(BaseModel):
    """One achievement's open tickets (`a=`): a count only, no list. The description key is
    `AchievementDescription` here, not `AchievementDesc` as in tickets."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    achievement_id: OptInt = _both("AchievementID", "achievementId")
    achievement_title: OptText = _both("AchievementTitle", "achievementTitle")
    achievement_description: OptText = _both("AchievementDescription", "achievementDescription")
    achievement_type: OptText = _both("AchievementType", "achievementType")
    open_tickets: OptInt = _both("OpenTickets", "openTickets")
    url: OptText = _both("URL", "url")
