"""sightline's settings: one documented tree, from a YAML file and ``SIGHTLINE_*`` variables.

Precedence (highest first): init arguments, environment variables
(``SIGHTLINE_<SECTION>__<KEY>``, e.g. ``SIGHTLINE_SIP__PORT=15060``), the YAML file, defaults.
Every key is optional.  Unknown keys are errors, so a typo is reported at start instead of being
silently ignored.
"""

from __future__ import annotations

import ipaddress
import os
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from sightline.errors import ConfigError

__all__ = [
    "AccessSettings",
    "AdminSettings",
    "AuditSettings",
    "DatabaseSettings",
    "Gb28181Settings",
    "HttpSettings",
    "LogSettings",
    "MediaSettings",
    "PlaybackSettings",
    "RecordingSettings",
    "Settings",
    "SipSettings",
    "WebSettings",
    "load_settings",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_gb_id(value: str, digits: int, what: str) -> str:
    if len(value) != digits or not value.isdigit():
        raise ValueError(f"{what} must be exactly {digits} digits, got {value!r}")
    return value


class DatabaseSettings(_Section):
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


class SipSettings(_Section):
    """The SIP side: where devices and platforms register."""

    host: str = Field(default="0.0.0.0", description="SIP listen address (UDP and TCP)")
    port: int = Field(default=5060, ge=1, le=65535, description="SIP listen port (UDP and TCP)")
    tls_port: int | None = Field(
        default=None, ge=1, le=65535, description="SIP over TLS port; empty disables TLS"
    )
    tls_cert: Path | None = Field(default=None, description="PEM certificate chain for SIP TLS")
    tls_key: Path | None = Field(default=None, description="PEM private key for SIP TLS")
    id: str = Field(default="34020000002000000001", description="this platform's 20-digit ID")
    domain: str = Field(default="3402000000", description="SIP domain and digest realm")
    device_password: SecretStr | None = Field(
        default=None,
        description="default password for devices; generated, stored and printed when empty",
    )
    external_host: str | None = Field(
        default=None, description="address written into Via/Contact when host is 0.0.0.0"
    )
    register_expires_min_s: int = Field(
        default=60, ge=1, description="shortest registration accepted (423 below)"
    )
    register_expires_max_s: int = Field(
        default=86400, ge=60, description="longest registration granted"
    )
    nonce_lifetime_s: float = Field(
        default=300.0, gt=0, description="how long a digest nonce stays valid"
    )
    rate_per_source: float = Field(
        default=200.0, gt=0, description="messages per second accepted from one source address"
    )
    rate_burst: int = Field(default=400, ge=1, description="burst allowed above that rate")
    ban_after_failures: int = Field(
        default=10, ge=1, description="failed digest logins from one address before a ban"
    )
    ban_window_s: float = Field(default=60.0, gt=0, description="window counting failures")
    ban_s: float = Field(default=300.0, gt=0, description="how long a ban lasts")
    flood_exempt: list[str] = Field(
        default_factory=list,
        description="addresses or networks never rate-limited or banned (e.g. a lower platform)",
    )
    max_message_bytes: int = Field(
        default=1_048_576, ge=1024, description="largest SIP message accepted on TCP/TLS"
    )
    tcp_idle_timeout_s: float = Field(
        default=600.0, gt=0, description="close TCP connections idle this long"
    )
    max_tcp_connections: int = Field(default=20_000, ge=1, description="TCP/TLS connection cap")
    register_workers: Annotated[int, Field(ge=0, le=64)] | Literal["auto"] = Field(
        default="auto",
        description="extra processes answering UDP REGISTER on the same port (SO_REUSEPORT): "
        "a number (0 = the main process answers everything) or auto = one per CPU core the "
        "process may use, when there are 2 or more",
    )

    def register_worker_count(self) -> int:
        """``register_workers`` as a number (auto resolved on this machine)."""
        if self.register_workers != "auto":
            return self.register_workers
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        return cores if cores > 1 else 0

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return _check_gb_id(value, 20, "sip.id")

    @field_validator("domain")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        if not value or any(c.isspace() or c in '<>"@;' for c in value):
            raise ValueError(f"sip.domain {value!r} is not a valid SIP domain")
        return value

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        return _check_ip(value, "sip.host")

    @field_validator("flood_exempt")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"sip.flood_exempt entry {item!r}: {exc}") from None
        return value


