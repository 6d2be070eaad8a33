"""
API_GetTicketData's answer, as the live API sends it.

The live API answers in PascalCase (`ID`, `GameID`, `URL`); the docs' JS sample shows
camelCase (`id`, `gameId`, `url`). Both are accepted. Ids and counts may be numbers or
numeric strings (older answers), `Hardcore` is 1, 0 or null, dates are `YYYY-MM-DD HH:MM:SS`
in UTC. One odd optional value reads as unknown rather than failing the ticket.
See docs/providers/retroachievements.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from bot.providers.values import OptFlag, OptInt, OptText, Time


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
