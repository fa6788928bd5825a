"""Settings of the platform's own services: database, HTTP (API and console) and logging."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from sightline.config._base import Section, check_ip

__all__ = ["DatabaseSettings", "HttpSettings", "LogSettings", "WebSettings"]


class DatabaseSettings(Section):
    """Where devices, channels, users and the audit trail are stored."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; empty means SQLite at <data_dir>/sightline.db. "
        "PostgreSQL: postgresql+asyncpg://user:password@host/db",
    )

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(
            ("sqlite+aiosqlite://", "postgresql+asyncpg://")
        ):
            raise ValueError(
                "database.url must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return value


class HttpSettings(Section):
    """Web UI and REST API."""

    host: str = Field(default="127.0.0.1", description="HTTP listen address")
    port: int = Field(default=8080, ge=1, le=65535, description="HTTP listen port")
    token_lifetime_s: int = Field(
        default=8 * 3600, ge=60, description="how long a login (bearer token) stays valid"
    )
    tls_cert: Path | None = Field(
        default=None, description="PEM certificate chain; with tls_key the server speaks HTTPS"
    )
    tls_key: Path | None = Field(default=None, description="PEM private key for HTTPS")

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        return check_ip(value, "http.host")


class LogSettings(Section):
    """Logging."""

    level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    json_output: bool = Field(default=False, description="one JSON object per line")

    @field_validator("level")
    @classmethod
    def _valid_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"log.level must be DEBUG, INFO, WARNING or ERROR, got {value!r}")
        return upper


class WebSettings(Section):
    """The operators' web console served at ``/``."""

    map_tile_url: str = Field(
        default="",
        description="map tile URL template with {z}/{x}/{y}, e.g. of an offline tile server; "
        "empty shows channel positions on a plain grid",
    )
    map_attribution: str = Field(
        default="", description="attribution text shown under the map tiles"
    )
    map_max_zoom: int = Field(default=18, ge=1, le=22, description="highest tile zoom level")

    @field_validator("map_tile_url")
    @classmethod
    def _tile_template(cls, value: str) -> str:
        if value and not (
            value.startswith(("http://", "https://", "/"))
            and all(part in value for part in ("{z}", "{x}", "{y}"))
        ):
            raise ValueError("web.map_tile_url must be an http(s) or /path URL with {z}, {x}, {y}")
        return value