def _check_ip(value: str, what: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{what} must be an IP address (e.g. 0.0.0.0), got {value!r}") from None
    return value


class HttpSettings(_Section):
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
        return _check_ip(value, "http.host")


class MediaSettings(_Section):
    """RTP reception."""

    rtp_ports: str = Field(default="30000-30999", description="RTP receive port range, LOW-HIGH")
    host: str | None = Field(
        default=None,
        description="address written into SDP offers, where devices send RTP; empty means "
        "sip.external_host, else sip.host unless it is 0.0.0.0, else 127.0.0.1",
    )
    bind_host: str = Field(default="0.0.0.0", description="RTP receive listen address")
    transport: str = Field(
        default="udp",
        description="how devices send live RTP: udp, tcp-passive (devices connect to us) "
        "or tcp-active (we connect to devices)",
    )
    invite_timeout_s: float = Field(
        default=10.0, gt=0, description="how long to wait for a device's answer to INVITE"
    )
    grace_s: float = Field(
        default=10.0, ge=0, description="keep a stream this long after its last viewer left"
    )
    first_frame_timeout_s: float = Field(
        default=10.0, gt=0, description="give up ('stream never arrived') without a first frame"
    )
    no_media_timeout_s: float = Field(
        default=5.0, gt=0, description="end a stream (BYE) after this long without media"
    )
    accept_ssrc_mismatch: bool = Field(
        default=True,
        description="play RTP whose SSRC differs from the offered one (logged); false drops it",
    )
    token_ttl_s: float = Field(
        default=60.0, gt=0, description="how long a play URL's token can be used to start"
    )
    token_bind_client: bool = Field(
        default=True, description="a play URL's token works only from the address it was issued to"
    )
    rtsp_port: int | None = Field(
        default=8554, ge=1, le=65535, description="RTSP output of live channels; empty disables it"
    )
    workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description="media worker processes that receive and deliver live video, each on a core "
        "and a share of rtp_ports, with play URLs on their own HTTP port; 0 keeps live video in "
        "the main process",
    )
    worker_http_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="HTTP port of the first media worker (the next ones count up from it); "
        "0 lets each take a free port",
    )

    @field_validator("rtp_ports")
    @classmethod
    def _valid_range(cls, value: str) -> str:
        low, sep, high = value.partition("-")
        if not sep or not low.strip().isdigit() or not high.strip().isdigit():
            raise ValueError(f"media.rtp_ports must look like 30000-30999, got {value!r}")
        lo, hi = int(low), int(high)
        if not 1024 <= lo <= hi <= 65535:
            raise ValueError(f"media.rtp_ports {value!r}: need 1024 <= low <= high <= 65535")
        return f"{lo}-{hi}"

    @field_validator("host", "bind_host")
    @classmethod
    def _valid_media_host(cls, value: str | None) -> str | None:
        return None if value is None else _check_ip(value, "media host")

    @field_validator("transport")
    @classmethod
    def _valid_transport(cls, value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in ("udp", "tcp-passive", "tcp-active"):
            raise ValueError(
                f"media.transport must be udp, tcp-passive or tcp-active, not {value!r}"
            )
        return lowered

    @model_validator(mode="after")
    def _ports_for_workers(self) -> MediaSettings:
        low, high = self.rtp_port_range
        if self.workers and high - low + 1 < 2 * (self.workers + 1):
            raise ValueError(
                f"media.rtp_ports {self.rtp_ports} is too small for {self.workers} media workers: "
                f"each process needs at least two ports"
            )
        return self

    @property
    def rtp_port_range(self) -> tuple[int, int]:
        """The range as (low, high), both inclusive."""
        low, _, high = self.rtp_ports.partition("-")
        return int(low), int(high)


class PlaybackSettings(_Section):
    """Device recordings: search, playback and download (issue 7)."""

    device_time_zone: str = Field(
        default="",
        description="IANA zone of the local times devices write in RecordInfo (e.g. "
        "Asia/Shanghai); empty means the platform's own local zone",
    )
    max_search_days: int = Field(
        default=31, ge=1, le=366, description="longest range one search, play or download spans"
    )
    download_speed: int = Field(
        default=4, ge=1, le=16, description="a=downloadspeed asked of devices (devices list 1/2/4)"
    )
    download_retention_s: float = Field(
        default=86400.0, gt=0, description="a finished download's file is deleted after this long"
    )
    max_pause_s: float = Field(
        default=600.0, gt=0, description="a paused playback session ends after this long"
    )
    max_downloads_per_user: int = Field(
        default=2, ge=1, le=64, description="exports one user may have running at once (429 after)"
    )
    max_playback_sessions_per_user: int = Field(
        default=8, ge=1, le=64, description="playback sessions one user may hold open (429 after)"
    )

    @field_validator("device_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        name = value.strip()
        if name:
            try:
                zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"device_time_zone {value!r} is not a known zone") from None
        return name


class RecordingSettings(_Section):
    """Platform recording: segment files in <data_dir>/recordings, plans set per channel."""

    enabled: bool = Field(default=True, description="run platform recording (plans per channel)")
    segment_s: float = Field(
        default=60.0, ge=1, le=3600, description="segment length; cut at the next key frame"
    )
    fragment_s: float = Field(
        default=1.0, gt=0, le=10, description="fMP4 fragment length, the most a crash loses"
    )
    retention_days: int = Field(
        default=30, ge=1, description="days kept when neither the channel nor its group sets it"
    )
    disk_ceiling_bytes: int | None = Field(
        default=None, ge=1, description="most bytes of recordings kept; the oldest go first"
    )
    disk_ceiling_percent: float | None = Field(
        default=95.0,
        gt=0,
        le=100,
        description="most the recordings' filesystem may be filled (percent); oldest go first",
    )
    check_interval_s: float = Field(
        default=60.0, gt=0, description="how often retention runs (and a full disk is retried)"
    )
    time_zone: str = Field(
        default="Asia/Shanghai", description="IANA zone in which weekly recording plans are read"
    )
    retry_s: float = Field(
        default=5.0, gt=0, description="wait before re-joining a channel whose stream failed"
    )
    max_queue_mb: int = Field(
        default=256, ge=1, description="writes queued for the disk beyond this are dropped"
    )
    fsync: bool = Field(default=True, description="fsync each segment before it is indexed")

    @field_validator("time_zone")
    @classmethod
    def _known_recording_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value.strip())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"recording.time_zone {value!r} is not a known zone") from None
        return value.strip()


