"""Settings of video: live reception, device recordings (playback) and platform recording."""

from __future__ import annotations

import zoneinfo

from pydantic import Field, field_validator, model_validator

from sightline.config._base import Section, check_ip

__all__ = ["MediaSettings", "PlaybackSettings", "RecordingSettings"]


class MediaSettings(Section):
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
        return None if value is None else check_ip(value, "media host")

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


class PlaybackSettings(Section):
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


class RecordingSettings(Section):
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
