"""The settings root and its loading: init arguments, environment, YAML file, defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from sightline.config.access import AccessSettings, AdminSettings, AuditSettings
from sightline.config.media import MediaSettings, PlaybackSettings, RecordingSettings
from sightline.config.server import DatabaseSettings, HttpSettings, LogSettings, WebSettings
from sightline.config.sip import Gb28181Settings, SipSettings
from sightline.errors import ConfigError

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """The root of sightline's settings."""

    model_config = SettingsConfigDict(
        env_prefix="SIGHTLINE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )
    yaml_file: ClassVar[Path | None] = None

    data_dir: Path = Field(default=Path("./data"), description="database, recordings, keys")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    sip: SipSettings = Field(default_factory=SipSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    gb28181: Gb28181Settings = Field(default_factory=Gb28181Settings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    playback: PlaybackSettings = Field(default_factory=PlaybackSettings)
    recording: RecordingSettings = Field(default_factory=RecordingSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    web: WebSettings = Field(default_factory=WebSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init arguments, then environment, then the YAML file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.yaml_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=cls.yaml_file))
        return tuple(sources)

    @property
    def database_url(self) -> str:
        """The effective database URL."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'sightline.db'}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load and validate settings; raise ConfigError naming every bad key."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"configuration file {config_file} does not exist")

    class _FileSettings(Settings):
        yaml_file: ClassVar[Path | None] = config_file

    try:
        return _FileSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except Exception as exc:  # YAML syntax errors and unreadable files
        raise ConfigError(f"cannot read configuration {config_file}: {exc}") from None


def _describe(exc: ValidationError) -> str:
    lines = ["invalid configuration:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        env = "SIGHTLINE_" + "__".join(str(p).upper() for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {key} (or {env}): {msg}")
    return "\n".join(lines)