class AuditSettings(_Section):
    """The hash-chained audit trail (who did what, when, from where)."""

    queue_max: int = Field(
        default=100_000,
        ge=100,
        description="records held in memory for the writer; beyond this they are spilled to "
        "<data_dir>/audit-spill.jsonl and written later, never dropped",
    )
    batch_max: int = Field(
        default=1000, ge=1, le=10_000, description="records written in one transaction"
    )
    flush_interval_s: float = Field(
        default=0.2, gt=0, le=10, description="longest time a record waits before it is written"
    )
    anchor_every: int = Field(
        default=1000, ge=1, description="sign an anchor after this many records"
    )
    anchor_interval_s: float = Field(
        default=60.0, gt=0, description="sign an anchor at least this often while records arrive"
    )
    shutdown_timeout_s: float = Field(
        default=10.0, gt=0, description="how long a clean shutdown waits to write queued records"
    )


class AccessSettings(_Section):
    """Departments, grants and the access-request workflow (issue 8)."""

    snapshot_ttl_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="the in-memory access model (grants, accounts, channel placements) is "
        "reloaded in the background once older than this, for other nodes' changes; this "
        "node's own changes apply at once",
    )
    sensitive_approvals: int = Field(
        default=2, ge=1, le=5, description="approvals an export or unmasked-view request needs"
    )
    request_pending_ttl_s: float = Field(
        default=3 * 86400.0, gt=0, description="a request not decided within this expires"
    )
    grant_expiry_warning_s: float = Field(
        default=86400.0, ge=0, description="holders are notified this long before a grant ends"
    )
    webhook_urls: list[str] = Field(
        default_factory=list,
        description="URLs POSTed a signed JSON event on request created/decided, grant "
        "created/revoked/expiring",
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key for the X-Sightline-Signature header"
    )
    webhook_timeout_s: float = Field(default=5.0, gt=0, description="one delivery attempt")
    webhook_retries: int = Field(
        default=5, ge=0, le=20, description="retries (exponential back-off from 1 s) per URL"
    )


class AdminSettings(_Section):
    """The first administrator account."""

    password: SecretStr | None = Field(
        default=None, description="initial 'admin' password; generated and printed when empty"
    )


class Gb28181Settings(_Section):
    """Device access behaviour (GB/T 28181)."""

    keepalive_interval_s: float = Field(
        default=60.0, gt=0, description="expected keepalive interval of devices (standard: 60)"
    )
    keepalive_timeout_count: int = Field(
        default=3, ge=1, description="missed keepalives before a device is offline (standard: 3)"
    )
    query_timeout_s: float = Field(
        default=10.0, gt=0, description="how long to wait for a device's answer to a query"
    )
    catalog_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="how long to collect a multi-message catalog; what arrived is kept",
    )
    catalog_subscribe_expires_s: int = Field(
        default=3600, ge=0, description="catalog subscription to each device; 0 disables it"
    )
    alarm_subscribe_expires_s: int = Field(
        default=3600, ge=0, description="alarm subscription to each device; 0 disables it"
    )
    date_header: bool = Field(
        default=True, description="send Date in REGISTER 200 so devices set their clocks"
    )
    store_flush_interval_s: float = Field(
        default=2.0, gt=0, description="how often keepalive times are written to the database"
    )
    last_seen_store_s: float = Field(
        default=300.0,
        ge=0,
        description=(
            "a device's keepalive time is written to the database at most this often (the API "
            "shows the live time of online devices, and going offline writes the last one); "
            "0 writes every keepalive"
        ),
    )


class LogSettings(_Section):
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


class WebSettings(_Section):
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
