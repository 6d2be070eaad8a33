"""
Settings, read from the environment (and `.env` when present).

Nothing here runs at import time: `__main__` builds `Settings()` once and injects it. A provider
declares its own section (a `ProviderSettings` subclass with its own env prefix) so adding a
provider never edits this module; `__main__` validates every section before connecting.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_ENV = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

S = TypeVar("S", bound=BaseSettings)

_MAX_RATE_PER_S = 100_000

#: Far above any bot's needs (Discord asks for one shard per ~1 000 to 2 500 guilds); it only
#: keeps a typo from launching a million shards, or a range from filling memory.
MAX_SHARD_COUNT = 100_000
#: One item of SHARD_IDS: a shard id, or a range of them (ASCII digits only).
_SHARD_ITEM = re.compile(r"([0-9]{1,6})(?:-([0-9]{1,6}))?")

#: DATABASE_URL prefixes: a SQLite file (embedded, one process) or a PostgreSQL server.
SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


class Settings(BaseSettings):
    """The bot's core settings; every one is listed in `.env.example`."""

    model_config = _ENV

    discord_token: SecretStr = Field(alias="DISCORD_TOKEN")
    database_url: str = Field("sqlite:///data/ticketlens.db", alias="DATABASE_URL")
    database_pool_min: int = Field(1, alias="DATABASE_POOL_MIN", ge=0, le=1000)
    """PostgreSQL only: connections each process keeps open."""
    database_pool_max: int = Field(10, alias="DATABASE_POOL_MAX", ge=1, le=1000)
    """PostgreSQL only: connections each process opens at most."""
    secret_key: SecretStr | None = Field(None, alias="SECRET_KEY")
    old_secret_keys: SecretStr | None = Field(None, alias="OLD_SECRET_KEYS")
    """Keys that sealed stored secrets before SECRET_KEY, comma-separated: what they sealed is
    re-sealed under SECRET_KEY at start-up (`bot.crypto`)."""
    http_timeout_s: float = Field(10.0, alias="HTTP_TIMEOUT_S", gt=0, le=120)
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    dev_guild_id: int | None = Field(None, alias="DEV_GUILD_ID")
    cache_ttl_s: float = Field(30.0, alias="CACHE_TTL_S", ge=0, le=3600)
    cache_size: int = Field(256, alias="CACHE_SIZE", ge=1, le=100_000)
    cache_fallback_s: float = Field(3600.0, alias="CACHE_FALLBACK_S", ge=0, le=86_400)
    """How old a kept answer may be to stand in for a provider that is rate limiting or down
    (`bot.cache`); 0: never, the error is shown."""
    lookup_audit_days: int = Field(30, alias="LOOKUP_AUDIT_DAYS", ge=1, le=3650)
    """Days the lookup audit (`/ticketconfig lookups`) keeps each lookup."""
    data_dir: Path = Field(Path("data"), alias="DATA_DIR")
    allow_private_urls: bool = Field(False, alias="ALLOW_PRIVATE_URLS")
    """Let guild-supplied URLs be plain http and point at private or loopback addresses."""
    metrics_port: int | None = Field(None, alias="METRICS_PORT", ge=1, le=65535)
    """Serve /healthz and /metrics on this port (`bot.health`); unset: no endpoint."""
    metrics_host: str = Field("127.0.0.1", alias="METRICS_HOST")
    """The address the endpoint listens on: loopback unless told otherwise."""
    shutdown_timeout_s: float = Field(25.0, alias="SHUTDOWN_TIMEOUT_S", ge=0, le=600)
    """On SIGTERM, how long commands in flight may take to finish before the bot stops."""
    shard_count: int | None = Field(None, alias="SHARD_COUNT", ge=1, le=MAX_SHARD_COUNT)
    """How many shards the bot has in all processes; unset: Discord's recommended count."""
    # NoDecode: read as text (`0-3`, `0,2`), not as JSON like other collections.
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = Field(None, alias="SHARD_IDS")
    """The shards this process runs (`0-3`, `0,2`, `0-1,4`); unset: all of SHARD_COUNT."""
    credential_check_hours: int = Field(24, alias="CREDENTIAL_CHECK_HOURS", ge=1, le=8760)
    """Hours between two background checks of each stored credential (cogs/health.py)."""
    # Watches (/ticketwatch, `bot.watch`). Not `ge=1`: a value below 1 gets its own words.
    watch_interval_minutes: float = Field(5.0, alias="WATCH_INTERVAL_MINUTES", le=1440)
    """Minutes between two polls of a watched ticket (jittered a little earlier); at least 1."""
    watch_limit_per_guild: int = Field(50, alias="WATCH_LIMIT_PER_GUILD", ge=1, le=10_000)
    """How many watches (cards and feeds) one server may have."""

    @field_validator("watch_interval_minutes")
    @classmethod
    def _watch_interval(cls, value: float) -> float:
        if value < 1:
            # Watches must leave most of each provider's allowance to interactive lookups.
            raise ValueError("must be at least 1 (minute): watches are never polled more often")
        return value

    @field_validator("discord_token")
    @classmethod
    def _token_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            # `.env.example` ships `DISCORD_TOKEN=`: empty is "not set", with the same advice.
            raise PydanticCustomError("missing", "Field required")
        return value

    @field_validator(
        "secret_key",
        "old_secret_keys",
        "dev_guild_id",
        "metrics_port",
        "shard_count",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # `.env.example` ships these as `KEY=`; an empty value means "not set".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("metrics_host", mode="before")
    @classmethod
    def _blank_is_loopback(cls, value: Any) -> Any:
        # `METRICS_HOST=` means the default, never "every interface".
        return "127.0.0.1" if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith((SQLITE_PREFIX, *POSTGRES_PREFIXES)):
            raise ValueError(
                "must start with sqlite:/// (a SQLite file) or postgresql:// (a PostgreSQL server)"
            )
        if value.startswith(POSTGRES_PREFIXES):
            try:
                urlsplit(value).port  # noqa: B018  (parsing it is the check)
            except ValueError:
                # Not the parser's words: they quote the offending part, which may be secret.
                raise ValueError(
                    "is not a postgresql://user:password@host:port/database URL (a password "
                    "with reserved characters such as @ : / # must be percent-encoded)"
                ) from None
        return value

    @field_validator("database_pool_max")
    @classmethod
    def _pool_fits(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("database_pool_min")
        if isinstance(low, int) and value < low:
            raise ValueError("must be at least DATABASE_POOL_MIN")
        return value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            # `SHARD_IDS=` (as `.env.example` ships it) is "not set".
            return parse_shard_ids(value) if value.strip() else None
        return value

    @field_validator("shard_ids")
    @classmethod
    def _shards_fit(
        cls, value: tuple[int, ...] | None, info: ValidationInfo
    ) -> tuple[int, ...] | None:
        if value is None:
            return None
        if "shard_count" not in info.data:
            return value  # SHARD_COUNT itself is wrong, and named in its own error
        count = info.data["shard_count"]
        if count is None:
            # Without the total a guild's shard ((guild id >> 22) % count) is unknown: Discord
            # would refuse the IDENTIFY, and another process's guilds could look like ours.
            raise ValueError("needs SHARD_COUNT, the number of shards across all processes")
        ids = tuple(sorted(set(value)))
        if not ids:
            raise ValueError("names no shard")
        if ids[0] < 0 or ids[-1] >= count:
            raise ValueError(f"must be shard ids from 0 to SHARD_COUNT - 1 ({count - 1})")
        return ids

    @property
    def some_shards_only(self) -> bool:
        """Whether this process runs only some of the shards (others run the rest)."""
        count, ids = self.shard_count, self.shard_ids
        return count is not None and ids is not None and ids != tuple(range(count))

    @property
    def database_backend(self) -> Literal["sqlite", "postgres"]:
        """Which store DATABASE_URL selects: a SQLite file, or a PostgreSQL server (which every
        process shares, so they must share SECRET_KEY too)."""
        return "sqlite" if self.database_url.startswith(SQLITE_PREFIX) else "postgres"

    @property
    def sqlite_path(self) -> Path:
        """The file named by `DATABASE_URL` (`sqlite:///rel/path` or `sqlite:////abs/path`)."""
        return Path(self.database_url.removeprefix(SQLITE_PREFIX))

    @property
    def key_file(self) -> Path:
        """Where a generated SECRET_KEY lives when none is set."""
        return self.data_dir / "secret.key"


class ProviderSettings(BaseSettings):
    """
    Base for a provider's own section; subclasses set `env_prefix` and their defaults.

    A subclass re-declares a field with a plain default (`rate_per_s: float = 25.0`); the
    checks below still apply to it, and to a `base_url` field where a provider has one.
    """

    model_config = _ENV

    rate_per_s: float = 5.0
    """Requests per second per stored credential."""
    watch_budget_per_min: int = 10
    """Requests per minute that watches (`bot.watch`) may make with one stored credential, at
    most: a small part of `rate_per_s`, so interactive lookups keep the rest. Watches that
    need more are polled less often, never faster."""

    @field_validator("watch_budget_per_min")
    @classmethod
    def _usable_budget(cls, value: int) -> int:
        if not 1 <= value <= _MAX_RATE_PER_S:
            raise ValueError(f"must be at least 1 and at most {_MAX_RATE_PER_S}")
        return value

    @field_validator("rate_per_s")
    @classmethod
    def _usable_rate(cls, value: float) -> float:
        if not 0 < value <= _MAX_RATE_PER_S:
            raise ValueError(f"must be more than 0 and at most {_MAX_RATE_PER_S}")
        return value

    @field_validator("base_url", check_fields=False)
    @classmethod
    def _web_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """
    `SHARD_IDS` as a sorted tuple of unique shard ids: ranges (`0-3`, both ends included),
    lists (`0,2`) or both (`0-1,4`); spaces are ignored. ValueError says what is wrong.
    """
    ids: set[int] = set()
    for part in text.replace(" ", "").split(","):
        match = _SHARD_ITEM.fullmatch(part)
        if match is None:
            raise ValueError("must be shard ids such as 0-3, 0,2 or 0-1,4")
        first = int(match[1])
        last = int(match[2]) if match[2] is not None else first
        if first > last:
            raise ValueError(f"has a range that runs backwards ({first}-{last})")
        if last >= MAX_SHARD_COUNT:
            raise ValueError(f"must be shard ids below {MAX_SHARD_COUNT}")
        ids.update(range(first, last + 1))
    return tuple(sorted(ids))


def load_section(cls: type[S]) -> S:
    """Build one settings section (read from the environment and `.env`)."""
    return cls()


#: What to do about a required setting that is missing (or empty).
_MISSING_ADVICE = {
    "DISCORD_TOKEN": (
        "copy your bot's token from the Discord Developer Portal (Applications -> your bot -> "
        "Bot -> Reset Token) into DISCORD_TOKEN in .env"
    ),
}


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line naming each bad setting, without echoing any value (it may be a secret)."""
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        if prefix and not name.isupper():
            name = f"{prefix}{name}".upper()
        if error["type"] == "missing":
            advice = _MISSING_ADVICE.get(name)
            problems.append(f"{name} is required but not set" + (f": {advice}" if advice else ""))
        else:
            problems.append(f"{name}: {error['msg']}")
    return "; ".join(problems)
