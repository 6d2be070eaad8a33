"""
API_GetTicketData's answer, as the live API sends it.

The live API answers in PascalCase (`ID`, `GameID`, `URL`); the docs' JS sample shows
camelCase (`id`, `gameId`, `url`). Both are accepted. Ids and counts may be numbers or
numeric strings (older answers), `Hardcore` is 1, 0 or null. See
shared/providers/retroachievements-notes.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field


def _both(pascal: str, camel: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(pascal, camel))


def _ra_time(value: Any) -> Any:
    # `YYYY-MM-DD HH:MM:SS` with no offset is UTC on RetroAchievements.
    if isinstance(value, str):
        if not value.strip():
            return None
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


def _hardcore(value: Any) -> Any:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        return value.strip() not in ("0", "false")
    return bool(value)


RaTime = Annotated[datetime | None, BeforeValidator(_ra_time)]


class RaTicket(BaseModel):
    """One achievement ticket. Only `ID` is required: an answer without it is not a ticket."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int = Field(validation_alias=AliasChoices("ID", "id"))
    achievement_id: int | None = _both("AchievementID", "achievementId")
    achievement_title: str | None = _both("AchievementTitle", "achievementTitle")
    achievement_desc: str | None = _both("AchievementDesc", "achievementDesc")
    achievement_type: str | None = _both("AchievementType", "achievementType")
    points: int | None = _both("Points", "points")
    badge_name: str | None = _both("BadgeName", "badgeName")
    achievement_author: str | None = _both("AchievementAuthor", "achievementAuthor")
    game_id: int | None = _both("GameID", "gameId")
    console_name: str | None = _both("ConsoleName", "consoleName")
    game_title: str | None = _both("GameTitle", "gameTitle")
    game_icon: str | None = _both("GameIcon", "gameIcon")
    reported_at: RaTime = _both("ReportedAt", "reportedAt")
    report_type: int | None = _both("ReportType", "reportType")
    report_state: int | None = _both("ReportState", "reportState")
    hardcore: Annotated[bool | None, BeforeValidator(_hardcore)] = _both("Hardcore", "hardcore")
    report_notes: str | None = _both("ReportNotes", "reportNotes")
    reported_by: str | None = _both("ReportedBy", "reportedBy")
    resolved_at: RaTime = _both("ResolvedAt", "resolvedAt")
    resolved_by: str | None = _both("ResolvedBy", "resolvedBy")
    report_state_description: str | None = _both("ReportStateDescription", "reportStateDescription")
    report_type_description: str | None = _both("ReportTypeDescription", "reportTypeDescription")
    url: str | None = _both("URL", "url")
